"""The SageMaker way of running our code: entry shims from the code channel alone, serving from the model.

`python -S` skips site-packages (and with it the editable install that maps `job_code` to the checkout),
so these runs see only what SageMaker would put on sys.path: the script's own directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from job_code import serve, serving_code
from pipeline_core.settings import CASE_STUDY_LABELS
from stacks.bundle import CODE_CHANNEL_LAYOUT, stage_code_channel

ENTRY_POINTS = ("evaluate.py", "sft.py", "rft.py")


def run_alone(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["SM_BASE_DIR"] = str(cwd)  # a --help must not touch /opt/ml
    return subprocess.run([sys.executable, "-S", str(script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def code_channel(tmp_path_factory) -> Path:
    """A copy of what the stack deploys to s3://<artifacts>/code/."""
    return stage_code_channel(tmp_path_factory.mktemp("channel") / "code")


def test_code_channel_layout(code_channel):
    assert dict(CODE_CHANNEL_LAYOUT) == {
        "job_code": "job_code", "pipeline_core": "pipeline_core", "sagemaker_entry": "",
    }
    assert (code_channel / "job_code" / "__init__.py").is_file()
    assert (code_channel / "pipeline_core" / "job_hyperparameters.py").is_file()  # the jobs import it
    for name in (*ENTRY_POINTS, "inference.py", "requirements.txt"):
        assert (code_channel / name).is_file(), name
    assert not list(code_channel.rglob("__pycache__"))
    requirements = (code_channel / "requirements.txt").read_text().split()
    assert any(line.startswith("transformers==") for line in requirements)
    assert not any(line.startswith("torch") for line in requirements)  # the image brings its own torch


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_shim_runs_from_the_code_channel_alone(code_channel, entry, tmp_path):
    result = run_alone(code_channel / entry, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and "--base_model" in result.stdout


def test_entry_shim_without_the_package_fails_like_before(code_channel, tmp_path):
    # The negative control: the old layout (the package's contents only) cannot import job_code.
    contents_only = tmp_path / "contents"
    shutil.copytree(code_channel / "job_code", contents_only)
    shutil.copyfile(code_channel / "sft.py", contents_only / "sft.py")
    result = run_alone(contents_only / "sft.py", "--help", cwd=tmp_path)
    assert result.returncode != 0
    assert "ModuleNotFoundError: No module named 'job_code'" in result.stderr


def test_add_serving_code_writes_an_importable_code_dir(tmp_path):
    code_dir = serving_code.add_serving_code(tmp_path / "model")
    assert code_dir == tmp_path / "model" / "code"
    assert (code_dir / "inference.py").read_text() == (serving_code.inference_shim()).read_text()
    assert (code_dir / "job_code" / "serve.py").is_file()
    assert not list(code_dir.rglob("__pycache__"))
    pins = (code_dir / "requirements.txt").read_text().split()
    import peft
    import transformers

    assert pins == [f"transformers=={transformers.__version__}", f"peft=={peft.__version__}"]
    result = run_alone(code_dir / "inference.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_inference_toolkit_functions_answer_like_the_http_server(tiny_model_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    (model_dir / "forge_labels.json").write_text(json.dumps(list(CASE_STUDY_LABELS)))
    serving_code.add_serving_code(model_dir)
    sys.path.insert(0, str(model_dir / "code"))
    try:
        import inference
    finally:
        sys.path.remove(str(model_dir / "code"))
        sys.modules.pop("inference", None)

    model = inference.model_fn(str(model_dir))
    assert model.labels == list(CASE_STUDY_LABELS)
    body = json.dumps({"messages": [{"role": "system", "content": "Answer HQ."},
                                    {"role": "user", "content": "a question"}],
                       "max_tokens": 4, "temperature": 0.0})
    invocation = inference.input_fn(body.encode(), "application/json; charset=utf-8")
    assert invocation.max_tokens == 4 and invocation.messages[1]["content"] == "a question"
    prediction = inference.predict_fn(invocation, model)
    assert set(prediction) == {"text", "label"} and isinstance(prediction["text"], str)
    payload, content_type = inference.output_fn(prediction, "application/json")
    assert content_type == "application/json" and json.loads(payload) == prediction
    # Same generation as POST /invocations: greedy decoding of the same prompt gives the same answer.
    assert serve.ChatModel.answer(model, invocation) == prediction


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"messages": []}', "application/json", "field 'messages' must be a non-empty list"),
        (b'{"messages": [{"role": "user", "content": "q"}], "max_tokens": 0}', "application/json",
         "field 'max_tokens'"),
        (b"a,b", "text/csv", "content type 'text/csv' is not supported"),
    ],
)
def test_input_fn_rejects_a_bad_request_naming_the_problem(body, content_type, message):
    with pytest.raises(serve.InvocationError, match=message):
        serve.input_fn(body, content_type)


def test_no_job_code_module_shadows_an_installed_module():
    """serve.py runs as a script, so job_code/ itself is first on sys.path: a module named like a library
    (job_code/packaging.py once was) replaces that library for transformers and the server cannot start."""
    import importlib.util

    job_code_dir = Path(serve.__file__).resolve().parent
    assert str(job_code_dir) not in sys.path
    names = sorted(path.stem for path in job_code_dir.glob("*.py") if path.stem != "__init__")
    shadowing = [name for name in names if name in sys.stdlib_module_names or importlib.util.find_spec(name)]
    assert shadowing == []
