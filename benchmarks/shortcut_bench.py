"""The shortcut check's speed on a large input (it runs in the Prepare Lambda, on every row Prepare read).

    .venv/bin/python benchmarks/shortcut_bench.py [--rows 60000]

Synthetic rows shaped like the case study's: three balanced labels, questions of a few hundred to a few
thousand characters over several lines, ``\\r\\n`` in 92% of one label's rows and 1% of the others. Prints the
time of ``find_shortcuts`` and what it found. Measured on 2 shared cores: 1.35 s for 60,000 rows (650
characters on average), the line-ending warning found; 2.2 s for 60,000 rows of the case study's dev file
(repeated), 0.27 s for its 6,750 rows.
"""

from __future__ import annotations

import argparse
import random
import time

from job_code.core.shortcuts import find_shortcuts

LABELS = ("HQ", "LQ_EDIT", "LQ_CLOSE")
WORDS = ("python error list index array loop null pointer build class module query table join pre code "
         "function return value string object import").split()


def synthetic_rows(count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for index in range(count):
        label = LABELS[index % 3]
        lines = [" ".join(rng.choices(WORDS, k=rng.randint(5, 25))) for _ in range(rng.randint(2, 12))]
        newline = "\r\n" if rng.random() < (0.92 if label == "LQ_EDIT" else 0.01) else "\n"
        texts.append(newline.join(lines))
        labels.append(label)
    return texts, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    args = parser.parse_args()
    texts, labels = synthetic_rows(args.rows)
    started = time.perf_counter()
    found, scores = find_shortcuts(texts, labels)
    seconds = time.perf_counter() - started
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"{args.rows} rows, mean {mean_chars:.0f} characters: find_shortcuts took {seconds:.2f} s")
    print("| feature | balanced accuracy | stderr |\n|---|---|---|")
    for score in scores:
        print(f"| {score.feature} | {score.balanced_accuracy:.3f} | {score.stderr:.4f} |")
    for shortcut in found:
        print(f"- {shortcut.message}")


if __name__ == "__main__":
    main()
