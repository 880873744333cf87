"""The open-weights jobs' code: deployed by the stack where the launch handler's code channel reads."""

from __future__ import annotations

import zipfile
from pathlib import Path

from aws_cdk.assertions import Match, Template

from forge.local import runner
from pipeline_core.layout import CODE_S3_PREFIX


def test_hf_stack_deploys_the_code_channel_to_the_launch_prefix(synthesized):
    template = Template.from_json(synthesized["open-weights"]["template"])
    template.resource_count_is("Custom::CDKBucketDeployment", 1)
    key = template.find_resources("AWS::KMS::Key")
    artifacts = [name for name in template.find_resources("AWS::S3::Bucket") if "ArtifactsBucket" in name]
    template.has_resource_properties(
        "Custom::CDKBucketDeployment",
        {
            "DestinationBucketName": {"Ref": artifacts[0]},
            "DestinationBucketKeyPrefix": CODE_S3_PREFIX,
            "Prune": False,
            "RetainOnDelete": True,
            "SystemMetadata": {"sse": "aws:kms", "sse-kms-key-id": {"Ref": next(iter(key))}},
            "SourceObjectKeys": Match.any_value(),
        },
    )
    assert CODE_S3_PREFIX == "code/"


def test_the_deployed_asset_is_the_staged_code_channel(synthesized, tmp_path):
    """What CDK uploads is exactly what stage_code_channel writes (the same function local mode uploads)."""
    assembly: Path = synthesized["open-weights"]["assembly_dir"]
    template = synthesized["open-weights"]["template"]
    (deployment,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::CDKBucketDeployment"]
    (object_key,) = deployment["Properties"]["SourceObjectKeys"]
    asset_dir = assembly / f"asset.{object_key.removesuffix('.zip')}"
    files = {p.relative_to(asset_dir).as_posix() for p in asset_dir.rglob("*") if p.is_file()}
    staged = runner.stage_code_channel(tmp_path / "code", synthesized["open-weights"]["stack"].settings)
    expected = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
    assert files == expected
    assert {"sft.py", "rft.py", "evaluate.py", "inference.py", "requirements.txt", "job_code/sft.py",
            "settings.json"} <= files  # settings.json: the MLflow parent run's parameters
    assert not zipfile.is_zipfile(asset_dir)  # a directory asset: no Docker bundling at synth


def test_nova_stack_has_no_job_code_deployment(nova):
    Template.from_json(nova["template"]).resource_count_is("Custom::CDKBucketDeployment", 0)
