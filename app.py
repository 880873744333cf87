"""The CDK app: one PipelineStack from one config file, checked by cdk-nag (AwsSolutions).

Config: CDK context `config` (`cdk synth -c config=config/open-weights.yaml`), else FORGE_CONFIG,
else config/nova.yaml. Output directory: CDK_OUTDIR, else cdk.out.

CDK's built-in CloudFormation validation (a WebAssembly rule engine) is off unless the context asks for it
(`-c cfn-validation=true`): it took 7 of the 13 seconds of a synth on a 2-core machine, and the project's
template checks are cfn-lint (pinned) and cdk-nag, which `make test` runs on every config. A test also runs
the built-in validation on every config, so CI still sees anything it would flag.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from pipeline_core.settings import load_settings
from stacks.bundle import stage_code_channel, stage_lambda_bundle
from stacks.pipeline_stack import PipelineStack

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = "config/nova.yaml"
BUNDLE_DIR_NAME = "lambda-bundle"
CODE_DIR_NAME = "code-channel"
CFN_VALIDATION_CONTEXT = "cfn-validation"
# Feature flags this app relies on (also true when the CLI runs it, whatever cdk.json says).
APP_CONTEXT = {
    # Access-log delivery through a bucket policy, so every bucket can enforce BucketOwnerEnforced.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def stack_id(name: str) -> str:
    """forge-nova -> ForgeNova (CloudFormation stack names are the settings name in PascalCase)."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name))


def build_app(settings_path: str | Path, outdir: str | Path, *, cfn_validation: bool = False,
              config_dir: str | Path | None = None) -> tuple[cdk.App, PipelineStack]:
    """Build (not yet synthesize) the app for one config. Tests and local mode call this.

    cfn_validation: also run CDK's built-in CloudFormation validation at synth (see the module docstring).
    config_dir: where the config's relative file paths (metrics.modules) start; by default the config's
    directory (local mode passes the user's when it synthesizes a rewritten copy).
    """
    settings = load_settings(settings_path)
    outdir = Path(outdir).resolve()
    config_dir = config_dir or Path(settings_path).parent
    # Staged inside the cloud assembly directory; CDK hashes it and copies it as the Lambda asset.
    bundle_dir = stage_lambda_bundle(settings, outdir / BUNDLE_DIR_NAME / settings.name,
                                     config_dir=config_dir)
    code_dir = stage_code_channel(outdir / CODE_DIR_NAME / settings.name, settings, config_dir=config_dir)
    app = cdk.App(outdir=str(outdir), context=APP_CONTEXT, builtin_cloud_formation_validation=cfn_validation)
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


def cfn_validation_requested(context_value: object) -> bool:
    """CDK context from `-c key=value` arrives as a string; cdk.json may hold a real boolean."""
    if isinstance(context_value, bool) or context_value is None:
        return bool(context_value)
    text = str(context_value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"context {CFN_VALIDATION_CONTEXT}={context_value!r}: expected true or false")


def main() -> None:
    probe = cdk.App()  # only reads the CDK context the CLI passes (-c config=...); never synthesized
    config_path = resolve_config(probe.node.try_get_context("config"), os.environ)
    app, _ = build_app(config_path, os.environ.get("CDK_OUTDIR", "cdk.out"),
                       cfn_validation=cfn_validation_requested(probe.node.try_get_context(CFN_VALIDATION_CONTEXT)))
    app.synth()


if __name__ == "__main__":
    main()
