"""The state machine, built from the enabled stages of the settings.

Each job stage is one JobStage construct: Start → Launch → Wait → Poll → Status (Choice). Every Lambda
task retries throttling / resource-limit / Lambda service errors with backoff and jitter, and catches
everything else into the shared failure path: Cleanup → Mark Failed → Report Failure → Notify Failure →
Failed. Local mode runs this very definition in moto, so only ASL features moto's interpreter runs are used.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from pipeline_core import registry
from pipeline_core import stages as stage_table
from pipeline_core.settings import Settings

# Lambda errorTypes retried with backoff + jitter (docs/contracts.md, lambda/forge_handlers/errors.py).
RETRIED_ERRORS = [
    "ThrottlingError",
    "ResourceLimitError",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    # A handler past its function Timeout: every handler is idempotent, so a slow S3 or SageMaker call
    # gets another try instead of failing a run that may have hours of jobs behind it.
    "Sandbox.Timedout",
]
# Named failures the handlers raise; all are caught by States.ALL. The Pass states below emit JobFailedError.
CAUGHT_ERRORS = ["DataValidationError", "JobNotFoundError", "ArtifactMissingError", "JobFailedError",
                 "SmokeTestError", "ConfigError", "PreflightError"]
JOB_FAILED = "JobFailedError"
ENDPOINT_PENDING = ["Creating", "Updating", "SystemUpdating"]


def champion_present() -> sfn.Condition:
    """The Champion state found a model on the endpoint (guarded: moto takes Default on a missing path)."""
    return sfn.Condition.and_(sfn.Condition.is_present("$.champion.present"),
                              sfn.Condition.boolean_equals("$.champion.present", True))


def champion_choice_name(stage: str) -> str:
    """The Choice before the champion's evaluation ("EvalChampion Present?")."""
    return f"{stage_table.stage(stage).title} Present?"


def state_machine_name(settings: Settings) -> str:
    """Fixed, so IAM can name this machine's executions without a reference to it (stacks/roles.py)."""
    return f"{settings.name}-pipeline"


def job_state_names(stage: str) -> dict[str, str]:
    """State names of one job stage (the issue-4/6 code and the tests refer to them)."""
    title = stage_table.stage(stage).title
    return {part: f"{title} {part.capitalize()}" for part in
            ("start", "launch", "wait", "poll", "status", "relaunch", "failed", "invalid")}


class _TaskFactory:
    """Lambda tasks with the shared Retry and (optionally) the shared Catch."""

    def __init__(self, settings: Settings) -> None:
        self._retry = settings.retry
        self.failure_entry: sfn.IChainable | None = None

    def invoke(self, scope: Construct, name: str, function: lambda_.IFunction, payload: dict | None,
               result_path: str, catch: sfn.IChainable | None = None, catch_path: str = "$.error",
               ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            scope,
            name,
            lambda_function=function,
            # None: no Parameters, so the event is the whole state document (fields absent if not reached).
            payload=None if payload is None else sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,  # replaced by the one Retry below
            result_path=result_path,
        )
        task.add_retry(
            errors=RETRIED_ERRORS,
            interval=Duration.seconds(self._retry.task_interval_seconds),
            max_attempts=self._retry.task_max_attempts,
            backoff_rate=self._retry.task_backoff_rate,
            max_delay=Duration.seconds(self._retry.task_max_delay_seconds),
            jitter_strategy=sfn.JitterType.FULL,
        )
        target = catch if catch is not None else self.failure_entry
        if target is not None:
            task.add_catch(target, errors=["States.ALL"], result_path=catch_path)
        return task


def _wait(scope: Construct, name: str, seconds_path: str) -> sfn.Wait:
    """A Wait whose length the handler before it chose (pipeline_core/polling.py: it grows with the job's
    age)."""
    return sfn.Wait(scope, name, time=sfn.WaitTime.seconds_path(seconds_path))


def _shape_error(scope: Construct, name: str, cause_path: str, failure_entry: sfn.IChainable,
                 *, as_json: bool = False) -> sfn.Pass:
    """A Pass that writes a Catch-shaped $.error {Error, Cause} and joins the failure path.

    ``as_json`` puts the whole record at ``cause_path`` into Cause (for outputs with no usable reason).
    """
    cause = f"States.JsonToString({cause_path})" if as_json else cause_path
    state = sfn.Pass(scope, name, parameters={"Error": JOB_FAILED, "Cause.$": cause}, result_path="$.error")
    state.next(failure_entry)
    return state


class JobStage(Construct):
    """Launch a SageMaker job, then poll it until Completed (→ ``on_completed``) or a failure."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: str, launch: lambda_.IFunction,
                 poll: lambda_.IFunction, factory: _TaskFactory,
                 failure_entry: sfn.IChainable, on_completed: sfn.IChainable) -> None:
        super().__init__(scope, construct_id)
        names = job_state_names(stage)
        job, attempts = f"$.jobs.{stage}", f"$.attempts.{stage}"
        self.start = sfn.Pass(self, names["start"], result=sfn.Result.from_number(0), result_path=attempts)
        launch_task = factory.invoke(
            self, names["launch"], launch,
            {"stage": stage, "run.$": "$.run", "attempt.$": f"States.MathAdd({attempts}, 1)"}, job)
        wait = _wait(self, names["wait"], f"{job}.wait_seconds")
        poll_task = factory.invoke(self, names["poll"], poll,
                                   {"stage": stage, "run.$": "$.run", "job.$": job}, job)
        # Poll said Retry: the attempt just polled becomes the counter, Launch adds one.
        relaunch = sfn.Pass(self, names["relaunch"], input_path=f"{job}.attempt", result_path=attempts)
        failed = _shape_error(self, names["failed"], f"{job}.failure_reason", failure_entry)
        invalid = _shape_error(self, names["invalid"], job, failure_entry, as_json=True)
        status = f"{job}.status"
        choice = (
            sfn.Choice(self, names["status"])
            .when(sfn.Condition.not_(sfn.Condition.is_present(status)), invalid)
            .when(sfn.Condition.string_equals(status, "Completed"), on_completed)
            .when(sfn.Condition.string_equals(status, "InProgress"), wait)
            .when(sfn.Condition.and_(sfn.Condition.string_equals(status, "Retry"),
                                     sfn.Condition.is_numeric(f"{job}.attempt")), relaunch)
            .when(sfn.Condition.and_(
                sfn.Condition.or_(sfn.Condition.string_equals(status, "Failed"),
                                  sfn.Condition.string_equals(status, "Stopped")),
                sfn.Condition.is_string(f"{job}.failure_reason")), failed)
            .otherwise(invalid)
        )
        self.start.next(launch_task)
        launch_task.next(wait)
        wait.next(poll_task)
        poll_task.next(choice)
        relaunch.next(launch_task)


class Workflow(Construct):
    """The STANDARD state machine: Prepare, the enabled job stages, gate, deploy, smoke, report, notify."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 functions: dict[str, lambda_.IFunction], log_group: logs.ILogGroup) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._fn = functions
        factory = _TaskFactory(settings)
        self.failure_entry = self._failure_path(factory)
        factory.failure_entry = self.failure_entry
        tail = self._tail(factory)
        # Build backwards: each job stage continues into the one after it.
        next_state: sfn.IChainable = tail
        enabled = settings.enabled_job_stages()
        for stage in reversed(enabled):
            spec = stage_table.stage(stage)
            job_stage = JobStage(self, f"{spec.title}Stage", stage=stage,
                                 launch=functions["launch"], poll=functions["poll"], factory=factory,
                                 failure_entry=self.failure_entry, on_completed=next_state)
            if spec.measures_champion:  # only when the endpoint served a model as the run began
                next_state = (sfn.Choice(self, champion_choice_name(stage))
                              .when(champion_present(), job_stage.start).otherwise(next_state))
            else:
                next_state = job_stage.start
        # Prepare gets the execution input plus its name (the default run id), merged without extra keys.
        read_input = sfn.Pass(self, "Read Input", parameters={
            "input.$": "$", "context": {"execution_name.$": "$$.Execution.Name"}})
        add_name = sfn.Pass(self, "Add Execution Name",
                            parameters={"merged.$": "States.JsonMerge($.input, $.context, false)"},
                            output_path="$.merged")
        prepare = factory.invoke(self, "Prepare", functions["prepare"], None, "$.run")
        # Before any job: what AWS would refuse later (quotas, reward Lambda, IAM, endpoint tiers).
        preflight = factory.invoke(self, "Preflight", functions["preflight"], {"run.$": "$.run"},
                                   "$.preflight")
        if any(stage_table.stage(stage).measures_champion for stage in enabled):
            # What the endpoint serves now: the model the candidate must beat (forge_handlers/champion.py).
            champion = factory.invoke(self, "Champion", functions["champion"], {"run.$": "$.run"},
                                      "$.champion")
            champion.next(next_state)
            next_state = champion
        preflight.next(next_state)
        start: sfn.IChainable = prepare
        if settings.deploy.enabled:
            # An execution the registry's approval event started deploys that package, nothing else.
            start = (sfn.Choice(self, "Approved Package?")
                     .when(sfn.Condition.is_present(f"$.{registry.APPROVED_PACKAGE_KEY}"),
                           self._approved(factory))
                     .otherwise(prepare))
        read_input.next(add_name).next(start)
        prepare.next(preflight)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name(settings),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(read_input),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=Duration.hours(settings.pipeline_timeout_hours),
        )

    def _failure_path(self, factory: _TaskFactory) -> sfn.IChainable:
        failed = sfn.Fail(self, "Failed", error_path="$.error.Error", cause_path="$.error.Cause")
        # Each step of the failure path still runs when the one before it fails: notify even if the
        # report or the cleanup cannot be written.
        notify = factory.invoke(self, "Notify Failure", self._fn["notify"], None, "$.notification",
                                catch=failed, catch_path="$.notify_error")
        notify.next(failed)
        report = factory.invoke(self, "Report Failure", self._fn["report"], None, "$.report",
                                catch=notify, catch_path="$.report_error")
        report.next(notify)
        mark = sfn.Pass(self, "Mark Failed", result=sfn.Result.from_string("FAILED"), result_path="$.status")
        mark.next(report)
        cleanup = factory.invoke(self, "Cleanup", self._fn["cleanup"], None, "$.cleanup",
                                 catch=mark, catch_path="$.cleanup_error")
        cleanup.next(mark)
        return cleanup

    def _tail(self, factory: _TaskFactory) -> sfn.IChainable:
        """Gate → (Deploy → endpoint poll → Smoke) → Report → Notify Success → Succeeded."""
        settings, fn = self._settings, self._fn
        succeeded = sfn.Succeed(self, "Succeeded")
        notify = factory.invoke(self, "Notify Success", fn["notify"], None, "$.notification")
        notify.next(succeeded)
        report = factory.invoke(self, "Report", fn["report"], None, "$.report")
        report.next(notify)
        mark_succeeded = sfn.Pass(self, "Mark Succeeded", result=sfn.Result.from_string("SUCCEEDED"),
                                  result_path="$.status")
        mark_succeeded.next(report)
        mark_rejected = sfn.Pass(self, "Mark Gate Rejected", result=sfn.Result.from_string("GATE_REJECTED"),
                                 result_path="$.status")
        mark_rejected.next(report)
        after_gate: sfn.IChainable = mark_succeeded
        if settings.deploy.enabled:
            after_gate = self._deploy(factory, mark_succeeded)
        mark_pending = sfn.Pass(self, "Mark Pending Approval", result_path="$.status",
                                result=sfn.Result.from_string(registry.PENDING_APPROVAL))
        mark_pending.next(report)
        gate = factory.invoke(self, "Gate", fn["gate"], {"run.$": "$.run"}, "$.gate")
        # Every evaluated candidate becomes a package version, passed or not (the whole document: run, jobs,
        # gate, dataset are what an approval resumes from).
        register = factory.invoke(self, "Register", fn["register"], None, "$.registry")
        passed = sfn.Condition.and_(sfn.Condition.is_present("$.gate.passed"),
                                    sfn.Condition.boolean_equals("$.gate.passed", True))
        status = "$.registry.approval_status"
        pending = sfn.Condition.and_(passed, sfn.Condition.is_present(status),
                                     sfn.Condition.string_equals(status, registry.PENDING))
        gate.next(register)
        register.next(sfn.Choice(self, "Gate Passed").when(pending, mark_pending).when(passed, after_gate)
                      .otherwise(mark_rejected))
        return gate

    def _approved(self, factory: _TaskFactory) -> sfn.IChainable:
        """Approval → (Restore Run → Deploy …) or Nothing To Deploy (a package the gate itself approved)."""
        key = registry.APPROVED_PACKAGE_KEY
        approval = factory.invoke(self, "Approval", self._fn["approval"], {f"{key}.$": f"$.{key}"},
                                  "$.resumed")
        restore = sfn.Pass(self, "Restore Run", parameters={
            **{f"{part}.$": f"$.resumed.{part}" for part in ("run", "jobs", "gate", "dataset", "registry")},
            "execution_name.$": "$.execution_name", f"{key}.$": f"$.{key}"})
        restore.next(self.deploy_entry)
        deploy = sfn.Condition.and_(sfn.Condition.is_present("$.resumed.deploy"),
                                    sfn.Condition.boolean_equals("$.resumed.deploy", True))
        approval.next(sfn.Choice(self, "Deploy Approved?").when(deploy, restore)
                      .otherwise(sfn.Succeed(self, "Nothing To Deploy")))
        return approval

    def _deploy(self, factory: _TaskFactory, on_done: sfn.IChainable) -> sfn.IChainable:
        settings, fn = self._settings, self._fn
        endpoint_args = {"run.$": "$.run", "endpoint.$": "$.endpoint"}
        after_ready = on_done
        if settings.deploy.smoke_test:
            smoke = factory.invoke(self, "Smoke", fn["smoke"], endpoint_args, "$.smoke")
            smoke.next(on_done)
            after_ready = smoke
        deploy = factory.invoke(self, "Deploy", fn["deploy"], {"run.$": "$.run", "registry.$": "$.registry"},
                                "$.endpoint")
        self.deploy_entry = deploy
        wait = _wait(self, "Endpoint Wait", "$.endpoint.wait_seconds")
        status_task = factory.invoke(self, "Endpoint Status", fn["endpoint_status"], endpoint_args,
                                     "$.endpoint")
        failed = _shape_error(self, "Endpoint Failed", "$.endpoint", self.failure_entry, as_json=True)
        status = "$.endpoint.status"
        pending = [sfn.Condition.string_equals(status, value) for value in ENDPOINT_PENDING]
        choice = (
            sfn.Choice(self, "Endpoint Ready")
            .when(sfn.Condition.not_(sfn.Condition.is_present(status)), failed)
            .when(sfn.Condition.string_equals(status, "InService"), after_ready)
            .when(sfn.Condition.or_(*pending), wait)
            .otherwise(failed)
        )
        deploy.next(wait)
        wait.next(status_task)
        status_task.next(choice)
        return deploy
