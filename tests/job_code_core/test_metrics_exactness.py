"""Every gen_qa metric against its reference implementation on >= 1,000 randomized + adversarial pairs.

em / qem / f1 / f1_score_quasi: lighteval 0.13.0's own per-pair scores, frozen in
data/lighteval_golden.json (lighteval cannot join our venv: see make_lighteval_golden.py).
rouge1/2/L and bleu: rouge-score and sacrebleu, called directly here.
"""

import json
import math
import statistics
from pathlib import Path

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from job_code.core import metrics
from job_code.core.metrics import compute_metrics, helm_normalizer

from .metric_pairs import metric_pairs

TOLERANCE = 1e-9
GOLDEN = json.loads((Path(__file__).parent / "data" / "lighteval_golden.json").read_text(encoding="utf-8"))
PAIRS = metric_pairs()
PREDICTIONS = [p for p, _ in PAIRS]
REFERENCES = [g for _, g in PAIRS]
PER_PAIR = {
    "em": metrics.exact_match,
    "qem": metrics.quasi_exact_match,
    "f1": metrics.word_set_f1,
    "f1_score_quasi": metrics.quasi_f1,
}


def _golden(name):
    column = GOLDEN["columns"].index(name)
    return [row[column] for row in GOLDEN["scores"]]


def test_fixture_matches_the_pairs():
    assert GOLDEN["pairs"] == len(PAIRS) >= 1000
    assert GOLDEN["lighteval_version"] == "0.13.0"


def test_helm_normalizer_equals_lighteval_on_every_string():
    for (prediction, gold), want_p, want_g in zip(
        PAIRS, _golden("helm_prediction"), _golden("helm_gold"), strict=True
    ):
        assert helm_normalizer(prediction) == want_p, prediction
        assert helm_normalizer(gold) == want_g, gold


@pytest.mark.parametrize("name", list(PER_PAIR))
def test_per_pair_scores_equal_lighteval(name):
    ours = [PER_PAIR[name](p, g) for p, g in PAIRS]
    for (prediction, gold), got, want in zip(PAIRS, ours, _golden(name), strict=True):
        assert abs(got - want) <= TOLERANCE, (name, prediction, gold, got, want)


@pytest.fixture(scope="module")
def flat():
    return compute_metrics(PREDICTIONS, REFERENCES)


@pytest.mark.parametrize("name", list(PER_PAIR))
def test_corpus_means_and_stderr_equal_lighteval(flat, name):
    values = _golden(name)
    assert abs(flat[name] - statistics.fmean(values)) <= TOLERANCE
    # lighteval's mean_stderr: sample standard deviation / sqrt(n)
    assert abs(flat[f"{name}_stderr"] - statistics.stdev(values) / math.sqrt(len(values))) <= TOLERANCE


@pytest.mark.parametrize("rouge_type", ["rouge1", "rouge2", "rougeL"])
def test_rouge_equals_rouge_score(flat, rouge_type):
    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=False)
    values = [scorer.score(gold, prediction)[rouge_type].fmeasure for prediction, gold in PAIRS]
    assert abs(flat[rouge_type] - statistics.fmean(values)) <= TOLERANCE
    assert abs(flat[f"{rouge_type}_stderr"] - statistics.stdev(values) / math.sqrt(len(values))) <= TOLERANCE


def test_bleu_equals_sacrebleu_corpus_bleu(flat):
    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES]).score
    assert abs(flat["bleu"] - expected) <= TOLERANCE
    assert 0.0 <= flat["bleu"] <= 100.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bleu_equals_sacrebleu_on_shuffled_duplicated_corpora(seed):
    import random

    rng = random.Random(seed)
    pairs = [rng.choice(PAIRS) for _ in range(400)] + [("HQ", "HQ")] * 300  # many repeats
    rng.shuffle(pairs)
    predictions, references = [p for p, _ in pairs], [g for _, g in pairs]
    expected = sacrebleu.corpus_bleu(predictions, [references]).score
    assert abs(compute_metrics(predictions, references)["bleu"] - expected) <= TOLERANCE


def test_bleu_stderr_follows_lighteval_bootstrap():
    """lighteval: resample the corpus 1,000 times, stderr = stdev(resampled BLEUs) / sqrt(1,000)."""
    import random

    pairs = PAIRS[100:130]
    rng = random.Random(0)
    bleu = sacrebleu.BLEU()
    replicates = []
    for _ in range(1000):
        sample = rng.choices(pairs, k=len(pairs))
        replicates.append(bleu.corpus_score([p for p, _ in sample], [[g for _, g in sample]]).score)
    reference = statistics.stdev(replicates) / math.sqrt(1000)
    ours = compute_metrics([p for p, _ in pairs], [g for _, g in pairs])["bleu_stderr"]
    # Different random draws: the two bootstrap estimates agree statistically, not bit for bit.
    assert ours == pytest.approx(reference, rel=0.15)


def test_stderr_of_a_constant_column_is_zero():
    flat = compute_metrics(["HQ"] * 5, ["HQ"] * 5)
    assert flat["em"] == 1.0 and flat["em_stderr"] == 0.0 and flat["bleu_stderr"] == 0.0
