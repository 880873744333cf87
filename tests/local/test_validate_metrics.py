"""`forge validate` imports each metrics.modules file and calls it on sample rows: a file that raises,
returns a string or is missing fails with a message naming it; a good one passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from forge.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "generation" / "metric.py"


def setup(tmp_path: Path, module_text: str | None) -> tuple[Path, Path]:
    raw = {"name": "gen", "model": {"family": "hf", "base_model": "tiny"}, "task": {"kind": "generation"},
           "metrics": {"modules": ["metrics/check.py"]}, "split": {"sft": 10, "eval": 4, "rft": 0},
           "stages": {"rft": {"enabled": False}}, "gate": {"metric": "answer_recall"}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    if module_text is not None:
        (tmp_path / "metrics").mkdir()
        (tmp_path / "metrics" / "check.py").write_text(module_text, encoding="utf-8")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"text": f"Question {i}?", "rating": f"Answer {i}"}) + "\n"
                            for i in range(20)), encoding="utf-8")
    return config, data


def validate(config: Path, data: Path):
    return CliRunner().invoke(app, ["validate", str(data), "--config", str(config), "--json"])


def test_a_good_metric_module_passes(tmp_path):
    config, data = setup(tmp_path, EXAMPLE.read_text(encoding="utf-8"))
    result = validate(config, data)
    assert result.exit_code == 0, result.output
    assert [i for i in json.loads(result.output)["issues"] if i["problem"] == "metric_module"] == []


@pytest.mark.parametrize(("body", "expected"), [
    ("def compute(p, r, rows):\n    raise ValueError('bad input')\n",
     "metrics module check.py: compute raised ValueError: bad input"),
    ("def compute(p, r, rows):\n    return 'high'\n", "metrics module check.py: compute returned str"),
    ("def compute(p, r, rows):\n    return {'score': 'high'}\n", "metric 'score' is 'high'"),
    # Breaks only on the empty answer validate also tries.
    ("def compute(p, r, rows):\n    return {'x': sum(1 / len(a) for a in p)}\n", "ZeroDivisionError"),
    ("compute = 3\n", "defines no function compute"),
    ("import not_a_real_module\n", "importing it raised ModuleNotFoundError"),
    (None, "metrics.modules: 'metrics/check.py' is not a file"),
])
def test_a_bad_metric_module_is_rejected_naming_the_file(tmp_path, body, expected):
    config, data = setup(tmp_path, body)
    result = validate(config, data)
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    (issue,) = [i for i in report["issues"] if i["problem"] == "metric_module"]
    assert expected in issue["message"] and issue["field"] == "metrics.modules"
