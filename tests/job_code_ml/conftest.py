"""Fixtures of the job-code tests: one tiny random-init model and a small chat dataset per session."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from job_code.models import build_tiny_model
from pipeline_core.settings import CASE_STUDY_LABELS

SYSTEM_PROMPT = "Classify the question. Answer with only HQ, LQ_EDIT or LQ_CLOSE."
SM_VARIABLES = ("SM_BASE_DIR", "SM_MODEL_DIR", "SM_OUTPUT_DIR", "SM_OUTPUT_DATA_DIR", "SM_CHECKPOINT_DIR",
                "SM_INPUT_DIR", "SM_INPUT_DATA_DIR", "SM_INPUT_CONFIG_DIR")


def chat_rows(count: int) -> list[dict]:
    """Rows whose question hints at the label, so a few training steps visibly lower the loss."""
    rows = []
    for index in range(count):
        label = CASE_STUDY_LABELS[index % len(CASE_STUDY_LABELS)]
        question = f"how do i fix this python error {'please ' * (index % 5)}{label.lower()}"
        rows.append({
            "id": f"row-{index}",
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": question},
                {"role": "assistant", "content": label},
            ],
            "label": label,
        })
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def chat_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A channel directory with one *.jsonl file of 24 rows."""
    channel = tmp_path_factory.mktemp("chat-channel")
    write_jsonl(channel / "rows.jsonl", chat_rows(24))
    return channel


@contextmanager
def sagemaker_job(base: Path, channels: dict[str, Path]) -> Iterator[Path]:
    """Run code under the SageMaker contract rooted at `base` (SM_BASE_DIR + SM_CHANNEL_* env vars)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [key for key in os.environ if key.startswith("SM_CHANNEL_")] + list(SM_VARIABLES):
            patch.delenv(name, raising=False)
        patch.setenv("SM_BASE_DIR", str(base))
        for name, path in channels.items():
            patch.setenv(f"SM_CHANNEL_{name.upper()}", str(path))
        yield base


def run_job(main: Callable[[list[str]], int], base: Path, channels: dict[str, Path], argv: list[str]) -> int:
    """Call a job's main(argv) with the contract's env set for the call only; returns its exit code."""
    with sagemaker_job(base, channels):
        return main(argv)


@pytest.fixture(scope="session")
def job_runner() -> Callable[..., int]:
    return run_job


@pytest.fixture(scope="session")
def rows_writer() -> Callable[[Path, list[dict]], Path]:
    return write_jsonl


@pytest.fixture(scope="session")
def make_rows() -> Callable[[int], list[dict]]:
    return chat_rows
