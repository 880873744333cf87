"""The ``forge`` command line: run the pipeline locally or on AWS, validate data, inspect and query runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live

from forge import cli_operations, cli_support
from pipeline_core import layout, report_table  # stdlib only: cheap at CLI start

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "llm-forge"  # pyproject's project name
DEFAULT_LOCAL_CONFIG = PROJECT_ROOT / "config" / "local.yaml"
DEMO_CONFIG = PROJECT_ROOT / "config" / "local-demo.yaml"
DEFAULT_DEPLOY_CONFIG = "config/nova.yaml"  # app.py's default
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
console, err_console = cli_support.console, cli_support.err_console
_fail, _usage, _failing = cli_support.fail, cli_support.usage, cli_support.failing


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"forge {version(DISTRIBUTION)}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("forge (not installed: no version metadata)")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run the pipeline locally or on AWS, validate data, inspect and query runs."""


_handlers_importable = cli_support.handlers_importable


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
    cli_support.quiet_local_logs(pipeline)
    settings = pipeline.settings
    steps = progress.pipeline_steps(
        settings.enabled_job_stages(), settings.deploy.enabled, settings.deploy.smoke_test
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


def _with_interval(metrics: dict, key: str) -> str:
    low, high = report_table.interval(metrics, key)
    return f"{key} {metrics[key]:.3f}" + ("" if low is None else f" [95% {low:.3f}-{high:.3f}]")


def _print_result(result) -> None:
    colours = {"SUCCEEDED": "green", "GATE_REJECTED": "yellow", "PENDING_APPROVAL": "yellow"}
    colour = colours.get(result.status, "red")
    console.print(f"[{colour}]{result.status}[/{colour}] run {result.run_id}")
    if result.report.get("failure_reason"):
        err_console.print(f"cause: {result.report['failure_reason']}", markup=False)
    for name, stage in report_table.ordered(result.report.get("stages") or {}):  # pipeline order
        metrics = stage.get("metrics") or {}
        shown = ", ".join(_with_interval(metrics, key) for key in ("accuracy", "em", "f1") if key in metrics)
        console.print(f"  {name}: {shown or 'no metrics'}")
    gate = result.report.get("gate") or {}
    if gate and not gate.get("passed"):
        console.print(f"  gate: {gate.get('reason')}", markup=False)
    console.print(f"  report: {result.run_dir / layout.REPORT_MD} and {result.run_dir / 'report.html'}")
    for warning in result.warnings:
        err_console.print(f"[yellow]warning[/yellow]: {warning}", highlight=False)


def _local_config(config: Path | None, data: Path) -> Path:
    """The default config needs 4,700 rows; the bundled sample has 600: with it, the demo config."""
    if config is not None:
        return config
    if data.resolve() == DEMO_DATA.resolve():
        cli_support.note(f"the bundled sample is too small for {DEFAULT_LOCAL_CONFIG.name}; using "
                         f"{DEMO_CONFIG.relative_to(PROJECT_ROOT)} (pass --config to choose)")
        return DEMO_CONFIG
    return DEFAULT_LOCAL_CONFIG


@app.command()
def run(
    local: Annotated[
        bool, typer.Option("--local", help="Run offline: moto + local jobs and endpoints.")
    ] = False,
    aws: Annotated[bool, typer.Option("--aws", help="Start an execution of a deployed stack.")] = False,
    config: Annotated[Path | None, typer.Option(
        help="Pipeline config (YAML). --local default: config/local.yaml (config/local-demo.yaml with the "
             "bundled sample). --aws: the config the stack was deployed from, to check the data first.",
    )] = None,
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
    """Run the pipeline: --local (offline) or --aws --stack NAME. The data is checked first."""
    if local == aws:
        raise _usage("choose exactly one of --local or --aws", "run")
    _handlers_importable()
    if aws:
        if data is None:
            raise _usage("--aws needs --data FILE", "run")
        if not stack:
            raise _usage("--aws needs --stack NAME", "run")
        from forge import aws_mode

        if config is not None:  # the stack's config is not readable from AWS: check only against a given one
            cli_support.check_data(data, eval_data, config)
        with _failing(aws_mode.StackLookupError, FileNotFoundError):
            started = aws_mode.start_run(stack, data, eval_data, run_id)
        console.print(f"started {started.execution_arn}\n  data: {started.dataset}", markup=False)
        return
    data = data or DEMO_DATA
    config = _local_config(config, data)
    cli_support.check_data(data, eval_data, config)
    _quiet_jsii_exit()  # before anything imports aws_cdk (which starts the jsii kernel)
    from forge.local.runner import LocalModeError
    from pipeline_core.settings import ConfigError

    try:
        result, _ = run_local(config, data, out, eval_data, run_id)
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
    from pipeline_core import cost_estimate
    from pipeline_core.settings import ConfigError, load_settings

    try:
        settings = load_settings(config)
        report = validate_dataset(file, settings, eval_data, config_dir=config.parent)
    except ConfigError as error:
        raise _fail(str(error)) from None
    estimate = cost_estimate.estimate(settings)  # what the run may cost, before anything is paid for
    if json_out:
        typer.echo(json.dumps({**report.to_dict(), "cost_estimate": estimate.to_record()}, ensure_ascii=False,
                              indent=1))
    else:
        typer.echo(report.summary())
        typer.echo("\n".join(estimate.lines()))
    if not report.ok:
        raise typer.Exit(code=1)


def _deploy_config(config: Path | None) -> Path:
    """The config a stack was deployed from: --config, else what app.py deploys (FORGE_CONFIG, nova.yaml)."""
    chosen = config or Path(os.environ.get("FORGE_CONFIG") or DEFAULT_DEPLOY_CONFIG)
    return chosen if chosen.is_absolute() else PROJECT_ROOT / chosen


@app.command()
def invoke(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run id (a directory under --out).")],
    question: Annotated[str, typer.Argument(help="The question text.")],
    out: Annotated[Path, typer.Option(help="Where the runs are.")] = Path("runs"),
    stack: Annotated[str | None, typer.Option(help="Ask a deployed stack's endpoint instead (AWS).")] = None,
    config: Annotated[Path | None, typer.Option(
        help="--stack: the deploy config, for the labels if the run's report lacks them.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print {answer, label} as JSON.")] = False,
) -> None:
    """Answer one question through the run's endpoint (restarting the local server if needed), with the
    run's own system prompt; prints the answer and the label parsed from it."""
    _handlers_importable()
    from forge import serving

    with _failing(RuntimeError):  # ServingError, StackLookupError, EndpointAnswerError, ConfigError
        if stack:
            from pipeline_core.settings import load_settings
            from pipeline_core.settings_task import task_labels

            labels = task_labels(load_settings(_deploy_config(config)))
            answer = serving.ask_aws(stack, run_name, question, labels)
        else:
            answer = serving.ask_run(out / run_name, question)
    if json_out:
        typer.echo(json.dumps(answer.as_dict()))
        return
    typer.echo(answer.text)
    typer.echo(f"label: {answer.label or '– (the answer names no single label)'}")


@app.command()
def serve(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run id (a directory under --out).")],
    out: Annotated[Path, typer.Option(help="Where the runs are.")] = Path("runs"),
) -> None:
    """Keep the run's model served on a local port until Ctrl-C."""
    _handlers_importable()
    from forge import serving

    with _failing(serving.ServingError):
        serving.serve_forever(out / run_name, lambda url: console.print(f"serving on {url} (Ctrl-C stops)"))


@app.command()
def status(
    stack: Annotated[str | None, typer.Option(help="Deployed stack: list its executions (AWS).")] = None,
    out: Annotated[Path, typer.Option(help="Local runs directory.")] = Path("runs"),
    json_out: Annotated[bool, typer.Option("--json", help="Print the runs as a JSON list.")] = False,
) -> None:
    """Recent runs (the stack's executions with --stack, else the local runs under --out): status, the
    stage reached, elapsed time and the headline metric (the gate's metric of the last evaluated stage)."""
    from forge import run_summary

    if stack:
        from forge import aws_mode

        with _failing(aws_mode.StackLookupError):
            rows = aws_mode.list_runs(stack)
        where = f"stack {stack}"
    else:
        rows, where = [], str(out)
        for report_file in run_summary.local_reports(out):
            # One unreadable report (a run killed mid-write, a stray file) must not hide the other runs.
            try:
                report = run_summary.read_report(report_file)
            except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                reason = getattr(error, "strerror", None) or str(error).splitlines()[0][:120]
                err_console.print(f"warning: skipping {report_file}: not a readable report ({reason})",
                                  style="yellow", markup=False)
                continue
            rows.append(run_summary.local_summary(report_file.parent, report))
    if json_out:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=1))
    elif not rows:
        console.print(f"no runs under {where}", markup=False)
    for row in [] if json_out else rows:
        console.print(run_summary.line(row), markup=False)


@app.command()
def report(
    run_name: Annotated[str, typer.Argument(metavar="RUN")],
    out: Annotated[Path, typer.Option(help="Local runs directory.")] = Path("runs"),
    stack: Annotated[
        str | None, typer.Option(help="Read the report of a deployed stack's run (AWS).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print report.json instead of report.md.")] = False,
) -> None:
    """Print a run's report.md (or its report.json with --json)."""
    name = layout.REPORT_JSON if json_out else layout.REPORT_MD
    if stack:
        from forge import aws_mode

        with _failing(aws_mode.StackLookupError):
            typer.echo(aws_mode.read_report(stack, run_name, name=name))
        return
    path = out / run_name / name
    if not path.is_file():
        raise _fail(f"no report at {path} (see `forge status --out {out}`)")
    typer.echo(path.read_text())


# Operations on runs and stacks (logs, MLflow UI, pre-flight, approve, teardown): their own module.
cli_operations.register(app)


if __name__ == "__main__":
    app()
