"""Batched evaluation vs one-prompt-at-a-time generate: same model, same prompts, same greedy settings.

Modes: `single` is the naive loop (one plain model.generate() per prompt, input order, no padding, no
shared cache); `batched` is job_code.generation.generate_texts (length-sorted batches + the shared system
prompt's KV cache computed once); `batched-nocache` is the same without the prefix cache. Each mode runs
in its own subprocess so its peak memory (max RSS) is measured alone. Prints a table with seconds,
samples/s, peak RSS, the speed-up over one-at-a-time (goal: >= 5x) and how many answers equal the naive
ones (padding can flip a near-tie in greedy decoding, rarely).

A second table splits each mode's model time into prefill (forward passes over many positions) and decode
(one new token per row), from hooks on the model's forward: the tokens each mode pushes through the model
per sample, and the milliseconds each token costs. It shows where the time goes and what bounds the
speed-up: the line "ceiling" is one-at-a-time's time over the batched mode's prefill time alone, the
speed-up batching could reach if its decode steps cost nothing.

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
    from pipeline_core.settings import CASE_STUDY_SYSTEM_PROMPT

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


class ForwardTimer:
    """Times every top-level forward of a model, split into prefill (> 1 position) and decode (1 position).

    Token counts include padding: a padded position costs the same compute as a real one.
    """

    def __init__(self, model) -> None:
        self.totals = {"prefill": [0, 0.0], "decode": [0, 0.0]}  # tokens, seconds
        self._started = 0.0
        self._tokens = (0, 0)
        model.register_forward_pre_hook(self._before, with_kwargs=True)
        model.register_forward_hook(self._after, with_kwargs=True)

    def _before(self, module, args, kwargs) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        self._tokens = tuple(input_ids.shape)
        self._started = time.perf_counter()

    def _after(self, module, args, kwargs, output) -> None:
        rows, positions = self._tokens
        total = self.totals["prefill" if positions > 1 else "decode"]
        total[0] += rows * positions
        total[1] += time.perf_counter() - self._started

    def reset(self) -> None:
        for total in self.totals.values():
            total[:] = [0, 0.0]


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
    timer = ForwardTimer(model)
    if args.mode == "single":
        naive_generate(model, tokenizer, prompts[:1], args.max_new_tokens)  # warm-up
        timer.reset()
        started = time.perf_counter()
        answers = naive_generate(model, tokenizer, prompts, args.max_new_tokens)
    else:
        warm_up = prompts[:2]
        generate_texts(model, tokenizer, warm_up, max_new_tokens=args.max_new_tokens, batch_size=2)
        timer.reset()
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
        "forward": timer.totals,
    }


def print_forward_split(results: dict, modes: tuple[str, ...]) -> None:
    """Where each mode's model time goes: prefill vs decode tokens per sample, and ms per token."""
    print(f"\n{'mode':<30}{'prefill tok/sample':>19}{'ms/tok':>8}{'prefill s':>10}"
          f"{'decode tok/sample':>18}{'ms/tok':>8}{'decode s':>10}")
    for mode in modes:
        result = results[mode]
        cells = ""
        for kind, width in (("prefill", 19), ("decode", 18)):
            tokens, seconds = result["forward"][kind]
            per_token_ms = 1000 * seconds / max(tokens, 1)
            cells += f"{tokens / result['samples']:>{width}.1f}{per_token_ms:>8.2f}{seconds:>10.2f}"
        print(f"{mode:<30}{cells}")
    batched_prefill = results["batched"]["forward"]["prefill"][1]
    print(f"ceiling: one-at-a-time {results['single']['seconds']:.1f} s / batched prefill alone "
          f"{batched_prefill:.1f} s = {results['single']['seconds'] / batched_prefill:.1f}x "
          "(the speed-up if batched decode steps cost nothing)")


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
    print_forward_split(results, modes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
