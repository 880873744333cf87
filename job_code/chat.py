"""Chat rows in, prompts out: reading a channel's JSONL and the question-truncation policy.

Rows are the open-weights chat format ``{"id", "messages": [system, user, (assistant)], "label"}``.
Truncation policy (``max_query_tokens``): only the user's question is cut, to its first N tokens;
the system prompt and the answer are never cut, so the task definition and the target survive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from job_code.sm_contract import ChannelError
from pipeline_core.job_hyperparameters import HyperparameterError, labels_of


class ChatDataError(ValueError):
    """A chat JSONL row is malformed; the message names the file, row and field."""


@dataclass(frozen=True)
class ChatRow:
    id: str
    system: str | None
    question: str
    answer: str | None  # the assistant turn if present, else the label
    label: str | None


def channel_jsonl_files(channel: Path) -> list[Path]:
    files = [channel] if channel.is_file() else sorted(channel.glob("*.jsonl"))
    if not files:
        raise ChannelError(f"channel {channel} holds no *.jsonl file")
    return files


def _parse_row(raw: object, where: str) -> ChatRow:
    if not isinstance(raw, dict):
        raise ChatDataError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ChatDataError(f"{where}: field 'messages' must be a non-empty list")
    by_role: dict[str, str] = {}
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ChatDataError(f"{where}: messages[{index}] must be an object with a string 'content'")
        role = message.get("role")
        if role not in ("system", "user", "assistant"):
            raise ChatDataError(f"{where}: messages[{index}].role={role!r} is not system/user/assistant")
        by_role.setdefault(role, message["content"])
    if "user" not in by_role:
        raise ChatDataError(f"{where}: field 'messages' has no user turn")
    label = raw.get("label")
    if label is not None and not isinstance(label, str):
        raise ChatDataError(f"{where}: field 'label' must be a string, got {label!r}")
    return ChatRow(
        id=str(raw.get("id", where)),
        system=by_role.get("system"),
        question=by_role["user"],
        answer=by_role.get("assistant", label),
        label=label,
    )


def read_chat_rows(channel: Path, *, limit: int = 0) -> list[ChatRow]:
    """Read every *.jsonl file of a channel (sorted by name); `limit` > 0 keeps the first rows only."""
    rows: list[ChatRow] = []
    for path in channel_jsonl_files(channel):
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path.name} row {line_number}"
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ChatDataError(f"{where}: not valid JSON ({error.msg})") from None
                rows.append(_parse_row(raw, where))
                if limit and len(rows) >= limit:
                    return rows
    if not rows:
        raise ChatDataError(f"channel {channel} holds no rows")
    return rows


def truncate_question(tokenizer, question: str, max_query_tokens: int) -> str:
    """Cut the question to its first `max_query_tokens` tokens (no-op when it already fits)."""
    ids = tokenizer(question, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_query_tokens:
        return question
    return tokenizer.decode(ids[:max_query_tokens], skip_special_tokens=True)


def prompt_messages(row: ChatRow, tokenizer, max_query_tokens: int) -> list[dict[str, str]]:
    """The system + (truncated) user turns, ready for apply_chat_template(add_generation_prompt=True)."""
    messages = []
    if row.system:
        messages.append({"role": "system", "content": row.system})
    messages.append({"role": "user", "content": truncate_question(tokenizer, row.question, max_query_tokens)})
    return messages


def prompt_text(messages: list[dict[str, str]], tokenizer) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def labels_from_rows(rows: list[ChatRow]) -> list[str]:
    """The label set seen in the data, in first-seen order (used when no labels hyperparameter is given)."""
    seen: dict[str, None] = {}
    for row in rows:
        if row.label is not None:
            seen.setdefault(row.label, None)
    return list(seen)


def parse_labels_hyperparameter(value: str) -> list[str]:
    """`labels` as a JSON list ('["HQ","LQ_EDIT"]') or comma-separated ('HQ,LQ_EDIT'); '' → [].

    The parse is the settings' (pipeline_core.job_hyperparameters.labels_of); a job reports a bad value as
    the data error it is for the job."""
    try:
        return labels_of(value)
    except HyperparameterError as error:
        raise ChatDataError(str(error)) from None


LABELS_FILE = "forge_labels.json"


def save_labels(model_dir: Path, labels: list[str]) -> None:
    """Keep the label set beside a saved model, so serving can parse labels without extra config."""
    if labels:
        (model_dir / LABELS_FILE).write_text(json.dumps(labels), encoding="utf-8")


def load_labels(model_dir: Path) -> list[str]:
    path = model_dir / LABELS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
