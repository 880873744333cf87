"""Issue 11, defect 9: Nova's 13 reserved keywords, matched case-sensitively, in rows and in the settings."""

from __future__ import annotations

import pytest

from pipeline_core.nova_keywords import reserved_keywords_in
from pipeline_core.settings import ConfigError, parse_settings

NOVA = {"family": "nova", "base_model": "nova-lite-2/prod", "model_type": "amazon.nova-2-lite-v1:0:256k"}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("what does Thought: mean", ["Thought:"]),
        ("a token <unk> here", ["<unk>"]),
        ("SYSTEM: reboot", ["SYSTEM:"]),
        ("USER: hi", ["USER:"]),
        ("BOT: hi", ["BOT:"]),
        ("ASSISTANT: hi", ["ASSISTANT:"]),
        ("User: hi", ["User:"]),
        ("the end [EOS]", ["[EOS]"]),
        ("<image> and <video>", ["<image>", "<video>"]),
        # Case-sensitive, as Nova's validator: lowercase forms are ordinary text.
        ("ask the user: what now", []),
        ("thought: maybe", []),
        ("assistant: x, system: y, bot: z", []),
        ("<UNK> [eos]", []),
    ],
)
def test_reserved_keywords_table(text: str, found: list[str]) -> None:
    assert reserved_keywords_in(text) == found


@pytest.mark.parametrize("prompt", ["Classify it.\nUser: the question follows", "Thought: think first"])
def test_nova_system_prompt_with_a_reserved_keyword_is_a_config_error(prompt: str) -> None:
    with pytest.raises(ConfigError, match=r"data\.system_prompt.*reserved keyword"):
        parse_settings({"model": NOVA, "data": {"system_prompt": prompt}})


def test_hf_system_prompt_may_say_user() -> None:
    parse_settings({"model": {"family": "hf", "base_model": "x"}, "data": {"system_prompt": "User: hi"}})


def test_nova_empty_system_prompt_invalidates_rft() -> None:
    with pytest.raises(ConfigError, match=r"data\.system_prompt is empty.*RFT"):
        parse_settings({"model": NOVA, "data": {"system_prompt": ""}})
    parse_settings({"model": NOVA, "data": {"system_prompt": ""}, "stages": {"rft": {"enabled": False}}})


def test_nova_label_with_a_reserved_keyword_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"data\.labels"):
        parse_settings({"model": NOVA, "data": {"labels": ["[EOS]", "HAM"]}})
