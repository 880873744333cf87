"""IAM identity-based policy evaluation, pure Python: what AWS decides for one (action, resource, context).

Why not reuse something: moto 5.2's ``moto.iam.access_control.IAMPolicyStatement`` turns patterns into
unescaped regexes (``.`` in an ARN matches any character, ``?`` is not a wildcard), matches actions
case-sensitively, returns DENIED from an *Allow* statement whose condition does not hold (so one
conditional Allow blocks what another statement allows) and silently ignores every condition operator
but StringEquals. Kept PyPI libraries parse or lint policies (policyuniverse, parliament, policy-sentry)
but do not evaluate conditions; principalmapper is unmaintained since 2022. So this module implements
the documented logic (IAM User Guide: policy evaluation logic, condition operators, multivalued keys).

Supported: Allow/Deny (an explicit deny wins, then an allow, else the implicit deny); Action/NotAction
(case-insensitive ``*``/``?`` globs); Resource/NotResource (case-sensitive globs, an ARN matched per
colon-separated segment as IAM does); conditions String*, Arn*, Bool, Null, Numeric*, with the
``ForAnyValue:``/``ForAllValues:`` qualifiers and the ``IfExists`` suffix. Refused, loudly (never a
silent allow): any other operator, policy variables (``${...}``), a Principal element (not an identity
policy), a single-valued operator over a multivalued context value, malformed statements.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ContextValue = str | bool | int | float | Sequence[str]
Context = Mapping[str, ContextValue]


class PolicyError(ValueError):
    """A policy (or request context) this evaluator will not guess about; the message names it."""


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    statement: dict[str, Any] | None = None  # the deciding statement (the first Allow, or the Deny)

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    if "${" in pattern:
        raise PolicyError(f"policy variables are not supported: {pattern!r}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).match(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    """ARN patterns match segment by segment (a ``*`` never spans a colon of the first five)."""
    if pattern == "*":
        return True
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) == 6 and len(value_parts) == 6:
        return all(glob_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))
    if pattern.startswith("arn:") or value.startswith("arn:"):
        return False  # an ARN with fewer than six segments matches no ARN (IAM rejects it as invalid)
    return glob_match(pattern, value)


def _as_list(value: Any, what: str) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str | bool | int | float) for v in values):
        raise PolicyError(f"{what} must be a string or a non-empty list of strings, got {value!r}")
    return values


# -- conditions -----------------------------------------------------------------------------------------


def _string_equals(policy: str, value: str) -> bool:
    return policy == value


def _string_equals_ic(policy: str, value: str) -> bool:
    return policy.lower() == value.lower()


def _string_like(policy: str, value: str) -> bool:
    return glob_match(policy, value)


def _bool(policy: str, value: str) -> bool:
    return policy.lower() == value.lower()


def _numeric(compare: Any) -> Any:
    def match(policy: str, value: str) -> bool:
        try:
            return compare(float(value), float(policy))
        except ValueError:
            raise PolicyError(f"numeric condition on non-numbers: {value!r} vs {policy!r}") from None

    return match


# operator -> (value matcher, negated). A negated operator is true when the value matches no policy value.
OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ic, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ic, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    # IAM treats ArnEquals and ArnLike alike: per-segment, case-sensitive, wildcards allowed in both.
    "ArnEquals": (arn_match, False),
    "ArnLike": (arn_match, False),
    "ArnNotEquals": (arn_match, True),
    "ArnNotLike": (arn_match, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda v, p: v == p), False),
    "NumericNotEquals": (_numeric(lambda v, p: v == p), True),
    "NumericLessThan": (_numeric(lambda v, p: v < p), False),
    "NumericLessThanEquals": (_numeric(lambda v, p: v <= p), False),
    "NumericGreaterThan": (_numeric(lambda v, p: v > p), False),
    "NumericGreaterThanEquals": (_numeric(lambda v, p: v >= p), False),
}


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _lookup(context: Context, key: str) -> list[str] | str | None:
    """Context keys are case-insensitive; a list means a multivalued key."""
    wanted = key.lower()
    for name, value in context.items():
        if name.lower() == wanted:
            if isinstance(value, list | tuple):
                return [_text(v) for v in value]
            return _text(value)
    return None


def _parse_operator(name: str) -> tuple[str | None, str, bool]:
    qualifier = None
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if name.startswith(prefix):
            qualifier, name = prefix[:-1], name[len(prefix) :]
    if_exists = name.endswith("IfExists") and name != "IfExists"
    base = name[: -len("IfExists")] if if_exists else name
    if base not in OPERATORS and base != "Null":
        raise PolicyError(f"condition operator {name!r} is not supported by the local IAM evaluator")
    if base == "Null" and (if_exists or qualifier):
        raise PolicyError(f"condition operator {name!r}: Null takes no qualifier or IfExists")
    return qualifier, base, if_exists


def condition_holds(operator: str, key: str, policy_values: Any, context: Context) -> bool:
    qualifier, base, if_exists = _parse_operator(operator)
    expected = [_text(v) for v in _as_list(policy_values, f"condition {operator} {key}")]
    found = _lookup(context, key)
    if base == "Null":  # "true": the key must be absent; "false": present
        return any((found is None) == (value.lower() == "true") for value in expected)
    match, negated = OPERATORS[base]
    if qualifier is None:
        if found is None:
            return if_exists or negated
        if isinstance(found, list):
            raise PolicyError(
                f"{operator} on multivalued key {key!r}: use ForAnyValue:/ForAllValues: (IAM's result "
                "for a single-valued operator on a set is not something to rely on)"
            )
        hit = any(match(p, found) for p in expected)
        return not hit if negated else hit
    values = found if isinstance(found, list) else ([] if found is None else [found])

    def one(value: str) -> bool:
        hit = any(match(p, value) for p in expected)
        return not hit if negated else hit

    if qualifier == "ForAnyValue":
        return any(one(v) for v in values)  # an absent key or empty set: false
    return all(one(v) for v in values)  # ForAllValues: an absent key or empty set: true


def conditions_hold(conditions: Mapping[str, Any], context: Context) -> bool:
    """Operators AND together, keys within an operator AND, values within a key OR."""
    if not isinstance(conditions, Mapping):
        raise PolicyError(f"Condition must be an object, got {conditions!r}")
    for operator, keys in conditions.items():
        if not isinstance(keys, Mapping) or not keys:
            raise PolicyError(f"condition {operator} must map keys to values, got {keys!r}")
        for key, values in keys.items():
            if not condition_holds(operator, key, values, context):
                return False
    return True


# -- statements and policies ----------------------------------------------------------------------------


def statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement")
    if found is None:
        raise PolicyError(f"policy has no Statement: {policy!r}")
    return list(found) if isinstance(found, list) else [found]


def _element(statement: Mapping[str, Any], positive: str, negative: str) -> tuple[list[str], bool]:
    has_positive, has_negative = positive in statement, negative in statement
    if has_positive == has_negative:
        raise PolicyError(f"statement needs exactly one of {positive}/{negative}: {dict(statement)!r}")
    name = positive if has_positive else negative
    return [str(v) for v in _as_list(statement[name], name)], has_negative


def statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Context) -> bool:
    if "Principal" in statement or "NotPrincipal" in statement:
        raise PolicyError(f"identity-based policy statement with a Principal: {dict(statement)!r}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise PolicyError(f"statement Effect must be Allow or Deny: {dict(statement)!r}")
    actions, not_action = _element(statement, "Action", "NotAction")
    if any(glob_match(a, action, ignore_case=True) for a in actions) == not_action:
        return False
    resources, not_resource = _element(statement, "Resource", "NotResource")
    if any(arn_match(r, resource) for r in resources) == not_resource:
        return False
    return conditions_hold(statement.get("Condition") or {}, context)


def evaluate(
    policies: Iterable[Mapping[str, Any]], action: str, resource: str, context: Context | None = None
) -> Evaluation:
    """The decision of a principal's identity-based policies for one request.

    Every statement is evaluated (even after an Allow) so a malformed or unsupported one is never hidden.
    """
    context = context or {}
    allow: dict[str, Any] | None = None
    deny: dict[str, Any] | None = None
    for policy in policies:
        for statement in statements(policy):
            if statement_applies(statement, action, resource, context):
                if statement["Effect"] == "Deny":
                    deny = deny or dict(statement)
                else:
                    allow = allow or dict(statement)
    if deny is not None:
        return Evaluation(Decision.EXPLICIT_DENY, deny)
    if allow is not None:
        return Evaluation(Decision.ALLOW, allow)
    return Evaluation(Decision.IMPLICIT_DENY)
