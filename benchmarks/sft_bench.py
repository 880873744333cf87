"""SFT step time: the plain TRL SFTTrainer vs the same trainer with the shared system prompt (share_prefix).

Both modes run the real job (job_code.sft.main) under the SageMaker contract in their own subprocess, on the
same rows (the case study's system prompt + questions cut at --max-query-tokens), the same seed, LoRA and
batch size, for --steps optimizer steps. Prints seconds per step, rows/s, peak RSS, the loss after the
last step and the speed-up of share_prefix (the two losses agree: the shared path is exact).

    python benchmarks/sft_bench.py                          # SmolLM2-135M-Instruct, 6 steps of batch 8
    python benchmarks/sft_bench.py --tiny --steps 4          # the random-init test model (seconds)
    python benchmarks/sft_bench.py --data ../shared/data/so_quality_dev.csv --lora-layers 10 \
        --hp lora_dropout=0
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def case_study_rows(data: Path | None, count: int, seed: int) -> list[dict]:
    """Chat rows with the case study's system prompt: from a text,rating CSV, or synthetic questions."""
    from eval_bench import synthetic_rows

    from pipeline_core.settings import CASE_STUDY_SYSTEM_PROMPT

    if data is None:
        rows = synthetic_rows(count, seed)
        labels = ("HQ", "LQ_EDIT", "LQ_CLOSE")
        for index, row in enumerate(rows):
            row["label"] = labels[index % 3]
        return rows
    with data.open(encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))[:count]
    return [{"id": str(index), "label": record["rating"],
             "messages": [{"role": "system", "content": CASE_STUDY_SYSTEM_PROMPT},
                          {"role": "user", "content": record["text"]}]}
            for index, record in enumerate(records)]


def run_mode(args: argparse.Namespace, share: bool, model: str, channel: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sft-bench-"))
    argv = ["--base_model", model, "--max_steps", str(args.steps), "--per_device_batch_size", str(args.batch),
            "--max_query_tokens", str(args.max_query_tokens), "--max_length", "640", "--logging_steps", "1",
            "--save_steps", "100000", "--share_prefix", str(share).lower(), "--learning_rate", "1e-3"]
    if args.lora_layers:
        argv += ["--lora_layers", str(args.lora_layers)]
    for assignment in args.hp:
        name, _, value = assignment.partition("=")
        argv += [f"--{name}", value]
    env = {**os.environ, "SM_BASE_DIR": str(work), "SM_CHANNEL_TRAIN": str(channel), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "job_code.sft", *argv], env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise SystemExit(f"share_prefix={share} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    # The job itself records its training metrics and its peak memory (sm_contract.write_job_resources).
    outputs = work / "output" / "data"
    return {**json.loads((outputs / "train_metrics.json").read_text()),
            **json.loads((outputs / "job_resources.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the random-init test model instead of SmolLM2")
    parser.add_argument("--data", type=Path, help="a text,rating CSV (default: synthetic questions)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-query-tokens", type=int, default=192)
    parser.add_argument("--lora-layers", type=int, default=0, help="LoRA on the top N layers only (0 = all)")
    parser.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE",
                        help="any other SFT hyperparameter, for both modes (e.g. lora_dropout=0)")
    args = parser.parse_args()

    from job_code.models import SMOLLM2_NAME, build_tiny_model
    from job_code.sm_contract import cpu_threads

    model = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="tiny-")))) if args.tiny else SMOLLM2_NAME
    channel = Path(tempfile.mkdtemp(prefix="sft-bench-data-"))
    rows = case_study_rows(args.data, args.steps * args.batch, seed=7)
    (channel / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    plain, shared = (run_mode(args, share, model, channel) for share in (False, True))
    self_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model={'tiny' if args.tiny else SMOLLM2_NAME} rows={len(rows)} steps={args.steps} "
          f"batch={args.batch} max_query_tokens={args.max_query_tokens} "
          f"lora_layers={args.lora_layers or 'all'} torch_threads={cpu_threads()} "
          f"self_rss_mb={self_rss_mb:.0f} hp={args.hp}")
    print(f"{'mode':<16}{'train s':>9}{'s/step':>9}{'rows/s':>9}{'peak MB':>9}{'last loss':>11}")
    for name, result in (("plain", plain), ("share_prefix", shared)):
        seconds = result["train_seconds"]
        print(f"{name:<16}{seconds:>9.1f}{seconds / args.steps:>9.2f}{len(rows) / seconds:>9.2f}"
              f"{result['peak_rss_mb']:>9.0f}{result['last_loss']:>11.4f}")
    print(f"speed-up of share_prefix: {plain['train_seconds'] / shared['train_seconds']:.2f}x "
          f"(loss difference {abs(plain['last_loss'] - shared['last_loss']):.2e})")


if __name__ == "__main__":
    main()
