"""Derive, from the handler code itself, which AWS API operations each handler can call.

A call graph over lambda/forge_handlers: functions, the module functions they call (``jobs.launch(...)``,
``describe_job(...)``, ``from x import y``), and client calls through the seam
(``clients.sagemaker().create_training_job(...)``, or ``client = clients.get("iam")`` then
``client.simulate_principal_policy(...)`` in the same function). Every branch counts: IAM must allow any
path.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "forge_handlers"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "lambda" / PACKAGE
SEAM_SERVICES = {"s3": "s3", "sagemaker": "sagemaker", "sagemaker_runtime": "sagemaker-runtime", "sns": "sns",
                 "scheduler": "scheduler"}
# boto3 operation -> IAM actions, where the action is not simply <prefix>:<OperationName>.
SPECIAL_ACTIONS = {
    ("s3", "head_object"): ["s3:GetObject"],
    ("s3", "copy_object"): ["s3:GetObject", "s3:PutObject"],
    ("s3", "list_objects_v2"): ["s3:ListBucket"],
    ("sagemaker", "create_training_job"): [
        "sagemaker:CreateTrainingJob",
        "sagemaker:AddTags",
        "iam:PassRole",
    ],
    ("sagemaker", "create_model"): ["sagemaker:CreateModel", "sagemaker:AddTags", "iam:PassRole"],
    ("sagemaker", "create_endpoint_config"): ["sagemaker:CreateEndpointConfig", "sagemaker:AddTags"],
    ("sagemaker", "create_endpoint"): ["sagemaker:CreateEndpoint", "sagemaker:AddTags"],
    ("lambda", "invoke"): ["lambda:InvokeFunction"],
    # The schedule's target role is passed to EventBridge Scheduler.
    ("scheduler", "create_schedule"): ["scheduler:CreateSchedule", "iam:PassRole"],
    ("scheduler", "update_schedule"): ["scheduler:UpdateSchedule", "iam:PassRole"],
}
IAM_PREFIX = {"s3": "s3", "sagemaker": "sagemaker", "sagemaker-runtime": "sagemaker", "sns": "sns",
              "stepfunctions": "states", "service-quotas": "servicequotas", "iam": "iam", "lambda": "lambda",
              "scheduler": "scheduler"}


class _Module:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tree = ast.parse(_module_path(name).read_text(encoding="utf-8"))
        self.functions = {n.name: n for n in ast.walk(self.tree) if isinstance(n, ast.FunctionDef)}
        self.module_aliases: dict[str, str] = {}  # local name -> forge_handlers module
        self.function_aliases: dict[str, tuple[str, str]] = {}  # local name -> (module, function)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
                for alias in node.names:
                    self.module_aliases[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{PACKAGE}."):
                target = node.module.split(".", 1)[1]
                for alias in node.names:
                    if _module_path(f"{target}.{alias.name}").is_file():  # a submodule (aws.clients)
                        self.module_aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
                    else:
                        self.function_aliases[alias.asname or alias.name] = (target, alias.name)


def _module_path(name: str) -> Path:
    """``aws.s3io`` -> lambda/forge_handlers/aws/s3io.py; a package's own name -> its __init__.py."""
    path = PACKAGE_DIR.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _seam_service(call: ast.AST) -> str | None:
    """``clients.sagemaker()`` / ``clients.get("sns")`` -> service name."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    owner, method = call.func.value, call.func.attr
    if not (isinstance(owner, ast.Name) and owner.id == "clients"):
        return None
    if method in ("get", "short_call") and call.args and isinstance(call.args[0], ast.Constant):
        return str(call.args[0].value)
    return SEAM_SERVICES.get(method)


def _edges(module: _Module, function: ast.FunctionDef) -> Iterator[tuple[str, str, str]]:
    """('call', module, function) for internal calls, ('api', service, operation) for client calls."""
    bound = {}  # local name -> service, for ``client = clients.get("iam")``
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            service = _seam_service(node.value)
            if service:
                bound[node.targets[0].id] = service
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            service = _seam_service(func.value)
            if service is None and isinstance(func.value, ast.Name):
                service = bound.get(func.value.id)
            if service:
                yield "api", service, func.attr
            elif isinstance(func.value, ast.Name) and func.value.id in module.module_aliases:
                yield "call", module.module_aliases[func.value.id], func.attr
        elif isinstance(func, ast.Name):
            if func.id in module.functions:
                yield "call", module.name, func.id
            elif func.id in module.function_aliases:
                yield "call", *module.function_aliases[func.id]


def reachable_operations(handler: str) -> set[tuple[str, str]]:
    """From the entry point's ``run`` (entry/<handler>.py; ``handler`` is the Powertools wrapper of it)."""
    modules: dict[str, _Module] = {}
    seen: set[tuple[str, str]] = set()
    operations: set[tuple[str, str]] = set()
    stack = [(f"entry.{handler}", "run")]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        module = modules.setdefault(key[0], _Module(key[0]))
        function = module.functions.get(key[1])
        if function is None:  # a class or constant imported by name: no calls of its own
            continue
        for kind, first, second in _edges(module, function):
            if kind == "api":
                operations.add((first, second))
            else:
                stack.append((first, second))
    return operations


def iam_actions(operations: set[tuple[str, str]]) -> set[str]:
    import botocore.session

    session = botocore.session.get_session()
    actions: set[str] = set()
    for service, operation in operations:
        if (service, operation) in SPECIAL_ACTIONS:
            actions.update(SPECIAL_ACTIONS[(service, operation)])
            continue
        model = session.get_service_model(service)
        names = {_snake(name): name for name in model.operation_names}
        if operation not in names:
            raise AssertionError(f"{service} has no operation {operation!r} (called in the handlers)")
        actions.add(f"{IAM_PREFIX[service]}:{names[operation]}")
    return actions


def _snake(name: str) -> str:
    from botocore import xform_name

    return xform_name(name)
