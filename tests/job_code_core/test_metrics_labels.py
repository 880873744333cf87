"""Label metrics worked out by hand, input errors, and the results shape readers/writers."""

import json
import subprocess
import sys

import pytest

from job_code.core.metrics import MetricsInputError, compute_metrics, compute_report, response_length_stats
from job_code.core.results import (
    ResultsFormatError,
    metrics_of,
    read_inference_output,
    read_results,
    rescore_inference_output,
    write_results,
)

LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]
# gold -> answer; parsed: HQ, HQ, None(two labels), LQ_EDIT, LQ_CLOSE, HQ
PREDICTIONS = ["HQ", "It is hq.", "HQ or LQ_EDIT", "LQ EDIT", "LQ_CLOSE", "HQ"]
REFERENCES = ["HQ", "HQ", "LQ_EDIT", "LQ_EDIT", "LQ_CLOSE", "LQ_CLOSE"]


def test_label_metrics_by_hand():
    report = compute_report(PREDICTIONS, REFERENCES, LABELS)
    flat = report["metrics"]
    assert flat["accuracy"] == pytest.approx(4 / 6)
    assert flat["em"] == pytest.approx(2 / 6)  # "HQ" and "LQ_CLOSE" are exact and right
    assert flat["exact_format"] == pytest.approx(3 / 6)  # ... and the last "HQ" is exact but wrong
    per_class = report["per_class"]
    # HQ: predicted 3 times (2 right), support 2
    assert per_class["HQ"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert per_class["LQ_EDIT"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert per_class["LQ_CLOSE"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert flat["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 2 / 3) / 3)
    matrix = report["confusion_matrix"]
    assert matrix["rows"] == LABELS and matrix["columns"] == [*LABELS, None]
    assert matrix["counts"] == [[2, 0, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0]]
    assert report["no_label_rate"] == pytest.approx(1 / 6)
    assert report["parsed_labels"] == ["HQ", "HQ", None, "LQ_EDIT", "LQ_CLOSE", "HQ"]


def test_without_labels_only_gen_qa_keys():
    flat = compute_metrics(["a b"], ["a c"])
    names = ["em", "qem", "f1", "f1_score_quasi", "rouge1", "rouge2", "rougeL", "bleu"]
    assert set(flat) == set(names) | {f"{n}_stderr" for n in names}
    assert flat["f1"] == pytest.approx(0.5)


def test_response_lengths():
    stats = response_length_stats(["HQ", "  LQ_EDIT  ", "x" * 100, ""])
    assert stats["min_chars"] == 0 and stats["max_chars"] == 100
    assert stats["mean_chars"] == pytest.approx((2 + 7 + 100 + 0) / 4)
    assert stats["median_chars"] == pytest.approx(4.5)


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        (["a"], ["a", "b"], "1 predictions but 2 references"),
        ([], [], "no predictions"),
        ([1], ["a"], "prediction 0 is a int"),
        (["a"], [["a"]], "reference 0 is a list"),
    ],
)
def test_bad_inputs_raise_a_named_error(predictions, references, message):
    with pytest.raises(MetricsInputError, match=message):
        compute_metrics(predictions, references)


def test_none_prediction_counts_as_empty_answer():
    assert compute_metrics([None, "HQ"], ["HQ", "HQ"])["em"] == 0.5


def test_importing_metrics_and_reward_stays_light():
    code = (
        "import sys, job_code.core.metrics, job_code.core.reward, job_code.core.validation,"
        " job_code.core.split;"
        "heavy = {'numpy', 'pandas', 'torch', 'rouge_score', 'sacrebleu', 'nltk'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_results_round_trip(tmp_path):
    path = tmp_path / "eval" / "results.json"
    document = write_results(
        path, {"em": 0.5, "bleu": 1.0}, confusion_matrix={"counts": []}, stage="eval_sft"
    )
    assert document["results"] == {"all": {"em": 0.5, "bleu": 1.0}}
    assert read_results(path) == {"em": 0.5, "bleu": 1.0}
    with pytest.raises(ValueError, match="reserved"):
        write_results(path, {}, results={})


def test_reads_nova_results_from_a_job_output_tree(tmp_path):
    nested = tmp_path / "eval-result" / "model" / "20260101"
    nested.mkdir(parents=True)
    (nested / "results_2026-01-01T00-00-00.json").write_text(
        json.dumps({"config_general": {}, "results": {"custom|gen_qa|0": {"em": 0.13, "em_stderr": 0.01}}})
    )
    assert read_results(tmp_path) == {"em": 0.13, "em_stderr": 0.01}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "no 'results'"),
        ({"results": {"a": {}, "b": {}}}, "no 'all' entry"),
        ({"results": []}, "no 'results'"),
    ],
)
def test_bad_results_documents(document, message):
    with pytest.raises(ResultsFormatError, match=message):
        metrics_of(document)


def test_inference_output_reader_and_rescoring(tmp_path):
    path = tmp_path / "inference_output.jsonl"
    lines = [
        {"prompt": "q1", "inference": ["The answer is HQ"], "gold": "HQ", "metadata": None},
        {"prompt": "q2", "inference": "LQ_EDIT", "gold": "LQ_EDIT"},
        {"prompt": "q3", "inference": [], "gold": "LQ_CLOSE"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    records = read_inference_output(tmp_path)
    assert [(r.prediction, r.gold) for r in records] == [
        ("The answer is HQ", "HQ"),
        ("LQ_EDIT", "LQ_EDIT"),
        ("", "LQ_CLOSE"),
    ]
    document = rescore_inference_output(path, LABELS)
    assert document["results"]["all"]["em"] == pytest.approx(1 / 3)
    assert document["results"]["all"]["accuracy"] == pytest.approx(2 / 3)
    assert document["confusion_matrix"]["counts"][2] == [0, 0, 0, 1]
    assert "response_lengths" in document and "per_class" in document


def test_inference_output_bad_line(tmp_path):
    path = tmp_path / "inference_output.jsonl"
    path.write_text('{"inference": "HQ", "gold": "HQ"}\n{broken\n')
    with pytest.raises(ResultsFormatError, match="line 2 is not valid JSON"):
        read_inference_output(path)
