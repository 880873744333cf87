"""The CDK app: one PipelineStack from one config file, checked by cdk-nag (AwsSolutions).

Config: CDK context `config` (`cdk synth -c config=config/open-weights.yaml`), else FORGE_CONFIG,
else config/nova.yaml. Output directory: CDK_OUTDIR, else cdk.out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.bundle import stage_code_channel, stage_lambda_bundle
from stacks.pipeline_stack import PipelineStack
from stacks.settings import load_settings

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = "config/nova.yaml"
BUNDLE_DIR_NAME = "lambda-bundle"
CODE_DIR_NAME = "code-channel"
# Feature flags this app relies on (also true when the CLI runs it, whatever cdk.json says).
APP_CONTEXT = {
    # Access-log delivery through a bucket policy, so every bucket can enforce BucketOwnerEnforced.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def stack_id(name: str) -> str:
    """forge-nova -> ForgeNova (CloudFormation stack names are the settings name in PascalCase)."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name))


def build_app(settings_path: str | Path, outdir: str | Path) -> tuple[cdk.App, PipelineStack]:
    """Build (not yet synthesize) the app for one config. Tests and local mode call this."""
    settings = load_settings(settings_path)
    outdir = Path(outdir).resolve()
    # Staged inside the cloud assembly directory; CDK hashes it and copies it as the Lambda asset.
    bundle_dir = stage_lambda_bundle(settings, outdir / BUNDLE_DIR_NAME / settings.name)
    code_dir = stage_code_channel(outdir / CODE_DIR_NAME / settings.name)
    app = cdk.App(outdir=str(outdir), context=APP_CONTEXT)
    env = None
    if settings.account or settings.region:
        env = cdk.Environment(account=settings.account, region=settings.region)
    stack = PipelineStack(app, stack_id(settings.name), settings=settings, bundle_dir=bundle_dir,
                          code_dir=code_dir, env=env,
                          description=f"{settings.name}: LLM customization pipeline (llm-forge)")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def resolve_config(context_value: str | None, environ: Mapping[str, str]) -> Path:
    """CDK context `config`, else FORGE_CONFIG, else the default; relative paths from the project root."""
    config = Path(context_value or environ.get("FORGE_CONFIG") or DEFAULT_CONFIG)
    return config if config.is_absolute() else PROJECT_ROOT / config


def main() -> None:
    probe = cdk.App()  # only reads the CDK context the CLI passes (-c config=...); never synthesized
    config_path = resolve_config(probe.node.try_get_context("config"), os.environ)
    app, _ = build_app(config_path, os.environ.get("CDK_OUTDIR", "cdk.out"))
    app.synth()


if __name__ == "__main__":
    main()
