"""``forge validate`` with reward.module: the reward file is imported and called on sample rollouts of the
RFT split; a file that raises, returns a string, returns a constant or imports an undeclared module fails
(exit 1) naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from forge.cli import app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"
DEMO = PROJECT_ROOT / "config" / "local-demo.yaml"
EXAMPLE = PROJECT_ROOT / "examples" / "generation" / "reward.py"

BAD_REWARDS = {
    "raises": ("def score(completion, reference, row):\n    raise KeyError('label_column')\n",
               "score raised KeyError: 'label_column'"),
    "string": ("def score(completion, reference, row):\n    return 'great'\n",
               "score returned a str 'great'; expected a finite number"),
    "constant": ("def score(completion, reference, row):\n    return 1.0\n",
                 "returns the same reward 1 for every one of 12 sample completions (constant)"),
    "numpy": ("import numpy\n\ndef score(completion, reference, row):\n"
              "    return float(completion == reference)\n",
              "line 1 imports 'numpy', which is neither the standard library nor in reward.requirements "
              "(none)"),
    "import_error": ("import json\nfrom collections import nothing_here\n\ndef score(c, r, row):\n"
                     "    return 0.0\n",
                     "importing it raised ImportError: cannot import name 'nothing_here'"),
    "relative": ("from . import helpers\n\ndef score(c, r, row):\n    return helpers.score(c, r)\n",
                 "line 1 imports a sibling module (relative import); only this one file is packaged"),
}


def validate_with(tmp_path: Path, reward_text: str, name: str = "team_reward.py", **reward) -> object:
    (tmp_path / "pyproject.toml").touch()  # the repository tree
    (tmp_path / "rewards").mkdir(exist_ok=True)
    (tmp_path / "rewards" / name).write_text(reward_text, encoding="utf-8")
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    raw["reward"] = {**raw.get("reward", {}), "module": f"../rewards/{name}", **reward}
    config = tmp_path / "config" / "pipeline.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return CliRunner().invoke(app, ["validate", str(SAMPLE), "--config", str(config)])


@pytest.mark.parametrize("case", sorted(BAD_REWARDS))
def test_validate_rejects_a_bad_reward_naming_the_file_and_the_problem(tmp_path, case):
    text, problem = BAD_REWARDS[case]
    result = validate_with(tmp_path, text)
    assert result.exit_code == 1, result.output
    assert "team_reward.py" in result.output
    assert problem in " ".join(result.output.split()), result.output


def test_validate_accepts_a_good_reward(tmp_path):
    result = validate_with(tmp_path, EXAMPLE.read_text(encoding="utf-8"), "reward.py")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK:")


def test_a_declared_requirement_may_be_imported(tmp_path):
    text = ("import numpy  # declared below\n\n"
            "def score(completion, reference, row):\n    return float(completion.strip() == reference)\n")
    result = validate_with(tmp_path, text, requirements=["numpy==2.1.0"])
    assert result.exit_code == 0, result.output


def test_the_label_reward_stays_the_default(tmp_path):
    result = CliRunner().invoke(app, ["validate", str(SAMPLE), "--config", str(DEMO)])
    assert result.exit_code == 0 and result.output.startswith("OK:")
