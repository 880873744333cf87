"""Issue 16: the synthesized reward Lambda of a config with reward.module, invoked within Lambda's import
surface (forge/lambda_surface.py), runs the user's ``score`` on the Nova contract and answers the shape the
RFT container accepts (job_code.core.reward.output_problems)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import boto3

from forge.moto_lambda import run_lambdas_in_process
from job_code.core.reward import MODULE_FILE_ENV, output_problems
from stacks.handlers import TASK_ROOT
from tests.e2e_moto.conftest import FAST, _pipeline
from tests.e2e_moto.harness import REGION
from tests.e2e_moto.test_pipeline_e2e import _input
from tests.synth_helpers import synth

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "generation" / "reward.py"
NOVA = {**FAST, "split": {"sft": 94, "eval": 6, "rft": 6}, "deploy": {"instance_type": "ml.g6.48xlarge"}}


def _stack(tmp_path: Path, reward_text: str) -> dict:
    (tmp_path / "reward.py").write_text(reward_text, encoding="utf-8")
    return synth("nova", tmp_path, {**NOVA, "reward": {"module": "reward.py"}})


def _reward_environment(template: dict) -> dict[str, str]:
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        is_function = resource["Type"] == "AWS::Lambda::Function"
        if is_function and str(props.get("FunctionName")).endswith("-reward-SageMaker"):
            return props["Environment"]["Variables"]
    raise AssertionError("no reward function in the template")


@contextlib.contextmanager
def _invoking(stack: dict):
    """The stack in moto; yields invoke(samples) -> (response, payload) for the reward function, with the
    function's own REWARD_MODULE_FILE mapped from the task root onto the asset (as forge/local/cfn.py)."""
    generator = _pipeline(stack, "nova")
    pipeline = next(generator)
    try:
        variable = _reward_environment(stack["template"])[MODULE_FILE_ENV]
        assert variable.startswith(f"{TASK_ROOT}/")
        os.environ[MODULE_FILE_ENV] = str(pipeline.asset_dir / variable.removeprefix(f"{TASK_ROOT}/"))
        name = next(n for n, h in pipeline._handlers.items() if h == "job_code.core.reward.lambda_handler")

        def invoke(samples: list[dict]) -> tuple[dict, object]:
            with run_lambdas_in_process(pipeline.resolve, runtime=pipeline.lambda_runtime):
                response = boto3.client("lambda", region_name=REGION).invoke(
                    FunctionName=name, Payload=json.dumps(samples).encode())
            return response, json.loads(response["Payload"].read())

        invoke.pipeline = pipeline
        yield invoke
    finally:
        os.environ.pop(MODULE_FILE_ENV, None)  # close() does not run _pipeline's restore after its yield
        generator.close()


def _sample(sample_id: str, completion: str, reference: str) -> dict:
    return {"id": sample_id, "reference_answer": reference,
            "messages": [{"role": "system", "content": "Answer with the number."},
                         {"role": "user", "content": "How many legs has a spider?"},
                         {"role": "assistant", "content": completion}]}


def test_the_reward_lambda_runs_the_users_score_on_the_nova_contract(tmp_path) -> None:
    stack = _stack(tmp_path, EXAMPLE.read_text(encoding="utf-8"))
    staged = next(stack["assembly_dir"].glob("lambda-bundle/*/settings.json")).parent
    assert (staged / "user_reward" / "reward.py").read_text() == EXAMPLE.read_text()
    samples = [_sample("q1#gold", "8", "8"), _sample("q1#wrong", "6", "8"), _sample("q1#empty", "", "8")]
    with _invoking(stack) as invoke:
        response, payload = invoke(samples)
    assert "FunctionError" not in response, payload
    assert output_problems(samples, payload) == []
    assert [(o["id"], o["aggregate_reward_score"]) for o in payload] == [
        ("q1#gold", 1.5), ("q1#wrong", 0.0), ("q1#empty", 0.0)]
    assert {m["name"] for m in payload[0]["metrics_list"]} == {"token_f1", "number_match", "length_penalty"}


def test_an_undeclared_import_in_the_reward_fails_as_in_lambda(tmp_path) -> None:
    """The dev venv has numpy; the reward Lambda does not: the guard refuses the user's import."""
    text = "import numpy\n\n\ndef score(completion, reference, row):\n    return 1.0\n"
    with _invoking(_stack(tmp_path, text)) as invoke:
        response, payload = invoke([_sample("q1#gold", "8", "8")])
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "CustomRewardError"
    assert payload["errorMessage"] == ("reward.py: importing it raised ModuleNotFoundError: "
                                       "No module named 'numpy'")


def test_a_reward_returning_a_string_fails_naming_file_and_sample(tmp_path) -> None:
    text = "def score(completion, reference, row):\n    return 'eight'\n"
    with _invoking(_stack(tmp_path, text)) as invoke:
        response, payload = invoke([_sample("q1#gold", "8", "8")])
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorMessage"].startswith("reward.py: score returned a str 'eight'")
    assert "(sample 'q1#gold')" in payload["errorMessage"]


def test_preflight_rejects_a_constant_custom_reward_naming_the_file(tmp_path) -> None:
    """The whole Nova pipeline: Preflight calls the reward Lambda (the user's score) on sample rollouts of
    the prepared RFT data and fails before any job starts."""
    text = "def score(completion, reference, row):\n    return {'total': 0.25, 'seen': 1.0}\n"
    with _invoking(_stack(tmp_path, text)) as invoke:
        (result,) = invoke.pipeline.run(_input(invoke.pipeline, rows=120))
        jobs = invoke.pipeline.sagemaker.created_jobs()
    assert result.status == "FAILED" and result.error == "PreflightError", result.cause
    assert "(reward.module reward.py) gives every completion of prompt" in result.cause
    assert "the same reward 0.25" in result.cause
    assert jobs == []
