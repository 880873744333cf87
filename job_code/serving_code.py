"""Serving code inside the model: what the SageMaker PyTorch inference image needs in model.tar.gz.

The deploy handler sets SAGEMAKER_PROGRAM=inference.py and SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code,
so ``<model_dir>/code/`` gets the inference shim, the ``job_code`` and ``pipeline_core`` packages it imports,
and a requirements.txt (the inference toolkit pip-installs it) pinning the libraries this job ran with.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

CODE_DIR_NAME = "code"
INFERENCE_SHIM = "inference.py"
SERVING_LIBRARIES = ("transformers", "peft")
PACKAGE_DIR = Path(__file__).resolve().parent
# The packages the serving code imports: pipeline_core sits beside job_code in the code channel and in a
# checkout alike.
PACKAGE_DIRS = (PACKAGE_DIR, PACKAGE_DIR.parent / "pipeline_core")
# In the training container the shims sit beside job_code/ (the code channel); in a checkout, in
# sagemaker_entry/ (stacks.bundle.CODE_CHANNEL_LAYOUT maps one onto the other).
SHIM_LOCATIONS = (
    PACKAGE_DIR.parent / INFERENCE_SHIM,
    PACKAGE_DIR.parent / "sagemaker_entry" / INFERENCE_SHIM,
)


class PackagingError(RuntimeError):
    """The serving code cannot be added to the model (the shim or a library is missing)."""


def inference_shim() -> Path:
    for candidate in SHIM_LOCATIONS:
        if candidate.is_file():
            return candidate
    raise PackagingError(f"inference shim {INFERENCE_SHIM} not found at {[str(p) for p in SHIM_LOCATIONS]}")


def serving_requirements() -> list[str]:
    pins = []
    for library in SERVING_LIBRARIES:
        try:
            pins.append(f"{library}=={metadata.version(library)}")
        except metadata.PackageNotFoundError:
            raise PackagingError(f"{library} is not installed; cannot pin it for serving") from None
    return pins


def add_serving_code(model_dir: str | Path) -> Path:
    """Write ``<model_dir>/code/`` (shim + job_code and pipeline_core + requirements.txt) and return it."""
    code_dir = Path(model_dir) / CODE_DIR_NAME
    if code_dir.exists():
        shutil.rmtree(code_dir)
    code_dir.mkdir(parents=True)
    shutil.copyfile(inference_shim(), code_dir / INFERENCE_SHIM)
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGE_DIRS:
        shutil.copytree(package, code_dir / package.name, ignore=ignored)
    (code_dir / "requirements.txt").write_text("\n".join(serving_requirements()) + "\n", encoding="utf-8")
    return code_dir
