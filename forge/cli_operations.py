"""``forge logs``, ``ui``, ``preflight``, ``approve`` and ``teardown``: operations on runs and deployed
stacks, registered on the one ``forge`` app by forge/cli.py (the same conventions: forge/cli_support.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forge import cli_support
from forge.cli_support import failing as _failing
from forge.cli_support import handlers_importable as _handlers_importable
from pipeline_core import stages as stage_table

console = cli_support.console


def register(app: typer.Typer) -> None:
    """Add the operation commands to ``app``."""

    @app.command()
    def logs(
        run_name: Annotated[str, typer.Argument(metavar="RUN")],
        stage: Annotated[
            str | None,
            typer.Option(help=f"Only this stage's job ({', '.join(stage_table.names())} or endpoint)."),
        ] = None,
        out: Annotated[Path, typer.Option(help="Local runs directory.")] = Path("runs"),
        stack: Annotated[
            str | None, typer.Option(help="A deployed stack's run: CloudWatch logs (AWS).")
        ] = None,
    ) -> None:
        """A run's job logs: local (runs/<run>/logs/) or, with --stack, CloudWatch's training-job streams."""
        from forge import logs as job_logs

        with _failing(job_logs.LogsError, RuntimeError):
            if stack:
                from forge import aws_mode

                found = aws_mode.job_logs(stack, run_name, stage)
            else:
                found = job_logs.local_logs(out / run_name, stage)
        for entry in found:
            console.print(f"==> {entry.source} <==", markup=False, style="bold")
            typer.echo(entry.text.rstrip("\n"))


    @app.command()
    def ui(
        out: Annotated[
            Path, typer.Option(help="The runs directory whose MLflow store to open.")
        ] = Path("runs"),
        port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    ) -> None:
        """Open the MLflow UI on the local runs' store (<out>/mlflow/mlflow.db): runs side by side."""
        from forge import tracking

        with _failing(tracking.TrackingError):
            code = tracking.ui(out, port, host)
        raise typer.Exit(code)


    @app.command()
    def preflight(
        stack: Annotated[str, typer.Option(help="The deployed stack to check.")],
        data: Annotated[
            Path | None, typer.Option(help="CSV/JSONL to build the reward Lambda's sample rollouts from.")
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(help="The config the stack was deployed from (default: as `cdk deploy`)."),
        ] = None,
    ) -> None:
        """The Preflight state's checks (quotas, reward Lambda, IAM, endpoint tiers) against a deployed stack,
        and the run's cost estimate. Exit 1 on any problem (or when the stack cannot be used), 2 on usage."""
        _handlers_importable()
        import os

        from forge import aws_mode
        from forge import preflight as checks

        if config is None:
            from app import resolve_config

            config = resolve_config(None, os.environ)
        from pipeline_core import cost_estimate
        from pipeline_core.settings import ConfigError, load_settings

        with _failing(aws_mode.StackLookupError, ConfigError):
            results = checks.run(stack, config, data)
            estimate = cost_estimate.estimate(load_settings(config))
        for result in results:
            typer.echo(result.line())
        typer.echo("\n".join(estimate.lines()))
        if any(result.status == "problem" for result in results):
            raise typer.Exit(code=1)


    @app.command()
    def teardown(
        run_name: Annotated[
            str | None, typer.Argument(metavar="[RUN]", help="A local run (with --out).")
        ] = None,
        out: Annotated[Path, typer.Option(help="Local runs directory.")] = Path("runs"),
        stack: Annotated[
            str | None, typer.Option(help="Tear down a deployed stack's endpoint (AWS).")
        ] = None,
        run: Annotated[
            str | None, typer.Option(help="With --stack: also this run's endpoint config and model.")
        ] = None,
    ) -> None:
        """Delete what costs money: with --stack, the pipeline endpoint and its TTL schedule (and --run's
        endpoint config and model); locally, the model server `forge serve` left running. Runs stay."""
        from forge import teardown as down

        if stack:
            if run_name:
                raise cli_support.usage("give a local RUN or --stack [--run RUN], not both", "teardown")
            _handlers_importable()
            from forge import aws_mode

            with _failing(aws_mode.StackLookupError, down.TeardownError):
                lines = down.teardown_stack(stack, run)
        else:
            if not run_name or run:
                raise cli_support.usage("give a local RUN, or --stack NAME [--run RUN]", "teardown")
            with _failing(down.TeardownError):
                lines = down.teardown_local(out / run_name)
        for line in lines:
            console.print(line, markup=False)

    @app.command()
    def approve(
        run_name: Annotated[str, typer.Argument(help="The run whose candidate waits for approval.")],
        stack: Annotated[str | None, typer.Option(help="The deployed stack the run ran on (AWS).")] = None,
        out: Annotated[Path, typer.Option(help="Local runs directory.")] = Path("runs"),
    ) -> None:
        """Approve a PENDING_APPROVAL run's model package; the registry's approval event deploys it (AWS).
        A local run's registry ends with the run: it cannot be approved afterwards (exit 1, saying why)."""
        from forge import approve as approval

        if stack:
            from forge import aws_mode

            with _failing(approval.ApprovalError, aws_mode.StackLookupError):
                done = approval.approve_aws(stack, run_name)
            typer.echo(f"approved {done.model_package_arn} (was {done.previous_status}); the approval event "
                       f"starts the deploy on {stack}: follow it with forge status --stack {stack}")
            return
        with _failing(approval.ApprovalError):
            approval.approve_local(out, run_name)
