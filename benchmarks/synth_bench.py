"""Synth time of one stack, per config, the way a user runs it: `python app.py` (goal <= 10 s).

    .venv/bin/python benchmarks/synth_bench.py [--repeat 2] [--config nova ...]

Each cell is the median wall time of fresh `python app.py` processes (Python and jsii start-up included),
side by side with CDK's built-in CloudFormation validation on (`-c cfn-validation=true`, which app.py
passes through) and off (the default; cfn-lint and cdk-nag check the templates in `make test`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 10.0


def synth_seconds(config: str, cfn_validation: bool, outdir: Path) -> float:
    """Wall seconds of one `python app.py` for ``config``; raises with the app's stderr if it fails."""
    context = {"config": f"config/{config}.yaml", "cfn-validation": "true" if cfn_validation else "false"}
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"synth of {config} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="fresh processes per cell (median reported)")
    parser.add_argument("--config", action="append", help="config name(s) in config/ (default: all)")
    args = parser.parse_args(argv)
    configs = args.config or sorted(path.stem for path in (ROOT / "config").glob("*.yaml"))

    print(f"{'config':<14} {'default (s)':>12} {'+ CDK validation (s)':>21} {'ratio':>6}")
    defaults = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in configs:
            cells = {}
            for cfn_validation in (False, True):
                runs = [synth_seconds(config, cfn_validation, Path(tmp) / f"{config}-{cfn_validation}-{i}")
                        for i in range(args.repeat)]
                cells[cfn_validation] = statistics.median(runs)
            defaults.append(cells[False])
            ratio = cells[True] / cells[False]
            print(f"{config:<14} {cells[False]:>12.2f} {cells[True]:>21.2f} {ratio:>5.2f}x")
    worst = max(defaults)
    print(f"slowest default synth {worst:.2f} s; goal <= {GOAL_SECONDS:.0f} s: "
          + ("met" if worst <= GOAL_SECONDS else "NOT met"))


if __name__ == "__main__":
    main()
