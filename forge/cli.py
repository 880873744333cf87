"""The ``forge`` command line: run the pipeline locally or on AWS, validate data, inspect and query runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from pipeline_core import layout  # stdlib only: cheap at CLI start
from pipeline_core import stages as stage_table

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCAL_CONFIG = PROJECT_ROOT / "config" / "local.yaml"
DEMO_CONFIG = PROJECT_ROOT / "config" / "local-demo.yaml"
DEMO_DATA = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"
DEMO_QUESTION = (
    'How to avoid "TypeError" with list comprehension in python? Given this python snippet:\n\n'
    "    result = [f(x) for x in items]\n\nit fails with `TypeError: 'NoneType' object is not iterable`. "
    "What is the idiomatic way to handle it?"
)

# Offline by design: no hub downloads, and no jsii banner about the machine's Node version.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()


def _handlers_importable() -> None:
    """The handler package lives in lambda/ (a directory name Python cannot import from directly)."""
    for path in (PROJECT_ROOT, PROJECT_ROOT / "lambda"):
        if str(path) not in sys.path:
            sys.path.append(str(path))


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED)
    return typer.Exit(code=2)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _quiet_jsii_exit() -> None:
    """Ctrl-C reaches the jsii node process too (one process group): it dies, and jsii's atexit hook then
    prints a BrokenPipeError traceback when it tells the dead process to exit. Make that hook quiet.
    Patched before the kernel starts, since the hook is bound at start."""
    try:
        from jsii._kernel.providers.process import _NodeProcess
    except ImportError:  # pragma: no cover - only on a jsii that moved it; the traceback is cosmetic
        return
    stop = _NodeProcess.stop
    if getattr(stop, "forge_quiet", False):
        return

    def quiet_stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            stop(self)

    quiet_stop.forge_quiet = True
    _NodeProcess.stop = quiet_stop


def run_local(
    config: Path,
    data: Path,
    out: Path,
    eval_data: Path | None = None,
    run_id: str | None = None,
    ask: str | None = None,
):
    """Run the whole pipeline offline; returns (RunResult, sample answer or None). Used by run and demo."""
    _handlers_importable()
    from forge import progress
    from forge.local.runner import LocalPipeline

    pipeline = LocalPipeline(config, data, out, eval_data=eval_data, run_id=run_id)
    settings = pipeline.settings
    steps = progress.pipeline_steps(
        settings.stages.enabled_job_stages(), settings.deploy.enabled, settings.deploy.smoke_test
    )
    console.print(f"run [bold]{pipeline.run_id}[/bold]: synthesizing the stack and starting moto…")
    # `kill` (SIGTERM) takes the same path as Ctrl-C: stop the execution and the job processes, then report.
    signal.signal(signal.SIGTERM, _interrupt)
    with pipeline:
        pipeline.start()
        if console.is_terminal:
            with Live(console=console, refresh_per_second=4) as view:
                final = pipeline.watch(lambda snap: view.update(progress.render(snap, steps)))
        else:  # a log file or a pipe: rich would draw the panel only once, at the end
            lines = progress.LineProgress(
                lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)
            )
            final = pipeline.watch(lines.update)
        result = pipeline.collect(final)
        answer = None
        if ask and result.status == "SUCCEEDED" and pipeline.sagemaker.endpoints:
            answer = pipeline.invoke(ask)
    return result, answer


def _print_result(result) -> None:
    colour = {"SUCCEEDED": "green", "GATE_REJECTED": "yellow"}.get(result.status, "red")
    console.print(f"[{colour}]{result.status}[/{colour}] run {result.run_id}")
    if result.report.get("failure_reason"):
        console.print(f"  cause: {result.report['failure_reason']}", markup=False)
    stages = result.report.get("stages") or {}
    # report.json sorts its keys; print in pipeline order (any section the table does not know, last).
    order = {name: index for index, name in enumerate(stage_table.report_sections())}
    for name, stage in sorted(stages.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        metrics = stage.get("metrics") or {}
        shown = ", ".join(f"{key} {metrics[key]:.3f}" for key in ("accuracy", "em", "f1") if key in metrics)
        console.print(f"  {name}: {shown or 'no metrics'}")
    console.print(f"  report: {result.run_dir / layout.REPORT_MD} and {result.run_dir / 'report.html'}")
    for warning in result.warnings:
        console.print(f"[yellow]warning[/yellow]: {warning}", highlight=False)


@app.command()
def run(
    local: Annotated[
        bool, typer.Option("--local", help="Run offline: moto + local jobs and endpoints.")
    ] = False,
    aws: Annotated[bool, typer.Option("--aws", help="Start an execution of a deployed stack.")] = False,
    config: Annotated[Path, typer.Option(help="Pipeline config (YAML).")] = DEFAULT_LOCAL_CONFIG,
    data: Annotated[
        Path | None, typer.Option(help="Input CSV/JSONL (text,rating). --local default: the bundled sample.")
    ] = None,
    eval_data: Annotated[
        Path | None, typer.Option("--eval-data", help="Separate evaluation CSV/JSONL.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where runs/<run-id>/ is written (local mode).")] = Path("runs"),
    stack: Annotated[str | None, typer.Option(help="Deployed stack name (--aws).")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id (default: generated).")] = None,
) -> None:
    """Run the pipeline: --local (offline) or --aws --stack NAME."""
    if local == aws:
        raise _fail("choose exactly one of --local or --aws")
    if aws:
        if data is None:
            raise _fail("--aws needs --data FILE")
        from forge import aws_mode

        if not stack:
            raise _fail("--aws needs --stack NAME")
        try:
            started = aws_mode.start_run(stack, data, eval_data, run_id)
        except (aws_mode.StackLookupError, FileNotFoundError) as error:
            raise _fail(str(error)) from None
        console.print(f"started {started.execution_arn}\n  data: {started.dataset}")
        return
    _quiet_jsii_exit()  # before anything imports aws_cdk (which starts the jsii kernel)
    _handlers_importable()
    from forge.local.runner import LocalModeError
    from pipeline_core.settings import ConfigError

    try:
        result, _ = run_local(config, data or DEMO_DATA, out, eval_data, run_id)
    except (LocalModeError, ConfigError) as error:
        raise _fail(str(error)) from None
    _print_result(result)
    if result.status != "SUCCEEDED":
        raise typer.Exit(code=1)


@app.command()
def demo(out: Annotated[Path, typer.Option(help="Where runs/<run-id>/ is written.")] = Path("runs")) -> None:
    """The bundled demo: the full pipeline on SmolLM2-135M-Instruct with the sample dataset."""
    _quiet_jsii_exit()
    _handlers_importable()
    from forge.local.runner import LocalModeError

    try:
        result, answer = run_local(DEMO_CONFIG, DEMO_DATA, out, ask=DEMO_QUESTION)
    except LocalModeError as error:
        raise _fail(str(error)) from None
    _print_result(result)
    if answer is not None:
        console.print(f"[bold]sample answer from the live endpoint[/bold]: {answer!r}")
    if result.status != "SUCCEEDED":
        raise typer.Exit(code=1)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="CSV/JSONL to check.")],
    config: Annotated[
        Path, typer.Option(help="Pipeline config (labels, columns, limits).")
    ] = DEFAULT_LOCAL_CONFIG,
    eval_data: Annotated[
        Path | None, typer.Option("--eval-data", help="Separate eval CSV/JSONL, as `run` takes it.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the full JSON report.")] = False,
) -> None:
    """The checks Prepare runs on a dataset (and the config's own checks), without running anything."""
    _handlers_importable()
    from forge.validate import validate_dataset
    from pipeline_core.settings import ConfigError, load_settings

    try:
        report = validate_dataset(file, load_settings(config), eval_data)
    except ConfigError as error:
        raise _fail(str(error)) from None
    typer.echo(report.to_json() if json_out else report.summary())
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def invoke(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run id (a directory under --out).")],
    question: Annotated[str, typer.Argument(help="The question text.")],
    out: Annotated[Path, typer.Option(help="Where the runs are.")] = Path("runs"),
    stack: Annotated[str | None, typer.Option(help="Ask a deployed stack's endpoint instead (AWS).")] = None,
) -> None:
    """Answer one question through the run's endpoint (restarting the local server if needed)."""
    _handlers_importable()
    from forge import serving

    try:
        answer = (
            serving.ask_run(out / run_name, question)
            if not stack
            else serving.ask_aws(stack, run_name, question)
        )
    except RuntimeError as error:  # ServingError, StackLookupError, EndpointAnswerError
        raise _fail(str(error)) from None
    typer.echo(answer)


@app.command()
def serve(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run id (a directory under --out).")],
    out: Annotated[Path, typer.Option(help="Where the runs are.")] = Path("runs"),
) -> None:
    """Keep the run's model served on a local port until Ctrl-C."""
    _handlers_importable()
    from forge import serving

    try:
        serving.serve_forever(out / run_name, lambda url: console.print(f"serving on {url} (Ctrl-C stops)"))
    except serving.ServingError as error:
        raise _fail(str(error)) from None


@app.command()
def status(
    stack: Annotated[str | None, typer.Option(help="Deployed stack: list its executions (AWS).")] = None,
    out: Annotated[Path, typer.Option(help="Local runs directory.")] = Path("runs"),
) -> None:
    """Recent runs: the stack's executions (--stack) or the local runs under --out."""
    if stack:
        from forge import aws_mode

        try:
            rows = aws_mode.list_runs(stack)
        except aws_mode.StackLookupError as error:
            raise _fail(str(error)) from None
        for row in rows:
            console.print(f"{row['name']}  {row['status']}  {row['start']}", markup=False)
        return
    for report_file in sorted(out.glob(f"*/{layout.REPORT_JSON}")):
        # One unreadable report (a run killed mid-write, a stray file) must not hide the other runs.
        try:
            report = json.loads(report_file.read_bytes())
            if not isinstance(report, dict):
                raise ValueError(f"a JSON {type(report).__name__}, not an object")
        except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0][:120]
            typer.secho(f"warning: skipping {report_file}: not a readable report ({reason})",
                        fg=typer.colors.YELLOW, err=True)
            continue
        console.print(f"{report.get('run_id')}  {report.get('status')}  {report_file.parent}", markup=False)


@app.command()
def report(
    run_name: Annotated[str, typer.Argument(metavar="RUN")],
    out: Annotated[Path, typer.Option(help="Local runs directory.")] = Path("runs"),
    stack: Annotated[
        str | None, typer.Option(help="Read the report of a deployed stack's run (AWS).")
    ] = None,
) -> None:
    """Print a run's report.md."""
    if stack:
        from forge import aws_mode

        try:
            typer.echo(aws_mode.read_report(stack, run_name))
        except aws_mode.StackLookupError as error:
            raise _fail(str(error)) from None
        return
    path = out / run_name / layout.REPORT_MD
    if not path.is_file():
        raise _fail(f"no report at {path}")
    typer.echo(path.read_text())


# -- forge preflight (issue 15): a self-contained block, kept at the end of the file ------------------
@app.command()
def preflight(
    stack: Annotated[str, typer.Option(help="The deployed stack to check.")],
    data: Annotated[
        Path | None, typer.Option(help="CSV/JSONL to build the reward Lambda's sample rollouts from.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="The config the stack was deployed from (default: as `cdk deploy`).")
    ] = None,
) -> None:
    """The Preflight state's checks (quotas, reward Lambda, IAM, endpoint tiers) against a deployed stack.
    Exit 1 on any problem, 2 when the stack or the inputs cannot be used."""
    _handlers_importable()
    import os

    from forge import aws_mode
    from forge import preflight as checks

    if config is None:
        from app import resolve_config

        config = resolve_config(None, os.environ)
    try:
        results = checks.run(stack, config, data)
    except aws_mode.StackLookupError as error:
        raise _fail(str(error)) from None
    for result in results:
        typer.echo(result.line())
    if any(result.status == "problem" for result in results):
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
