"""Input records already in chat form: ``{"messages": [system?, user, assistant], "id"?: ...}``.

A JSONL (or Parquet) record with a ``messages`` field and none of the configured question column is a chat
record. ``flatten`` checks its turns and maps it onto column-style cells named by where they came from
(``messages[1].content``), so the row-level checks of job_code.core.validation (empty, over-long, not in the
label set, reserved keywords, ...) run unchanged and their findings name the message at fault.

One turn each: an optional system turn first, then one user turn, then one assistant turn (the answer);
multi-turn conversations are not a task this pipeline trains. Standard library only (Prepare Lambda).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from job_code.core.formats import ColumnMapping
from job_code.core.validation_report import Issue, excerpt

MESSAGES = "messages"
ROLES = ("system", "user", "assistant")


def is_chat_record(row: Mapping[str, Any], mapping: ColumnMapping) -> bool:
    return MESSAGES in row and mapping.query not in row


def _field(index: int, part: str = "") -> str:
    return f"{MESSAGES}[{index}]" + (f".{part}" if part else "")


def flatten(row: Mapping[str, Any], number: int,
            mapping: ColumnMapping) -> tuple[dict[str, Any] | None, ColumnMapping | None, list[Issue]]:
    """(cells, the mapping that reads them, issues) of one chat record; cells None when the turns are
    unusable (the issues say why)."""
    messages = row.get(MESSAGES)
    if not isinstance(messages, list) or not messages:
        kind = type(messages).__name__
        message = f"'{MESSAGES}' must be a non-empty list of turns, got {kind}"
        return None, None, [Issue("bad_messages", message, row=number, field=MESSAGES,
                                  excerpt=excerpt(messages))]
    issues: list[Issue] = []
    where: dict[str, int] = {}
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            issues.append(Issue("bad_message", f"{_field(index)} must be an object with 'role' and "
                                f"'content', got {type(message).__name__}", row=number, field=_field(index),
                                excerpt=excerpt(message)))
            continue
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            issues.append(Issue("unknown_role", f"{_field(index, 'role')} is {role!r}; expected one of "
                                f"{', '.join(ROLES)}", row=number, field=_field(index, "role"),
                                excerpt=excerpt(role)))
            continue
        if not isinstance(content, str):
            issues.append(Issue("non_string_content", f"{_field(index, 'content')} ({role}) must be "
                                f"text, got {type(content).__name__}", row=number,
                                field=_field(index, "content"), excerpt=excerpt(content)))
        if role in where:
            issues.append(Issue("repeated_turn", f"{_field(index)} is a second {role} turn; one system, user "
                                "and assistant turn each (multi-turn chats are not supported)", row=number,
                                field=_field(index, "role")))
            continue
        where[role] = index
    for role in ("user", "assistant"):
        if role not in where:
            issues.append(Issue(f"missing_{role}_turn", f"'{MESSAGES}' has no {role} turn"
                                + (" (the answer to learn)" if role == "assistant" else ""),
                                row=number, field=MESSAGES))
    order = [where[role] for role in ROLES if role in where]
    if not issues and order != sorted(order):
        issues.append(Issue("turn_order", f"'{MESSAGES}' turns must come as system (optional), user, "
                            "assistant", row=number, field=MESSAGES))
    if issues:
        return None, None, issues
    cells = {_field(index, "content"): messages[index]["content"] for index in where.values()}
    row_mapping = ColumnMapping(
        query=_field(where["user"], "content"),
        label=_field(where["assistant"], "content"),
        system=_field(where["system"], "content") if "system" in where else None,
        id=mapping.id,
    )
    if mapping.id and mapping.id in row:
        cells[mapping.id] = row[mapping.id]
    return cells, row_mapping, []
