"""gen_qa metrics with lighteval's definitions (as Nova's evaluator uses them), plus label metrics.

Per pair (prediction, gold), averaged over the eval set, each with ``<name>_stderr``:

- ``em``: stripped equality (lighteval ``ExactMatches(strip_strings=True)``; an empty prediction is 0);
- ``qem``: equality after the HELM normalizer;
- ``f1``: F1 of the two sets of whitespace-separated words (nltk's ``f_measure``; an empty side is 0);
- ``f1_score_quasi``: ``f1`` after the HELM normalizer;
- ``rouge1`` / ``rouge2`` / ``rougeL``: rouge-score F-measure, no stemming (rouge-score itself);
- ``bleu``: sacrebleu corpus BLEU, 0-100 (sacrebleu itself).

``stderr`` is lighteval's: the sample standard deviation over sqrt(n) for means; for the corpus BLEU,
lighteval's bootstrap (1,000 resamples; the deviation of the resampled BLEUs over sqrt(1,000)).

With ``labels``: ``accuracy`` (the label parsed out of a verbose answer; none or two labels = wrong),
per-class precision/recall/F1, ``macro_f1``, the confusion matrix, answer-length statistics.

rouge-score, sacrebleu and numpy are imported inside the functions so ``import job_code.core.metrics``
stays light.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from typing import Any

from job_code.core.labels import is_exact, parse_label

GEN_QA_METRICS = ("em", "qem", "f1", "f1_score_quasi", "rouge1", "rouge2", "rougeL", "bleu")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
LABEL_METRICS = ("accuracy", "accuracy_stderr", "macro_f1", "exact_format")
BLEU_BOOTSTRAP_DRAWS = 1000
NO_LABEL = None  # column of the confusion matrix for answers naming no (or several) labels


class MetricsInputError(ValueError):
    """Predictions and references cannot be scored together; the message says why."""


# ---------------------------------------------------------------- lighteval's sample-level metrics

# ASCII punctuation except the hyphen, which HELM splits on first (removing it after the split
# gives the same tokens, so the whole text can be lowered and cleaned in two C-level calls).
_PUNCTUATION_BUT_HYPHEN = str.maketrans("", "", string.punctuation.replace("-", ""))
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_HELM_TOKENS = re.compile(" |-")
_ARTICLE_WORDS = frozenset(("a", "an", "the"))
_NUMBER_WORDS = frozenset(("nan", "inf", "infinity"))  # the only letters-only strings float() accepts


def _homogenize_number(token: str) -> str:
    # HELM's trick: "1.0" and "1" normalize to the same string.
    try:
        return str(float(token))
    except ValueError:
        return token


def helm_normalizer(text: str) -> str:
    """lighteval's HELM normalizer: per space/hyphen token, lower case, drop ASCII punctuation,
    unify numbers ("1" -> "1.0"), drop the articles a/an/the, collapse whitespace."""
    tokens = []
    for token in _HELM_TOKENS.split(text.lower().translate(_PUNCTUATION_BUT_HYPHEN)):
        if not token:
            continue
        if token.isalpha():  # fast path: one word, so an article only if it is one
            if token in _ARTICLE_WORDS:
                continue
            tokens.append(_homogenize_number(token) if token in _NUMBER_WORDS else token)
            continue
        token = " ".join(_ARTICLES.sub(" ", _homogenize_number(token)).split())
        if token:
            tokens.append(token)
    return " ".join(tokens)


def exact_match(prediction: str, gold: str) -> float:
    if not prediction:
        return 0.0
    return 1.0 if prediction.strip() == gold.strip() else 0.0


def quasi_exact_match(prediction: str, gold: str) -> float:
    if not prediction:
        return 0.0
    return 1.0 if helm_normalizer(prediction) == helm_normalizer(gold) else 0.0


def word_set_f1(prediction: str, gold: str) -> float:
    """F1 of the word sets, computed as nltk.metrics.scores.f_measure(gold, prediction) does."""
    gold_words, predicted_words = set(gold.split()), set(prediction.split())
    if not gold_words or not predicted_words:
        return 0.0
    common = len(gold_words & predicted_words)
    precision, recall = common / len(predicted_words), common / len(gold_words)
    if precision == 0 or recall == 0:
        return 0.0
    return 1.0 / (0.5 / precision + (1 - 0.5) / recall)


def quasi_f1(prediction: str, gold: str) -> float:
    return word_set_f1(helm_normalizer(prediction), helm_normalizer(gold))


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def weighted_mean_stderr(values: Sequence[float], weights: Sequence[int]) -> tuple[float, float]:
    """mean and mean_stderr of the list holding ``values[i]`` ``weights[i]`` times, without building it."""
    n = sum(weights)
    if n == 0:
        return 0.0, 0.0
    mu = math.fsum(w * v for v, w in zip(values, weights, strict=True)) / n
    if n < 2:
        return mu, 0.0
    variance = math.fsum(w * (v - mu) ** 2 for v, w in zip(values, weights, strict=True)) / (n - 1)
    return mu, math.sqrt(variance) / math.sqrt(n)


def mean_stderr(values: Sequence[float]) -> float:
    """Sample standard deviation / sqrt(n); 0 for fewer than two values."""
    n = len(values)
    if n < 2:
        return 0.0
    mu = mean(values)
    return math.sqrt(math.fsum((x - mu) ** 2 for x in values) / (n - 1)) / math.sqrt(n)


# ---------------------------------------------------------------- library-backed metrics


def unique_pairs(
    predictions: Sequence[str], references: Sequence[str]
) -> tuple[list[tuple[str, str]], list[int]]:
    """Distinct (prediction, reference) pairs and, per input pair, the index of its distinct pair.

    Every metric here is a pure function of the pair, and eval answers repeat a lot (a tuned model
    answers "HQ" hundreds of times), so each distinct pair is scored once.
    """
    index: dict[tuple[str, str], int] = {}
    inverse = [index.setdefault(pair, len(index)) for pair in zip(predictions, references, strict=True)]
    return list(index), inverse


def rouge_scores(pairs: Sequence[tuple[str, str]]) -> dict[str, list[float]]:
    """Per-pair rouge-score F-measures (no stemming): what ``RougeScorer.score`` returns, with each
    distinct reference tokenized once (they are a handful of labels) by rouge-score's own functions."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)
    tokenize, ngrams = scorer._tokenizer.tokenize, rouge_scorer._create_ngrams
    score_ngrams, score_lcs = rouge_scorer._score_ngrams, rouge_scorer._score_lcs
    cache: dict[str, tuple] = {}

    def grams(text: str) -> tuple:
        entry = cache.get(text)
        if entry is None:
            tokens = tokenize(text)
            entry = cache[text] = (tokens, ngrams(tokens, 1), ngrams(tokens, 2))
        return entry

    rouge1, rouge2, rouge_l = [], [], []
    for prediction, reference in pairs:
        # Only references are cached: keeping every answer's n-grams alive costs more (GC) than it saves.
        target = grams(reference)
        tokens = tokenize(prediction)
        predicted = (tokens, ngrams(tokens, 1), ngrams(tokens, 2))
        rouge1.append(score_ngrams(target[1], predicted[1]).fmeasure)
        rouge2.append(score_ngrams(target[2], predicted[2]).fmeasure)
        rouge_l.append(score_lcs(target[0], predicted[0]).fmeasure)
    return {"rouge1": rouge1, "rouge2": rouge2, "rougeL": rouge_l}


def bleu_with_stderr(
    pairs: Sequence[tuple[str, str]],
    inverse: Sequence[int],
    draws: int = BLEU_BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> tuple[float, float]:
    """sacrebleu corpus BLEU of the full corpus (``pairs[i]`` for i in ``inverse``) and its bootstrap
    stderr, from sacrebleu's own per-sentence n-gram statistics (computed once per distinct pair)."""
    import numpy as np
    from sacrebleu.metrics.bleu import BLEU

    bleu = BLEU()
    # sacrebleu's corpus_score, step by step (BLEU._extract_corpus_statistics), except that each
    # distinct reference is tokenized and its n-grams counted once: references are a few labels.
    reference_info: dict[str, Any] = {}
    segment_stats = []
    for prediction, reference in pairs:
        info = reference_info.get(reference)
        if info is None:
            info = reference_info[reference] = bleu._extract_reference_info(
                [bleu._preprocess_segment(reference)]
            )
        segment_stats.append(bleu._compute_segment_statistics(bleu._preprocess_segment(prediction), info))
    stats = np.asarray(segment_stats, dtype=np.float64)
    n = len(inverse)
    multiplicity = np.bincount(np.asarray(inverse), minlength=len(pairs)).astype(np.float64)
    score = bleu._compute_score_from_stats((multiplicity @ stats).astype(np.int64).tolist()).score
    if n < 2 or draws < 2:
        return float(score), 0.0
    rng = np.random.default_rng(seed)
    index_type = np.int32 if 100 * max(n, len(pairs)) < 2**31 else np.int64  # half the memory traffic
    inverse_array = np.asarray(inverse, dtype=index_type)
    replicates = []
    for start in range(0, draws, 100):
        size = min(100, draws - start)
        if len(pairs) * 4 <= n:  # few distinct pairs: draw how often each is picked, directly
            counts = rng.multinomial(n, multiplicity / n, size=size).astype(np.float64)
        else:  # resample sentence indices; count the picks of every resample in one bincount
            picks = inverse_array[rng.integers(0, n, size=(size, n), dtype=index_type)]
            offsets = (picks + np.arange(size, dtype=index_type)[:, None] * len(pairs)).ravel()
            counts = np.bincount(offsets, minlength=size * len(pairs)).reshape(size, len(pairs))
            counts = counts.astype(np.float64)
        for corpus_stats in (counts @ stats).astype(np.int64).tolist():
            replicates.append(bleu._compute_score_from_stats(corpus_stats).score)
    return float(score), mean_stderr(replicates)


# ---------------------------------------------------------------- label metrics


def _check_inputs(predictions: Sequence[Any], references: Sequence[Any]) -> tuple[list[str], list[str]]:
    if len(predictions) != len(references):
        raise MetricsInputError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise MetricsInputError("no predictions to score")
    clean = []
    for name, values in (("prediction", predictions), ("reference", references)):
        column = []
        for index, value in enumerate(values):
            if value is None:
                value = ""  # a model that answered nothing
            if not isinstance(value, str):
                raise MetricsInputError(
                    f"{name} {index} is a {type(value).__name__}, expected text: {value!r:.60}"
                )
            column.append(value)
        clean.append(column)
    return clean[0], clean[1]


def label_metrics(
    predictions: Sequence[str], references: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Permissive accuracy, per-class P/R/F1, macro F1, exact-format rate (answer is exactly a label)
    and the confusion matrix (rows: gold labels; columns: parsed labels, then None for no/ambiguous)."""
    labels = list(labels)
    parse_cache: dict[str, str | None] = {}  # answers repeat: parse each distinct one once
    parsed = [
        parse_cache[p] if p in parse_cache else parse_cache.setdefault(p, parse_label(p, labels))
        for p in predictions
    ]
    golds = [parse_label(r, labels) if r.strip() not in labels else r.strip() for r in references]
    correct = [1.0 if p is not None and p == g else 0.0 for p, g in zip(parsed, golds, strict=True)]
    # Format compliance, right or wrong: the answer is exactly one of the labels.
    exact = [1.0 if any(is_exact(p, label) for label in labels) else 0.0 for p in predictions]
    rows = [*labels] + ([NO_LABEL] if any(g is None for g in golds) else [])
    columns = [*labels, NO_LABEL]
    counts = [[0] * len(columns) for _ in rows]
    for p, g in zip(parsed, golds, strict=True):
        counts[rows.index(g)][columns.index(p)] += 1
    per_class = {}
    for index, label in enumerate(labels):
        true_positive = counts[index][index]
        predicted = sum(row[index] for row in counts)
        support = sum(counts[index])
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return {
        "accuracy": mean(correct),
        "accuracy_stderr": mean_stderr(correct),
        "macro_f1": mean([c["f1"] for c in per_class.values()]),
        "exact_format": mean(exact),
        "no_label_rate": mean([1.0 if p is None else 0.0 for p in parsed]),
        "per_class": per_class,
        "confusion_matrix": {"rows": rows, "columns": columns, "counts": counts},
        "parsed": parsed,
    }


def response_length_stats(predictions: Sequence[str]) -> dict[str, float]:
    """Answer lengths in characters and words: the seed's verbosity diagnosis."""
    chars = sorted(len(p.strip()) for p in predictions)
    words = [len(p.split()) for p in predictions]

    def quantile(q: float) -> float:
        position = q * (len(chars) - 1)
        low, high = math.floor(position), math.ceil(position)
        return chars[low] + (chars[high] - chars[low]) * (position - low)

    return {
        "mean_chars": mean(chars),
        "median_chars": quantile(0.5),
        "p90_chars": quantile(0.9),
        "min_chars": float(chars[0]),
        "max_chars": float(chars[-1]),
        "mean_words": mean(words),
    }


# ---------------------------------------------------------------- entry points


def _sample_level(pairs: Sequence[tuple[str, str]]) -> dict[str, list[float]]:
    """Per distinct pair: em, qem, f1, f1_score_quasi and the three ROUGE F-measures."""
    columns: dict[str, list[float]] = {"em": [], "qem": [], "f1": [], "f1_score_quasi": []}
    cache: dict[str, str] = {}  # references repeat a lot (labels): normalize each string once

    def normalized(text: str) -> str:
        value = cache.get(text)
        if value is None:
            value = cache[text] = helm_normalizer(text)
        return value

    for prediction, gold in pairs:
        norm_prediction, norm_gold = normalized(prediction), normalized(gold)
        columns["em"].append(exact_match(prediction, gold))
        columns["qem"].append((1.0 if norm_prediction == norm_gold else 0.0) if prediction else 0.0)
        columns["f1"].append(word_set_f1(prediction, gold))
        columns["f1_score_quasi"].append(word_set_f1(norm_prediction, norm_gold))
    columns.update(rouge_scores(pairs))
    return columns


def compute_metrics(
    predictions: Sequence[str], references: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, float]:
    """The flat gen_qa metric dict (Nova's ``results.all``), plus accuracy / macro_f1 with labels."""
    predictions, references = _check_inputs(predictions, references)
    pairs, inverse = unique_pairs(predictions, references)
    multiplicity = [0] * len(pairs)
    for index in inverse:
        multiplicity[index] += 1
    flat: dict[str, float] = {}
    for name, distinct_values in _sample_level(pairs).items():
        flat[name], flat[f"{name}_stderr"] = weighted_mean_stderr(distinct_values, multiplicity)
    flat["bleu"], flat["bleu_stderr"] = bleu_with_stderr(pairs, inverse)
    if labels:
        extra = label_metrics(predictions, references, labels)
        for name in LABEL_METRICS:
            flat[name] = extra[name]
    return flat


def compute_report(
    predictions: Sequence[str],
    references: Sequence[str],
    labels: Sequence[str] | None = None,
    *,
    text_metrics: bool = True,
) -> dict[str, Any]:
    """Everything for the report: flat metrics, per-class scores, confusion matrix, answer lengths.

    ``text_metrics=False`` leaves out the gen_qa set (ROUGE and BLEU need rouge-score, sacrebleu and numpy,
    which the Lambda runtime lacks): the label metrics and answer lengths are pure Python.
    """
    predictions, references = _check_inputs(predictions, references)
    flat = compute_metrics(predictions, references) if text_metrics else {}
    report: dict[str, Any] = {"metrics": flat, "response_lengths": response_length_stats(predictions)}
    if labels:
        extra = label_metrics(predictions, references, labels)
        for name in LABEL_METRICS:
            flat[name] = extra[name]
        report.update(
            per_class=extra["per_class"],
            confusion_matrix=extra["confusion_matrix"],
            no_label_rate=extra["no_label_rate"],
            parsed_labels=extra["parsed"],
        )
    report["num_samples"] = len(predictions)
    return report
