"""Ask a deployed endpoint one question, in the request shape the smoke test and serve.py share."""

from __future__ import annotations

import json
from typing import Any

from pipeline_core.settings import Settings

MAX_TOKENS = 32


class EndpointAnswerError(RuntimeError):
    """The endpoint answered something that is not the expected JSON."""


def build_request(question: str, system_prompt: str) -> dict[str, Any]:
    """The chat request: the experiment's system prompt, then the user's question; greedy decoding."""
    return {
        "messages": [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": question},
        ],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }


def ask(runtime: Any, endpoint_name: str, question: str, settings: Settings) -> str:
    """``runtime`` is a boto3 sagemaker-runtime client or the local stand-in."""
    response = runtime.invoke_endpoint(
        EndpointName=endpoint_name,
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps(build_request(question, settings.data.system_prompt)).encode(),
    )
    raw = response["Body"].read()
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError:
        raise EndpointAnswerError(f"endpoint {endpoint_name} answered non-JSON: {raw[:300]!r}") from None
    return answer_text(payload, endpoint_name)


def answer_text(payload: Any, endpoint_name: str) -> str:
    """serve.py answers {"text", "label"}; Nova's inference container answers a chat completion."""
    if isinstance(payload, dict) and "text" in payload:
        return str(payload["text"])
    try:
        return str(payload["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError):
        raise EndpointAnswerError(f"endpoint answer is not a chat completion: {str(payload)[:300]}") from None
