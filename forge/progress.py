"""The live progress panel of a run: pipeline steps, the running job's step/loss/ETA, elapsed time."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from forge.local.runner import Snapshot

STEPS = (
    "Prepare",
    "baseline_eval",
    "sft",
    "eval_sft",
    "rft",
    "eval_rft",
    "Gate",
    "Deploy",
    "Smoke",
    "Report",
)


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
        job = f"job {snap.job_name}: {snap.job_status}"
        progress = snap.progress or {}
        if "step" in progress:
            job += f"  step {progress['step']}/{progress['total']}"
        for key in ("loss", "reward"):
            if key in progress:
                job += f"  {key} {progress[key]:.4f}"
        if "eta_s" in progress:
            job += f"  eta {_fmt_seconds(float(progress['eta_s']))}"
        lines.append(Text(job))
    lines.append(Text(f"execution {snap.status}, elapsed {_fmt_seconds(snap.elapsed_s)}", style="bold"))
    return Group(*lines)


def pipeline_steps(enabled_job_stages: list[str], deploy: bool, smoke: bool) -> list[str]:
    steps = ["Prepare", *enabled_job_stages, "Gate"]
    if deploy:
        steps.append("Deploy")
        if smoke:
            steps.append("Smoke")
    return [*steps, "Report"]
