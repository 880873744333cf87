"""Issue 11, defect 10: a JSONL file we write must read back, whatever characters its strings hold.

``str.splitlines()`` also splits on U+2028, U+2029 and U+0085, which ``json.dumps(ensure_ascii=False)``
leaves raw inside strings (a case-study question holds a U+2028); the control characters it also splits on
(U+000B, U+000C, U+001C-1E) are escaped by json.dumps.
"""

from __future__ import annotations

import json

import pytest
from forge_handlers import smoke

from job_code.core.formats import read_jsonl, write_jsonl
from job_code.core.results import read_inference_output
from pipeline_core.settings import parse_settings

# Every character str.splitlines() treats as a line boundary that JSON leaves unescaped.
SEPARATORS = ["\u2028", "\u2029", "\u0085"]


@pytest.mark.parametrize("separator", SEPARATORS, ids=[f"U+{ord(s):04X}" for s in SEPARATORS])
def test_read_jsonl_reads_back_what_write_jsonl_wrote(tmp_path, separator: str) -> None:
    records = [{"query": f"before{separator}after", "response": "HQ"},
               {"query": "second", "response": "LQ_EDIT"}]
    path = tmp_path / "data.jsonl"
    write_jsonl(path, records)
    assert separator in path.read_text(encoding="utf-8")  # written raw, so the reader must cope
    assert read_jsonl(path) == records


@pytest.mark.parametrize("separator", SEPARATORS, ids=[f"U+{ord(s):04X}" for s in SEPARATORS])
def test_inference_output_with_a_line_separator_in_a_prompt(tmp_path, separator: str) -> None:
    path = tmp_path / "inference_output.jsonl"
    rows = [{"prompt": f"a{separator}b", "inference": "HQ", "gold": "HQ"},
            {"prompt": "c", "inference": "x", "gold": "LQ_EDIT"}]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    records = read_inference_output(path)
    assert [r.prompt for r in records] == [f"a{separator}b", "c"]


def test_smoke_reads_the_first_eval_row_whole(monkeypatch) -> None:
    row = {"query": "line one\u2028line two", "response": "HQ"}
    body = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    monkeypatch.setattr(smoke.s3io, "get_bytes", lambda uri, what="": body)
    settings = parse_settings({"model": {"family": "nova", "base_model": "nova-lite-2/prod",
                                         "model_type": "amazon.nova-2-lite-v1:0:256k"}})
    messages, expected = smoke.first_eval_sample(settings, "s3://bucket/eval.jsonl")
    assert messages[-1]["content"] == "line one\u2028line two" and expected == "HQ"


def test_jsonl_lines_splits_on_newline_only() -> None:
    from job_code.core.formats import jsonl_lines

    assert jsonl_lines('{"a": 1}\r\n{"b": "x\u2028y"}\n') == ['{"a": 1}', '{"b": "x\u2028y"}', ""]
