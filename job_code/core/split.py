"""Deterministic stratified split into SFT / eval / RFT sets.

The seed's preset is 3,500 SFT, 500 eval and 700 new RFT rows, with the RFT set = the 700 new rows
plus the SFT rows. Every split keeps the label proportions of the input (largest-remainder rounding),
and the same input + seed always gives the same split. Exact duplicate questions are dropped first
(the first occurrence is kept), so the eval set can never leak into training.

Standard library only: this module runs inside the prepare Lambda.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from job_code.core.formats import Example


class SplitError(ValueError):
    """Not enough data for the requested split sizes; the message says what each split needs."""


@dataclass(frozen=True, slots=True)
class Splits:
    sft: list[Example]
    eval: list[Example]
    rft_new: list[Example]
    rft: list[Example]
    dropped_duplicates: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "sft": len(self.sft),
            "eval": len(self.eval),
            "rft_new": len(self.rft_new),
            "rft": len(self.rft),
            "dropped_duplicates": self.dropped_duplicates,
        }


def _largest_remainder(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Integer shares of ``total`` proportional to ``weights``, summing exactly to ``total``."""
    weight_sum = sum(weights.values())
    if total == 0 or weight_sum == 0:
        return {key: 0 for key in weights}
    exact = {key: total * weight / weight_sum for key, weight in weights.items()}
    shares = {key: int(value) for key, value in exact.items()}
    missing = total - sum(shares.values())
    # Ties broken by key so the result never depends on dict order.
    for key in sorted(exact, key=lambda k: (-(exact[k] - shares[k]), k))[:missing]:
        shares[key] += 1
    return shares


def deduplicate(examples: Sequence[Example]) -> tuple[list[Example], int]:
    """Drop repeated questions (whitespace- and case-insensitive), keeping the first."""
    seen: set[bytes] = set()  # 16-byte digests: a copy of every question would double Prepare's memory
    kept = []
    for example in examples:
        key = hashlib.blake2b(" ".join(example.query.lower().split()).encode(), digest_size=16).digest()
        if key not in seen:
            seen.add(key)
            kept.append(example)
    return kept, len(examples) - len(kept)


def split_examples(
    examples: Sequence[Example],
    *,
    sft: int,
    eval: int,
    rft: int,
    reuse_sft_for_rft: bool = True,
    seed: int = 42,
    stratify: bool = True,
) -> Splits:
    """Split ``examples`` into stratified SFT / eval / new-RFT sets of exactly the requested sizes.

    ``stratify=False`` (generation: each free-text answer would be its own stratum, and the ties of one-row
    strata would pick rows by answer text): one shuffled pool.

    Raises SplitError when there are fewer distinct questions than ``sft + eval + rft``.
    """
    sizes = {"eval": eval, "sft": sft, "rft_new": rft}
    if any(size < 0 for size in sizes.values()):
        raise SplitError(f"split sizes must be >= 0, got {sizes}")
    unique, dropped = deduplicate(examples)
    needed = sum(sizes.values())
    if needed > len(unique):
        wanted = (("sft", sft), ("eval", eval), ("rft", rft))
        detail = ", ".join(f"{name} needs {size}" for name, size in wanted)
        duplicates = f" ({dropped} duplicate questions were dropped)" if dropped else ""
        raise SplitError(
            f"not enough rows to split: {detail} new rows, {needed} in total, but the data has "
            f"{len(unique)} distinct rows{duplicates}; add {needed - len(unique)} rows or lower the sizes"
        )

    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in unique:
        by_label[example.label if stratify else ""].append(example)
    rng = random.Random(seed)
    for label in sorted(by_label):
        rng.shuffle(by_label[label])

    # How many rows of each label are used in total, then per split (each step stays stratified).
    remaining = _largest_remainder(needed, {label: len(rows) for label, rows in by_label.items()})
    remaining_total = needed
    cursor = dict.fromkeys(by_label, 0)
    picked: dict[str, list[Example]] = {}
    for name, size in sizes.items():
        shares = _largest_remainder(size, remaining) if remaining_total else dict.fromkeys(remaining, 0)
        rows = []
        for label in sorted(shares):
            start = cursor[label]
            rows.extend(by_label[label][start : start + shares[label]])
            cursor[label] += shares[label]
            remaining[label] -= shares[label]
        remaining_total -= size
        rng.shuffle(rows)  # interleave labels
        picked[name] = rows

    rft_set = picked["rft_new"] + picked["sft"] if reuse_sft_for_rft else list(picked["rft_new"])
    return Splits(
        sft=picked["sft"],
        eval=picked["eval"],
        rft_new=picked["rft_new"],
        rft=rft_set,
        dropped_duplicates=dropped,
    )
