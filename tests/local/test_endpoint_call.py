"""pipeline_core/endpoint.py: the one request and answer parser of the smoke test and `forge invoke`."""

from __future__ import annotations

import json

import pytest

from pipeline_core import endpoint


def test_the_request_is_the_chat_with_greedy_short_decoding():
    params = endpoint.invoke_params("ep", endpoint.question_messages("why?", "Be brief."))
    assert {k: v for k, v in params.items() if k != "Body"} == {
        "EndpointName": "ep", "ContentType": "application/json", "Accept": "application/json",
    }
    assert json.loads(params["Body"]) == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "why?"}],
        "max_tokens": endpoint.MAX_TOKENS,
        "temperature": 0,
    }


def test_each_family_answers_its_own_shape():
    assert endpoint.parse_answer(b'{"text": "HQ", "label": "HQ"}', "hf", "ep") == "HQ"
    chat = {"choices": [{"message": {"role": "assistant", "content": "LQ_EDIT"}}]}
    assert endpoint.parse_answer(json.dumps(chat).encode(), "nova", "ep") == "LQ_EDIT"


@pytest.mark.parametrize(
    ("raw", "family", "message"),
    [
        (b"<html>", "hf", "endpoint ep answered non-JSON: b'<html>'"),
        (b'{"label": "HQ"}', "hf", "the answer of endpoint ep lacks 'text'"),
        (b'{"text": "HQ"}', "nova", "the answer of endpoint ep is not a chat completion"),
    ],
)
def test_a_wrong_answer_is_an_error_naming_the_endpoint(raw, family, message):
    with pytest.raises(endpoint.EndpointAnswerError, match=message):
        endpoint.parse_answer(raw, family, "ep")
