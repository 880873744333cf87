"""Reading a config file safely: its size, its encoding and YAML's aliases (settings.load_settings).

- Encoding: UTF-8 with or without a byte-order mark, and UTF-16 / UTF-32 *with* a byte-order mark (what
  Windows editors write as "Unicode"), are read. Anything else is a ConfigError naming the file and what
  it looks like (UTF-16 without a mark, or the first byte that is not UTF-8 and its line).
- Size: a config is a few KB; a file over ``MAX_CONFIG_BYTES`` is refused before it is parsed.
- Aliases: YAML anchors and aliases share one node, so nine lines can expand to 10**9 values (the
  "billion laughs"). The composed node graph is measured before anything is constructed, and a document
  whose aliases would add more than ``MAX_ALIAS_NODES`` values (or that refers to itself) is refused in
  milliseconds. A document without aliases is limited by its size only.

PyYAML is imported here only: the Lambda runtime has none, and the handlers read settings.json instead.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

from pipeline_core.settings import ConfigError

MAX_CONFIG_BYTES = 1 << 20
# What aliases may add: a real config has a few hundred nodes; a long scalar counts one per 256 characters.
MAX_ALIAS_NODES = 20_000
_SCALAR_CHARS_PER_NODE = 256

# UTF-32 before UTF-16: the UTF-32 little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {path} is larger than {MAX_CONFIG_BYTES >> 10} KiB; is it the right file?")
    return data


def decode(data: bytes, source: str) -> str:
    """The text of a config file, by its byte-order mark, else as UTF-8."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as error:
                raise ConfigError(
                    f"config {source} starts with a {name} byte-order mark but is not valid {name} at byte "
                    f"{error.start}; save it as UTF-8"
                ) from None
    if b"\x00" in data:  # valid UTF-8, but YAML forbids it: what UTF-16 without a mark looks like
        raise ConfigError(
            f"config {source} is not UTF-8: it holds NUL bytes, as UTF-16 without a byte-order mark does; "
            "save it as UTF-8 (or as UTF-16 with a byte-order mark)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"config {source} is not valid UTF-8 at byte {error.start} (line {line}): "
            f"0x{data[error.start]:02x}; save it as UTF-8"
        ) from None


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def composed_nodes(root: Any) -> int:
    """How many distinct nodes the document has (an aliased node counts once)."""
    seen, stack = {id(root)}, [root]
    while stack:
        for child in _children(stack.pop()):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def expanded_nodes(root: Any, limit: int) -> int:
    """How many nodes ``root`` stands for once every alias is expanded; stops past ``limit``.

    Iterative (no recursion on deep documents) and memoized by node, so a bomb is measured in time linear
    in its *composed* size. Raises ValueError for a node that contains itself.
    """
    import yaml

    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again is a cycle
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if isinstance(node, yaml.ScalarNode):
                size += len(node.value) // _SCALAR_CHARS_PER_NODE
            sizes[key] = min(size, limit + 1)
            if size > limit:
                return size
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise ValueError("an alias refers to a node that contains it")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def parse_yaml(text: str, source: str) -> Any:
    """Safe-load one YAML document after checking what its aliases expand to."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"config {source} is nested too deeply to be a config") from None
        if node is None:
            return None
        limit = composed_nodes(node) * 2 + MAX_ALIAS_NODES  # long scalars may count twice
        try:
            size = expanded_nodes(node, limit)
        except ValueError as error:
            raise ConfigError(f"config {source}: {error} (a recursive YAML alias)") from None
        if size > limit:
            raise ConfigError(
                f"config {source}: its YAML aliases expand to more than {MAX_ALIAS_NODES:,} further values "
                "(an alias bomb?); write the values out or use fewer aliases"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise ConfigError(f"config {source} is not valid YAML: {error}") from None
    finally:
        loader.dispose()


def read_config(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML (or JSON) config file holds. Raises ConfigError naming the file."""
    path = Path(path)
    raw = parse_yaml(decode(read_bytes(path), str(path)), str(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    return raw
