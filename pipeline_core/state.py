"""Typed models of the state document the Step Functions states pass between them (docs/contracts.md).

Each model is a part of the execution's JSON document: ``$.run`` (Prepare's output), ``$.jobs.<stage>``
(Launch / Poll), the artifact record (``runs/<run>/artifacts/<stage>.json`` and ``job.artifact``),
``$.champion`` (Champion), ``$.gate``, ``$.endpoint`` (Deploy / Endpoint Status), ``$.smoke`` and
``$.report``. The ``*Event`` models
are what each handler receives. Every handler parses its event with one of them at its boundary, so a
missing or mistyped field is an error naming the handler and the field path, never a bare KeyError.

Strict on what a handler needs, lenient on the rest: unknown keys are kept (the state machine and later
states add them), and ``dump()`` gives back exactly the keys that came in, so outputs keep their shape.
The whole-document handlers (cleanup, report, notify) run on the failure path however far the run got:
they require only what they use and check the other parts are objects.

Standard library + pydantic only: it ships in the Lambda bundle beside stages.py and layout.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
JobStatus = Literal["InProgress", "Completed", "Failed", "Stopped", "Retry"]
ArtifactKind = Literal["merged", "adapter", "checkpoint", "eval"]
Seconds = Annotated[int, Field(ge=0)]


class StateDocumentError(ValueError):
    """A state-document part is missing a field or has one of the wrong type; the message names the
    handler (or record), the field path and what was expected. Handlers re-raise it as ConfigError."""


class _Part(BaseModel):
    # extra="allow": keys the state machine or a later state adds are kept and dumped back unchanged.
    model_config = ConfigDict(extra="allow")

    def dump(self, *without: str) -> dict[str, Any]:
        """The JSON object with exactly the keys that were given (or set), extras included, less
        ``without``."""
        return self.model_dump(mode="json", exclude_unset=True, exclude=set(without) or None)


class Run(_Part):
    """``$.run``: Prepare's output."""

    run_id: NonEmpty
    run_prefix: NonEmpty  # runs/<run-id>/
    datasets: dict[str, str]  # dataset kind (sft / rft / eval) -> s3:// URI of its formatted file
    counts: dict[str, int]  # rows per split
    report_uri: NonEmpty  # the validation report


class ArtifactRecord(BaseModel):
    """``runs/<run>/artifacts/<stage>.json``, written by Poll when a job completed (also ``job.artifact``)."""

    # Unknown keys in a record file are dropped, as before the model: only these fields are read.
    model_config = ConfigDict(extra="ignore", frozen=True)

    stage: NonEmpty
    job_name: NonEmpty
    model_uri: NonEmpty  # training: the weights it produced; eval: the weights it evaluated
    base_model: NonEmpty
    kind: ArtifactKind
    source_model_uri: NonEmpty  # the weights the job started from
    metrics_uri: str | None = None  # eval stages: runs/<run>/eval/<stage>/results.json

    def to_dict(self) -> dict[str, Any]:
        """Every field, metrics_uri included (null for a training stage)."""
        return self.model_dump(mode="json")


class JobRecord(_Part):
    """``$.jobs.<stage>``: Launch's output (through ``source_model_uri``), then Poll's (``reused`` and
    ``source_model_uri`` dropped, the fields after them added)."""

    stage: NonEmpty
    job_name: NonEmpty
    attempt: Annotated[int, Field(ge=1)]
    status: JobStatus
    # The next Wait's length (SecondsPath): Launch and Poll always write it; only the Wait reads it.
    wait_seconds: Seconds | None = None
    reused: bool | None = None  # Launch: the job already existed
    source_model_uri: str | None = None  # Launch, when it created the job
    raw_status: str | None = None
    secondary_status: str | None = None
    failure_reason: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    artifact: ArtifactRecord | None = None
    metrics: dict[str, float | int] | None = None
    timings: dict[str, str | int | float] | None = None


class RegistryRecord(_Part):
    """``$.registry``: Register's output (``registered`` false: nothing trained, nothing registered)."""

    registered: bool
    approval_status: str | None = None  # Approved | Rejected | PendingManualApproval
    model_package_arn: str | None = None


class ChampionRecord(_Part):
    """``$.champion`` (and ``runs/<run>/champion.json``): what the pipeline's endpoint served as the run
    began (forge_handlers.champion). Absent (``present`` false): only ``endpoint_name`` and ``reason``."""

    present: bool
    endpoint_name: NonEmpty
    reason: str | None = None  # present false: why there is no champion
    endpoint_config_name: str | None = None
    model_name: str | None = None
    model_data_uri: str | None = None  # the weights the champion's evaluation loads
    run_id: str | None = None  # the model's forge:run-id tag: the run that deployed it
    record_uri: str | None = None  # where the record was written (the state's copy only)


class GateDecision(_Part):
    """``$.gate``: the promotion gate's decision."""

    passed: bool
    metric: NonEmpty
    baseline: float | None  # null: no evaluation of the base model ran
    candidate: float
    candidate_stage: NonEmpty
    gain: float | None
    min_gain: float
    reason: str
    # One per rule (baseline, champion, chance, majority, floor), each with its verdict.
    comparisons: list[dict[str, Any]] = []
    notes: list[str] = []
    # The champion record with its ``score`` and ``stage``; null when the pipeline does not deploy.
    champion: dict[str, Any] | None = None


class EndpointRef(_Part):
    """What a handler needs to call the endpoint: its name."""

    endpoint_name: NonEmpty


class EndpointRecord(EndpointRef):
    """``$.endpoint``: Deploy's output, then Endpoint Status's (status and failure_reason updated)."""

    endpoint_config_name: NonEmpty
    action: Literal["create", "update"]  # Cleanup deletes only an endpoint this run created
    status: NonEmpty
    model_uri: NonEmpty  # the gated weights
    served_model_uri: NonEmpty  # what the endpoint's model reads (the protected copy for open weights)
    started_at: NonEmpty  # ISO time Deploy began, for the waits between polls
    wait_seconds: Seconds
    failure_reason: str | None = None
    previous_endpoint_config_name: str | None = None  # an update's rollback target (Cleanup)
    expires_at: str | None = None  # ISO time the TTL schedule deletes the endpoint (deploy.ttl_hours)


class SmokeResult(_Part):
    """``$.smoke``: the smoke call's question, answer and parsed label."""

    question: str
    answer: str
    label: NonEmpty
    expected: str | None = None


class ReportRecord(_Part):
    """``$.report``: where Report wrote report.json / report.md."""

    report_uri: NonEmpty
    markdown_uri: NonEmpty
    status: NonEmpty
    failure_reason: str | None


# -- handler events -------------------------------------------------------------------------------


class LaunchEvent(_Part):
    stage: NonEmpty
    run: Run
    attempt: Annotated[int, Field(ge=1)] = 1


class PollEvent(_Part):
    stage: NonEmpty
    run: Run
    job: JobRecord


class RunEvent(_Part):
    """Gate and Deploy: ``{"run": $.run}``."""

    run: Run


class DeployEvent(RunEvent):
    """Deploy: ``{"run": $.run, "registry": $.registry}`` (the package it serves, when one was registered)."""

    registry: dict[str, Any] | None = None


class EndpointStatusEvent(_Part):
    run: Run | None = None
    endpoint: EndpointRecord


class SmokeEvent(_Part):
    run: Run
    endpoint: EndpointRef


class StateDocument(_Part):
    """The whole document (Cleanup, Report, Notify): each part is present once its state ran."""

    run: Run | None = None
    jobs: dict[str, dict[str, Any]] | None = None
    endpoint: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    smoke: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    status: str | None = None
    execution_name: str | None = None


class ReportEvent(StateDocument):
    status: NonEmpty  # SUCCEEDED | FAILED | GATE_REJECTED | PENDING_APPROVAL (the Mark states set it)


class RegisterEvent(StateDocument):
    """Register: the whole document; it needs the run and the gate's decision."""

    run: Run
    gate: GateDecision


class ApprovalEvent(_Part):
    """Approval: ``{"approved_model_package": <arn>}``, the execution input the approval rule sends."""

    approved_model_package: NonEmpty


# -- parsing --------------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, where: str) -> M:
    """``data`` as ``model``, or StateDocumentError naming ``where``, each bad field's path and what it
    should be."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [_problem(model, detail) for detail in error.errors()]
        shown = "; ".join(problems[:5]) + (f"; … ({len(problems)} problems)" if len(problems) > 5 else "")
        raise StateDocumentError(f"{where}: {shown}") from None


def _problem(model: type[BaseModel], detail: Any) -> str:
    loc = tuple(detail.get("loc") or ())
    path = _path(loc)
    if not path:
        return f"expected a JSON object ({model.__name__}), got {_short(detail.get('input'))}"
    if detail.get("type") == "missing":
        return f"field '{path}' is missing (expected {_expected(model, loc)})"
    return f"field '{path}' is invalid: {detail.get('msg')} (got {_short(detail.get('input'))})"


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _expected(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The declared type of the field at ``loc`` (walking nested models), in words."""
    current: Any = model
    annotation: Any = None
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not isinstance(part, str) or fields is None or part not in fields:
            return "a value"
        annotation = fields[part].annotation
        current = _model_of(annotation)
    return _describe(annotation)


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _describe(annotation: Any) -> str:
    model = _model_of(annotation)
    if model is not None:
        required = [name for name, info in model.model_fields.items() if info.is_required()]
        return f"a {model.__name__} object with {', '.join(required)}"
    if isinstance(annotation, type):
        return {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false"}.get(
            annotation.__name__, annotation.__name__
        )
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(value) for value in get_args(annotation))
    if get_origin(annotation) is dict:
        return f"an object ({str(annotation).replace('typing.', '')})"
    return str(annotation).replace("typing.", "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
