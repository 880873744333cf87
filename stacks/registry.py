"""The model registry: one SageMaker model package group per pipeline (pipeline_core/registry.py names it).

Register adds one version per evaluated candidate; an approval of a version starts the deploy
(stacks/triggers.py). The group is retained with the data when ``retain_data`` is set: it is the record of
which model was approved, on which data and metrics.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from pipeline_core import registry
from pipeline_core.settings import Settings


class ModelRegistry(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        self.group_name = registry.group_name(settings.resource_prefix)
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "Group",
            model_package_group_name=self.group_name,
            model_package_group_description=f"{settings.name}: each evaluated candidate, its gate decision",
        )
        retain = RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY
        self.group.apply_removal_policy(retain)
