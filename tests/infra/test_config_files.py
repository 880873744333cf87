"""Config files from hostile or merely unusual editors: encodings, YAML alias bombs and huge values give a
clear ConfigError naming the file, fast, with a message of a few KB at most."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline_core.settings import ConfigError, load_settings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
LOCAL = CONFIG_DIR / "local.yaml"
MESSAGE_LIMIT = 4096


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_config_in_a_unicode_encoding_with_a_byte_order_mark_loads(tmp_path, encoding):
    text = LOCAL.read_text(encoding="utf-8")
    path = tmp_path / "local.yaml"
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # these codecs write no BOM: add the one Notepad writes
        data = ("\ufeff" + text).encode(encoding)
    path.write_bytes(data)
    assert load_settings(path) == load_settings(LOCAL)


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(LOCAL.read_text(encoding="utf-8").encode("utf-16-le"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message and "UTF-16" in message and "UTF-8" in message


def test_invalid_utf8_names_the_byte_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"name: forge\nmodel:\n  family: hf\n  base_model: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not valid UTF-8 at byte 49 \(line 4\)") as caught:
        load_settings(path)
    assert str(path) in str(caught.value)


def _alias_bomb(levels: int = 9, width: int = 10) -> str:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"a{level}: &a{level} [{refs}]")
    # Anchors must come before their aliases; 10 ** 9 strings once expanded.
    return "\n".join(lines) + f"\nmodel: {{family: hf, base_model: x}}\ntags: *a{levels}\n"


def test_yaml_alias_bomb_is_rejected_fast_with_a_short_message(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert time.perf_counter() - started < 2
    message = str(caught.value)
    assert len(message) < MESSAGE_LIMIT and str(path) in message and "alias" in message


def test_a_few_aliases_are_fine(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "model: {family: hf, base_model: x}\n"
        "stages:\n  sft: &job {instance_type: ml.g5.2xlarge}\n  rft: *job\n"
    )
    assert load_settings(path).stages.rft.instance_type == "ml.g5.2xlarge"


def test_an_oversized_config_file_is_rejected_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("model: {family: hf, base_model: x}\n" + "# padding\n" * 200_000)
    with pytest.raises(ConfigError, match="larger than") as caught:
        load_settings(path)
    assert len(str(caught.value)) < MESSAGE_LIMIT


@pytest.mark.parametrize(
    "body",
    [
        "model: {family: hf, base_model: x}\nname: " + "x" * 1_000_000 + "\n",  # a huge bad value
        "model: {family: hf, base_model: x}\nsplit: {sft: [" + ", ".join(["1"] * 50_000) + "]}\n",
        "model: {family: hf, base_model: x}\n" + "".join(f"extra_{i}: 1\n" for i in range(20_000)),
    ],
    ids=["huge-string", "huge-list", "many-errors"],
)
def test_validation_error_messages_are_bounded(tmp_path, body):
    path = tmp_path / "c.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"invalid config {path}:") and len(message) < MESSAGE_LIMIT


def test_config_error_messages_are_bounded_wherever_they_are_raised():
    assert len(str(ConfigError("x" * 10_000_000))) < MESSAGE_LIMIT
