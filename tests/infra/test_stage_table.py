"""The one stage table (pipeline_core/stages.py): no stage name outside it, and a new stage is one row.

(a) A stage name is written, as a string, only in the table: every other part of the product derives from
    it. The scan reads the string literals of the product's Python sources with ``ast``. Names in prose
    (docstrings, comments) are not literals of the code and are not scanned as such.
(b) Adding a stage is one row: the state machine, the IAM scopes, the job names, the report and local
    mode's progress all follow a table with one extra evaluation stage.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import typing
from pathlib import Path

import pytest

from pipeline_core import stages as stage_table
from pipeline_core.settings import JobStageSettings, StagesSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Product code: what ships in the stack, the Lambda asset, the code channel and the CLI (not tests, docs,
# benchmarks or config YAML).
PRODUCT_ROOTS = ("stacks", "lambda", "job_code", "forge", "sagemaker_entry", "pipeline_core", "app.py")
TABLE_FILE = PROJECT_ROOT / "pipeline_core" / "stages.py"
# The job code has its own vocabulary of job types and datasets ("sft", "rft", "eval": its hyperparameter
# classes, its split kinds, its record formats). The table maps each stage onto it (Stage.job,
# Stage.dataset) and test_the_table_names_only_what_the_rest_of_the_product_has checks every such value
# exists there. So in job_code/ a literal equal to a job type or dataset is that vocabulary, not a stage:
# it is allowed there, and only there (and in the jobs' typed hyperparameters, which moved into the neutral
# core so the settings can parse with them). A stage name that is not also a job type or dataset (eval_sft,
# baseline_eval) is allowed nowhere.
JOB_VOCABULARY_ROOTS = ("job_code/", "pipeline_core/job_hyperparameters.py")


def _product_files(project: Path, roots: tuple[str, ...]) -> list[Path]:
    files = []
    for root in roots:
        path = project / root
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [path for path in files if path != TABLE_FILE and "__pycache__" not in path.parts]


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (prose, not code)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _stage_literals(names: set[str], vocabulary: set[str], project: Path = PROJECT_ROOT,
                    roots: tuple[str, ...] = PRODUCT_ROOTS) -> list[str]:
    """file:line: 'literal' for each string literal of product code that names a stage.

    A literal names a stage if it equals a stage name, or, for a stage name with an underscore (no word of
    ordinary prose), if it contains it as a word ("$.jobs.eval_sft", "runs/x/eval/eval_sft/").
    Settings field names equal to stage names (``stages.sft``, ``split.rft``) are identifiers, not string
    literals: the scan does not see them; the table's settings_key names the field (checked below).
    """
    compound = [name for name in names if "_" in name]
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, compound)) + r")(?![A-Za-z0-9_])")
    hits = []
    for path in _product_files(project, roots):
        relative = path.relative_to(project)
        allowed = vocabulary if relative.as_posix().startswith(JOB_VOCABULARY_ROOTS) else set()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        prose = _docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in prose:
                continue
            value = node.value
            if (value in names and value not in allowed) or (compound and pattern.search(value)):
                hits.append(f"{relative}:{node.lineno}: {value!r}")
    return hits


def _vocabulary() -> set[str]:
    return {s.job for s in stage_table.job_stages()} | {s.dataset for s in stage_table.job_stages()}


def test_no_stage_name_literal_outside_the_stage_table() -> None:
    names = set(stage_table.names())
    assert _stage_literals(names, _vocabulary()) == []


def test_the_scan_sees_a_stage_name_written_elsewhere(tmp_path) -> None:
    """The scan itself: a literal stage name, or a path built around one, is found; prose is not, and a job
    type is allowed in job_code/ only."""
    leak = '"""Mentions eval_sft in prose."""\nX = "eval_sft"\nY = "$.jobs.eval_rft"\nZ = "sft"\n'
    for root in ("stacks", "job_code"):
        (tmp_path / root).mkdir()
        (tmp_path / root / "leak.py").write_text(leak, encoding="utf-8")
    hits = _stage_literals(set(stage_table.names()), _vocabulary(), tmp_path, ("stacks", "job_code"))
    assert hits == ["stacks/leak.py:2: 'eval_sft'", "stacks/leak.py:3: '$.jobs.eval_rft'",
                    "stacks/leak.py:4: 'sft'", "job_code/leak.py:2: 'eval_sft'",
                    "job_code/leak.py:3: '$.jobs.eval_rft'"]


def test_the_table_names_only_what_the_rest_of_the_product_has() -> None:
    """Each column's values exist where they point: job code classes and formats, entry shims, settings."""
    from job_code.core.formats import SplitKind
    from pipeline_core.job_hyperparameters import STAGE_CLASSES

    table = stage_table.job_stages()
    methods = set(typing.get_args(typing.get_args(JobStageSettings.model_fields["method"].annotation)[0]))
    for column in ("name", "title", "token"):
        values = [getattr(s, column) for s in table]
        assert len(set(values)) == len(values), f"{column} values repeat: {values}"
    for position, stage in enumerate(table):
        assert stage.kind in (stage_table.TRAIN, stage_table.EVAL), stage
        assert stage.job in STAGE_CLASSES, stage
        assert stage.dataset in typing.get_args(SplitKind), stage
        assert (PROJECT_ROOT / "sagemaker_entry" / stage.entry_point).is_file(), stage
        assert stage.settings_key in StagesSettings.model_fields, stage
        assert stage.methods and set(stage.methods) <= methods, stage
        assert re.fullmatch(r"[a-z0-9]+", stage.token) and re.fullmatch(r"[A-Za-z0-9]+", stage.title), stage
        if stage.measures_champion:  # an earlier run's weights: no training stage, a section of its own
            assert stage.is_eval and stage.section not in {s.section for s in table if s is not stage}, stage
        elif stage.is_eval and stage.evaluates is not None:
            trained = stage_table.stage(stage.evaluates)
            assert not trained.is_eval and table.index(trained) < position, stage
            assert trained.section == stage.section, stage
        if not stage.is_eval:
            assert stage.evaluates is None, stage


def test_unknown_stage_is_named() -> None:
    with pytest.raises(KeyError, match=r"unknown job stage 'dpo'; expected one of \['baseline_eval'"):
        stage_table.stage("dpo")


# --- (b) adding a stage is one row ----------------------------------------------------------------------
HELDOUT = stage_table.Stage(
    name="eval_heldout", title="EvalHeldout", token="evho", kind=stage_table.EVAL, job="eval",
    dataset="eval", channel="eval", entry_point="evaluate.py", settings_key="eval", methods=("EVAL_GEN_QA",),
    evaluates="rft", section="heldout",
)


@pytest.fixture
def one_more_stage(monkeypatch):
    monkeypatch.setattr(stage_table, "STAGES", (*stage_table.STAGES, HELDOUT))
    return HELDOUT


@pytest.fixture
def extended(one_more_stage, tmp_path):
    from tests.synth_helpers import synth

    return synth("local", tmp_path)


def _definition(template: dict) -> str:
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == 1
    body = machines[0]["Properties"]["DefinitionString"]
    return body if isinstance(body, str) else "".join(p for p in body["Fn::Join"][1] if isinstance(p, str))


def _training_job_scopes(template: dict) -> list[str]:
    """The resource-name patterns of every statement that allows sagemaker:CreateTrainingJob."""
    scopes = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "sagemaker:CreateTrainingJob" not in actions:
                continue
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
                statement["Resource"]]
            for arn in resources:
                text = json.dumps(arn)
                scopes += re.findall(r"training-job/([^\"]+)\"", text)
    return scopes


def test_one_more_stage_gets_its_states_scope_and_job_name(extended, one_more_stage) -> None:
    from forge_handlers import naming

    from stacks.workflow import job_state_names

    settings = extended["stack"].settings
    definition = json.loads(_definition(extended["template"]))
    states = definition["States"]
    for name in job_state_names(one_more_stage.name).values():
        assert name in states, name
    # It runs after the stage it follows in the table and carries its own name into the handlers.
    assert states["EvalRFT Status"]["Choices"][1]["Next"] == "EvalHeldout Start"
    assert states["EvalHeldout Launch"]["Parameters"]["stage"] == one_more_stage.name
    # Its jobs are named with its token, inside the pipeline's IAM scope for training jobs.
    job = naming.job_name(settings.resource_prefix, "run-1", one_more_stage.name, 1)
    assert f"-{one_more_stage.token}-a1" in job
    scopes = _training_job_scopes(extended["template"])
    assert scopes and all(fnmatch.fnmatchcase(job, scope) for scope in scopes), (job, scopes)


def test_one_more_stage_gets_its_report_section_and_progress_step(one_more_stage, tmp_path) -> None:
    import boto3
    from forge_handlers import report
    from forge_handlers.aws import clients
    from moto import mock_aws

    from forge import progress, report_html
    from pipeline_core.settings import load_settings

    settings = load_settings(PROJECT_ROOT / "config" / "local.yaml")
    enabled = settings.enabled_job_stages()
    assert enabled[-1] == one_more_stage.name
    steps = progress.pipeline_steps(enabled, deploy=True, smoke=True)
    assert steps.index(one_more_stage.name) == len(enabled)  # after Prepare and the table's other stages
    jobs = {name: {"job_name": f"j-{name}", "status": "Completed", "metrics": {"accuracy": 0.5}}
            for name in enabled}
    state = {"run": {"run_id": "run-1"}, "jobs": jobs}
    clients.reset()
    try:
        with mock_aws():
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="forge-artifacts")
            built = report.build_report(settings, "forge-artifacts", state, "SUCCEEDED")
    finally:
        clients.reset()
    # Every enabled stage ran here, the champion's evaluation too (it runs when a model was deployed).
    assert list(built["stages"]) == ["baseline", "champion", "sft", "rft", one_more_stage.section]
    section = built["stages"][one_more_stage.section]
    assert section["eval_job"]["job_name"] == f"j-{one_more_stage.name}"
    assert section["training_job"]["job_name"] == "j-rft"  # the trained stage it evaluates
    assert f"| {one_more_stage.section} | 0.5000 |" in report.render_markdown(built)
    plots = tmp_path / "eval" / one_more_stage.name
    plots.mkdir(parents=True)
    (plots / "confusion.png").write_bytes(b"\x89PNG")
    page = report_html.render(built, tmp_path)
    assert f"<section id='stage-{one_more_stage.section}'" in page


def test_one_more_stage_reads_its_settings_slot_and_gates(one_more_stage) -> None:
    from forge_handlers import artifacts, gate

    from pipeline_core.settings import load_settings

    settings = load_settings(PROJECT_ROOT / "config" / "local.yaml")
    assert settings.stages.for_stage(one_more_stage.name) is settings.stages.eval
    assert gate.candidate_eval_stage(settings) == one_more_stage.name
    assert artifacts.source_stage(settings, one_more_stage.name) == one_more_stage.evaluates


def test_one_more_stage_runs_in_the_state_machine(one_more_stage, tmp_path) -> None:
    """The synthesized machine with the extra row runs it (moto's interpreter, fake handlers) after the
    stages before it, and local mode's progress maps its states to it."""
    from moto import mock_aws

    from forge.local.runner import stage_of_state
    from tests.synth_helpers import synth
    from tests.workflow.conftest import FAST
    from tests.workflow.fake_pipeline import Scenario, run_pipeline

    # One more job stage counts in the synth-time history quota check (pipeline_core/polling.py) too: with
    # FAST's 0 s polls its worst case needs longer waits between polls to stay under the quota.
    synthesized = synth("local", tmp_path, {**FAST, "max_poll_seconds": 900})
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        result = run_pipeline(synthesized, Scenario())
    assert result.status == "SUCCEEDED", result.cause
    visited = list(dict.fromkeys(stage_of_state(name) for name in result.states))
    # Champion found no model on the endpoint: its evaluation's "Present?" Choice goes on to SFT.
    assert visited == ["Read Input", "Add Execution Name", "Approved Package?", "Prepare", "Preflight",
                       "Champion", *stage_table.names(),
                       "Gate", "Register", "Deploy", "Smoke", "Mark Succeeded", "Report", "Notify Success",
                       "Succeeded"]
    assert result.fakes.launches[one_more_stage.name] == 1
    assert result.output["jobs"][one_more_stage.name]["status"] == "Completed"
