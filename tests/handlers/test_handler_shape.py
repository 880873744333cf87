"""Acceptance 3: handlers are thin (<= 40 lines, parse + one call) and create no AWS client at import.

Issue 13: each entry point (lambda/forge_handlers/entry/<name>.py) sits over the logic module of the same
name (lambda/forge_handlers/<name>.py), and AWS access lives in lambda/forge_handlers/aws/ only.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from forge_handlers import errors

from stacks.permissions import HANDLER_NAMES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = PROJECT_ROOT / "lambda" / "forge_handlers"
ENTRY_DIR = PACKAGE_DIR / "entry"
CONTRACTS = (PROJECT_ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
# Logic shared by several entry points (no entry point of their own); jobs.py serves both launch and poll.
SHARED_LOGIC = {"artifacts", "config", "errors", "events", "job_outputs", "jobs", "model_copy", "naming",
                "nova_recipes", "report_markdown", "training_requests",
                "endpoint_expiry",  # deploy.py's TTL schedule
                # preflight.py's checks, one module per kind (preflight.py gathers and runs them)
                "preflight_checks", "preflight_iam", "preflight_reward"}


@pytest.mark.parametrize("name", HANDLER_NAMES)
def test_handler_is_thin(name: str) -> None:
    source = (ENTRY_DIR / f"{name}.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 40
    tree = ast.parse(source)
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert [f.name for f in functions] == ["run"]
    # Body: <at most one assignment that parses the event> return <one call into logic>
    *parse, returned = functions[0].body
    assert len(parse) <= 1 and all(isinstance(stmt, ast.Assign) for stmt in parse)
    assert isinstance(returned, ast.Return) and isinstance(returned.value, ast.Call)
    # The Lambda target: the shared Powertools wrapper around run.
    (target,) = [node for node in tree.body if isinstance(node, ast.Assign)]
    assert ast.unparse(target.targets[0]) == "handler"
    assert isinstance(target.value, ast.Call) and ast.unparse(target.value.func) == "powertools_handler"
    assert ast.unparse(target.value.args[1]) == "run"
    assert "boto3" not in source and "clients." not in source


def test_every_entry_point_is_a_handler_and_pairs_with_its_logic_by_name() -> None:
    entries = {path.stem for path in ENTRY_DIR.glob("*.py")} - {"__init__"}
    assert entries == set(HANDLER_NAMES)
    logic = {path.stem for path in PACKAGE_DIR.glob("*.py")} - {"__init__"}
    # Every top-level module is the logic of one entry point or shared logic: no second naming scheme.
    assert logic - set(HANDLER_NAMES) == SHARED_LOGIC
    assert {name for name in HANDLER_NAMES if name not in logic} == {"launch", "poll", "endpoint_status"}


def test_the_powertools_wrapper_logs_and_reraises(lambda_context) -> None:
    from forge_handlers.entry import powertools_handler

    def run(event):
        raise ValueError(f"bad {event['x']}")

    handler = powertools_handler("probe", run)
    with pytest.raises(ValueError, match="bad 1"):
        handler({"x": 1}, lambda_context)
    assert powertools_handler("probe", lambda event: {"echo": event})({"x": 2}, lambda_context) == {
        "echo": {"x": 2}
    }


def test_no_aws_client_is_created_at_import() -> None:
    modules = [f"forge_handlers.entry.{name}" for name in HANDLER_NAMES]
    script = (
        "import botocore.session\n"
        "original = botocore.session.Session.create_client\n"
        # The X-Ray SDK behind Powertools' Tracer makes its own client to the local X-Ray daemon.
        "def refuse(self, service, *a, **k):\n"
        "    if service == 'xray': return original(self, service, *a, **k)\n"
        "    raise SystemExit(f'AWS client {service} created at import time')\n"
        "botocore.session.Session.create_client = refuse\n"
        f"import importlib\nfor m in {modules!r}: importlib.import_module(m)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={
            "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'lambda'}",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
        },
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_error_classes_match_the_contract_and_the_workflow() -> None:
    section = CONTRACTS[CONTRACTS.index("## Error names") :]
    section = section[: section.index("\n## ", 4)]
    named = set(re.findall(r"`([A-Z][A-Za-z]+Error)`", section))
    assert named == set(errors.RETRIED_ERRORS) | set(errors.CAUGHT_ERRORS)
    for name in named:
        assert issubclass(getattr(errors, name), Exception), name
    workflow = pytest.importorskip("stacks.workflow", reason="the issue-2 workflow module is not importable")
    assert set(errors.RETRIED_ERRORS) <= set(workflow.RETRIED_ERRORS)
    assert set(errors.CAUGHT_ERRORS) == set(workflow.CAUGHT_ERRORS)


def test_client_errors_translate_to_the_retried_types() -> None:
    from botocore.exceptions import ClientError

    def boom(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "CreateTrainingJob")

    assert isinstance(errors.translate_client_error(boom("ThrottlingException")), errors.ThrottlingError)
    assert isinstance(errors.translate_client_error(boom("ResourceLimitExceeded")), errors.ResourceLimitError)
    other = boom("ValidationException")
    assert errors.translate_client_error(other) is other
