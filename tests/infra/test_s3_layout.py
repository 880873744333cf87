"""One S3 layout (pipeline_core/layout.py): the synthesized roles' S3 scopes are the layout's patterns, every
key the layout builds falls in the scope of the principal that reads or writes it, and no other product
module spells a layout path itself."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from pathlib import Path

import pytest

from pipeline_core import layout
from pipeline_core.settings import load_settings
from stacks.permissions import DATA_BUCKET_READERS, HANDLER_NAMES
from tests.infra.conftest import CONFIG_NAMES
from tests.synth_helpers import CONFIG_DIR, PROJECT_ROOT

# A ListBucket without an s3:prefix condition lists the whole bucket.
WHOLE_BUCKET = "*"
S3_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:ListBucket")
PRODUCT_ROOTS = ("app.py", "forge", "job_code", "lambda", "pipeline_core", "sagemaker_entry", "stacks")
LAYOUT_MODULE = PROJECT_ROOT / "pipeline_core" / "layout.py"
# A layout path spelled in a string literal: a top-level prefix or run sub-directory at a path segment's
# start, or a run file name. Container paths such as /opt/ml/input/data/code are not the S3 layout.
LAYOUT_LITERAL = re.compile(
    r"(^|/)(runs|incoming|cli|code|deployed|artifacts)/"
    r"|^(data|eval|jobs|checkpoints)/"
    r"|(^|/)(report\.json|report\.md|validation\.json)$"
    r"|/results\.json$"
)


def _hf(config: str) -> bool:
    return load_settings(CONFIG_DIR / f"{config}.yaml").model.family == "hf"


def _bucket(logical_id: str) -> str:
    for name in ("Artifacts", "Data"):
        if logical_id.startswith(f"Storage{name}Bucket"):
            return name.lower()
    raise AssertionError(f"an S3 scope on an unexpected resource {logical_id}")


def _objects(resource: object) -> tuple[str, str] | None:
    """("artifacts" | "data", object pattern) of an ARN the template builds, or None for a bucket ARN."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return None
    if isinstance(resource, dict) and "Fn::Join" in resource:
        head, *tail = resource["Fn::Join"][1]
        if not (isinstance(head, dict) and "Fn::GetAtt" in head):
            return ("other", json.dumps(resource))  # not one of the stack's buckets (Nova's escrow bucket)
        assert len(tail) == 1, resource
        assert tail[0].startswith("/"), resource
        return _bucket(head["Fn::GetAtt"][0]), tail[0][1:]
    return ("other", json.dumps(resource))


def _scopes(template: dict, role: str) -> dict[str, set[tuple[str, str]]]:
    """S3 action -> {(bucket, object pattern)} of the role's policies; ListBucket -> its s3:prefix values."""
    policies = [r for r in template["Resources"].values()
                if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]]
    scopes: dict[str, set[tuple[str, str]]] = {action: set() for action in S3_ACTIONS}
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) \
                else [statement["Resource"]]
            for action in set(actions) & set(S3_ACTIONS):
                if action == "s3:ListBucket":
                    prefixes = (statement.get("Condition") or {}).get("StringLike", {}).get("s3:prefix")
                    for resource in resources:
                        if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                            bucket = _bucket(resource["Fn::GetAtt"][0])
                            for prefix in prefixes or [WHOLE_BUCKET]:
                                scopes[action].add((bucket, prefix))
                    continue
                scopes[action] |= {o for o in map(_objects, resources) if o and o[0] != "other"}
    return scopes


def _role(template: dict, description_suffix: str) -> str:
    (role,) = [logical for logical, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
               and r["Properties"].get("Description", "").endswith(description_suffix)]
    return role


@pytest.mark.parametrize("config", CONFIG_NAMES)
def test_the_sagemaker_role_reads_and_writes_exactly_the_jobs_prefixes(synthesized, config) -> None:
    template = synthesized[config]["template"]
    scopes = _scopes(template, _role(template, ": SageMaker training jobs and endpoints"))
    reads = {("artifacts", pattern) for pattern in layout.job_reads(code_channel=_hf(config))}
    assert scopes["s3:GetObject"] == reads
    assert scopes["s3:ListBucket"] == reads
    assert scopes["s3:PutObject"] == {("artifacts", pattern) for pattern in layout.JOB_WRITES}


@pytest.mark.parametrize("config", CONFIG_NAMES)
def test_each_handler_role_reads_and_writes_exactly_its_prefixes(synthesized, config) -> None:
    template = synthesized[config]["template"]
    for handler in HANDLER_NAMES:
        scopes = _scopes(template, _role(template, f": Lambda handler {handler}"))
        if scopes["s3:GetObject"]:
            data = {("data", layout.DATA_OBJECTS)} if handler in DATA_BUCKET_READERS else set()
            assert scopes["s3:GetObject"] == {("artifacts", p) for p in layout.HANDLER_READS} | data, handler
            listed = {("data", WHOLE_BUCKET)} if handler in DATA_BUCKET_READERS else set()
            assert scopes["s3:ListBucket"] == {("artifacts", WHOLE_BUCKET)} | listed, handler
        if scopes["s3:PutObject"]:
            writes = layout.DEPLOY_WRITES if handler == "deploy" else layout.HANDLER_WRITES
            assert scopes["s3:PutObject"] == {("artifacts", p) for p in writes}, handler


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)


def test_every_key_of_the_layout_is_in_the_scope_of_its_reader_and_writer() -> None:
    run, stage, job = "run-1", "sft", "forge--run-1-sft-a1"
    output = f"{layout.job_output_prefix(run, stage)}{job}/output/model.tar.gz"
    # What the jobs read (datasets, a recipe, an earlier stage's model, their code) and write.
    for key in (layout.dataset_key(run, "train", "train.jsonl"), layout.recipe_key(run, stage, job), output,
                f"{layout.checkpoint_prefix(run, stage)}step-10/model.safetensors"):
        assert _matches(key, layout.job_reads(code_channel=False)), key
    assert _matches(f"{layout.CODE_S3_PREFIX}sft.py", layout.job_reads(code_channel=True))
    assert not _matches(f"{layout.CODE_S3_PREFIX}sft.py", layout.job_reads(code_channel=False))
    assert _matches(output, layout.JOB_WRITES) and layout.is_run_key(output)
    # What the handlers write and read back.
    for key in (layout.validation_report_key(run), layout.artifact_key(run, stage),
                layout.eval_results_key(run, "eval_sft"), layout.report_key(run),
                layout.report_markdown_key(run)):
        assert _matches(key, layout.HANDLER_WRITES) and _matches(key, layout.HANDLER_READS), key
        assert not _matches(key, (layout.SERVED_MODELS,)), key
    served = layout.deployed_model_key(run, output)
    assert served == f"{layout.run_prefix(run)}{layout.DEPLOYED_DIR}model.tar.gz"
    assert _matches(served, layout.DEPLOY_WRITES) and not _matches(output, layout.DEPLOY_WRITES)


def test_the_bucket_policy_trigger_and_code_deployment_use_the_layout(synthesized) -> None:
    template = synthesized["open-weights"]["template"]
    resources = template["Resources"].values()
    denies = [s for r in resources if r["Type"] == "AWS::S3::BucketPolicy"
              for s in r["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny" and "Sid" in s]
    assert [_objects(s["Resource"]) for s in denies] == [("artifacts", layout.SERVED_MODELS)]
    (deployment,) = [r for r in resources if r["Type"] == "Custom::CDKBucketDeployment"]
    assert deployment["Properties"]["DestinationBucketKeyPrefix"] == layout.CODE_S3_PREFIX
    (rule,) = [r for r in resources if r["Type"] == "AWS::Events::Rule"
               and "aws.s3" in r["Properties"]["EventPattern"]["source"]]
    wildcards = [w["wildcard"] for w in rule["Properties"]["EventPattern"]["detail"]["object"]["key"]]
    assert wildcards and all(w.startswith(f"{layout.INCOMING_PREFIX}*") for w in wildcards)


def _string_literals(tree: ast.AST) -> list[ast.Constant]:
    """String constants (f-strings' literal parts included), docstrings left out."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def _product_files() -> list[Path]:
    files = []
    for root in PRODUCT_ROOTS:
        path = PROJECT_ROOT / root
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [f for f in files if f != LAYOUT_MODULE]


def test_the_scan_recognises_a_layout_literal() -> None:
    tree = ast.parse('"""Writes runs/<id>/report.json."""\nKEY = f"runs/{run_id}/report.json"\n'
                     'PATH = "/opt/ml/input/data/code"\nNAME = "eval/" + stage + "/results.json"\n')
    flagged = sorted(n.value for n in _string_literals(tree) if LAYOUT_LITERAL.search(n.value))
    assert flagged == ["/report.json", "/results.json", "eval/", "runs/"]


def test_no_product_module_but_the_layout_spells_an_s3_path() -> None:
    found = [f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {node.value!r}"
             for path in _product_files()
             for node in _string_literals(ast.parse(path.read_text(encoding="utf-8")))
             if LAYOUT_LITERAL.search(node.value)]
    assert not found, "S3 layout paths outside pipeline_core/layout.py:\n" + "\n".join(found)
