"""Nova's reserved keywords, one rule of its dataset validator: the settings check the system prompt and the
labels with it (at synth), Prepare and the dataset checks every message (job_code.core.validation,
job_code.core.dataset_checks). Standard library only."""

from __future__ import annotations

# Nova's reserved keywords: a message containing one fails the training job. The list and its
# case-sensitive match are the Nova Forge SDK's dataset validator's (amzn-nova-forge, checked 2026-12):
# "user:" in a question is fine, "User:" is not.
NOVA_RESERVED_KEYWORDS = (
    "System:", "SYSTEM:", "User:", "USER:", "Bot:", "BOT:", "Assistant:", "ASSISTANT:", "Thought:",
    "[EOS]", "<image>", "<video>", "<unk>",
)


def reserved_keywords_in(text: str) -> list[str]:
    """Nova's reserved keywords found in ``text``, matched case-sensitively as Nova does."""
    return [keyword for keyword in NOVA_RESERVED_KEYWORDS if keyword in text]
