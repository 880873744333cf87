"""Lambda's import surface for the pinned runtime and Powertools layer: what a handler may import on AWS.

A function of this stack runs on the ``python3.12`` managed runtime with the AWS-managed Powertools for AWS
Lambda (Python) v3 layer. What it can import is exactly:

- the standard library of Python 3.12;
- what the runtime ships beside it: boto3 and its dependencies (the runtime's own boto3 version, which
  AWS updates and which may differ from our pin; see "Runtime-included SDK versions" in the Lambda docs);
- what the layer ships: ``pip install -t python "aws-lambda-powertools[all]==<release>"``, minus boto3,
  botocore, s3transfer, dateutil, urllib3, six and jmespath, which its build removes because the runtime
  has them (aws-powertools/powertools-lambda-python: layer_v3/layer/layer_stack.py sets
  ``include_extras=True``; layer_v3/layer_constructors/helpers.py turns that into ``[all]``;
  layer_v3/docker/Dockerfile does the install and the removal);
- the asset itself (stacks/bundle.py).

Layer versions map to Powertools releases in LAYERS. A version not in the table is an error at synth: the
surface of an unknown layer is unknown. Distribution names come from the release's wheel metadata
(``Requires-Dist ... extra == "all"``) resolved for cp312 manylinux x86_64; import names are derived from
the installed dev copies (importlib.metadata RECORD / top_level.txt), so a distribution the dev venv
lacks contributes nothing (importing it fails here as it would anyway).

Standard library only: stacks/handlers.py (CDK) and forge/lambda_surface.py (local mode) both import it.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

RUNTIME_NAME = "python3.12"
ARCHITECTURE = "x86_64"
POWERTOOLS_LAYER_ACCOUNT = "017000801446"  # AWS's account publishing the public Powertools layers
POWERTOOLS_LAYER_NAME = f"AWSLambdaPowertoolsPythonV3-{RUNTIME_NAME.replace('.', '')}-{ARCHITECTURE}"
SETTING = "powertools_layer_version"  # the settings field that pins the layer (pipeline_core/settings.py)

# boto3 and its dependency closure, as the python3.12 runtime provides them (the layer build removes
# exactly these because "already available in Lambda Runtime").
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")

# Top-level modules Python 3.12 no longer has (PEP 594 / PEP 632), for a dev interpreter older than 3.12.
REMOVED_FROM_STDLIB = {(3, 12): ("asynchat", "asyncore", "distutils", "imp", "smtpd")}
RUNTIME_PYTHON = tuple(int(part) for part in RUNTIME_NAME.removeprefix("python").split("."))


class UnknownLayerVersionError(ValueError):
    """The pinned Powertools layer version is not in the table, so its import surface is unknown."""


@dataclass(frozen=True)
class PowertoolsLayer:
    version: int
    release: str  # the aws-lambda-powertools release the layer version holds
    distributions: tuple[str, ...]  # what the layer's python/ directory holds (after the build's removals)
    source: str


# aws-lambda-powertools[all] = aws-encryption-sdk, aws-xray-sdk, fastjsonschema, jsonpath-ng, pydantic,
# pydantic-settings (+ the core's typing-extensions; jmespath comes from the runtime), with their closure.
_ALL_EXTRAS_3_23 = (
    "aws-lambda-powertools", "typing-extensions",
    "pydantic", "pydantic-core", "annotated-types", "typing-inspection",
    "pydantic-settings", "python-dotenv",
    "aws-xray-sdk", "wrapt",
    "fastjsonschema",
    "jsonpath-ng", "ply",  # ply: jsonpath-ng's dependency up to 1.7, the release current when 3.23.0 shipped
    "aws-encryption-sdk", "attrs", "cryptography", "cffi", "pycparser",
)

LAYERS: dict[int, PowertoolsLayer] = {
    27: PowertoolsLayer(
        version=27,
        release="3.23.0",
        distributions=_ALL_EXTRAS_3_23,
        # Layer 26 was the newest on 2025-11-09 (issue #7650, with v3.22.x current); v3.23.0 shipped on
        # 2025-11-13 and PR #7757 (merged in the v3.23.1 pre-release cycle) set the docs to ":27".
        source="aws-powertools/powertools-lambda-python issue #7650, PR #7757, CHANGELOG v3.23.0",
    ),
}


def powertools_layer(version: int) -> PowertoolsLayer:
    """The table entry of a layer version, or a clear error naming the setting."""
    layer = LAYERS.get(version)
    if layer is None:
        known = ", ".join(str(v) for v in sorted(LAYERS))
        raise UnknownLayerVersionError(
            f"{SETTING}={version}: no import surface is recorded for {POWERTOOLS_LAYER_NAME}:{version} "
            f"(known: {known}). Add the layer's Powertools release and packages to LAYERS in "
            "stacks/lambda_runtime.py, or pin a known version."
        )
    return layer


def powertools_layer_arn(partition: str, region: str, version: int) -> str:
    powertools_layer(version)  # fails at synth on a version without a known surface
    layer = f"{POWERTOOLS_LAYER_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:{version}"
    return f"arn:{partition}:lambda:{region}:{layer}"


def allowed_distributions(layer_version: int) -> frozenset[str]:
    """Normalized names of every distribution the runtime and the layer put on sys.path."""
    names = (*RUNTIME_DISTRIBUTIONS, *powertools_layer(layer_version).distributions)
    return frozenset(normalize(name) for name in names)


def normalize(distribution: str) -> str:
    return distribution.lower().replace("_", "-").replace(".", "-")


@functools.lru_cache(maxsize=8)  # scans every installed distribution
def installed_import_names(distributions: frozenset[str]) -> Mapping[str, str]:
    """``{top-level import name: distribution}`` for the given distributions installed here."""
    names: dict[str, str] = {}
    for top, owners in importlib.metadata.packages_distributions().items():
        for owner in owners:
            if normalize(owner) in distributions and top.isidentifier():
                names[top] = normalize(owner)
    return MappingProxyType(names)


def stdlib_names() -> frozenset[str]:
    """Top-level standard-library modules of the runtime's Python, as far as this interpreter knows them."""
    names = set(sys.stdlib_module_names)
    for version, removed in REMOVED_FROM_STDLIB.items():
        if version <= RUNTIME_PYTHON:
            names.difference_update(removed)
    return frozenset(names)
