"""Data preparation on a large input: validation speed (goal <= 10 s) and Prepare's peak memory
(goal <= 256 MB, in a 512 MB Lambda).

    .venv/bin/python benchmarks/validate_bench.py [--rows 48000] [--code DIR]

The generated CSV (about 60 MB at the default 48,000 rows) looks like the case study's data: questions of a
few hundred to a few thousand characters, quoted newlines and commas, a BOM. Nearly all of it is question
text, which Prepare must keep until the split: the hard case for memory.

1. Validation, in this process: ``validate_file`` on a copy of the file with about 1% bad rows planted (empty
   question, unknown label, reserved keyword), so every check runs; then the stratified split and writing the
   Nova files.
2. Prepare's memory: the real Prepare handler on the clean file, in a fresh subprocess, against a moto S3
   *server* running in this process (so the object moto holds is not counted). The figure is the
   subprocess's peak resident set (Linux VmHWM; ``ru_maxrss`` elsewhere), which is what Lambda's memory limit
   applies to; tracemalloc would leave out the interpreter, boto3 and C-level buffers, and slow the run
   down. The baseline row is the same subprocess after its imports, before the handler runs.

``--code DIR`` runs the Prepare subprocess on another checkout (e.g. ``git archive`` of an older commit into a
directory) to compare before and after. Measured on 2 shared cores with the default 63 MB CSV: Prepare's
peak was 575 MB before the streaming reader (commit bdedeea: the object's bytes, a copy on /tmp read back,
its decoded text and every row held at once, then a normalized copy of every question to deduplicate) and
is 172 MB with it (64 MB of it the interpreter and imports); validation takes about 1.2 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
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
MEMORY_GOAL_MB = 256
BUCKET = "bench-data"
ARTIFACTS = "bench-artifacts"


def generate_csv(path: Path, rows: int, seed: int, plant_bad: bool) -> int:
    """Write ``rows`` rows; with ``plant_bad`` about 1% are bad (empty question, unknown label, keyword)."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "text", "rating", "CreationDate"])
        for i in range(rows):
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 400)))
            text = f"q{i} <p>{body[:200]},\n{body[200:]}</p>\n<pre><code>x = f(y)</code></pre>"
            label = rng.choice(LABELS)
            roll = rng.random() if plant_bad else 1.0
            if roll < 0.003:
                text, bad = "   ", bad + 1
            elif roll < 0.006:
                label, bad = "MEDIUM", bad + 1
            elif roll < 0.009:
                text, bad = text + " User: please help", bad + 1
            writer.writerow([i, text, label, "2019-01-01 00:00:00"])
    return bad


def _rules():
    from job_code.core.formats import ColumnMapping
    from job_code.core.validation import ValidationRules

    return ValidationRules(
        labels=LABELS,
        mapping=ColumnMapping(query="text", label="rating", id="Id"),
        family="nova",
        system_prompt="Classify the question into HQ, LQ_EDIT or LQ_CLOSE.",
        max_query_chars=20_000,
        max_query_tokens=512,
    )


def validation_rows(path: Path, rows: int, bad: int) -> list[tuple[str, str, str]]:
    """Time validate_file, the split and the writers in this process; returns table rows."""
    from job_code.core.formats import write_split
    from job_code.core.split import split_examples
    from job_code.core.validation import validate_file

    rules = _rules()
    start = time.perf_counter()
    report, examples = validate_file(path, rules)
    validate_seconds = time.perf_counter() - start
    start = time.perf_counter()
    splits = split_examples(examples, sft=3500, eval=500, rft=700, seed=42)
    split_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for kind, kept in (("sft", splits.sft), ("rft", splits.rft), ("eval", splits.eval)):
            write_split(kept, family="nova", kind=kind, system_prompt=rules.system_prompt, out_dir=out)
    write_seconds = time.perf_counter() - start
    return [
        (
            "validate (read + all checks)",
            f"{validate_seconds:.2f} s ({rows / validate_seconds:,.0f} rows/s)",
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


def peak_rss_kb() -> int:
    """This process's peak resident set in KiB: Linux's VmHWM, which belongs to the process's own address
    space. ``ru_maxrss`` also keeps the high-water mark of the parent it was forked from (carried across
    exec), which would count the moto server's memory here."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def prepare_child(code: Path, dataset: str) -> None:
    """In the subprocess: import the handler from ``code``, run Prepare once, print the figures as JSON."""
    for path in (code / "lambda", code):
        sys.path.insert(0, str(path))
    from forge_handlers.entry import prepare  # noqa: PLC0415 - imported from ``code``, after sys.path is set

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench-prepare", 512, "0"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-prepare"

    baseline = peak_rss_kb()
    start = time.perf_counter()
    result = prepare.handler({"dataset": dataset, "execution_name": "bench-1"}, Context())
    seconds = time.perf_counter() - start
    peak = peak_rss_kb()
    figures = {"baseline_kb": baseline, "peak_kb": peak, "seconds": seconds, "counts": result["counts"]}
    print(json.dumps(figures))


def prepare_memory(path: Path, code: Path) -> dict:
    """Run Prepare on ``path`` in a subprocess against a moto S3 server; its figures."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request

    from pipeline_core.settings import load_settings

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        for bucket in (BUCKET, ARTIFACTS):
            s3.create_bucket(Bucket=bucket)
        s3.upload_file(str(path), BUCKET, "incoming/questions.csv")
        with tempfile.TemporaryDirectory() as tmp:
            settings = Path(tmp) / "settings.json"
            settings.write_text(load_settings(ROOT / "config" / "nova.yaml").to_json())
            env = {
                **os.environ,
                "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "FORGE_SETTINGS_FILE": str(settings), "DATA_BUCKET": BUCKET, "ARTIFACTS_BUCKET": ARTIFACTS,
                "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/bench",
                "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_SERVICE_NAME": "forge",
                "POWERTOOLS_LOG_LEVEL": "ERROR",
            }
            env.pop("AWS_PROFILE", None)
            done = subprocess.run(
                [sys.executable, __file__, "--prepare-child", "--code", str(code),
                 "--dataset", f"s3://{BUCKET}/incoming/questions.csv"],
                env=env, capture_output=True, text=True, cwd=tmp,
            )
    finally:
        server.stop()
    if done.returncode != 0:
        raise SystemExit(f"Prepare failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=48_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--code", type=Path, default=ROOT, help="tree Prepare runs from (default: here)")
    parser.add_argument("--skip-validate", action="store_true", help="measure Prepare's memory only")
    parser.add_argument("--prepare-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare_child:
        prepare_child(args.code.resolve(), args.dataset)
        return 0

    table = []
    with tempfile.TemporaryDirectory() as tmp:
        clean, planted = Path(tmp) / "clean.csv", Path(tmp) / "planted.csv"
        generate_csv(clean, args.rows, args.seed, plant_bad=False)
        size_mb = clean.stat().st_size / 1e6
        table.append(("input", f"{args.rows:,} rows, {size_mb:.1f} MB CSV", ""))
        if not args.skip_validate:
            bad = generate_csv(planted, args.rows, args.seed, plant_bad=True)
            table += validation_rows(planted, args.rows, bad)
            planted.unlink()
        figures = prepare_memory(clean, args.code.resolve())
    peak_mb, baseline_mb = figures["peak_kb"] / 1024, figures["baseline_kb"] / 1024
    code = "this tree" if args.code.resolve() == ROOT else str(args.code)
    table += [
        (f"Prepare process after imports ({code})", f"{baseline_mb:.0f} MB", ""),
        (
            "Prepare peak memory (peak RSS)",
            f"{peak_mb:.0f} MB in {figures['seconds']:.1f} s",
            f"goal <= {MEMORY_GOAL_MB} MB: " + ("met" if peak_mb <= MEMORY_GOAL_MB else "NOT met"),
        ),
        ("Prepare splits written", ", ".join(f"{k} {v}" for k, v in figures["counts"].items()), ""),
    ]
    width = max(len(r[0]) for r in table)
    value_width = max(len(r[1]) for r in table)
    for name, value, verdict in table:
        print(f"{name:<{width}}  {value:<{value_width}}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
