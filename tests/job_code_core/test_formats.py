"""Readers tolerate real-world CSV/JSONL; writers produce the documented record shapes."""

import json

import pytest

from job_code.core.formats import (
    ColumnMapping,
    DatasetFormatError,
    Example,
    chat_record,
    dataset_filename,
    gen_qa_record,
    load_examples,
    parse_csv,
    prompt_messages,
    read_jsonl,
    read_table,
    rft_record,
    sft_converse_record,
    write_split,
)

EXAMPLE = Example(id="q-1", query="How do I sort a dict?", label="HQ", row=1)


def test_csv_with_bom_quoted_newlines_extra_columns_and_mixed_line_endings(tmp_path):
    path = tmp_path / "data.csv"
    body = (
        "Id,text,rating,score\r\n"  # CRLF
        '1,"line one\nline two, with comma",HQ,3\n'  # quoted newline, LF
        '2,"say ""hi""",LQ_EDIT,1\r'  # escaped quotes, bare CR
        "3,plain,LQ_CLOSE,0\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    examples = load_examples(path, ColumnMapping(id="Id"))
    assert [(e.id, e.query, e.label) for e in examples] == [
        ("1", "line one\nline two, with comma", "HQ"),
        ("2", 'say "hi"', "LQ_EDIT"),
        ("3", "plain", "LQ_CLOSE"),
    ]
    assert [e.row for e in examples] == [1, 2, 3]


def test_csv_blank_lines_are_skipped_and_record_numbers_kept():
    table = parse_csv("text,rating\na,HQ\n\nb,HQ\n")
    assert table.row_numbers == [1, 3]


def test_jsonl_reader_records_bad_lines_and_keeps_the_rest(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"text": "a", "rating": "HQ"}\n\n{oops\n[1]\n{"text": "b", "rating": "LQ_EDIT", "system": "S"}\n'
    )
    table = read_table(path)
    assert table.row_numbers == [1, 5]
    assert [p.row for p in table.problems] == [3, 4]
    assert table.columns == ["text", "rating", "system"]
    examples = load_examples(path, ColumnMapping(system="system"))
    assert [(e.query, e.system) for e in examples] == [("a", None), ("b", "S")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.parquet", b"PAR1", "not a readable Parquet file"),  # Parquet is read now (issue 16)
        ("x.xlsx", b"PK", "unsupported file type"),
        ("x.csv", b"", "empty"),
        ("x.csv", b"text,rating\n\xff\xfe,HQ\n", "not valid UTF-8"),
    ],
)
def test_unusable_files_raise_a_named_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetFormatError, match=message):
        read_table(path)


def test_sft_converse_record_shape():
    record = sft_converse_record(EXAMPLE, "SYS")
    assert record == {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "SYS"}],
        "messages": [
            {"role": "user", "content": [{"text": "How do I sort a dict?"}]},
            {"role": "assistant", "content": [{"text": "HQ"}]},
        ],
    }


def test_rft_record_shape_and_row_system_override():
    example = Example(id="q-2", query="Q", label="LQ_EDIT", system="row system")
    assert rft_record(example, "SYS") == {
        "id": "q-2",
        "messages": [{"role": "system", "content": "row system"}, {"role": "user", "content": "Q"}],
        "reference_answer": "LQ_EDIT",
    }


def test_gen_qa_and_chat_records():
    assert gen_qa_record(EXAMPLE, "SYS") == {
        "query": "How do I sort a dict?",
        "response": "HQ",
        "system": "SYS",
    }
    chat = chat_record(EXAMPLE, "SYS")
    assert chat["id"] == "q-1" and chat["label"] == "HQ"
    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant"]
    assert prompt_messages(chat) == chat["messages"][:2]


@pytest.mark.parametrize(
    ("family", "kind", "filename", "first_key"),
    [
        ("nova", "sft", "sft.jsonl", "schemaVersion"),
        ("nova", "rft", "rft.jsonl", "id"),
        ("nova", "eval", "gen_qa.jsonl", "query"),
        ("hf", "eval", "eval.jsonl", "id"),
    ],
)
def test_write_split_round_trip(tmp_path, family, kind, filename, first_key):
    assert dataset_filename(family, kind) == filename
    path = write_split([EXAMPLE, EXAMPLE], family=family, kind=kind, system_prompt="SYS", out_dir=tmp_path)
    assert path.name == filename
    rows = read_jsonl(path)
    assert len(rows) == 2 and first_key in rows[0]
    assert json.loads(path.read_text().splitlines()[0]) == rows[0]
