"""One call to the deployed endpoint with an eval sample; the answer's label must parse (generation: the
answer must not be empty)."""

from __future__ import annotations

import json
from typing import Any

from forge_handlers.aws import clients, s3io
from forge_handlers.errors import ArtifactMissingError, SmokeTestError, translate_client_error
from job_code.core.formats import jsonl_lines
from pipeline_core import endpoint
from pipeline_core.settings import Settings
from pipeline_core.settings_task import task_labels


def first_eval_sample(settings: Settings, eval_uri: str) -> tuple[list[dict[str, str]], str]:
    """(prompt messages, expected answer) of the first eval row, in either family's format: its label, or
    for task.kind generation (no label field) the reference answer of its assistant turn."""
    body = s3io.get_bytes(eval_uri, what="eval dataset").decode("utf-8")
    line = next((line for line in jsonl_lines(body) if line.strip()), None)
    if line is None:
        raise ArtifactMissingError(f"eval dataset {eval_uri} is empty")
    row = json.loads(line)
    if "messages" in row:  # open-weights chat format
        messages = [m for m in row["messages"] if m.get("role") in ("system", "user")]
        reference = next((m.get("content") for m in row["messages"] if m.get("role") == "assistant"), "")
        return messages, str(row.get("label") or reference or "")
    messages = [{"role": "user", "content": row["query"]}]  # Nova gen_qa
    system = row.get("system") or settings.data.system_prompt
    return [{"role": "system", "content": system}, *messages], str(row.get("response", ""))


def smoke(settings: Settings, run: dict[str, Any], endpoint_name: str) -> dict[str, Any]:
    from job_code.core.labels import parse_label

    eval_uri = (run.get("datasets") or {}).get("eval")
    if not eval_uri:
        raise ArtifactMissingError("run has no eval dataset to take a smoke-test sample from")
    messages, expected = first_eval_sample(settings, eval_uri)
    # The call stays here, through the client seam: the IAM derivation (tests/handlers/api_calls.py) sees it.
    params = endpoint.invoke_params(endpoint_name, messages)
    try:
        response = clients.sagemaker_runtime().invoke_endpoint(**params)
    except Exception as error:
        translated = translate_client_error(error)
        if translated is error:
            raise SmokeTestError(f"invoking {endpoint_name} failed: {error}") from error
        raise translated from error
    try:
        text = endpoint.parse_answer(response["Body"].read(), settings.model.family, endpoint_name)
    except endpoint.EndpointAnswerError as error:
        raise SmokeTestError(str(error)) from None
    labels = task_labels(settings)
    if not labels:  # task.kind generation: any non-empty answer is well-formed
        if not text.strip():
            raise SmokeTestError(f"endpoint {endpoint_name} answered an empty text")
        label = None
    elif (label := parse_label(text, labels)) is None:
        raise SmokeTestError(
            f"endpoint {endpoint_name} answered {text[:200]!r}: "
            f"no single label of {settings.data.labels} in it"
        )
    question = next((m["content"] for m in messages if m["role"] == "user"), "")
    return {"question": question[:500], "answer": text[:500], "label": label, "expected": expected}
