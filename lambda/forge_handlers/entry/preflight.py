"""Preflight handler: quotas, reward Lambda, IAM and endpoint tiers checked before any job starts."""

from __future__ import annotations

import os
from typing import Any

from forge_handlers import config, events, preflight
from forge_handlers.entry import powertools_handler
from forge_handlers.preflight_iam import Deployment
from pipeline_core import state


def run(event: dict[str, Any]) -> dict[str, Any]:
    run = events.parse(state.RunEvent, event, "preflight").run
    env = config.environment()
    deployment = Deployment(env.region, env.artifacts_bucket, env.sagemaker_role_arn, env.reward_lambda_arn,
                            env.kms_key_arn, preflight.role_arns_from(os.environ))
    return preflight.preflight(config.load(), deployment, run.run_id, run.datasets)


handler = powertools_handler("preflight", run)
