"""Local IAM knows the registry's calls: Register creates versions in its own group only, Approval and Deploy
read its packages, and no other handler touches the registry."""

from __future__ import annotations

import pytest

from forge.local.iam.requests import Authorization, authorizations
from pipeline_core import registry
from tests.local.test_iam_principals import ACCOUNT, REGION, as_function, enforcer  # noqa: F401 - fixture

SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
OWN = registry.group_name("forge-hf")
CREATE = {"InferenceSpecification": {"Containers": [{"Image": "i"}]}}


def test_the_mapping_names_the_group_and_the_version():
    from forge.local.iam.requests import StackFacts

    facts = StackFacts(REGION, ACCOUNT)
    create = {"ModelPackageGroupName": OWN, **CREATE}
    assert authorizations(facts, "sagemaker", "CreateModelPackage", create) == [
        Authorization("sagemaker:CreateModelPackage", f"{SM}:model-package-group/{OWN}")]
    arn = f"{SM}:model-package/{OWN}/3"
    assert authorizations(facts, "sagemaker", "DescribeModelPackage", {"ModelPackageName": arn}) == [
        Authorization("sagemaker:DescribeModelPackage", arn)]


@pytest.mark.parametrize(("handler", "operation", "params", "allowed"), [
    ("register", "CreateModelPackage", {"ModelPackageGroupName": OWN, **CREATE}, True),
    ("register", "CreateModelPackage", {"ModelPackageGroupName": "other--models", **CREATE}, False),
    ("gate", "CreateModelPackage", {"ModelPackageGroupName": OWN, **CREATE}, False),
    ("approval", "DescribeModelPackage", {"ModelPackageName": f"{SM}:model-package/{OWN}/1"}, True),
    ("deploy", "DescribeModelPackage", {"ModelPackageName": f"{SM}:model-package/{OWN}/1"}, True),
    ("deploy", "DescribeModelPackage", {"ModelPackageName": f"{SM}:model-package/other--models/1"}, False),
    ("approval", "UpdateModelPackage", {"ModelPackageArn": f"{SM}:model-package/{OWN}/1"}, False),
    ("register", "DescribeModelPackage", {"ModelPackageName": f"{SM}:model-package/{OWN}/1"}, False),
])
def test_registry_grants(enforcer, handler, operation, params, allowed):  # noqa: F811 - the fixture
    actor = as_function(enforcer, handler)
    assert (enforcer.denial(actor, "sagemaker", operation, params) is None) is allowed
