"""The import rules of docs/architecture.md, checked with ``ast`` on every module of each part.

Every import statement counts, wherever it is (module level, inside a function, under TYPE_CHECKING), except
where a rule says "at module level": a lazy import is what lets a part use an optional library (PyYAML for
config files) in a place that never runs where the library is missing.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The project's own top-level packages, by import name (the handlers import as forge_handlers).
PROJECT_PACKAGES = {
    "pipeline_core", "stacks", "forge", "forge_handlers", "job_code", "sagemaker_entry", "app",
}
AWS_SDK = {"boto3", "botocore"}
CDK = {"aws_cdk", "constructs", "jsii"}
# What the ML job code imports and the pure job core must not (plots' matplotlib is the ML jobs' too).
ML_LIBRARIES = {"torch", "transformers", "peft", "trl", "accelerate", "datasets", "tokenizers", "matplotlib"}


@dataclass(frozen=True)
class Rule:
    root: str  # a folder of the project
    forbidden: frozenset[str]  # top-level import names it must not import, anywhere
    # If set: the only top-level names it may import (besides the standard library), anywhere...
    allowed: frozenset[str] | None = None
    # ...and those it may import only inside a function (never at module level).
    lazy_only: frozenset[str] = frozenset()
    # (package, subpackage): of that project package it may import only the subpackage (and its modules).
    confined_to: tuple[str, str] | None = None


RULES = (
    # The neutral core: the standard library, pydantic and itself; PyYAML only lazily (config files).
    Rule("pipeline_core", frozenset(CDK | AWS_SDK | PROJECT_PACKAGES - {"pipeline_core"}),
         allowed=frozenset({"pipeline_core", "pydantic", "yaml"}), lazy_only=frozenset({"yaml"})),
    # The handlers ship in the Lambda asset, which holds no stacks/ and no forge/.
    Rule("lambda/forge_handlers", frozenset(CDK | {"stacks", "forge", "sagemaker_entry", "app"})),
    # The job code runs on SageMaker from the code channel (job_code/, pipeline_core/, the entry shims) and
    # in the Lambda asset (the pure modules). It calls no AWS API: no boto3 anywhere, today or later.
    Rule("job_code", frozenset(CDK | AWS_SDK | PROJECT_PACKAGES - {"job_code", "pipeline_core"})),
    # The pure job core runs in the Lambda asset and the CLI: no ML library, nothing of the ML jobs beside it.
    Rule("job_code/core",
         frozenset(CDK | AWS_SDK | ML_LIBRARIES | PROJECT_PACKAGES - {"job_code", "pipeline_core"}),
         confined_to=("job_code", "job_code.core")),
    Rule("sagemaker_entry", frozenset(CDK | AWS_SDK | PROJECT_PACKAGES - {"job_code", "sagemaker_entry"})),
    # The CDK app builds the stack; local mode and the handlers depend on it, never the other way round.
    Rule("stacks", frozenset({"forge", "forge_handlers"})),
)


def _imports(tree: ast.Module) -> list[tuple[str, int, bool]]:
    """(top-level name, line, at module level?) of every absolute import in ``tree``."""
    return [(module.split(".")[0], line, module_level) for module, line, module_level in _modules(tree)]


def _modules(tree: ast.Module, package: str = "") -> list[tuple[str, int, bool]]:
    """(dotted module, line, at module level?) of every import in ``tree``; ``from a import b`` counts as
    ``a.b`` (b may be a module). Relative imports resolve against ``package`` when given, else are skipped."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, not in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and (child.level == 0 or package):
                base = package.split(".")[: len(package.split(".")) - child.level + 1] if child.level else []
                module = ".".join([*base, *([child.module] if child.module else [])])
                if module:
                    found.extend((f"{module}.{alias.name}", child.lineno, not in_function)
                                 for alias in child.names)
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, nested)

    visit(tree, False)
    return found


def violations(project: Path, rules: tuple[Rule, ...] = RULES) -> list[str]:
    """``file:line: imports name (rule)`` for each import that breaks a rule; [] when all hold."""
    stdlib = set(sys.stdlib_module_names)
    problems = []
    for rule in rules:
        for path in sorted((project / rule.root).rglob("*.py")):
            relative = path.relative_to(project).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
            if rule.confined_to is not None:
                problems.extend(_outside_confinement(rule, relative, tree))
            for name, line, module_level in _imports(tree):
                if name in rule.forbidden:
                    problems.append(f"{relative}:{line}: imports {name} (forbidden in {rule.root}/)")
                elif rule.allowed is not None and name not in stdlib and name not in rule.allowed:
                    problems.append(f"{relative}:{line}: imports {name} (not among what {rule.root}/ may "
                                    f"import: the standard library, {', '.join(sorted(rule.allowed))})")
                elif name in rule.lazy_only and module_level:
                    problems.append(f"{relative}:{line}: imports {name} at module level (only inside a "
                                    f"function in {rule.root}/)")
    return problems


def _outside_confinement(rule: Rule, relative: str, tree: ast.Module) -> list[str]:
    package, subpackage = rule.confined_to
    own_package = ".".join(relative.split("/")[:-1])  # the package a relative import starts from
    problems = []
    for module, line, _ in _modules(tree, own_package):
        inside = module == subpackage or module.startswith(subpackage + ".")
        if module.split(".")[0] == package and module != package and not inside:
            problems.append(f"{relative}:{line}: imports {module} (only {subpackage} of {package} in "
                            f"{rule.root}/)")
    return problems


def test_every_part_keeps_its_import_rules() -> None:
    assert violations(PROJECT_ROOT) == []


def test_every_rule_covers_modules() -> None:
    """A renamed folder must not make a rule vacuous."""
    for rule in RULES:
        assert list((PROJECT_ROOT / rule.root).rglob("*.py")), rule.root


def _plant(root: Path, relative: str, source: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


def test_the_checker_catches_a_planted_forbidden_import(tmp_path: Path) -> None:
    _plant(tmp_path, "pipeline_core/ok.py", "import json\nfrom pydantic import BaseModel\n"
                                            "def read():\n    import yaml\n")
    _plant(tmp_path, "pipeline_core/cdk.py", "import json\nfrom aws_cdk import aws_s3\n")
    _plant(tmp_path, "pipeline_core/sub/aws.py", "def call():\n    import boto3.session\n")
    _plant(tmp_path, "pipeline_core/eager_yaml.py", "import yaml\n")
    _plant(tmp_path, "pipeline_core/numpy_user.py", "import numpy\n")
    _plant(tmp_path, "pipeline_core/back.py", "from typing import TYPE_CHECKING\n"
                                              "if TYPE_CHECKING:\n    from job_code import chat\n")
    _plant(tmp_path, "lambda/forge_handlers/h.py", "import boto3\nfrom stacks.settings import Settings\n")
    _plant(tmp_path, "job_code/j.py", "import torch\n\nclass A:\n    def f(self):\n        import botocore\n")
    _plant(tmp_path, "job_code/k.py", "from stacks import bundle\n")
    _plant(tmp_path, "sagemaker_entry/sft.py", "from job_code.sft import main\n")
    _plant(tmp_path, "stacks/s.py", "from aws_cdk import Stack\nimport forge.local\n")
    assert violations(tmp_path) == [
        "pipeline_core/back.py:3: imports job_code (forbidden in pipeline_core/)",
        "pipeline_core/cdk.py:2: imports aws_cdk (forbidden in pipeline_core/)",
        "pipeline_core/eager_yaml.py:1: imports yaml at module level (only inside a function in "
        "pipeline_core/)",
        "pipeline_core/numpy_user.py:1: imports numpy (not among what pipeline_core/ may import: the "
        "standard library, pipeline_core, pydantic, yaml)",
        "pipeline_core/sub/aws.py:2: imports boto3 (forbidden in pipeline_core/)",
        "lambda/forge_handlers/h.py:2: imports stacks (forbidden in lambda/forge_handlers/)",
        "job_code/j.py:5: imports botocore (forbidden in job_code/)",
        "job_code/k.py:1: imports stacks (forbidden in job_code/)",
        "stacks/s.py:2: imports forge (forbidden in stacks/)",
    ]


def test_the_checker_keeps_the_job_core_apart_from_the_ml_job_code(tmp_path: Path) -> None:
    _plant(tmp_path, "job_code/sft.py", "import torch\nfrom job_code.core import formats\n")
    _plant(tmp_path, "job_code/core/__init__.py", "")
    _plant(tmp_path, "job_code/core/ok.py", "import json\nimport job_code\nfrom job_code.core import labels\n"
                                            "from job_code.core.formats import Example\nfrom . import split\n"
                                            "from pipeline_core.layout import Layout\n")
    _plant(tmp_path, "job_code/core/lazy_torch.py", "def f():\n    import torch.nn\n")
    _plant(tmp_path, "job_code/core/hf.py", "from transformers import AutoTokenizer\nimport datasets\n")
    _plant(tmp_path, "job_code/core/ml_module.py", "from job_code.models import resolve_model_dir\n")
    _plant(tmp_path, "job_code/core/ml_name.py", "def f():\n    from job_code import sft\n")
    _plant(tmp_path, "job_code/core/sub/relative.py", "from ... import generation\nfrom .. import labels\n")
    assert violations(tmp_path) == [
        "job_code/core/hf.py:1: imports transformers (forbidden in job_code/core/)",
        "job_code/core/hf.py:2: imports datasets (forbidden in job_code/core/)",
        "job_code/core/lazy_torch.py:2: imports torch (forbidden in job_code/core/)",
        "job_code/core/ml_module.py:1: imports job_code.models.resolve_model_dir (only job_code.core of "
        "job_code in job_code/core/)",
        "job_code/core/ml_name.py:2: imports job_code.sft (only job_code.core of job_code in job_code/core/)",
        "job_code/core/sub/relative.py:1: imports job_code.generation (only job_code.core of job_code in "
        "job_code/core/)",
    ]


def _unresolved_project_imports(channel: Path) -> list[str]:
    """``file:line: name`` for each import of a project package the staged directory does not hold."""
    present = {path.stem if path.suffix == ".py" else path.name for path in channel.iterdir()}
    missing = []
    for path in sorted(channel.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, line, _ in _imports(tree):
            if name in PROJECT_PACKAGES and name not in present:
                missing.append(f"{path.relative_to(channel).as_posix()}:{line}: {name}")
    return missing


def test_the_code_channel_holds_every_project_package_its_modules_import(tmp_path: Path) -> None:
    """The jobs run with the code channel alone on sys.path (SageMaker; local mode's PYTHONPATH): each
    project import of its modules, lazy ones too, must resolve inside it."""
    from stacks.bundle import stage_code_channel

    assert _unresolved_project_imports(stage_code_channel(tmp_path / "code")) == []


def test_the_lambda_bundle_holds_every_project_package_its_modules_import(tmp_path: Path) -> None:
    from pipeline_core.settings import load_settings
    from stacks.bundle import stage_lambda_bundle

    settings = load_settings(PROJECT_ROOT / "config" / "local.yaml")
    assert _unresolved_project_imports(stage_lambda_bundle(settings, tmp_path / "bundle")) == []


def test_the_serving_code_in_a_model_holds_every_project_package_its_modules_import(tmp_path: Path) -> None:
    """The inference image runs code/inference.py from model.tar.gz with that code/ directory only."""
    from job_code.serving_code import add_serving_code

    assert _unresolved_project_imports(add_serving_code(tmp_path / "model")) == []


# The handlers' AWS layer (issue 13): boto3 and botocore only under lambda/forge_handlers/aws/ (the client
# seam and the S3 helpers), anywhere else in the handlers not even lazily; entry points and logic reach AWS
# through it. Enforceable as stated: no other handler module imports either today (errors.py reads a
# ClientError's code from its `response` attribute, without importing botocore).
HANDLERS_ROOT = "lambda/forge_handlers"
HANDLERS_AWS_LAYER = "lambda/forge_handlers/aws"


def aws_sdk_outside_the_aws_layer(project: Path) -> list[str]:
    """``file:line: imports name`` for each boto3/botocore import in the handlers outside their aws/ layer."""
    problems = []
    for path in sorted((project / HANDLERS_ROOT).rglob("*.py")):
        relative = path.relative_to(project).as_posix()
        if relative.startswith(f"{HANDLERS_AWS_LAYER}/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        problems += [f"{relative}:{line}: imports {name} (only {HANDLERS_AWS_LAYER}/ may)"
                     for name, line, _ in _imports(tree) if name in AWS_SDK]
    return problems


def test_only_the_handlers_aws_layer_imports_the_aws_sdk() -> None:
    assert list((PROJECT_ROOT / HANDLERS_AWS_LAYER).rglob("*.py")), HANDLERS_AWS_LAYER
    assert aws_sdk_outside_the_aws_layer(PROJECT_ROOT) == []


def test_the_aws_layer_check_catches_a_planted_import(tmp_path: Path) -> None:
    _plant(tmp_path, "lambda/forge_handlers/aws/clients.py", "import boto3\nfrom botocore import config\n")
    _plant(tmp_path, "lambda/forge_handlers/entry/poll.py", "def run():\n    import boto3\n")
    _plant(tmp_path, "lambda/forge_handlers/errors.py", "from botocore.exceptions import ClientError\n")
    assert aws_sdk_outside_the_aws_layer(tmp_path) == [
        "lambda/forge_handlers/entry/poll.py:2: imports boto3 (only lambda/forge_handlers/aws/ may)",
        "lambda/forge_handlers/errors.py:1: imports botocore (only lambda/forge_handlers/aws/ may)",
    ]
