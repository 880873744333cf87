"""A run's progress: the live panel for a terminal, and plain lines for a log file or a pipe.

Both show the pipeline steps, the running job's step/loss/reward/ETA and the elapsed time. A pipe gets no
live panel (rich draws it only on a terminal), so ``LineProgress`` prints a line whenever the stage, the job
or its status changes, and the job's progress at a steady cadence in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text

from forge.local.runner import Snapshot


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def render(snap: Snapshot, steps: list[str]) -> Group:
    """``steps`` are the pipeline steps of this config, in order (disabled stages left out)."""
    reached = [step for step in steps if step in snap.visited]
    last = reached[-1] if reached else None
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("step")
    table.add_column("state")
    for step in steps:
        if step == last and snap.status in ("FAILED", "ABORTED", "TIMED_OUT"):
            mark = Text(f"✗ {snap.status.lower()} ({snap.state})", style="red")
        elif step in reached and (step != last or snap.status == "SUCCEEDED"):
            mark = Text("✓ done", style="green")
        elif step == last:
            mark = Text(f"▶ {snap.state}", style="yellow")
        else:
            mark = Text("· waiting", style="dim")
        table.add_row(step, mark)
    lines = [table]
    if snap.job_name:
        lines.append(Text(job_line(snap)))
    lines.append(Text(f"execution {snap.status}, elapsed {_fmt_seconds(snap.elapsed_s)}", style="bold"))
    return Group(*lines)


def job_line(snap: Snapshot) -> str:
    """``job NAME: STATUS  step 40/219  loss 0.4607  eta 28m10s`` (the parts the job has reported)."""
    job = f"job {snap.job_name}: {snap.job_status}"
    progress = snap.progress or {}
    if "step" in progress:
        job += f"  step {progress['step']}/{progress['total']}"
    # RFT's zero_std: the share of groups whose completions all got the same reward (nothing learned).
    for key, digits in (("loss", 4), ("reward", 4), ("reward_std", 4), ("zero_std", 2)):
        if isinstance(progress.get(key), int | float):
            job += f"  {key} {progress[key]:.{digits}f}"
    if "eta_s" in progress:
        job += f"  eta {_fmt_seconds(float(progress['eta_s']))}"
    return job


class LineProgress:
    """Plain lines: one on every change of stage, job or status; job progress every ``every_s`` between.

    Keyed on the stage, not the state: a job's Wait/Poll/Status states cycle every poll.
    """

    def __init__(self, emit: Callable[[str], None], every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._emit = emit
        self._every_s = every_s
        self._clock = clock
        self._last_key: tuple | None = None
        self._last_line_at = 0.0
        self._last_progress: dict | None = None

    def update(self, snap: Snapshot) -> None:
        key = (snap.status, snap.stage, snap.job_name, snap.job_status)
        now = self._clock()
        changed = key != self._last_key
        due = snap.progress != self._last_progress and now - self._last_line_at >= self._every_s
        if not (changed or due):
            return
        line = f"[{_fmt_seconds(snap.elapsed_s)}] execution {snap.status}, stage {snap.stage or '–'}"
        if snap.job_name:
            line += f"; {job_line(snap)}"
        self._emit(line)
        self._last_key, self._last_line_at, self._last_progress = key, now, snap.progress


def pipeline_steps(enabled_job_stages: list[str], deploy: bool, smoke: bool) -> list[str]:
    steps = ["Prepare", *enabled_job_stages, "Gate"]
    if deploy:
        steps.append("Deploy")
        if smoke:
            steps.append("Smoke")
    return [*steps, "Report"]
