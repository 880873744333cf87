"""``forge run --local``: the synthesized stack on moto, its handlers in-process, jobs as local processes.

Order of a run: synthesize the CDK app into a temporary cdk.out → start moto (Step Functions executes
ASL, Lambda runs the handlers from the synthesized asset directory) → create the template's resources
→ inject the local SageMaker runtime into the handlers' client seam → upload job code and data →
start the execution → watch it → copy ``runs/<run-id>/`` and the execution history to ``--out``. What a
run leaves deployed is kept for the next run of the pipeline (forge/local/account.py).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge import tracking
from forge.local import account, notifications, results, s3io
from forge.local.cfn import LocalStack, create_in_moto
from forge.local.execution_events import install_rules
from forge.local.iam.enforce import Enforcer
from forge.local.iam.simulate import LocalPolicySimulator
from forge.local.launcher import Launcher, WarmLauncher, cold_launch
from forge.local.run_ids import LocalModeError, checked_run_id, claim_run_dir, new_run_id
from forge.local.sagemaker import LocalSageMaker, LocalSageMakerRuntime
from forge.local.service_quotas import NoAccountQuotas
from forge.local.training import parse_progress
from pipeline_core import layout, registry
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings, load_settings
from stacks.bundle import stage_code_channel

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
FINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
REGION = "us-east-1"
HISTORY_REFRESH_SECONDS = 10.0


@dataclass
class Snapshot:
    """What the progress display shows at one moment."""

    status: str
    state: str | None
    stage: str | None
    job_name: str | None
    job_status: str | None
    progress: dict[str, Any] | None
    elapsed_s: float
    visited: list[str] = field(default_factory=list)  # pipeline stages entered so far


@dataclass
class RunResult:
    run_id: str
    status: str
    run_dir: Path
    report: dict[str, Any]
    stopped_at: str | None = None
    warnings: list[str] = field(default_factory=list)


def synthesize(config: Path, outdir: Path, config_dir: Path | None = None) -> Path:
    """The CDK app of this project (issue 2's ``app.build_app``), synthesized into ``outdir``."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    app_module = importlib.import_module("app")
    built = app_module.build_app(str(config), str(outdir), config_dir=config_dir)
    app = built[0] if isinstance(built, tuple) else built  # (app, stack)
    app.synth()
    return outdir


def stage_of_state(state_name: str | None) -> str | None:
    """Map a state name of the workflow ("SFT Poll", "Deploy"…) to the pipeline stage it belongs to."""
    if not state_name:
        return None
    job_stage = stage_table.stage_of_state(state_name)
    if job_stage is not None:
        return job_stage
    words = state_name.split(" ")
    if "Gate" in words:  # "Gate", "Gate Passed", "Mark Gate Rejected"
        return "Gate"
    if words[0] in ("Deploy", "Endpoint"):
        return "Deploy"
    if words[0] in ("Prepare", "Preflight", "Smoke", "Report"):
        return words[0]
    return state_name


class LocalPipeline:
    """One local run. Use as a context manager: moto and the local processes live inside it."""

    def __init__(
        self,
        config: Path,
        data: Path,
        out: Path,
        eval_data: Path | None = None,
        run_id: str | None = None,
        python: str | None = None,
        warm_start: bool = True,
    ):
        self.config, self.data, self.eval_data = Path(config), Path(data), eval_data and Path(eval_data)
        # Absolute: job processes run in their own directories, where a relative path means something else.
        self.out = Path(out).resolve()
        self.run_id = checked_run_id(run_id) if run_id is not None else new_run_id()
        self.python = python
        self.warm_start = warm_start  # jobs fork from a pre-imported Python (forge.local.launcher)
        self.settings: Settings = load_settings(self.config)
        if self.settings.model.family != "hf":
            raise LocalModeError(
                f"local mode runs model family 'hf' only; {self.config} has model.family "
                f"{self.settings.model.family!r} (Nova jobs run in AWS). Use config/local.yaml."
            )
        for path in filter(None, (self.data, self.eval_data)):
            if not path.is_file():
                raise LocalModeError(f"data file {path} does not exist")
        # Claimed last, once the arguments are known good: a rejected run leaves nothing behind.
        self.run_dir = claim_run_dir(self.out / self.run_id)
        # MLflow: tracking on and pointed nowhere -> the store under --out (forge/tracking.py).
        self.settings = tracking.with_local_store(self.settings, self.out)
        self._exit = contextlib.ExitStack()
        # Quieter handler logs in the terminal; everything still reaches the execution history.
        # The Lambda runtime sets the region for its functions; so does local mode (boto3 needs one).
        self.handler_env_overrides = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_TRACE_DISABLED": "1",
                                      "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
        self.execution_arn: str | None = None
        self._entered: list[str] | None = None
        self._entered_at = 0.0
        self.collected = False
        self.announced = False  # the end-of-execution event was delivered (_announce_end)
        self.warnings: list[str] = []  # shown by the CLI after the result
        self.started = time.monotonic()

    # -- set-up -----------------------------------------------------------------------------------
    def __enter__(self) -> LocalPipeline:
        import boto3
        from moto import mock_aws

        try:
            # Jobs get the environment the run started with, not what moto and the handlers add to it.
            job_env = dict(os.environ)
            launcher: Launcher = cold_launch
            if self.warm_start:  # starts importing now, while the stack is synthesized
                launcher = warm = WarmLauncher(self.python or sys.executable, job_env)
                self._exit.callback(warm.close)  # runs after sagemaker.shutdown (LIFO)
            self.workdir = Path(self._exit.enter_context(tempfile.TemporaryDirectory(prefix="forge-local-")))
            outdir = synthesize(tracking.synth_config(self.settings, self.config, self.workdir),
                                self.workdir / "cdk.out", config_dir=self.config.parent)
            self._exit.enter_context(mock_aws(config=MOTO_CONFIG))
            self.session = boto3.session.Session(region_name=REGION)
            self.s3 = self.session.client("s3")
            self.sfn = self.session.client("stepfunctions")
            self.stack: LocalStack = create_in_moto(self.session, outdir, REGION)
            self.env = self.stack.function_env()
            # The template's IAM, enforced for each principal's calls (forge.local.iam.enforce).
            self.iam = Enforcer.for_stack(self.stack)
            self._exit.callback(self.iam.install_boto_hooks())
            self._install_handlers()
            # The stack's rules on Step Functions status changes (the abort handler's), as on AWS.
            install_rules(self.session, self.stack.template, self.stack.resolver)
            self.notification_queue = notifications.subscribe(self.session, self.env["TOPIC_ARN"])
            self.sagemaker = LocalSageMaker(
                self.s3, self.out / ".work" / self.run_id, region=REGION, python=self.python,
                launcher=launcher, base_env=job_env,
            )
            # Runs last (LIFO): once everything stopped, drop the job dirs if the run was collected.
            self._exit.callback(self._remove_workdir)
            self._exit.callback(self.sagemaker.shutdown)
            self.runtime = LocalSageMakerRuntime(self.sagemaker)
            self.iam.attach_runtime(self.sagemaker, self.session)
            # What earlier runs of this pipeline left deployed (forge/local/account.py), back in the account.
            self.account_dir = account.account_dir(self.out, self.settings.resource_prefix)
            deploys = self.settings.deploy.enabled
            self.restored = account.restore(self.sagemaker, self.s3, self.account_dir) if deploys else None
            clients = importlib.import_module("forge_handlers.aws.clients")
            clients.override("sagemaker", self.iam.guard("sagemaker", self.sagemaker))
            clients.override("sagemaker-runtime", self.iam.guard("sagemaker-runtime", self.runtime))
            # moto has no IAM policy simulator: preflight asks the local evaluator (iam/simulate.py).
            clients.override("iam", self.iam.guard("iam", LocalPolicySimulator(self.iam.principals)))
            # ... and no account: the quota check is skipped, saying why (local/service_quotas.py).
            clients.override("service-quotas", self.iam.guard("service-quotas", NoAccountQuotas()))
            self._exit.callback(clients.reset)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._exit.close()
        if not self.collected:  # the run failed before it produced anything: give its id back
            with contextlib.suppress(OSError):
                self.run_dir.rmdir()  # only if empty

    def _install_handlers(self) -> None:
        """Step Functions' Lambda invokes run the real handlers in-process (issue 2's moto patch).

        Handlers are imported from the synthesized asset directory, so what runs is what CDK uploads. The
        function's environment from the template is applied around each call.
        """
        from forge import moto_lambda
        from forge.lambda_surface import LambdaRuntime

        os.environ.update(self.handler_env_overrides)  # read when the handler modules are imported
        for asset_dir in {props["AssetDir"] for props in self.stack.functions.values()}:
            if asset_dir not in sys.path:
                sys.path.insert(0, asset_dir)
        functions = self.stack.functions

        def resolve(name: str) -> moto_lambda.Handler:
            props = functions.get(name)
            if props is None:
                raise moto_lambda.UnknownFunctionError(f"function {name!r} is not in the template")
            module_name, _, attribute = props["Handler"].rpartition(".")
            handler = getattr(importlib.import_module(module_name), attribute)
            variables = {**props.get("Environment", {}).get("Variables", {}), **self.handler_env_overrides}

            def call(event: Any, context: Any) -> Any:
                os.environ.update(variables)
                with self.iam.acting_as_function(name):  # its calls are checked against its role
                    return handler(event, context)

            return call

        # Each function runs within Lambda's import surface for its asset (forge/lambda_surface.py).
        runtime = LambdaRuntime({name: (p["AssetDir"], p["Handler"]) for name, p in functions.items()})
        # ... and within its Timeout from the template, failing as Lambda does past it.
        timeouts = {name: float(props["Timeout"]) for name, props in functions.items()}
        self._exit.enter_context(
            moto_lambda.run_lambdas_in_process(
                resolve, self.iam.authorize_invoke, runtime=runtime, timeouts=timeouts
            )
        )

    # -- the run ----------------------------------------------------------------------------------
    def upload(self) -> dict[str, str]:
        """The code channel to s3://<artifacts>/code/ (what the stack's JobCodeAsset deploys), data to
        s3://<data>/incoming/; returns the execution input."""
        artifacts, data_bucket = self.env["ARTIFACTS_BUCKET"], self.env["DATA_BUCKET"]
        with tempfile.TemporaryDirectory(prefix="forge-code-") as staging:
            code_dir = stage_code_channel(Path(staging) / "code", self.settings,
                                          config_dir=self.config.parent)
            s3io.upload_dir(self.s3, code_dir, f"s3://{artifacts}/{layout.CODE_S3_PREFIX}")
        execution_input = {"run_id": self.run_id}
        for key, path in (("dataset", self.data), ("eval_dataset", self.eval_data)):
            if path:
                object_key = layout.upload_key(layout.INCOMING_PREFIX, self.run_id, key, path.name)
                self.s3.upload_file(str(path), data_bucket, object_key)
                execution_input[key] = f"s3://{data_bucket}/{object_key}"
        return execution_input

    def start(self) -> str:
        execution_input = self.upload()
        if self.restored:  # in service before the execution looks for it, as it stayed on AWS
            name = self.restored["endpoint"]["name"]
            if account.settle(self.sagemaker, name) != "InService":
                self.warnings.append(f"the saved endpoint {name} did not come back into service: "
                                     f"{self.sagemaker.endpoints[name].failure_reason}")
        self.started = time.monotonic()
        self.execution_arn = self.sfn.start_execution(
            stateMachineArn=self.stack.state_machine_arn, name=self.run_id, input=json.dumps(execution_input)
        )["executionArn"]
        return self.execution_arn

    def history(self) -> list[dict[str, Any]]:
        events, token = [], None
        while True:
            page = self.sfn.get_execution_history(
                executionArn=self.execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                return events

    def entered_states(self, fresh: bool = False) -> list[str]:
        """Names of the states entered so far, from a history at most HISTORY_REFRESH_SECONDS old.

        moto serializes the whole history (every state's input and output) on each call and has no paging,
        so a call costs more with every poll cycle: re-reading it every 0.5 s took a full core from the jobs
        twenty minutes into a case-study run (py-spy). Job status and progress come from the local runtime.
        """
        now = time.monotonic()
        if fresh or self._entered is None or now - self._entered_at >= HISTORY_REFRESH_SECONDS:
            events = self.history()
            self._entered = [
                e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
            ]
            self._entered_at = now
        return self._entered

    def snapshot(self, fresh: bool = False) -> Snapshot:
        status = self.sfn.describe_execution(executionArn=self.execution_arn)["status"]
        entered = self.entered_states(fresh=fresh or status in FINAL_STATUSES)
        state = entered[-1] if entered else None
        job = max(self.sagemaker.jobs.values(), key=lambda j: j.created, default=None)
        progress = None
        if job is not None and job.log_path.exists():
            progress = parse_progress(job.log_path.read_text(encoding="utf-8", errors="replace"))
        visited = list(dict.fromkeys(stage_of_state(name) for name in entered))  # in order of first entry
        return Snapshot(
            status,
            state,
            stage_of_state(state),
            job.name if job else None,
            job.status if job else None,
            progress,
            time.monotonic() - self.started,
            visited,
        )

    def watch(self, on_update: Callable[[Snapshot], None] | None = None, interval: float = 2.0) -> Snapshot:
        """Poll until the execution ends. Ctrl-C stops the execution and every local process."""
        try:
            while True:
                snap = self.snapshot()
                if on_update:
                    on_update(snap)
                if snap.status in FINAL_STATUSES:
                    self._announce_end(snap.status)
                    return snap
                time.sleep(interval)
        except KeyboardInterrupt:
            snap = self.snapshot(fresh=True)
            if snap.status in FINAL_STATUSES:  # it ended just before the interrupt: nothing to stop
                self._announce_end(snap.status)
                return snap
            self.sfn.stop_execution(
                executionArn=self.execution_arn,
                error="Interrupted",
                cause=f"stopped by the user (Ctrl-C) during {snap.state}",
            )
            self._announce_end("ABORTED")  # the abort handler stops the jobs and reports, as on AWS
            self.sagemaker.shutdown()  # and whatever local process is left
            return Snapshot(
                "ABORTED",
                snap.state,
                snap.stage,
                snap.job_name,
                "Stopped",
                snap.progress,
                snap.elapsed_s,
                snap.visited,
            )

    def _announce_end(self, status: str) -> None:
        """What AWS does when an execution ends: its status-change event reaches the stack's rules, whose
        abort handler stops the run's jobs and reports ABORTED / TIMED_OUT / FAILED runs
        (forge/local/execution_events.py; moto emits no such event)."""
        from forge.local.execution_events import ExecutionEventError, emit_final_status

        if status == "SUCCEEDED" or self.announced:
            return
        self.announced = True
        deadline = time.monotonic() + 10  # moto marks a stopped execution ABORTED from its worker thread
        while self.sfn.describe_execution(executionArn=self.execution_arn)["status"] == "RUNNING":
            if time.monotonic() > deadline:
                self.warnings.append("the stopped execution still shows RUNNING; no status-change event sent")
                return
            time.sleep(0.1)
        try:
            emit_final_status(self.session, self.execution_arn, self.iam.invoked_by_service)
        except ExecutionEventError as error:  # on AWS this run would have no report: say so loudly
            self.warnings.append(f"the abort handler failed: {error}")

    # -- results ----------------------------------------------------------------------------------
    def collect(self, final: Snapshot) -> RunResult:
        """Copy runs/<run-id>/ from moto to --out, with the execution history, logs and report.html."""
        from forge import report_html

        if self.settings.deploy.enabled:  # what the next run of this pipeline finds deployed
            try:
                account.save(self.sagemaker, self.s3, self.account_dir, self.settings.resource_prefix)
            except Exception as error:  # noqa: BLE001 - the run is collected all the same
                self.warnings.append(f"the local account could not be saved: {error}")
        artifacts = self.env["ARTIFACTS_BUCKET"]
        run_uri = f"s3://{artifacts}/{layout.run_prefix(self.run_id)}"
        s3io.download_prefix(self.s3, run_uri, self.run_dir)
        events = self.history()
        (self.run_dir / "execution_history.json").write_text(json.dumps(events, indent=1, default=str))
        results.copy_logs(self.sagemaker, self.run_dir)
        results.extract_job_outputs(self.run_dir, tuple(s.name for s in stage_table.eval_stages()))
        (self.run_dir / "settings.json").write_text(self.settings.to_json())
        results.record_endpoint(self.sagemaker, self.run_dir, run_uri)
        group = registry.group_name(self.settings.resource_prefix)
        results.record_model_packages(self.sagemaker, self.run_dir, group, self.run_id)
        notifications.save(self.session, self.notification_queue, self.run_dir / "notifications.json")
        report = results.read_or_build_report(
            self.run_dir, self.settings, artifacts, final.status, final.state, events
        )
        (self.run_dir / "report.html").write_text(report_html.render(report, self.run_dir), encoding="utf-8")
        try:  # the settings, the report and the final status into the MLflow parent run
            tracking.log_run(self.settings, self.run_id, self.run_dir, report.get("status", final.status))
        except Exception as error:  # a store error costs a warning, not the collected run
            self.warnings.append(f"MLflow logging of the run failed: {error}")
        stopped_at = final.state if final.status != "SUCCEEDED" else None
        self.collected = True
        return RunResult(
            self.run_id, report.get("status", final.status), self.run_dir, report, stopped_at, self.warnings
        )

    def _remove_workdir(self) -> None:
        """Job dirs hold copies of models and data; logs are already in runs/<run-id>/logs/."""
        if self.collected:
            shutil.rmtree(self.sagemaker.workdir, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.sagemaker.workdir.parent.rmdir()  # .work/, when no other run uses it

    def invoke(self, question: str) -> str:
        """One answer from the run's live endpoint (the smoke request shape of serve.py)."""
        from pipeline_core import endpoint as endpoint_call

        endpoint = next(iter(self.sagemaker.endpoints), None)
        if endpoint is None:
            raise LocalModeError(
                "this run has no endpoint (deploy disabled, gate rejected or the run failed)"
            )
        messages = endpoint_call.question_messages(question, self.settings.data.system_prompt)
        return endpoint_call.invoke(self.runtime, endpoint, messages, self.settings.model.family)
