"""parse_label / is_exact as tables of answer -> expected label."""

import pytest

from job_code.core.labels import find_labels, is_exact, parse_label

LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HQ", "HQ"),
        ("  LQ_EDIT\n", "LQ_EDIT"),
        ("lq_close", "LQ_CLOSE"),
        ("LQ EDIT", "LQ_EDIT"),
        ("lq-edit", "LQ_EDIT"),
        ("LQEDIT", "LQ_EDIT"),
        ("**LQ_CLOSE**", "LQ_CLOSE"),
        ("`HQ`", "HQ"),
        ("Category: HQ.", "HQ"),
        ("The question is HQ. Final answer: HQ", "HQ"),
        ("I think it is HQ, not LQ_EDIT", None),
        ("HQ or LQ_CLOSE", None),
        ("", None),
        ("   ", None),
        ("HQs are great", None),
        ("AHQ", None),
        ("LQ_EDITED", None),
        ("LQ", None),
        ("high quality", None),
        ("# Answer\n\n- **lq close**", "LQ_CLOSE"),
    ],
)
def test_parse_label(text, expected):
    assert parse_label(text, LABELS) == expected


def test_longer_label_wins_over_its_prefix():
    labels = ["positive", "very positive"]
    assert parse_label("Very positive!", labels) == "very positive"
    assert parse_label("positive", labels) == "positive"
    assert find_labels("positive, then very positive", labels) == ["positive", "very positive"]


def test_non_string_input_is_no_label():
    assert parse_label(None, LABELS) is None
    assert find_labels(42, LABELS) == []


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("HQ", "HQ", True),
        (" HQ \n", "HQ", True),
        ("hq", "HQ", False),
        ("HQ.", "HQ", False),
        (None, "HQ", False),
    ],
)
def test_is_exact(text, label, expected):
    assert is_exact(text, label) is expected
