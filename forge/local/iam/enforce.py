"""Enforcement: each call local mode makes on a principal's behalf is authorized as AWS would, or fails.

Who is checked, and how:
- a Lambda handler: the function's role, for every call while the handler runs (a context variable set
  around the invocation). boto3 calls are checked by a botocore hook on the default session, the one the
  handlers' ``forge_handlers.aws.clients`` creates its clients from; the local SageMaker runtime objects the
  handlers get are wrapped by ``guard``.
- the state machine: its role, for ``lambda:InvokeFunction`` (forge.moto_lambda's ``authorize``).
- a SageMaker job or endpoint: the execution role in its request, for channel downloads, checkpoint and
  output uploads, model downloads (an S3 client bound to the role) and image pulls (``image_denial``).
Calls outside these (the runner uploading code and data, reading results) are the operator's: unchecked.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from forge.local.iam.evaluator import Decision, PolicyError, evaluate
from forge.local.iam.principals import Principal, Principals, principals_from_template
from forge.local.iam.requests import Authorization, alarm_reads, authorizations, image_pull

SAGEMAKER_SESSION = "SageMaker"  # the session name SageMaker gives the execution role
STATES_SESSION = "StepFunctions"  # AWS uses a random session id for Step Functions
_HOOK_ID = "forge-local-iam"
_PARAMS_KEY = "forge_iam_params"
# service -> (error code, HTTP status) of its access-denied responses
_ERROR_CODES = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sagemaker": ("AccessDeniedException", 400),
    "sagemaker-runtime": ("AccessDeniedException", 400),
    "lambda": ("AccessDeniedException", 403),
    "stepfunctions": ("AccessDeniedException", 400),
    "iam": ("AccessDenied", 403),
    "service-quotas": ("AccessDeniedException", 400),
    "scheduler": ("AccessDeniedException", 403),
}


@dataclass(frozen=True)
class Actor:
    principal: Principal
    session: str

    @property
    def arn(self) -> str:
        return self.principal.session_arn(self.session)


@dataclass(frozen=True)
class Denial:
    actor: Actor
    service: str
    operation: str
    authorization: Authorization
    explicit: bool

    @property
    def message(self) -> str:
        """IAM's wording (User Guide, "access denied error messages"); S3 quotes the resource."""
        action, resource = self.authorization.action, self.authorization.resource
        if self.service == "sns" and action.startswith("sns:"):
            action = "SNS:" + action[4:]  # SNS spells its own actions so in its messages
        if self.service == "s3" and resource.startswith("arn:aws:s3:::"):
            resource = f'"{resource}"'
        why = (
            "with an explicit deny in an identity-based policy"
            if self.explicit
            else f"because no identity-based policy allows the {action} action"
        )
        return f"User: {self.actor.arn} is not authorized to perform: {action} on resource: {resource} {why}"

    def error(self) -> ClientError:
        code, status = _ERROR_CODES.get(self.service, ("AccessDenied", 403))
        message = self.message
        if self.service == "sns" and self.authorization.action.startswith("kms:"):
            code = "KMSAccessDenied"
        if self.service == "s3" and self.operation == "HeadObject":
            code, message = "403", "Forbidden"  # a HEAD response has no body: botocore sees only the status
        response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": uuid.uuid4().hex},
        }
        error = ClientError(response, self.operation)  # type: ignore[arg-type]
        error.iam_denial = self  # type: ignore[attr-defined]
        return error


def denial_of(error: BaseException | None) -> Denial | None:
    """The local IAM denial behind an exception (also when wrapped, e.g. by s3transfer), if any."""
    seen = 0
    while error is not None and seen < 10:
        denial = getattr(error, "iam_denial", None)
        if denial is not None:
            return denial
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("forge_iam_actor", default=None)
# (service principal, source ARN) while a service, not a role, invokes a function (EventBridge → abort).
_service: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "forge_iam_service", default=None
)


class Enforcer:
    def __init__(self, principals: Principals):
        self.principals = principals
        self.facts = principals.facts
        self.denials: list[Denial] = []  # every denial, in order (tests and the run's diagnostics)
        # (session, action) -> how many were evaluated: shows that a seam is checked, not silently bypassed
        self.checked: Counter[tuple[str, str]] = Counter()
        # The functions' resource-based policies: who else (a service) may invoke them.
        self.invoke_permissions: list[dict[str, Any]] = []

    @classmethod
    def for_stack(cls, stack: Any) -> Enforcer:
        """From a forge.local.cfn.LocalStack (its template, resolved against what moto created)."""
        region = stack.state_machine_arn.split(":")[3]
        enforcer = cls(principals_from_template(stack.template, stack.resolver, region))
        enforcer.invoke_permissions = function_permissions(stack.template, stack.resolver)
        return enforcer

    # -- decisions ------------------------------------------------------------------------------------
    def _context(self, actor: Actor) -> dict[str, Any]:
        return {
            "aws:PrincipalArn": actor.principal.role_arn,
            "aws:PrincipalAccount": actor.principal.account,
            "aws:PrincipalType": "AssumedRole",
            "aws:SecureTransport": True,
            "aws:RequestedRegion": self.facts.region,
        }

    def decide(
        self, actor: Actor, service: str, operation: str, needed: list[Authorization]
    ) -> Denial | None:
        for authorization in needed:
            self.checked[(actor.session, authorization.action)] += 1
            result = evaluate(
                actor.principal.policies,
                authorization.action,
                authorization.resource,
                {**self._context(actor), **authorization.context},
            )
            if result.allowed:
                continue
            if result.decision is Decision.IMPLICIT_DENY and actor.principal.unknown_managed:
                raise PolicyError(
                    f"{actor.principal.role_name} is denied {authorization.action} on "
                    f"{authorization.resource} by its template policies, but it also has AWS-managed "
                    f"policies local mode cannot read ({', '.join(actor.principal.unknown_managed)}): "
                    "not guessing"
                )
            denial = Denial(
                actor, service, operation, authorization, result.decision is Decision.EXPLICIT_DENY
            )
            self.denials.append(denial)
            return denial
        return None

    def denial(self, actor: Actor, service: str, operation: str, params: dict[str, Any]) -> Denial | None:
        return self.decide(actor, service, operation, authorizations(self.facts, service, operation, params))

    def check(self, actor: Actor, service: str, operation: str, params: dict[str, Any]) -> None:
        denial = self.denial(actor, service, operation, params)
        if denial is not None:
            raise denial.error()

    # -- handlers -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def acting_as_function(self, function_name: str) -> Iterator[Actor]:
        """While a handler runs: its calls are its role's (AWS names the session after the function)."""
        principal = self.principals.functions.get(function_name)
        if principal is None:
            raise PolicyError(f"function {function_name!r} has no role in the template")
        actor = Actor(principal, function_name)
        token = _current.set(actor)
        try:
            yield actor
        finally:
            _current.reset(token)

    def check_current(self, service: str, operation: str, params: dict[str, Any]) -> None:
        actor = _current.get()
        if actor is not None:  # no actor: the operator's own call
            self.check(actor, service, operation, params)

    def install_boto_hooks(self, events: Any | None = None) -> Callable[[], None]:
        """Check boto3 calls made while a handler runs; returns the uninstaller."""
        if events is None:
            import boto3

            if boto3.DEFAULT_SESSION is None:
                boto3.setup_default_session()
            events = boto3.DEFAULT_SESSION.events
        self._register(events, lambda: _current.get())

        def uninstall() -> None:
            events.unregister("before-parameter-build", unique_id=f"{_HOOK_ID}-params")
            events.unregister("before-call", unique_id=f"{_HOOK_ID}-check")

        return uninstall

    def _register(self, events: Any, actor_of: Callable[[], Actor | None]) -> None:
        def stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context[_PARAMS_KEY] = dict(params)  # the API parameters, before serialization

        def check(model: Any, context: dict[str, Any], **_: Any) -> None:
            actor = actor_of()
            if actor is not None:  # after botocore validated the parameters, as AWS sees the request
                self.check(actor, model.service_model.service_name, model.name, context.get(_PARAMS_KEY, {}))

        events.register("before-parameter-build", stash, unique_id=f"{_HOOK_ID}-params")
        events.register("before-call", check, unique_id=f"{_HOOK_ID}-check")

    def guard(self, service: str, target: Any) -> Any:
        """The local SageMaker runtime as a handler sees it: each API method authorized first."""
        return _Guarded(self, service, target)

    # -- the state machine ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def invoked_by_service(self, principal: str, source_arn: str) -> Iterator[None]:
        """Invokes inside are a service's (e.g. ``events.amazonaws.com`` for a rule): they need the function's
        resource-based policy (``AWS::Lambda::Permission``), not a role's identity policy."""
        token = _service.set((principal, source_arn))
        try:
            yield
        finally:
            _service.reset(token)

    def _authorize_service_invoke(self, function_name: str, principal: str, source_arn: str) -> None:
        for permission in self.invoke_permissions:
            if (
                permission["function"] == function_name
                and permission["principal"] == principal
                and permission["action"] in ("lambda:InvokeFunction", "lambda:*")
                and permission.get("source_arn") in (None, source_arn)
            ):
                return
        message = (
            f"{principal} (from {source_arn}) is not authorized to perform lambda:InvokeFunction on function "
            f"{function_name}: no resource-based policy (AWS::Lambda::Permission) in the template allows it"
        )
        raise _invoke_denied(message)

    def authorize_invoke(self, function_name: str) -> None:
        """forge.moto_lambda's authorize callback: the state machine role invokes the function (or, inside
        ``invoked_by_service``, a service under the function's resource-based policy)."""
        service = _service.get()
        if service is not None:
            return self._authorize_service_invoke(function_name, *service)
        machine = self.principals.state_machine
        if machine is None:
            raise PolicyError("the template's state machine has no role local mode knows")
        denial = self.denial(
            Actor(machine, STATES_SESSION), "lambda", "Invoke", {"FunctionName": function_name}
        )
        if denial is not None:
            raise _invoke_denied(denial.message)

    # -- SageMaker jobs and endpoints -----------------------------------------------------------------
    def execution_actor(self, role_arn: str) -> Actor:
        return Actor(self.principals.role(role_arn), SAGEMAKER_SESSION)

    def role_client(self, session: Any, role_arn: str, service: str = "s3") -> Any:
        """A client whose every call is the execution role's (SageMaker acting for a job or endpoint)."""
        actor = self.execution_actor(role_arn)
        client = session.client(service)
        self._register(client.meta.events, lambda: actor)
        return client

    def image_denial(self, role_arn: str, image: str) -> Denial | None:
        return self.decide(self.execution_actor(role_arn), "ecr", "BatchGetImage", image_pull(image))

    def alarm_denial(self, role_arn: str, alarm_names: list[str]) -> Denial | None:
        return self.decide(self.execution_actor(role_arn), "cloudwatch", "DescribeAlarms",
                           alarm_reads(self.facts, alarm_names))

    def job_iam(self, session: Any) -> JobIam:
        return JobIam(self, session)

    def attach_runtime(self, local_sagemaker: Any, session: Any) -> None:
        """Give forge.local.sagemaker.LocalSageMaker's job and endpoint runners the execution-role checks.

        Set on its runners from here so LocalSageMaker's own module need not change for it.
        """
        job_iam = self.job_iam(session)
        local_sagemaker._trainer.iam = job_iam
        local_sagemaker.endpoint_runner.iam = job_iam


class JobIam:
    """What the local training and endpoint runtimes use: a per-role S3 client and image-pull checks."""

    def __init__(self, enforcer: Enforcer, session: Any):
        self.enforcer, self.session = enforcer, session
        self._clients: dict[str, Any] = {}

    def s3_for(self, role_arn: str) -> Any:
        if role_arn not in self._clients:
            self._clients[role_arn] = self.enforcer.role_client(self.session, role_arn)
        return self._clients[role_arn]

    def image_denial(self, role_arn: str, image: str) -> Denial | None:
        return self.enforcer.image_denial(role_arn, image)

    def alarm_denial(self, role_arn: str, alarm_names: list[str]) -> Denial | None:
        return self.enforcer.alarm_denial(role_arn, alarm_names)


class _Guarded:
    def __init__(self, enforcer: Enforcer, service: str, target: Any):
        from botocore import xform_name
        from botocore.session import get_session

        model = get_session().get_service_model(service)
        self._operations = {xform_name(name): name for name in model.operation_names}
        self._enforcer, self._service, self._target = enforcer, service, target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        operation = self._operations.get(name)
        if operation is None or not callable(attribute):
            return attribute

        def call(**params: Any) -> Any:
            api = getattr(self._target, "api", None)
            if api is not None:  # botocore validates before the request reaches IAM
                api.validate(operation, params)
            self._enforcer.check_current(self._service, operation, params)
            return attribute(**params)

        return call


def _invoke_denied(message: str) -> Exception:
    """The Invoke API's refusal: a 403 AccessDeniedException (Step Functions reports
    Lambda.AccessDeniedException)."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("AccessDeniedException", message)
    error.code = 403
    return error


def function_permissions(template: dict[str, Any], resolve: Any) -> list[dict[str, Any]]:
    """The template's ``AWS::Lambda::Permission`` grants, resolved: function, principal, action, source."""
    from forge.moto_lambda import function_name_of

    grants = []
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Lambda::Permission":
            continue
        props = resource.get("Properties", {})
        grants.append({
            "function": function_name_of(str(resolve(props.get("FunctionName", "")))),
            "principal": props.get("Principal"),
            "action": props.get("Action"),
            "source_arn": _source_arn(template, resolve, props.get("SourceArn")),
        })
    return grants


def _source_arn(template: dict[str, Any], resolve: Any, value: Any) -> str | None:
    """The grant's SourceArn. An EventBridge rule is not a resource local mode creates from the template
    (forge.local.execution_events.install_rules puts it, under its Name or logical id), so its Arn is built
    as EventBridge forms it."""
    if value is None:
        return None
    target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    rule = template.get("Resources", {}).get(target[0], {}) if target else {}
    if rule.get("Type") == "AWS::Events::Rule" and target[1] == "Arn":
        name = rule.get("Properties", {}).get("Name") or target[0]
        region, account = resolve({"Ref": "AWS::Region"}), resolve({"Ref": "AWS::AccountId"})
        return f"arn:aws:events:{region}:{account}:rule/{name}"
    return str(resolve(value))
