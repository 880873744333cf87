"""What a candidate must beat besides its own baseline: the rates a model gets without reading the question.

A zero-shot baseline that names no label scores 0, so "better than the baseline" alone passes a model below
the rate of guessing. For label metrics on a classification eval set, two reference rates come from the
eval set's gold label counts alone:

- ``chance``: answering a label uniformly at random (expected accuracy 1/K);
- ``majority``: always answering the most frequent gold label.

Pure functions (stdlib only): the Gate Lambda, the report and the tests share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

# Metrics whose reference rates follow from the label counts: exact label match (accuracy; em and qem score
# the same answer text against the gold label) and macro-F1 over the labels.
MATCH_METRICS = frozenset({"accuracy", "em", "qem"})
RATE_METRICS = MATCH_METRICS | {"macro_f1"}


@dataclass(frozen=True)
class Comparison:
    """One rule of the gate: the candidate against one reference, by a required margin."""

    against: str  # "baseline" | "champion" | "chance" | "majority" | "floor"
    reference: float
    candidate: float
    required_gain: float

    @property
    def gain(self) -> float:
        return self.candidate - self.reference

    @property
    def passed(self) -> bool:
        # A rounding hair (0.3333 vs 1/3) must not decide: compare at the metrics' own precision.
        return round(self.gain, 9) >= round(self.required_gain, 9)

    def describe(self, metric: str) -> str:
        verdict = "beats" if self.passed else "does not beat"
        return (
            f"{metric} {self.candidate:.4f} {verdict} {self.against} {self.reference:.4f} "
            f"by the required {self.required_gain:+.4f} (gain {self.gain:+.4f})"
        )

    def to_record(self, metric: str) -> dict:
        return {**asdict(self), "gain": self.gain, "passed": self.passed, "reason": self.describe(metric)}


def class_counts(per_class: Mapping[str, Mapping[str, object]] | None) -> dict[str, int]:
    """Gold label counts of the eval set, from results.json's ``per_class`` (each with its ``support``)."""
    counts: dict[str, int] = {}
    for label, scores in (per_class or {}).items():
        support = scores.get("support") if isinstance(scores, Mapping) else None
        if isinstance(support, int) and not isinstance(support, bool) and support >= 0:
            counts[str(label)] = support
    return counts


def reference_rates(metric: str, counts: Mapping[str, int]) -> dict[str, float]:
    """``{"chance": r, "majority": r}`` of ``metric`` on an eval set with these gold label counts.

    Empty when the metric has no such rate (ROUGE, BLEU, token F1) or the counts are unknown.
    """
    total = sum(counts.values())
    labels = len(counts)
    if metric not in RATE_METRICS or total <= 0 or labels < 2:
        return {}
    shares = [count / total for count in counts.values()]
    top = max(shares)
    if metric in MATCH_METRICS:
        return {"chance": 1.0 / labels, "majority": top}
    # macro-F1. Uniform guessing: class c (share p) gets precision p and recall 1/K, F1 = 2p / (Kp + 1).
    chance = sum(2 * p / (labels * p + 1) for p in shares) / labels
    # Always the top class: precision p, recall 1 for it (F1 = 2p / (p + 1)); F1 0 for the others.
    majority = (2 * top / (top + 1)) / labels
    return {"chance": chance, "majority": majority}
