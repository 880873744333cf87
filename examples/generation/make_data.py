"""Generate examples/generation/data/word_problems.jsonl: a synthetic free-text task in chat form.

Each row is a short word problem (made up from the templates below) and its answer as one sentence that
states the number, e.g. "Mia has 3 boxes with 4 pencils in each. How many pencils does Mia have?" ->
"Mia has 12 pencils." There is no label set: the pipeline runs it as ``task.kind: generation``, the reward
(reward.py) scores token F1 plus the exact number, and the metric (metric.py) reports answer recall.

    python examples/generation/make_data.py [--rows 240] [--seed 11] [--out examples/generation/data/...]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "word_problems.jsonl"
SYSTEM_PROMPT = "Solve the word problem. Answer with one short sentence that states the number."
NAMES = ("Mia", "Omar", "Lena", "Ravi", "Sara", "Tom", "Yuki", "Ana")
ITEMS = ("pencils", "apples", "stamps", "marbles", "books", "cards", "shells", "coins")

Problem = tuple[str, str]  # (question, answer)


def _product(rng: random.Random) -> Problem:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    boxes, each = rng.randint(2, 9), rng.randint(2, 9)
    return (f"{name} has {boxes} boxes with {each} {item} in each. How many {item} does {name} have?",
            f"{name} has {boxes * each} {item}.")


def _sum(rng: random.Random) -> Problem:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    first, second = rng.randint(3, 40), rng.randint(3, 40)
    return (f"{name} had {first} {item} and found {second} more. How many {item} does {name} have now?",
            f"{name} has {first + second} {item} now.")


def _difference(rng: random.Random) -> Problem:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    start = rng.randint(20, 60)
    given = rng.randint(1, start - 1)
    return (f"{name} had {start} {item} and gave away {given}. How many {item} are left?",
            f"{name} has {start - given} {item} left.")


TEMPLATES: tuple[Callable[[random.Random], Problem], ...] = (_product, _sum, _difference)


def make_rows(rows: int, seed: int) -> list[dict]:
    """``rows`` distinct problems in chat form (system, user, assistant), reproducible from ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[dict] = []
    while len(out) < rows:
        question, answer = rng.choice(TEMPLATES)(rng)
        if question in seen:
            continue
        seen.add(question)
        out.append({"id": f"wp-{len(out):04d}", "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=240)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="\n") as handle:
        for row in make_rows(args.rows, args.seed):
            handle.write(json.dumps(row) + "\n")
    print(f"wrote {args.rows} rows to {args.out}")


if __name__ == "__main__":
    main()
