"""Case study, locally: SmolLM2-135M-Instruct on a Stack Overflow quality CSV, baseline → SFT → RFT.

Each stage runs the real job script as a subprocess under the SageMaker contract (SM_* env vars, channels,
hyperparameters as CLI flags), exactly as local mode runs it. The CSV is split deterministically (seed)
into a held-out eval slice, an SFT slice and an RFT slice (disjoint). Prints per stage: accuracy, em,
macro_f1, wall time and peak RSS; writes ``case_study.json`` into the work dir. Stages already finished in
the work dir are reused, so the script can be re-run to continue (e.g. ``--stages rft,eval_rft``).

    python benchmarks/smollm2_case_study.py --csv PATH --work /tmp/case --sft-rows 800 --eval-rows 200
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from job_code.core.formats import ColumnMapping, chat_record, load_examples, write_jsonl  # noqa: E402
from pipeline_core.settings import CASE_STUDY_SYSTEM_PROMPT, load_settings  # noqa: E402

STAGES = ("baseline_eval", "sft", "eval_sft", "rft", "eval_rft")


def split_csv(csv: Path, work: Path, *, seed: int, eval_rows: int, sft_rows: int, rft_rows: int) -> None:
    examples = load_examples(csv, ColumnMapping(query="text", label="rating"))
    random.Random(seed).shuffle(examples)
    slices = {
        "eval": examples[:eval_rows],
        "sft": examples[eval_rows : eval_rows + sft_rows],
        "rft": examples[eval_rows + sft_rows : eval_rows + sft_rows + rft_rows],
    }
    for name, rows in slices.items():
        records = (chat_record(example, CASE_STUDY_SYSTEM_PROMPT) for example in rows)
        write_jsonl(work / "data" / name / f"{name}.jsonl", records)


def stage_plan(stage: str, work: Path, hps: dict[str, dict], max_query_tokens: int) -> tuple[str, dict, dict]:
    """(script, channels, hyperparameters) of one stage; hyperparameters come from config/local.yaml."""
    data = work / "data"
    common = {"base_model": "smollm2-135m-instruct", "max_query_tokens": max_query_tokens, "seed": 42}
    if stage == "baseline_eval":
        return "evaluate", {"eval": data / "eval"}, {**common, **hps["eval"], "stage": stage}
    if stage == "eval_sft":
        return "evaluate", {"eval": data / "eval", "model": work / "sft" / "model"}, {
            **common, **hps["eval"], "stage": stage}
    if stage == "eval_rft":
        return "evaluate", {"eval": data / "eval", "model": work / "rft" / "model"}, {
            **common, **hps["eval"], "stage": stage}
    if stage == "sft":
        return "sft", {"train": data / "sft"}, {**common, **hps["sft"]}
    if stage == "rft":
        return "rft", {"train": data / "rft", "model": work / "sft" / "model"}, {**common, **hps["rft"]}
    raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")


def run_stage(stage: str, work: Path, script: str, channels: dict, hps: dict) -> dict:
    root = work / stage
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "SM_BASE_DIR": str(root),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()},
    }
    argv = [sys.executable, "-m", f"job_code.{script}"]
    for key, value in hps.items():
        argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (root / "job.log").open("w") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        failure = (root / "output" / "failure")
        reason = failure.read_text().strip() if failure.is_file() else "no failure file"
        raise SystemExit(f"stage {stage} failed: {reason} (log: {root / 'job.log'})")
    record = {"stage": stage, "wall_s": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    results = root / "output" / "data" / "results.json"
    if results.is_file():
        flat = json.loads(results.read_text())["results"]["all"]
        record.update({key: flat.get(key) for key in ("accuracy", "em", "macro_f1")})
    train = root / "output" / "data" / "train_metrics.json"
    if train.is_file():
        summary = json.loads(train.read_text())
        keys = ("first_loss", "last_loss", "first_reward", "last_reward", "steps")
        record.update({key: summary.get(key) for key in keys})
    (root / "stage.json").write_text(json.dumps(record, indent=2))
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "local.yaml")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--eval-rows", type=int, default=200)
    parser.add_argument("--sft-rows", type=int, default=800)
    parser.add_argument("--rft-rows", type=int, default=200)
    parser.add_argument("--max-query-tokens", type=int, help="default: the config's data.max_query_tokens")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE",
                        help="override a hyperparameter, e.g. sft.epochs=2 or rft.max_steps=30")
    args = parser.parse_args(argv)

    settings = load_settings(args.config)
    hps = {name: dict(settings.stages.for_stage(stage).hyperparameters)
           for name, stage in (("eval", "eval_sft"), ("sft", "sft"), ("rft", "rft"))}
    for override in args.set:
        target, _, value = override.partition("=")
        group, _, key = target.partition(".")
        hps[group][key] = value
    if not (args.work / "data" / "eval").is_dir():
        split_csv(args.csv, args.work, seed=args.seed, eval_rows=args.eval_rows, sft_rows=args.sft_rows,
                  rft_rows=args.rft_rows)
    records = []
    for stage in [stage.strip() for stage in args.stages.split(",") if stage.strip()]:
        done = args.work / stage / "stage.json"
        if done.is_file():
            records.append(json.loads(done.read_text()))
            continue
        max_query_tokens = args.max_query_tokens or settings.data.max_query_tokens
        script, channels, stage_hps = stage_plan(stage, args.work, hps, max_query_tokens)
        print(f"running {stage} ...", flush=True)
        records.append(run_stage(stage, args.work, script, channels, stage_hps))
        print(json.dumps(records[-1]), flush=True)

    header = f"{'stage':<14}{'accuracy':>10}{'em':>8}{'macro_f1':>10}{'wall_s':>9}{'peak_rss_mb':>13}"
    print(header)
    for record in records:
        cells = [record.get(key) for key in ("accuracy", "em", "macro_f1")]
        shown = "".join(f"{c:>10.3f}" if isinstance(c, float) else f"{'-':>10}" for c in cells)
        print(f"{record['stage']:<14}{shown}{record['wall_s']:>9}{record['peak_rss_mb']:>13}")
    (args.work / "case_study.json").write_text(json.dumps(
        {"seed": args.seed, "rows": {"eval": args.eval_rows, "sft": args.sft_rows, "rft": args.rft_rows},
         "hyperparameters": hps, "stages": records}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
