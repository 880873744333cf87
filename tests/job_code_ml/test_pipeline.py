"""evaluate → sft → evaluate → rft → evaluate → serve on the tiny model, as the pipeline chains them."""

from __future__ import annotations

import json
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from job_code import evaluate, rft, serve, sft
from job_code.models import load_model_and_tokenizer

pytestmark = pytest.mark.slow

EVAL_FILES = ("inference_output.jsonl", "results.json", "confusion_matrix.png", "response_lengths.png")
EVAL_ARGS = ["--max_new_tokens", "6", "--batch_size", "8", "--max_query_tokens", "32"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_model_dir, chat_channel, job_runner) -> dict[str, Path]:
    """Run every stage once; each test then checks one stage's outputs."""
    root = tmp_path_factory.mktemp("pipeline")
    base_model = ["--base_model", str(tiny_model_dir)]
    codes = {}
    codes["baseline_eval"] = job_runner(
        evaluate.main, root / "baseline_eval", {"eval": chat_channel}, base_model + EVAL_ARGS
    )
    codes["sft"] = job_runner(
        sft.main, root / "sft", {"train": chat_channel},
        base_model + ["--max_steps", "16", "--learning_rate", "3e-3", "--per_device_batch_size", "4",
                      "--logging_steps", "2", "--save_steps", "8", "--max_query_tokens", "32"],
    )
    codes["eval_sft"] = job_runner(
        evaluate.main, root / "eval_sft", {"eval": chat_channel, "model": root / "sft" / "model"},
        EVAL_ARGS + ["--stage", "eval_sft"],
    )
    codes["rft"] = job_runner(
        rft.main, root / "rft", {"train": chat_channel, "model": root / "sft" / "model"},
        ["--max_steps", "2", "--num_generations", "2", "--prompts_per_step", "2", "--max_completion_length",
         "4", "--beta", "0", "--learning_rate", "1e-3", "--max_query_tokens", "32"],
    )
    # The next stage gets the model as SageMaker hands over job output: a model.tar.gz in the channel.
    archive_dir = root / "rft-archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "model.tar.gz", "w:gz") as tar:
        for path in (root / "rft" / "model").iterdir():
            tar.add(path, arcname=path.name)
    codes["eval_rft"] = job_runner(
        evaluate.main, root / "eval_rft", {"eval": chat_channel, "model": archive_dir},
        EVAL_ARGS + ["--stage", "eval_rft"],
    )
    failures = {
        stage: (root / stage / "output" / "failure").read_text() for stage, code in codes.items() if code != 0
    }
    assert not failures, failures
    return {stage: root / stage for stage in codes}


@pytest.mark.parametrize("stage", ["baseline_eval", "eval_sft", "eval_rft"])
def test_evaluation_writes_outputs_and_metric_keys(pipeline, stage):
    out = pipeline[stage] / "output" / "data"
    for name in EVAL_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    flat = results["results"]["all"]
    for key in ("em", "qem", "f1", "f1_score_quasi", "rouge1", "rougeL", "bleu", "accuracy", "macro_f1"):
        assert 0.0 <= flat[key] <= (100.0 if key == "bleu" else 1.0), key
        assert f"{key}_stderr" in flat or key == "macro_f1"
    assert results["num_samples"] == 24
    assert results["confusion_matrix"]["rows"] == ["HQ", "LQ_EDIT", "LQ_CLOSE"]
    assert sum(map(sum, results["confusion_matrix"]["counts"])) == 24
    # The metrics travel with the job's model output too.
    assert json.loads((pipeline[stage] / "model" / "eval" / "results.json").read_text()) == results
    records = [json.loads(line) for line in (out / "inference_output.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [f"row-{i}" for i in range(24)]
    assert records[0]["gold"] == "HQ" and records[0]["prompt"].endswith("<|im_start|>assistant\n")
    assert all(isinstance(r["inference"], str) for r in records)
    assert all(r["label"] in (None, "HQ", "LQ_EDIT", "LQ_CLOSE") for r in records)


def test_sft_lowers_the_loss_and_writes_checkpoints(pipeline):
    metrics = json.loads((pipeline["sft"] / "output" / "data" / "train_metrics.json").read_text())
    assert metrics["steps"] == 16
    assert metrics["last_loss"] < metrics["first_loss"] * 0.9, metrics["losses"]
    assert (pipeline["sft"] / "checkpoints" / "checkpoint-16" / "trainer_state.json").is_file()


@pytest.mark.parametrize("stage", ["sft", "rft"])
def test_training_saves_a_merged_model_that_loads(pipeline, stage):
    model_dir = pipeline[stage] / "model"
    assert (model_dir / "config.json").is_file()
    assert not (model_dir / "adapter_config.json").exists()  # adapters were merged, not saved beside
    assert json.loads((model_dir / "forge_labels.json").read_text()) == ["HQ", "LQ_EDIT", "LQ_CLOSE"]
    model, tokenizer = load_model_and_tokenizer(model_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert tokenizer.chat_template


def test_rft_logs_rewards(pipeline):
    metrics = json.loads((pipeline["rft"] / "output" / "data" / "train_metrics.json").read_text())
    assert metrics["steps"] == 2 and len(metrics["rewards"]) == 2
    assert all(-1.0 <= reward <= 1.5 for reward in metrics["rewards"])
    # Issue 17: 2 steps of 2 prompts from a shuffled epoch of the 24 rows: 4 distinct prompts seen.
    rft_facts = metrics["rft"]
    assert (rft_facts["prompts_seen"], rft_facts["prompts_available"]) == (4, 24)
    assert rft_facts["prompt_selection"] == "random" and "selection" not in rft_facts
    assert rft_facts["groups"] == 4 and 0 <= rft_facts["zero_variance_groups"] <= 4


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_answers_chat_requests(pipeline):
    server = serve.build_server(pipeline["sft"] / "model", host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=10) as response:
            assert response.status == 200
        messages = [{"role": "system", "content": "Classify."}, {"role": "user", "content": "why hq"}]
        body = {"messages": messages, "max_tokens": 4, "temperature": 0}
        status, answer = _post(f"{url}/invocations", json.dumps(body).encode())
        assert status == 200
        assert set(answer) == {"text", "label"} and isinstance(answer["text"], str)
        assert answer["label"] in (None, "HQ", "LQ_EDIT", "LQ_CLOSE")
        status, error = _post(f"{url}/invocations", json.dumps({"messages": [], "max_tokens": 4}).encode())
        assert status == 400 and "messages" in error["error"]
        status, error = _post(f"{url}/invocations", b"{not json")
        assert status == 400 and "not valid JSON" in error["error"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("stage", ["baseline_eval", "sft", "rft", "eval_rft"])
def test_every_job_records_its_peak_memory_and_time(pipeline, stage):
    usage = json.loads((pipeline[stage] / "output" / "data" / "job_resources.json").read_text())
    assert usage["peak_rss_mb"] > 50 and usage["job_seconds"] > 0


def test_lora_in_the_top_layers_only(tiny_model_dir):
    from peft import get_peft_model

    from job_code.training import lora_config
    from pipeline_core.job_hyperparameters import HyperparameterError

    model, _ = load_model_and_tokenizer(tiny_model_dir)
    layers = model.config.num_hidden_layers
    peft_model = get_peft_model(model, lora_config(4, 8, 0.0, "all-linear", top_layers=1, model=model))
    adapted = {name.split(".layers.")[1].split(".")[0] for name, _ in peft_model.named_parameters()
               if "lora_A" in name}
    assert adapted == {str(layers - 1)}
    with pytest.raises(HyperparameterError, match=f"lora_layers={layers + 1} exceeds"):
        lora_config(4, 8, 0.0, "all-linear", top_layers=layers + 1, model=model)
