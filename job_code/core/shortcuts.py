"""A shortcut check before any spend: can the label be told from the question's surface alone?

A model learns the cheapest signal that predicts the label. When line endings, length or a trailing
character already give the label away, a fine-tuned model may learn that instead of the text (the case study:
92% of LQ_EDIT questions carry ``\\r\\n``, about 1% of the others; a model trained on the raw text loses most
of its LQ_EDIT accuracy once line endings are normalized).

The classifier, per surface feature: a one-level tree (a decision stump with one leaf per category, or per
quantile bin of a number) whose leaf predicts the label most over-represented there (rows weighted by
1 / their label's count, so a rare label counts as much as a common one). It is scored out of fold (fit on
the even rows, scored on the odd ones and back), as balanced accuracy (mean recall over labels); chance is
1 / the number of labels. A feature is reported as a shortcut when

- balanced accuracy - chance >= ``MIN_LIFT`` (0.15: far above chance, not a slight lean), and
- that lift is at least ``MIN_Z`` (3) standard errors, so a small file's noise does not warn, and
- there are at least ``MIN_ROWS`` (30) rows.

Deterministic, explainable, standard library only: it runs in the Prepare Lambda, on the rows Prepare has
already read (1.4-2.2 s for 60,000 rows on 2 cores: benchmarks/shortcut_bench.py).
"""

from __future__ import annotations

import math
import string
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

MIN_LIFT = 0.15
MIN_Z = 3.0
MIN_ROWS = 30
QUANTILE_BINS = 8
# Lines that look like code: indented, ending like a statement / block, or with an operator or call.
CODE_ENDINGS = (";", "{", "}", ")", ">", ":")
CODE_MARKS = ("=", "()", "->", "::", "</", "/>")


def normalize_line_endings(text: str) -> str:
    """``\\r\\n`` and a lone ``\\r`` become ``\\n`` (data.normalize_line_endings, the eval's robustness)."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def line_ending_style(text: str) -> str:
    if "\r\n" in text:
        return "crlf"
    if "\r" in text:
        return "cr"
    return "lf" if "\n" in text else "none"


def _is_code(line: str) -> bool:
    if line.startswith(("    ", "\t")):
        return True
    stripped = line.strip()
    return bool(stripped) and (stripped.endswith(CODE_ENDINGS) or any(m in stripped for m in CODE_MARKS))


def code_share(text: str) -> float:
    """The share of non-blank lines that look like code (see CODE_ENDINGS / CODE_MARKS)."""
    lines = [line for line in normalize_line_endings(text).split("\n") if line.strip()]
    return sum(1 for line in lines if _is_code(line)) / len(lines) if lines else 0.0


def char_class(char: str) -> str:
    """A first or last character as a category: its class for letters and digits, itself for ASCII
    punctuation (``?``, ``.``, ``)``: each may mark a kind of post)."""
    if not char:
        return "none"
    if char.islower():
        return "lowercase"
    if char.isupper():
        return "uppercase"
    if char.isdigit():
        return "digit"
    if char in string.punctuation:
        return char
    return "whitespace" if char.isspace() else "other"


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    kind: str  # "category" or "number"
    describe: str  # how a message names it
    unit: str  # numbers: the unit of its medians
    extract: Callable[[str], object]


FEATURES: tuple[Feature, ...] = (
    Feature("line_endings", "category", "line endings", "", line_ending_style),
    Feature("length", "number", "length", "characters", len),
    Feature("line_count", "number", "line count", "lines",
            lambda text: normalize_line_endings(text).count("\n") + 1),
    Feature("code_share", "number", "share of code-like lines", "", code_share),
    Feature("first_char", "category", "first character", "", lambda text: char_class(text[:1])),
    Feature("last_char", "category", "last character", "", lambda text: char_class(text[-1:])),
)
CATEGORY_NAMES = {"crlf": "`\\r\\n`", "cr": "bare `\\r`", "lf": "`\\n` only", "none": "a single line"}


@dataclass(frozen=True, slots=True)
class Shortcut:
    """One surface feature that predicts the label far above chance, with the numbers that say so."""

    feature: str
    balanced_accuracy: float
    chance: float
    stderr: float
    rows: int
    label: str  # the label the feature marks most
    evidence: str  # e.g. "`\r\n` in 92% of LQ_EDIT rows, 1% of the others"
    message: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FeatureScore:
    feature: str
    balanced_accuracy: float
    stderr: float


def _bins(values: Sequence[float]) -> list[float]:
    ordered = sorted(values)
    edges = {ordered[(len(ordered) * i) // QUANTILE_BINS] for i in range(1, QUANTILE_BINS)}
    return sorted(edges)


def _leaf_keys(feature: Feature, values: Sequence[object], edges: list[float] | None) -> list[object]:
    if feature.kind == "number":
        return [bisect_right(edges or [], v) for v in values]  # type: ignore[arg-type]
    return list(values)


def _fit(keys: Sequence[object], labels: Sequence[str], weight: dict[str, float], fallback: str):
    mass: dict[object, Counter] = {}
    for key, label in zip(keys, labels, strict=True):
        mass.setdefault(key, Counter())[label] += weight[label]
    # Ties go to the label that sorts first: deterministic.
    leaves = {key: max(sorted(c), key=lambda lab, c=c: c[lab]) for key, c in mass.items()}
    return lambda key: leaves.get(key, fallback)


def score_feature(
    feature: Feature, values: Sequence[object], labels: Sequence[str]
) -> FeatureScore:
    """Out-of-fold balanced accuracy of the feature's one-level tree (two folds: even / odd rows)."""
    classes = sorted(set(labels))
    hits, totals = Counter(), Counter(labels)
    for fit_parity in (0, 1):
        fit = [i for i in range(len(values)) if i % 2 == fit_parity]
        test = [i for i in range(len(values)) if i % 2 != fit_parity]
        counts = Counter(labels[i] for i in fit)
        if not test or not counts:
            continue
        weight = {label: 1 / counts[label] if counts[label] else 0.0 for label in classes}
        edges = _bins([values[i] for i in fit]) if feature.kind == "number" else None  # type: ignore[misc]
        fit_keys = _leaf_keys(feature, [values[i] for i in fit], edges)
        predict = _fit(fit_keys, [labels[i] for i in fit], weight, counts.most_common(1)[0][0])
        for i, key in zip(test, _leaf_keys(feature, [values[i] for i in test], edges), strict=True):
            if predict(key) == labels[i]:
                hits[labels[i]] += 1
    recalls = {label: hits[label] / totals[label] for label in classes}
    balanced = sum(recalls.values()) / len(classes)
    variance = sum(r * (1 - r) / totals[label] for label, r in recalls.items()) / len(classes) ** 2
    return FeatureScore(feature.name, balanced, math.sqrt(variance))


def _share(count: int, total: int) -> str:
    return f"{round(100 * count / total)}%" if total else "0%"


def _category_evidence(values: Sequence[object], labels: Sequence[str]) -> tuple[str, str]:
    """The (category, label) pair whose share among the label's rows most exceeds its share elsewhere."""
    per_label = Counter(labels)
    pairs = Counter(zip(values, labels, strict=True))
    per_value = Counter(values)
    best = None
    for (value, label), count in sorted(pairs.items(), key=str):
        inside = count / per_label[label]
        others_total = len(labels) - per_label[label]
        outside = (per_value[value] - count) / others_total if others_total else 0.0
        if best is None or inside - outside > best[0]:
            best = (inside - outside, value, label, count, per_value[value] - count, others_total)
    assert best is not None
    _, value, label, count, other_count, others_total = best
    name = CATEGORY_NAMES.get(str(value), f"`{value}`" if len(str(value)) == 1 else str(value))
    return label, (f"{name} in {_share(count, per_label[label])} of {label} rows, "
                   f"{_share(other_count, others_total)} of the others")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _number_evidence(feature: Feature, values: Sequence[float], labels: Sequence[str]) -> tuple[str, str]:
    """The label whose median differs most (relative to the spread) from the other rows' median."""
    overall = sorted(values)
    spread = (overall[(3 * len(overall)) // 4] - overall[len(overall) // 4]) or 1.0
    best = None
    for label in sorted(set(labels)):
        inside = _median([v for v, lab in zip(values, labels, strict=True) if lab == label])
        others = [v for v, lab in zip(values, labels, strict=True) if lab != label]
        outside = _median(others) if others else inside
        gap = abs(inside - outside) / spread
        if best is None or gap > best[0]:
            best = (gap, label, inside, outside)
    assert best is not None
    _, label, inside, outside = best
    unit = f" {feature.unit}" if feature.unit else ""
    number = (lambda v: f"{v:.2f}") if feature.unit == "" else (lambda v: f"{v:,.0f}")
    return label, (f"median {feature.describe} {number(inside)}{unit} in {label} rows, "
                   f"{number(outside)}{unit} in the others")


def find_shortcuts(
    texts: Sequence[str], labels: Sequence[str], features: Sequence[Feature] = FEATURES
) -> tuple[list[Shortcut], list[FeatureScore]]:
    """The shortcuts (strongest first) and every feature's score. Fewer than MIN_ROWS rows or a single
    label: nothing to say."""
    if len(texts) != len(labels):
        raise ValueError(f"find_shortcuts: {len(texts)} texts but {len(labels)} labels")
    classes = set(labels)
    if len(texts) < MIN_ROWS or len(classes) < 2:
        return [], []
    chance = 1 / len(classes)
    shortcuts, scores = [], []
    for feature in features:
        values = [feature.extract(text) for text in texts]
        score = score_feature(feature, values, labels)
        scores.append(score)
        lift = score.balanced_accuracy - chance
        if lift < MIN_LIFT or lift < MIN_Z * score.stderr:
            continue
        if feature.kind == "number":
            label, evidence = _number_evidence(feature, values, labels)  # type: ignore[arg-type]
        else:
            label, evidence = _category_evidence(values, labels)
        message = (f"label predictable from {feature.describe}: {evidence} (balanced accuracy "
                   f"{score.balanced_accuracy:.2f} from {feature.describe} alone, chance {chance:.2f}, "
                   f"{len(texts)} rows); a model may learn that instead of the text")
        shortcuts.append(Shortcut(feature.name, round(score.balanced_accuracy, 4), round(chance, 4),
                                  round(score.stderr, 4), len(texts), label, evidence, message))
    shortcuts.sort(key=lambda s: (-s.balanced_accuracy, s.feature))
    return shortcuts, scores
