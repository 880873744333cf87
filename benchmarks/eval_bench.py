"""Batched evaluation vs one-prompt-at-a-time generate: same model, same prompts, same greedy settings.

Modes: `single` is the naive loop (one plain model.generate() per prompt, input order, no padding, no
shared cache); `batched` is job_code.generation.generate_texts (length-sorted batches + the shared system
prompt's KV cache computed once); `batched-nocache` is the same without the prefix cache. Each mode runs
in its own subprocess so its peak memory (max RSS) is measured alone. Prints a table with seconds,
samples/s, peak RSS, the speed-up over one-at-a-time (goal: >= 5x) and how many answers equal the naive
ones (padding can flip a near-tie in greedy decoding, rarely).

    python benchmarks/eval_bench.py                      # SmolLM2-135M-Instruct, 48 case-study prompts
    python benchmarks/eval_bench.py --tiny --samples 64  # the random-init test model (seconds)
    python benchmarks/eval_bench.py --data eval.jsonl    # prompts from a chat JSONL file
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("python list index error function return value class object loop string array pandas dataframe "
         "javascript async await promise react component state null pointer exception java spring sql join "
         "query table index css flex layout html form button event click server request response").split()


def synthetic_rows(count: int, seed: int) -> list[dict]:
    """Case-study-like rows: the real system prompt and questions of varied length (20-180 words)."""
    from stacks.settings import CASE_STUDY_SYSTEM_PROMPT

    rng = random.Random(seed)
    rows = []
    for index in range(count):
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 180)))
        rows.append({"id": str(index), "messages": [{"role": "system", "content": CASE_STUDY_SYSTEM_PROMPT},
                                                    {"role": "user", "content": question}]})
    return rows


def naive_generate(model, tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    """The honest baseline: prompts in input order, one plain greedy generate() each, nothing shared."""
    import torch

    model.eval()
    answers = []
    for prompt in prompts:
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **encoded, max_new_tokens=max_new_tokens, do_sample=False, top_p=None, top_k=None,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            )
        new_tokens = output[0, encoded["input_ids"].shape[1]:]
        answers.append(tokenizer.decode(new_tokens, skip_special_tokens=True).strip())
    return answers


def run_mode(args: argparse.Namespace) -> dict:
    """Child process: generate every prompt in one mode and report timing + peak RSS."""
    from job_code.chat import prompt_messages, prompt_text, read_chat_rows
    from job_code.generation import generate_texts
    from job_code.models import load_model_and_tokenizer
    from job_code.sm_contract import configure_cpu_threads

    configure_cpu_threads()
    model, tokenizer = load_model_and_tokenizer(args.model_dir)
    rows = read_chat_rows(Path(args.data), limit=args.samples)
    prompts = [prompt_text(prompt_messages(row, tokenizer, args.max_query_tokens), tokenizer) for row in rows]
    batch_size = 1 if args.mode == "single" else args.batch_size
    if args.mode == "single":
        naive_generate(model, tokenizer, prompts[:1], args.max_new_tokens)  # warm-up
        started = time.perf_counter()
        answers = naive_generate(model, tokenizer, prompts, args.max_new_tokens)
    else:
        warm_up = prompts[:2]
        generate_texts(model, tokenizer, warm_up, max_new_tokens=args.max_new_tokens, batch_size=2)
        started = time.perf_counter()
        answers = generate_texts(
            model, tokenizer, prompts, max_new_tokens=args.max_new_tokens, batch_size=batch_size,
            prefix_cache=args.mode == "batched",
        )
    seconds = time.perf_counter() - started
    return {
        "mode": args.mode,
        "batch_size": batch_size,
        "samples": len(prompts),
        "seconds": seconds,
        "samples_per_s": len(prompts) / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": __import__("torch").get_num_threads(),
        "answers": answers,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="a local HF model dir (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--tiny", action="store_true", help="use the random-init tiny test model")
    parser.add_argument("--data", help="chat JSONL file or channel dir (default: synthetic prompts)")
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--max-query-tokens", type=int, default=192)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-cache-mode", action="store_true",
                        help="also time batched generation without the shared-prefix cache")
    parser.add_argument("--mode", choices=("batched", "batched-nocache", "single"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    if args.mode:  # child
        print(json.dumps(run_mode(args)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    if args.tiny:
        from job_code.models import build_tiny_model

        args.model_dir = str(build_tiny_model(work / "tiny"))
    elif not args.model_dir:
        from job_code.models import smollm2_dir

        args.model_dir = str(smollm2_dir())
    if not args.data:
        args.data = str(work / "prompts.jsonl")
        rows = synthetic_rows(args.samples, args.seed)
        Path(args.data).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    results = {}
    modes = ("single", "batched-nocache", "batched") if args.no_cache_mode else ("single", "batched")
    for mode in modes:
        command = [
            sys.executable, str(Path(__file__).resolve()), "--mode", mode, "--model-dir", args.model_dir,
            "--data", args.data, "--samples", str(args.samples), "--batch-size", str(args.batch_size),
            "--max-new-tokens", str(args.max_new_tokens), "--max-query-tokens", str(args.max_query_tokens),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
        results[mode] = json.loads(output.strip().splitlines()[-1])

    single = results["single"]
    print(f"model: {args.model_dir}\nprompts: {single['samples']}, max_new_tokens {args.max_new_tokens}, "
          f"max_query_tokens {args.max_query_tokens}, torch threads {single['threads']}")
    print(f"{'mode':<30}{'seconds':>10}{'samples/s':>12}{'peak RSS MB':>14}{'speed-up':>10}"
          f"{'same answers':>14}")
    for mode in modes:
        result = results[mode]
        name = f"{result['mode']} (batch {result['batch_size']})"
        agree = sum(a == b for a, b in zip(single["answers"], result["answers"], strict=True))
        print(f"{name:<30}{result['seconds']:>10.2f}{result['samples_per_s']:>12.2f}{result['peak_rss_mb']:>14.0f}"
              f"{single['seconds'] / result['seconds']:>9.1f}x{agree:>9}/{single['samples']}")
    speedup = single["seconds"] / results["batched"]["seconds"]
    print(f"speed-up batched / one-at-a-time: {speedup:.1f}x (goal >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
