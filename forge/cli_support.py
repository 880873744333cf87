"""What every ``forge`` command shares: consoles, the error conventions and the checks before a run.

Conventions: results on stdout, errors on stderr as one line; exit 1 for a failed operation, 2 for a usage
error (click's own usage errors exit 2 too). Consoles never wrap (piped output keeps URLs whole) and honour
NO_COLOR (rich reads it when the console is made).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

FAILED = 1
USAGE = 2


def make_console(stderr: bool = False, **kwargs: Any) -> Console:
    return Console(stderr=stderr, soft_wrap=True, highlight=False, **kwargs)


console = make_console()
err_console = make_console(stderr=True)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def fail(message: str, code: int = FAILED) -> typer.Exit:
    """Print ``error: <message>`` (one line) on stderr; raise the returned Exit."""
    err_console.print(f"error: {one_line(message)}", style="red", markup=False)
    return typer.Exit(code=code)


def usage(message: str, command: str) -> typer.Exit:
    return fail(f"{message} (see `forge {command} --help`)", USAGE)


def note(message: str) -> None:
    err_console.print(f"note: {one_line(message)}", style="yellow", markup=False)


@contextlib.contextmanager
def failing(*errors: type[BaseException]) -> Iterator[None]:
    """Inside: botocore errors and ``errors`` become one line on stderr and exit 1 (no traceback)."""
    from forge.aws_errors import AwsError
    from forge.aws_errors import one_line as aws_one_line

    try:
        with aws_one_line():
            yield
    except (AwsError, *errors) as error:
        raise fail(str(error)) from None


def validation_problem(report: Any, path: Path, config: Path) -> str | None:
    """None if ``report`` (a job_code ValidationReport) passed, else one line: the first error and where
    to see all of them."""
    if report.ok:
        return None
    first = next(i for i in report.issues if i.severity == "error")
    where = f"row {first.row}" + (f" [{first.field}]" if first.field else "") if first.row is not None else ""
    head = f"{path} fails the checks of {config} ({report.errors} errors in {report.rows_total} rows)"
    detail = f"{where}: {first.message}" if where else first.message
    return f"{head}: {detail}; `forge validate {path} --config {config}` lists them all"


def check_data(data: Path, eval_data: Path | None, config: Path) -> None:
    """The Prepare step's own checks, before anything starts: fail in seconds, not after a synth."""
    from forge.validate import validate_dataset
    from pipeline_core.settings import ConfigError, load_settings

    for path in filter(None, (data, eval_data)):
        if not path.is_file():
            raise fail(f"data file {path} does not exist")
    try:
        settings = load_settings(config)
        report = validate_dataset(data, settings, eval_data)
    except ConfigError as error:
        raise fail(str(error)) from None
    problem = validation_problem(report, data, config)
    if problem:
        raise fail(problem)


def quiet_local_logs(pipeline: Any) -> None:
    """A failed local run shows its cause only: the handlers' Powertools error lines and moto's dump of the
    failed state repeat it (the cause is in the execution history, report.md and the result)."""
    import logging

    pipeline.handler_env_overrides["POWERTOOLS_LOG_LEVEL"] = "CRITICAL"
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def handlers_importable() -> None:
    """The handler package lives in lambda/ (a directory name Python cannot import from directly)."""
    import sys

    for path in (PROJECT_ROOT, PROJECT_ROOT / "lambda"):
        if str(path) not in sys.path:
            sys.path.append(str(path))
