"""Speed of data preparation on a large input: validate 60,000 generated rows (goal <= 10 s).

    .venv/bin/python benchmarks/validate_bench.py [--rows 60000]

The generated CSV looks like the case study's data (questions of a few hundred to a few thousand
characters, quoted newlines and commas, a BOM) with a sprinkling of bad rows, so every check runs.
Also timed: the stratified split (preset sizes) and writing the Nova SFT / RFT / gen_qa files.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LABELS = ("HQ", "LQ_EDIT", "LQ_CLOSE")
WORDS = (
    "how do I fix this error in my python code when the list is empty the function returns none "
    "java stream spring boot react component state undefined null pointer exception sql query join"
).split()


def generate_csv(path: Path, rows: int, seed: int) -> int:
    """Write ``rows`` rows; about 1% are bad (empty question, unknown label, reserved keyword)."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "text", "rating", "CreationDate"])
        for i in range(rows):
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 400)))
            text = f"q{i} <p>{body[:200]},\n{body[200:]}</p>\n<pre><code>x = f(y)</code></pre>"
            label = rng.choice(LABELS)
            roll = rng.random()
            if roll < 0.003:
                text, bad = "   ", bad + 1
            elif roll < 0.006:
                label, bad = "MEDIUM", bad + 1
            elif roll < 0.009:
                text, bad = text + " User: please help", bad + 1
            writer.writerow([i, text, label, "2019-01-01 00:00:00"])
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    from job_code.formats import ColumnMapping, write_split
    from job_code.split import split_examples
    from job_code.validation import ValidationRules, validate_file

    rules = ValidationRules(
        labels=LABELS,
        mapping=ColumnMapping(query="text", label="rating", id="Id"),
        family="nova",
        system_prompt="Classify the question into HQ, LQ_EDIT or LQ_CLOSE.",
        max_query_chars=20_000,
        max_query_tokens=512,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "questions.csv"
        bad = generate_csv(path, args.rows, args.seed)
        size_mb = path.stat().st_size / 1e6

        start = time.perf_counter()
        report, examples = validate_file(path, rules)
        validate_seconds = time.perf_counter() - start

        start = time.perf_counter()
        splits = split_examples(examples, sft=3500, eval=500, rft=700, seed=42)
        split_seconds = time.perf_counter() - start

        start = time.perf_counter()
        for kind, rows in (("sft", splits.sft), ("rft", splits.rft), ("eval", splits.eval)):
            write_split(
                rows, family="nova", kind=kind, system_prompt=rules.system_prompt, out_dir=Path(tmp) / "out"
            )
        write_seconds = time.perf_counter() - start

    table = [
        ("input", f"{args.rows:,} rows, {size_mb:.1f} MB CSV, {bad} bad rows planted", ""),
        (
            "validate (read + all checks)",
            f"{validate_seconds:.2f} s ({args.rows / validate_seconds:,.0f} rows/s)",
            "goal <= 10 s: " + ("met" if validate_seconds <= 10 else "NOT met"),
        ),
        (
            "report",
            f"{report.errors} errors in {report.rows_with_errors} rows, {report.warnings} warnings, "
            f"{len(examples):,} usable rows",
            "all planted bad rows found" if report.rows_with_errors == bad else "MISMATCH",
        ),
        ("stratified split 3500/500/700", f"{split_seconds:.3f} s", ""),
        ("write Nova sft/rft/gen_qa files", f"{write_seconds:.3f} s", ""),
    ]
    width = max(len(r[0]) for r in table)
    value_width = max(len(r[1]) for r in table)
    for name, value, verdict in table:
        print(f"{name:<{width}}  {value:<{value_width}}  {verdict}")
    print()
    print(report.summary(examples=3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
