"""Find a class label in a model's answer.

Two views of an answer, used by the metrics, the reward, serving and the smoke test:

- ``parse_label`` is permissive: it finds the label inside verbose text, whatever the case, with
  ``LQ EDIT`` / ``lq-edit`` / ``**LQ_EDIT**`` all read as ``LQ_EDIT``. An answer naming no label, or
  two different labels, is ambiguous and yields ``None``.
- ``is_exact`` is strict: the stripped answer is the label itself (the seed's exact-match format).

Standard library only: this module ships in the reward Lambda.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

# Characters that may glue a label's parts together ("LQ_EDIT", "LQ EDIT", "lq-edit", "LQEDIT").
_SEPARATOR = r"[\s_\-]*"
# A label must not be part of a longer word: "HQs" or "AHQ" is not "HQ".
_BEFORE = r"(?<![0-9A-Za-z])"
_AFTER = r"(?![0-9A-Za-z])"


def _label_pattern(label: str) -> str:
    parts = [part for part in re.split(r"[\s_\-]+", label.strip()) if part]
    return _SEPARATOR.join(re.escape(part) for part in parts)


@lru_cache(maxsize=64)
def _compiled(labels: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One alternation, longest label first, so "LQ_EDIT" wins over a label "LQ" at the same place."""
    if not labels:
        raise ValueError("labels must not be empty")
    ordered = tuple(sorted(labels, key=lambda label: (-len(label), label)))
    groups = "|".join(f"({_label_pattern(label)})" for label in ordered)
    return re.compile(f"{_BEFORE}(?:{groups}){_AFTER}", re.IGNORECASE), ordered


def find_labels(text: str, labels: Sequence[str]) -> list[str]:
    """Every label mention in ``text``, in order of appearance (canonical spellings)."""
    if not isinstance(text, str) or not text:
        return []
    pattern, ordered = _compiled(tuple(labels))
    return [ordered[match.lastindex - 1] for match in pattern.finditer(text)]


def parse_label(text: str, labels: Sequence[str]) -> str | None:
    """The one label ``text`` names, or None if it names none or two different ones."""
    found = set(find_labels(text, labels))
    return found.pop() if len(found) == 1 else None


def is_exact(text: str, label: str) -> bool:
    """True when the answer is exactly the label, surrounding whitespace aside."""
    return isinstance(text, str) and text.strip() == label
