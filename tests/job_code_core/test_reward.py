"""The reward as a table of (completion, reference) -> reward, and both adapters' contracts."""

import json

import pytest

from job_code.core import reward
from job_code.core.reward import (
    RewardConfigError,
    RewardInputError,
    RewardWeights,
    grpo_reward,
    lambda_handler,
    make_grpo_reward,
    score,
)

LONG = "This question is clearly HQ because " + "it has a reproducible example and context. " * 40

# Default weights: correct 1.0, exact format 0.5, verbosity penalty 0.5 over 64 extra characters.
CASES = [
    # (completion, reference, expected reward)
    ("HQ", "HQ", 1.5),
    ("LQ_EDIT", "LQ_EDIT", 1.5),
    ("LQ_CLOSE", "LQ_CLOSE", 1.5),
    ("  HQ\n", "HQ", 1.5),
    ("LQ_EDIT", "HQ", 0.5),  # exact format, wrong label
    ("HQ", "LQ_CLOSE", 0.5),
    ("hq", "HQ", 1.0 - 0.0),  # right label, not the exact format, same length
    ("lq_edit", "LQ_EDIT", 1.0),
    ("LQ EDIT", "LQ_EDIT", 1.0),
    ("lq-close", "LQ_CLOSE", 1.0),
    ("**HQ**", "HQ", 1.0 - 0.5 * 4 / 64),
    ("`LQ_EDIT`", "LQ_EDIT", 1.0 - 0.5 * 2 / 64),
    ("HQ.", "HQ", 1.0 - 0.5 * 1 / 64),
    ("The answer is HQ", "HQ", 1.0 - 0.5 * 14 / 64),
    ("The answer is LQ_CLOSE", "HQ", 0.0 - 0.5 * 20 / 64),
    ("HQ or LQ_EDIT", "HQ", 0.0 - 0.5 * 11 / 64),  # two labels: ambiguous
    ("LQ_EDIT, maybe LQ_CLOSE", "LQ_CLOSE", 0.0 - 0.5 * 15 / 64),
    ("", "HQ", 0.0),
    ("   \n\t", "HQ", 0.0),
    ("I cannot classify this.", "HQ", 0.0 - 0.5 * 21 / 64),
    (LONG, "HQ", 1.0 - 0.5),  # very long, right label: full verbosity penalty
    (LONG.replace("HQ", "LQ_EDIT"), "HQ", -0.5),
    ("# Category\n**LQ_CLOSE**", "LQ_CLOSE", 1.0 - 0.5 * (len("# Category\n**LQ_CLOSE**") - 8) / 64),
    ("HQ HQ", "HQ", 1.0 - 0.5 * 3 / 64),  # same label twice is not ambiguous
    ("HQs", "HQ", 0.0 - 0.5 * 1 / 64),  # not a label mention
    ("positive", "positive", 1.5),  # a reference outside the default labels still works
    ("very positive", "positive", 1.0 - 0.5 * 5 / 64),  # "very" is not a label here
]


@pytest.mark.parametrize(("completion", "reference", "expected"), CASES)
def test_score_table(completion, reference, expected):
    assert score(completion, reference) == pytest.approx(expected, abs=1e-12)


def test_table_is_large_enough():
    assert len(CASES) >= 25


def test_weights_change_the_score():
    weights = RewardWeights(correct_label=2.0, exact_format=0.0, verbosity_penalty=1.0, verbose_chars=10)
    assert score("HQ", "HQ", weights) == 2.0
    assert score("The answer is HQ", "HQ", weights) == pytest.approx(2.0 - 1.0)


def test_weights_from_env_json(monkeypatch):
    monkeypatch.setenv("REWARD_WEIGHTS", json.dumps({"exact_format": 0.0, "verbose_chars": 8}))
    weights = reward.weights_from_env()
    assert weights == RewardWeights(exact_format=0.0, verbose_chars=8)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"bonus": 1}', "unknown reward weight"),
        ('{"correct_label": "high"}', "must be a number"),
        ('{"verbose_chars": 0}', "verbose_chars must be > 0"),
    ],
)
def test_bad_weights_env_is_a_named_error(monkeypatch, raw, message):
    monkeypatch.setenv("REWARD_WEIGHTS", raw)
    with pytest.raises(RewardConfigError, match=message):
        reward.weights_from_env()


def test_weights_match_reward_settings_fields():
    from pipeline_core.settings import RewardSettings

    # The settings' other fields name a custom reward module (job_code.core.custom_reward), not weights.
    weight_fields = RewardSettings.model_fields.keys() - set(reward.NON_WEIGHT_KEYS)
    assert set(reward.NON_WEIGHT_KEYS) <= RewardSettings.model_fields.keys()
    assert RewardWeights().__dataclass_fields__.keys() == weight_fields
    for name in weight_fields:
        assert getattr(RewardWeights(), name) == getattr(RewardSettings(), name)
    assert RewardSettings().weights() == RewardSettings().model_dump()  # unset: the dump is the weights


def _sample(sample_id, answer, reference="HQ"):
    return {
        "id": sample_id,
        "messages": [
            {"role": "system", "content": "Classify."},
            {"role": "user", "content": "How do I sort a dict?"},
            {"role": "assistant", "content": answer},
        ],
        "reference_answer": reference,
    }


def test_lambda_handler_documented_shapes():
    out = lambda_handler([_sample("a", "HQ"), _sample("b", "It is LQ_EDIT", "LQ_EDIT")], None)
    assert [o["id"] for o in out] == ["a", "b"]
    assert out[0]["aggregate_reward_score"] == 1.5
    assert out[1]["aggregate_reward_score"] == pytest.approx(1.0 - 0.5 * 6 / 64)
    for result in out:
        assert set(result) == {"id", "aggregate_reward_score", "metrics_list"}
        assert isinstance(result["aggregate_reward_score"], float)
        for metric in result["metrics_list"]:
            assert set(metric) == {"name", "value", "type"}
            assert metric["type"] in ("Reward", "Metric")
            assert isinstance(metric["value"], float)
        rewards = sum(m["value"] for m in result["metrics_list"] if m["type"] == "Reward")
        assert rewards == pytest.approx(result["aggregate_reward_score"])
    json.dumps(out)  # the Lambda response must serialize


def test_lambda_handler_reads_content_lists_and_metadata_reference():
    sample = _sample("c", None)
    sample["messages"][-1]["content"] = [{"type": "text", "text": "LQ_CLOSE"}]
    del sample["reference_answer"]
    sample["metadata"] = {"reference_answer": {"label": "LQ_CLOSE"}}
    assert lambda_handler([sample], None)[0]["aggregate_reward_score"] == 1.5


def test_malformed_sample_is_flagged_and_others_still_scored(caplog):
    no_answer = _sample("bad-1", "HQ")
    no_answer["messages"] = no_answer["messages"][:2]
    no_reference = _sample("bad-2", "HQ", reference="")
    out = lambda_handler(
        [_sample("ok-1", "HQ"), no_answer, "not a sample", no_reference, _sample("ok-2", "LQ_EDIT")], None
    )
    assert [o["aggregate_reward_score"] for o in out] == [1.5, 0.0, 0.0, 0.0, 0.5]
    assert out[1]["metrics_list"] == [{"name": "invalid_sample", "value": 1.0, "type": "Metric"}]
    assert "bad-1" in caplog.text and "no assistant message" in caplog.text
    assert "bad-2" in caplog.text and "reference_answer is missing" in caplog.text


def test_lambda_handler_rejects_a_non_list_event():
    with pytest.raises(RewardInputError, match="list of samples"):
        lambda_handler({"samples": []}, None)


def test_lambda_handler_uses_env_weights(monkeypatch):
    monkeypatch.setenv("REWARD_WEIGHTS", '{"correct_label": 3.0}')
    assert lambda_handler([_sample("a", "HQ")], None)[0]["aggregate_reward_score"] == 3.5


def test_grpo_reward_strings_and_conversations():
    completions = [
        "HQ",
        [{"role": "assistant", "content": "LQ_EDIT"}],
        [{"role": "assistant", "content": "blah"}],
    ]
    rewards = grpo_reward(completions, reference_answer=["HQ", "LQ_EDIT", "HQ"], prompts=["p"] * 3)
    assert rewards == [1.5, 1.5, pytest.approx(-0.5 * 2 / 64)]


def test_grpo_reward_with_custom_labels_and_length_mismatch():
    fn = make_grpo_reward(RewardWeights(exact_format=0.0), labels=["yes", "no"])
    assert fn(["yes", "no", "yes and no"], ["yes", "yes", "yes"]) == [1.0, 0.0, pytest.approx(-0.5 * 7 / 64)]
    with pytest.raises(ValueError, match="2 completions but 1 reference"):
        fn(["a", "b"], ["a"])


def test_grpo_reward_accepts_trl_keyword_call():
    # TRL 1.16 GRPOTrainer: reward_func(prompts=..., completions=..., completion_ids=..., **dataset_columns)
    rewards = grpo_reward(
        prompts=[[{"role": "user", "content": "q"}]] * 2,
        completions=[
            [{"role": "assistant", "content": "HQ"}],
            [{"role": "assistant", "content": "LQ_CLOSE"}],
        ],
        completion_ids=[[1], [2]],
        reference_answer=["HQ", "HQ"],
        trainer_state=None,
    )
    assert rewards == [1.5, 0.5]
