"""The progress snapshot re-reads the execution history at most every HISTORY_REFRESH_SECONDS.

moto serializes the whole history on every call, so a run that polled it twice a second lost a core to it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from forge.local import runner
from forge.local.runner import LocalPipeline

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class CountingStepFunctions:
    def __init__(self) -> None:
        self.history_calls = 0
        self.status = "RUNNING"
        self.states = ["Prepare"]

    def describe_execution(self, executionArn: str) -> dict:
        return {"status": self.status}

    def get_execution_history(self, executionArn: str, maxResults: int, **kwargs) -> dict:
        self.history_calls += 1
        return {"events": [{"stateEnteredEventDetails": {"name": name}} for name in self.states]}


def a_pipeline(tmp_path: Path) -> tuple[LocalPipeline, CountingStepFunctions]:
    pipeline = LocalPipeline(PROJECT_ROOT / "config" / "local-demo.yaml",
                             PROJECT_ROOT / "examples" / "data" / "so_sample.csv", tmp_path, run_id="snap")
    sfn = CountingStepFunctions()
    pipeline.sfn, pipeline.execution_arn = sfn, "arn:execution"
    pipeline.sagemaker = SimpleNamespace(jobs={})
    return pipeline, sfn


def test_history_is_reread_only_after_the_refresh_interval(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    pipeline, sfn = a_pipeline(tmp_path)
    assert pipeline.snapshot().state == "Prepare"
    sfn.states.append("BaselineEval Launch")
    clock[0] += 2
    assert pipeline.snapshot().state == "Prepare"  # cached
    assert sfn.history_calls == 1
    clock[0] += runner.HISTORY_REFRESH_SECONDS
    assert pipeline.snapshot().state == "BaselineEval Launch"
    assert sfn.history_calls == 2


def test_a_fresh_or_final_snapshot_always_rereads(tmp_path):
    pipeline, sfn = a_pipeline(tmp_path)
    pipeline.snapshot()
    sfn.states.append("SFT Wait")
    assert pipeline.snapshot(fresh=True).state == "SFT Wait"  # what Ctrl-C reports as stopped_at
    sfn.states.append("Report")
    sfn.status = "SUCCEEDED"
    assert pipeline.snapshot().state == "Report"
    assert sfn.history_calls == 3
