"""One call to a deployed endpoint: the request serve.py (and Nova's container) take, and the answer parsed.

Shared by the smoke-test handler, local mode's ``invoke`` and ``forge ask`` (local run or AWS stack), so
that all of them ask the same way. ``runtime`` is a boto3 ``sagemaker-runtime`` client or local mode's
stand-in: this module only calls its ``invoke_endpoint`` (no boto3 here).
"""

from __future__ import annotations

import json
from typing import Any

MAX_TOKENS = 32  # a label is a few tokens; greedy decoding (temperature 0) makes the answer repeatable


class EndpointAnswerError(RuntimeError):
    """The endpoint answered something that is not the expected JSON; the message names the endpoint."""


def question_messages(question: str, system_prompt: str) -> list[dict[str, str]]:
    """The chat of one question: the run's system prompt, then the user's question."""
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]


def request_body(messages: list[dict[str, str]]) -> bytes:
    return json.dumps({"messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0}).encode()


def invoke_params(endpoint_name: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    """The keyword arguments of ``sagemaker-runtime`` ``invoke_endpoint`` for one chat."""
    return {
        "EndpointName": endpoint_name,
        "ContentType": "application/json",
        "Accept": "application/json",
        "Body": request_body(messages),
    }


def answer_text(payload: Any, family: str, endpoint_name: str) -> str:
    """serve.py (family "hf") answers {"text", "label"}; Nova's inference container a chat completion."""
    if family == "hf":
        if not isinstance(payload, dict) or "text" not in payload:
            raise EndpointAnswerError(
                f"the answer of endpoint {endpoint_name} lacks 'text': {str(payload)[:300]}"
            )
        return str(payload["text"])
    try:
        return str(payload["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError):
        raise EndpointAnswerError(
            f"the answer of endpoint {endpoint_name} is not a chat completion: {str(payload)[:300]}"
        ) from None


def parse_answer(raw: bytes, family: str, endpoint_name: str) -> str:
    """The answer text of a raw response body."""
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError:
        raise EndpointAnswerError(f"endpoint {endpoint_name} answered non-JSON: {raw[:300]!r}") from None
    return answer_text(payload, family, endpoint_name)


def invoke(runtime: Any, endpoint_name: str, messages: list[dict[str, str]], family: str) -> str:
    """Ask the endpoint; the answer's text. Errors of the call itself propagate as the client raises them."""
    response = runtime.invoke_endpoint(**invoke_params(endpoint_name, messages))
    return parse_answer(response["Body"].read(), family, endpoint_name)
