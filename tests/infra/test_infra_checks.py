"""cdk-nag (zero unacknowledged findings), cfn-lint (zero errors), CDK's own validator: every config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from tests.infra.conftest import CONFIG_NAMES
from tests.synth_helpers import synth

CFN_VALIDATE_PLUGIN = "CloudFormation Validate"  # CDK's built-in validator, off in app.py unless asked for


def report_violations(assembly_dir: Path, plugin: str | None = None) -> list[str]:
    """'rule: description' of every violation in the synth's validation report (of one plugin, if named)."""
    report = assembly_dir / "validation-report.json"
    if not report.exists():
        return []
    plugin_reports = json.loads(report.read_text())["pluginReports"]
    return [f"{v['ruleName']}: {v['description']}" for r in plugin_reports
            if plugin in (None, r["pluginName"]) for v in r.get("violations", [])]


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_no_unacknowledged_nag_findings(synthesized, name):
    # app.synth() raises ValidationFailed on any finding; a report, if written, must hold no violations.
    assert report_violations(synthesized[name]["assembly_dir"]) == []


def test_nag_is_live_and_fails_an_insecure_bucket(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Insecure")
    s3.Bucket(stack, "Plain")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="AwsSolutions-S10"):
        app.synth()


CFN_LINT = Path(sys.executable).with_name("cfn-lint")  # pinned in pyproject (dev extra)


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_cfn_lint_has_no_errors(synthesized, name):
    template = synthesized[name]["template_path"]
    result = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", str(template)], capture_output=True, text=True, check=False
    )
    # Exit code bits: 2 = errors, 4 = warnings, 8 = informational.
    assert result.returncode & 2 == 0 and result.returncode in (0, 4, 8, 12), result.stdout + result.stderr


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_cdk_built_in_cloudformation_validation_finds_nothing(tmp_path, name):
    # app.py leaves this validator off for speed; CI runs it here so nothing it would flag slips through.
    result = synth(name, tmp_path, cfn_validation=True)
    assert report_violations(result["assembly_dir"], CFN_VALIDATE_PLUGIN) == []


def test_cdk_built_in_cloudformation_validation_is_live(tmp_path):
    # CDK downgrades its findings to warnings (synth succeeds), so only the report shows them.
    app = cdk.App(outdir=str(tmp_path), builtin_cloud_formation_validation=True)
    stack = cdk.Stack(app, "Misspelt")
    cdk.CfnResource(stack, "Bucket", type="AWS::S3::Bucket", properties={"BucketNameX": "x"})
    app.synth()
    assert any("BucketNameX" in finding for finding in report_violations(tmp_path, CFN_VALIDATE_PLUGIN))


def test_unexplained_wildcard_fails_the_build():
    from aws_cdk import aws_iam as iam

    from stacks.nag import UnexplainedWildcardError, acknowledge_findings

    stack = cdk.Stack(cdk.App(), "Wild")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    with pytest.raises(UnexplainedWildcardError, match=r"\['s3:GetObject'\]"):
        acknowledge_findings(stack)


def test_an_action_without_a_scope_fails_the_build(nova):
    from stacks.roles import UnscopedActionError

    with pytest.raises(UnscopedActionError, match="'gate'.*'s3:DeleteObject'"):
        nova["stack"].handler_roles.statements_for("gate", ["s3:DeleteObject"])
