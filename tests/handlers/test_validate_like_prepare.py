"""Issue 12, point 6: `forge validate` rejects exactly what Prepare rejects, with the same issue codes.

Each bad input goes through the CLI (a local file) and through the Prepare handler (moto S3); both must fail
and name the same error problems.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from forge_handlers.entry import prepare
from forge_handlers.errors import DataValidationError
from typer.testing import CliRunner

from forge.cli import app
from pipeline_core.settings import Settings, load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, CONFIG_FILES, DATA_BUCKET, derive
from tests.handlers.test_prepare import LABELS, SIZES, make_csv

CONFIG_DIR = Path(CONFIG_FILES[0]).parent


def _rows(count: int, *, labels: list[str] = LABELS, start: int = 0) -> list[tuple[str, str]]:
    return [(f"How do I fix error number {i} in my build?", labels[i % len(labels)]) 
            for i in range(start, count)]


def _csv(rows: list[tuple[str, str]], delimiter: str = ",") -> bytes:
    lines = ["text" + delimiter + "rating"] + [f'"{text}"{delimiter}{label}' for text, label in rows]
    return ("\n".join(lines) + "\n").encode()


def _open_weights() -> Settings:
    return derive(load_settings(CONFIG_DIR / "open-weights.yaml"), **SIZES)


def _case_conflict() -> dict[str, bytes]:
    rows = _rows(60)
    rows.append(("HOW DO I FIX ERROR NUMBER 3 in my build?", "LQ_CLOSE"))  # row 4 says HQ
    return {"data.csv": _csv(rows)}


CASES = {
    # name: (settings, files (the dataset, then an optional eval dataset), expected problem)
    "tsv_file": (_open_weights, lambda: {"data.tsv": _csv(_rows(60), "\t")}, "unsupported_file_type"),
    "nova_rft_50_without_reuse": (
        lambda: derive(
            load_settings(CONFIG_DIR / "nova.yaml"),
            split__sft=20, split__eval=6, split__rft=50, split__reuse_sft_for_rft=False,
        ),
        lambda: {"data.csv": make_csv(120)},
        "too_few_rows",
    ),
    "label_class_missing": (
        _open_weights, lambda: {"data.csv": _csv(_rows(60, labels=["HQ", "LQ_EDIT"]))}, "label_missing"
    ),
    "conflicting_duplicate_up_to_case": (_open_weights, _case_conflict, "conflicting_duplicate"),
    "split_leak": (
        _open_weights,
        # 18 training rows: the split uses every one, so each eval question is in a training split.
        lambda: {"train.csv": _csv(_rows(18)), "eval.csv": _csv(_rows(6))},
        "split_leak",
    ),
}


def _cli_problems(tmp_path: Path, settings: Settings, files: dict[str, bytes]) -> set[str]:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    paths = []
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
        paths.append(str(tmp_path / name))
    args = ["validate", paths[0], "--config", str(config), "--json"]
    if len(paths) > 1:
        args += ["--eval-data", paths[1]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    return set(json.loads(result.output)["problems"]["error"])


def _prepare_problems(aws, lambda_context, files: dict[str, bytes], run_id: str) -> set[str]:
    uris = []
    for name, body in files.items():
        aws.put_object(Bucket=DATA_BUCKET, Key=f"incoming/{name}", Body=body)
        uris.append(f"s3://{DATA_BUCKET}/incoming/{name}")
    event = {"dataset": uris[0], "execution_name": run_id}
    if len(uris) > 1:
        event["eval_dataset"] = uris[1]
    with pytest.raises(DataValidationError):
        prepare.handler(event, lambda_context)
    key = f"runs/{run_id}/data/validation.json"
    report = json.loads(aws.get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"].read())
    return set(report["problems"]["error"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_forge_validate_and_prepare_reject_with_the_same_problems(
    case: str, tmp_path: Path, use_settings, aws, lambda_context
) -> None:
    make_settings, make_files, expected = CASES[case]
    settings, files = use_settings(make_settings()), make_files()
    from_cli = _cli_problems(tmp_path, settings, files)
    from_prepare = _prepare_problems(aws, lambda_context, files, f"r-{case.replace('_', '-')}")
    assert expected in from_cli
    assert from_cli == from_prepare


def test_a_good_dataset_passes_both(tmp_path: Path, use_settings, aws, lambda_context) -> None:
    settings = use_settings(_open_weights())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    (tmp_path / "ok.csv").write_bytes(_csv(_rows(60)))
    result = CliRunner().invoke(
        app, ["validate", str(tmp_path / "ok.csv"), "--config", str(tmp_path / "config.yaml")]
    )
    assert result.exit_code == 0, result.output
    aws.put_object(Bucket=DATA_BUCKET, Key="incoming/ok.csv", Body=_csv(_rows(60)))
    event = {"dataset": f"s3://{DATA_BUCKET}/incoming/ok.csv", "execution_name": "r-ok"}
    run = prepare.handler(event, lambda_context)
    assert run["counts"]["sft"] == SIZES["split__sft"]
