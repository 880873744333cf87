"""ChatModel's side of the server limits on the tiny model: prompt tokens (and the model's context) and the
request timeout stopping a generation; the full server answers them as 400 and 504."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from job_code import serve


def invocation(content: str, max_tokens: int = 4) -> serve.Invocation:
    return serve.Invocation(messages=[{"role": "user", "content": content}], max_tokens=max_tokens,
                            temperature=0.0)


def test_a_prompt_over_the_token_limit_is_refused_naming_tokens_and_limit(tiny_model_dir):
    model = serve.load_chat_model(tiny_model_dir, max_prompt_tokens=20)
    assert model.prepare(invocation("short"))
    message = r"field 'messages' makes a prompt of \d+ tokens; the limit is 20 \(FORGE_SERVE_MAX_PROMPT"
    with pytest.raises(serve.InvocationError, match=message):
        model.prepare(invocation("word " * 200))


def test_the_model_context_caps_the_token_limit(tiny_model_dir):
    model = serve.load_chat_model(tiny_model_dir, max_prompt_tokens=100_000)
    assert model.context == 1024
    with pytest.raises(serve.InvocationError, match="context of 1024 tokens minus max_tokens 1000"):
        model.prepare(invocation("word " * 100, max_tokens=1000))


def test_a_generation_past_its_time_is_stopped_with_generation_timeout(tiny_model_dir):
    model = serve.load_chat_model(tiny_model_dir)
    request = invocation("why", max_tokens=64)
    assert set(model.answer(request)) == {"text", "label"}
    with pytest.raises(serve.GenerationTimeout, match="request timeout"):
        model.answer(request, max_seconds=1e-6)


def test_the_server_answers_a_prompt_over_the_token_limit_with_400(tiny_model_dir):
    limits = serve.ServeLimits(max_prompt_tokens=20, request_timeout_seconds=30)
    server = serve.build_server(tiny_model_dir, host="127.0.0.1", port=0, limits=limits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    body = json.dumps({"messages": [{"role": "user", "content": "word " * 200}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/invocations", data=body)
    try:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
        assert caught.value.code == 400 and "limit is 20" in json.loads(caught.value.read())["error"]
    finally:
        server.shutdown()
        server.server_close()
