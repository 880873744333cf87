"""The shortcut check (job_code/core/shortcuts.py): surface features as tables, then the stumps on synthetic
rows with and without a planted artifact."""

from __future__ import annotations

import random

import pytest

from job_code.core import shortcuts
from job_code.core.shortcuts import (
    MIN_ROWS,
    char_class,
    code_share,
    find_shortcuts,
    line_ending_style,
    normalize_line_endings,
)

LABELS = ("HQ", "LQ_EDIT", "LQ_CLOSE")
WORDS = "loop array python error build null pointer list index class module query table join".split()


@pytest.mark.parametrize(
    ("text", "style"),
    [("one line", "none"), ("a\nb", "lf"), ("a\r\nb", "crlf"), ("a\rb", "cr"), ("a\nb\r\nc", "crlf")],
)
def test_line_ending_style(text: str, style: str) -> None:
    assert line_ending_style(text) == style


@pytest.mark.parametrize(
    ("text", "normalized"),
    [("a\r\nb", "a\nb"), ("a\rb", "a\nb"), ("a\r\n\r\nb\rc", "a\n\nb\nc"), ("plain\ntext", "plain\ntext")],
)
def test_normalize_line_endings(text: str, normalized: str) -> None:
    assert normalize_line_endings(text) == normalized
    assert "\r" not in normalize_line_endings(text)


@pytest.mark.parametrize(
    ("text", "share"),
    [
        ("why does my loop stop", 0.0),
        ("why does it fail\n    x = compute()\n", 0.5),
        ("int main() {\nreturn 0;\n}", 1.0),
        ("title\r\n\r\nfor (i in xs) {\r\nplain words", 1 / 3),  # blank lines do not count
        ("", 0.0),
    ],
)
def test_code_share(text: str, share: float) -> None:
    assert code_share(text) == pytest.approx(share)


@pytest.mark.parametrize(
    ("char", "kind"),
    [("a", "lowercase"), ("Q", "uppercase"), ("7", "digit"), ("?", "?"), (")", ")"), ("", "none"),
     ("é", "lowercase"), ("\u2603", "other")],
)
def test_char_class(char: str, kind: str) -> None:
    assert char_class(char) == kind


def _question(rng: random.Random) -> str:
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) for _ in range(rng.randint(1, 4))]
    return "\n".join(lines)


def _rows(count: int, *, plant: str | None = None, seed: int = 7) -> tuple[list[str], list[str]]:
    """Balanced rows of random words; ``plant`` marks LQ_EDIT: "crlf" (its line endings, as in the case
    study: 92% of LQ_EDIT, 1% of the others) or "length" (LQ_CLOSE questions three times shorter)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for index in range(count):
        label = LABELS[index % 3]
        text = _question(rng) + "\n" + _question(rng)
        if plant == "crlf" and rng.random() < (0.92 if label == "LQ_EDIT" else 0.01):
            text = text.replace("\n", "\r\n")
        if plant == "length":
            text = " ".join(text.split()[:5]) if label == "LQ_CLOSE" else text + " " + _question(rng)
        texts.append(text)
        labels.append(label)
    return texts, labels


def test_crlf_planted_in_one_class_warns_naming_it_with_the_shares() -> None:
    found, scores = find_shortcuts(*_rows(900, plant="crlf"))
    assert [s.feature for s in found] == ["line_endings"]
    shortcut = found[0]
    assert shortcut.label == "LQ_EDIT"
    assert shortcut.evidence.startswith("`\\r\\n` in ")
    inside, outside = (int(part.split("%")[0].split()[-1]) for part in shortcut.evidence.split(", "))
    assert 88 <= inside <= 96 and outside <= 3
    assert shortcut.balanced_accuracy > 0.6 and shortcut.chance == pytest.approx(1 / 3, abs=1e-4)
    assert "label predictable from line endings" in shortcut.message
    assert "a model may learn that instead of the text" in shortcut.message
    assert {s.feature for s in scores} == {f.name for f in shortcuts.FEATURES}


def test_balanced_neutral_rows_do_not_warn() -> None:
    for seed in range(5):
        found, scores = find_shortcuts(*_rows(600, seed=seed))
        assert found == [], [s.message for s in found]
        assert all(abs(s.balanced_accuracy - 1 / 3) < 0.12 for s in scores)


def test_normalized_line_endings_remove_the_warning() -> None:
    texts, labels = _rows(900, plant="crlf")
    found, _ = find_shortcuts([normalize_line_endings(t) for t in texts], labels)
    assert found == []


def test_a_length_artifact_is_named_with_its_medians() -> None:
    found, _ = find_shortcuts(*_rows(600, plant="length"))
    by_feature = {s.feature: s for s in found}
    assert "length" in by_feature
    assert by_feature["length"].label == "LQ_CLOSE"
    assert "median length" in by_feature["length"].evidence and "characters in LQ_CLOSE rows" in (
        by_feature["length"].evidence)


def test_too_few_rows_or_one_label_say_nothing() -> None:
    texts, labels = _rows(MIN_ROWS - 1, plant="crlf")
    assert find_shortcuts(texts, labels) == ([], [])
    texts, _ = _rows(300, plant="crlf")
    assert find_shortcuts(texts, ["HQ"] * 300) == ([], [])


def test_a_small_file_with_a_perfect_marker_still_warns() -> None:
    # 60 rows (the size of a tiny demo split) where \r\n marks LQ_EDIT exactly.
    texts, labels = _rows(60)
    texts = [t.replace("\n", "\r\n") if label == "LQ_EDIT" else t
             for t, label in zip(texts, labels, strict=True)]
    found, _ = find_shortcuts(texts, labels)
    assert found and found[0].feature == "line_endings"
    assert found[0].evidence == "`\\r\\n` in 100% of LQ_EDIT rows, 0% of the others"


def test_the_check_is_deterministic_and_does_not_depend_on_row_content_order_of_labels() -> None:
    texts, labels = _rows(300, plant="crlf")
    assert find_shortcuts(texts, labels) == find_shortcuts(list(texts), list(labels))


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        find_shortcuts(["a", "b", "c"], ["HQ", "LQ_EDIT"])
