"""The Lambda import-surface table (stacks/lambda_runtime.py): runtime, pinned layer, allowed import names."""

from __future__ import annotations

import pytest

from pipeline_core.settings import Settings
from stacks import handlers, lambda_runtime
from stacks.lambda_runtime import UnknownLayerVersionError
from tests.synth_helpers import synth

PINNED = Settings.model_fields["powertools_layer_version"].default


def test_the_pinned_layer_version_resolves() -> None:
    layer = lambda_runtime.powertools_layer(PINNED)
    assert (layer.version, layer.release) == (27, "3.23.0")
    assert lambda_runtime.powertools_layer_arn("aws", "eu-west-1", PINNED) == (
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:27"
    )


def test_the_stack_uses_the_runtime_the_table_describes() -> None:
    assert handlers.RUNTIME.name == lambda_runtime.RUNTIME_NAME


def test_an_unknown_layer_version_fails_the_synth_naming_the_setting(tmp_path) -> None:
    with pytest.raises(UnknownLayerVersionError, match=r"powertools_layer_version=999: .*known: 27"):
        synth("open-weights", tmp_path, {"powertools_layer_version": 999})


def test_allowed_import_names() -> None:
    names = lambda_runtime.installed_import_names(lambda_runtime.allowed_distributions(PINNED))
    for allowed in ("pydantic", "pydantic_core", "aws_lambda_powertools", "aws_xray_sdk", "boto3", "botocore",
                    "s3transfer", "jmespath", "urllib3", "dateutil", "six", "typing_extensions"):
        assert allowed in names, allowed
    for refused in ("yaml", "numpy", "rouge_score", "sacrebleu", "nltk", "moto", "torch", "rich"):
        assert refused not in names, refused
    assert names["dateutil"] == "python-dateutil"


def test_the_standard_library_is_python_3_12s() -> None:
    stdlib = lambda_runtime.stdlib_names()
    assert {"json", "tarfile", "tomllib", "importlib"} <= stdlib
    assert not {"distutils", "imp", "asyncore", "asynchat", "smtpd"} & stdlib  # gone in 3.12
