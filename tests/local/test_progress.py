"""The progress lines a run prints to a log file or a pipe (forge.progress.LineProgress)."""

from __future__ import annotations

from forge.local.runner import Snapshot
from forge.progress import LineProgress, job_line


def snap(stage, job=None, status="RUNNING", job_status="InProgress", progress=None, state=None) -> Snapshot:
    return Snapshot(status, state or stage, stage, job, job_status if job else None, progress, 0.0)


def test_job_line_shows_the_parts_the_job_reported():
    assert job_line(snap("sft", "j-sft")) == "job j-sft: InProgress"
    progress = {"step": 40, "total": 219, "loss": 0.46074, "eta_s": 1690}
    assert job_line(snap("sft", "j-sft", progress=progress)) == (
        "job j-sft: InProgress  step 40/219  loss 0.4607  eta 28m10s"
    )
    # GRPO's signal: a reward std of 0 in every group (zero_std 1.0) means the step learned nothing.
    rft = {"step": 3, "total": 20, "reward": 0.8125, "reward_std": 0.25, "zero_std": 0.5, "eta_s": 85}
    assert job_line(snap("rft", "j-rft", progress=rft)) == (
        "job j-rft: InProgress  step 3/20  reward 0.8125  reward_std 0.2500  zero_std 0.50  eta 1m25s"
    )


def test_a_line_per_change_and_progress_at_the_cadence():
    now = [0.0]
    lines: list[str] = []
    view = LineProgress(lines.append, every_s=60, clock=lambda: now[0])
    step = lambda n: {"step": n, "total": 10}  # noqa: E731
    timeline = [
        # (clock, snapshot, printed?)
        (0, snap("Prepare"), True),                                  # first snapshot
        (2, snap("Prepare"), False),                                 # nothing new
        (3, snap("Prepare", state="Read Input"), False),             # a new state of the same stage
        (4, snap("sft", "j-sft", job_status="InProgress"), True),    # new stage and job
        (6, snap("sft", "j-sft", state="SFT Poll"), False),          # the poll loop's states: quiet
        (10, snap("sft", "j-sft", progress=step(1)), False),         # progress, but within 60 s
        (64, snap("sft", "j-sft", progress=step(1)), True),          # 60 s since the last line
        (130, snap("sft", "j-sft", progress=step(1)), False),        # no new progress: quiet
        (131, snap("sft", "j-sft", progress=step(5)), True),         # new progress, cadence due
        (132, snap("sft", "j-sft", job_status="Completed", progress=step(10)), True),  # status change
        (133, snap("Gate", status="SUCCEEDED"), True),               # the end
    ]
    for clock, snapshot, expected in timeline:
        now[0] = clock
        before = len(lines)
        view.update(snapshot)
        assert len(lines) - before == int(expected), (clock, snapshot, lines[before:])
    assert lines[-1] == "[0s] execution SUCCEEDED, stage Gate"
    assert "job j-sft: Completed  step 10/10" in lines[-2]
