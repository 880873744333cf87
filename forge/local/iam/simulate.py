"""iam:SimulatePrincipalPolicy in local mode, answered by local mode's own policy evaluator.

moto 5.2 does not implement SimulatePrincipalPolicy. The evaluator that enforces every local call
(evaluator.py) over the synthesized template's policies is the better oracle anyway: what preflight is
told here is exactly what the run's calls will meet. Responses have the API's documented shape
(EvaluationResults of EvalActionName / EvalResourceName / EvalDecision, IsTruncated).
"""

from __future__ import annotations

from typing import Any

from forge.local.iam.evaluator import Decision, evaluate
from forge.local.iam.principals import Principals

DECISIONS = {Decision.ALLOW: "allowed", Decision.IMPLICIT_DENY: "implicitDeny",
             Decision.EXPLICIT_DENY: "explicitDeny"}


class LocalPolicySimulator:
    """The ``iam`` client the handlers get in local mode (only the operation preflight calls)."""

    def __init__(self, principals: Principals):
        self.principals = principals

    def simulate_principal_policy(self, *, PolicySourceArn: str, ActionNames: list[str],  # noqa: N803
                                  ResourceArns: list[str] | None = None,
                                  ContextEntries: list[dict[str, Any]] | None = None,
                                  **_: Any) -> dict[str, Any]:
        principal = self.principals.role(PolicySourceArn)  # PolicyError for a role not in the template
        context: dict[str, Any] = {
            "aws:PrincipalArn": principal.role_arn,
            "aws:PrincipalAccount": principal.account,
            "aws:RequestedRegion": self.principals.facts.region,
        }
        for entry in ContextEntries or []:
            values = entry.get("ContextKeyValues", [])
            context[entry["ContextKeyName"]] = values[0] if len(values) == 1 else values
        results = []
        for action in ActionNames:
            for resource in ResourceArns or ["*"]:
                outcome = evaluate(principal.policies, action, resource, context)
                results.append({"EvalActionName": action, "EvalResourceName": resource,
                                 "EvalDecision": DECISIONS[outcome.decision]})
        return {"EvaluationResults": results, "IsTruncated": False}
