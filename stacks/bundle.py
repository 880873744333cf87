"""Stage the asset directories: the Lambda bundle, and the SageMaker code channel of the open-weights jobs.

Lambda bundle: handler code, job code, the neutral core (pipeline_core: the settings model, the stage table,
the S3 layout) and settings.json. Nothing of stacks/ ships: the handlers and the jobs never import it.

No Docker: the handlers need only what the Lambda runtime and the Powertools layer provide (boto3,
pydantic, Powertools; stacks/lambda_runtime.py lists it). `pipeline_core.settings` imports PyYAML only to read
YAML configs, which the handlers never do. Local mode runs the handlers within that surface for this same
directory (forge/lambda_surface.py), so what runs offline is what CDK uploads.

A custom reward module (reward.module) is copied into both, as job_code.core.custom_reward.asset_path names
it, inside a package (``user_reward/__init__.py``): the built-in reward stays beside it. Without
reward.module neither directory changes.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from pipeline_core.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE_NAME = "settings.json"
# (source relative to the project root, destination inside the bundle)
_COPIED_TREES = (
    ("lambda/forge_handlers", "forge_handlers"), ("job_code", "job_code"), ("pipeline_core", "pipeline_core")
)
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")


# The SageMaker code channel (s3://<artifacts>/code/): the job_code package, the pipeline_core package it
# imports (the jobs' typed hyperparameters, Nova's reserved keywords) and the entry shims at its top level,
# because the training toolkit runs `python <sagemaker_program>` in the channel directory, which puts that
# directory (and only it) on sys.path. (source relative to the project root, destination).
CODE_CHANNEL_LAYOUT = (("job_code", "job_code"), ("pipeline_core", "pipeline_core"), ("sagemaker_entry", ""))
# What the job code imports beyond the PyTorch training image; pins come from pyproject.toml. The
# toolkit pip-installs requirements.txt from the code directory before it starts the entry point.
JOB_REQUIREMENTS = (
    "transformers", "peft", "trl", "accelerate", "datasets", "gguf", "pandas", "matplotlib",
    "rouge-score", "sacrebleu",
    # MLflow logging from the containers (job_code/tracking.py, the trainers' callback): the skinny client
    # and the plugin that resolves a SageMaker managed server's ARN (tracking.mlflow_arn) as a URI.
    "mlflow-skinny", "sagemaker-mlflow",
)
REQUIREMENTS_FILE_NAME = "requirements.txt"


class BundleError(RuntimeError):
    """The Lambda bundle cannot be staged (a source tree is missing)."""


def _fresh_copy_of_trees(dest_dir: str | Path, trees, what: str) -> Path:
    """Replace ``dest_dir`` with copies of the (source, target) trees of the project; return its path."""
    dest = Path(dest_dir).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for source, target in trees:
        source_path = PROJECT_ROOT / source
        if not source_path.is_dir():
            raise BundleError(f"{what} source {source}/ is missing under {PROJECT_ROOT}")
        shutil.copytree(source_path, dest / target, ignore=_IGNORED, dirs_exist_ok=True)
    return dest


def stage_reward_module(settings: Settings, dest: Path) -> Path | None:
    """Copy reward.module into ``dest`` where the reward Lambda and the GRPO job look for it."""
    from job_code.core.custom_reward import ASSET_DIR, asset_path

    module, source = settings.reward.module, settings.reward.source_path
    if module is None:
        return None
    if source is None or not source.is_file():
        raise BundleError(f"reward.module {module!r} was not resolved to a file: load the settings from the "
                          "config file (pipeline_core.settings.load_settings), which resolves it")
    target = dest / asset_path(module)
    target.parent.mkdir(parents=True, exist_ok=True)
    (dest / ASSET_DIR / "__init__.py").write_text("", encoding="utf-8")
    shutil.copyfile(source, target)
    return target


def _check_lambda_requirements(settings: Settings) -> None:
    """Nova scores in the reward Lambda, which installs nothing: a requirement must be on its surface."""
    from stacks import lambda_runtime

    if settings.model.family != "nova" or not settings.reward.requirements:
        return
    surface = lambda_runtime.allowed_distributions(settings.powertools_layer_version)
    missing = [r for r in settings.reward.requirements
               if lambda_runtime.normalize(r.partition("==")[0]) not in surface]
    if missing:
        raise BundleError(f"reward.requirements {missing}: the Nova reward Lambda has only the standard "
                          f"library, the runtime's boto3 and the Powertools layer "
                          f"({', '.join(sorted(surface))}); "
                          "it cannot install these")


def stage_lambda_bundle(settings: Settings, dest_dir: str | Path, *,
                        config_dir: str | Path | None = None) -> Path:
    """Write the bundle into ``dest_dir`` (replacing what was there) and return its path.

    The content depends only on the sources and the settings, so CDK's asset hash is stable. Nova: the
    metrics.modules files too (relative to ``config_dir``): the Poll handler runs them on Nova's eval output.
    """
    _check_lambda_requirements(settings)
    dest = _fresh_copy_of_trees(dest_dir, _COPIED_TREES, "Lambda bundle")
    stage_reward_module(settings, dest)
    (dest / SETTINGS_FILE_NAME).write_text(settings.to_json() + "\n", encoding="utf-8")
    if settings.model.family == "nova":
        stage_metric_modules(settings, dest, config_dir)
    return dest


def job_requirements(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> list[str]:
    """``name==version`` for each of JOB_REQUIREMENTS, as pinned in pyproject.toml."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    pins = {}
    for requirement in [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]:
        name, _, version = requirement.partition("==")
        pins[name.split("[")[0].strip().lower()] = f"{name.split('[')[0].strip()}=={version.strip()}"
    missing = [name for name in JOB_REQUIREMENTS if name not in pins]
    if missing:
        raise BundleError(f"pyproject.toml pins none of {missing}, which the job code needs on SageMaker")
    return [pins[name] for name in JOB_REQUIREMENTS]


def stage_code_channel(dest_dir: str | Path, settings: Settings | None = None, *,
                       config_dir: str | Path | None = None) -> Path:
    """Write the SageMaker code channel's content into ``dest_dir`` (replacing it) and return its path.

    The stack deploys this directory to s3://<artifacts>/code/ and local mode uploads the same directory.
    With ``settings``, their settings.json too: the job that opens a run's MLflow parent run logs them as
    its parameters (on AWS no other process has both the settings and MLflow); their reward.module
    (its reward.requirements appended to requirements.txt); and the metrics.modules files, found
    relative to ``config_dir`` (the config file's directory).
    """
    dest = _fresh_copy_of_trees(dest_dir, CODE_CHANNEL_LAYOUT, "code channel")
    requirements = job_requirements() + (list(settings.reward.requirements) if settings is not None else [])
    (dest / REQUIREMENTS_FILE_NAME).write_text("\n".join(requirements) + "\n", encoding="utf-8")
    if settings is not None:
        (dest / SETTINGS_FILE_NAME).write_text(settings.to_json() + "\n", encoding="utf-8")
        stage_reward_module(settings, dest)
        stage_metric_modules(settings, dest, config_dir)
    return dest


def stage_metric_modules(settings: Settings, dest: Path, config_dir: str | Path | None) -> list[Path]:
    """Copy the user's metric files into the code channel where the eval job's ``metrics_modules``
    hyperparameter names them (pipeline_core/settings_task.py channel_path)."""
    from pipeline_core.settings_task import module_sources

    try:
        sources = module_sources(settings, config_dir)
    except ValueError as error:
        raise BundleError(str(error)) from None
    copied = []
    for target, source in sources.items():
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        copied.append(Path(shutil.copyfile(source, dest / target)))
    return copied
