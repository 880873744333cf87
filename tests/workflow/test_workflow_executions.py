"""The synthesized state machine, executed by moto's Step Functions interpreter with fake handlers."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from stacks.workflow import champion_choice_name, job_state_names
from tests.workflow.fake_pipeline import Scenario, run_pipeline

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# "Approved Package?": an execution an approval started skips to Deploy (only with deploy enabled).
# "Champion": what the endpoint serves as the run begins (only with deploy enabled).
START = ["Read Input", "Add Execution Name", "Approved Package?", "Prepare", "Preflight", "Champion"]
LEAN_START = [name for name in START if name not in ("Approved Package?", "Champion")]
FAILURE_PATH = ["Cleanup", "Mark Failed", "Report Failure", "Notify Failure", "Failed"]


def job(stage: str, polls: int = 3, launches: int = 1) -> list[str]:
    """States of a job stage that polls InProgress twice then reaches its final status."""
    n = job_state_names(stage)
    return [n["start"], *([n["launch"]] * launches), *[n["wait"], n["poll"], n["status"]] * polls]


TAIL = [
    "Gate",
    "Register",
    "Gate Passed",
    "Deploy",
    "Endpoint Wait",
    "Endpoint Status",
    "Endpoint Ready",
    "Smoke",
    "Mark Succeeded",
    "Report",
    "Notify Success",
    "Succeeded",
]
# The baseline, then the Choice before the champion's evaluation: no model on the endpoint, on to SFT.
BASELINE = [*job("baseline_eval"), champion_choice_name("eval_champion")]
ALL_JOBS = [*BASELINE, *job("sft"), *job("eval_sft"), *job("rft"), *job("eval_rft")]


@pytest.fixture
def moto():
    with mock_aws(config=MOTO_CONFIG):
        yield


def test_happy_path_runs_every_stage_in_order(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario())
    assert result.status == "SUCCEEDED"
    assert result.states == [*START, *ALL_JOBS, *TAIL]
    assert result.output["status"] == "SUCCEEDED"
    # Contract shapes the handlers rely on.
    assert result.fakes.events["prepare"][0]["execution_name"] == "run-1"
    assert result.fakes.events["prepare"][0]["dataset"] == "s3://data/incoming/x.csv"
    # Preflight gets the prepared run, and its result is kept beside it.
    assert result.fakes.events["preflight"] == [{"run": result.output["run"]}]
    assert result.output["preflight"] == {"passed": True, "checks": []}
    assert result.fakes.events["launch"][0] == {
        "stage": "baseline_eval",
        "run": result.output["run"],
        "attempt": 1,
    }
    assert result.fakes.events["report"][0]["status"] == "SUCCEEDED"
    assert set(result.output["jobs"]) == {"baseline_eval", "sft", "eval_sft", "rft", "eval_rft"}


def test_sft_failure_reason_reaches_the_failure_notification(moto, full_pipeline):
    reason = "AlgorithmError: CUDA out of memory"
    result = run_pipeline(
        full_pipeline, Scenario(final_status={"sft": "Failed"}, failure_reason={"sft": reason})
    )
    assert result.status == "FAILED"
    assert result.states == [*START, *BASELINE, *job("sft"), "SFT Failed", *FAILURE_PATH]
    assert (result.error, result.cause) == ("JobFailedError", reason)
    notified = result.fakes.events["notify"][0]
    assert notified["status"] == "FAILED"
    assert notified["error"] == {"Error": "JobFailedError", "Cause": reason}
    assert result.fakes.events["cleanup"][0]["jobs"]["sft"]["status"] == "Failed"


def test_stopped_job_fails_the_run(moto, full_pipeline):
    result = run_pipeline(
        full_pipeline,
        Scenario(final_status={"eval_sft": "Stopped"}, failure_reason={"eval_sft": "Stopped by user"}),
    )
    assert result.status == "FAILED"
    assert result.states == [
        *START,
        *BASELINE,
        *job("sft"),
        *job("eval_sft"),
        "EvalSFT Failed",
        *FAILURE_PATH,
    ]
    assert result.cause == "Stopped by user"


def test_job_ending_without_a_reason_still_fails_with_the_record(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario(final_status={"baseline_eval": "Stopped"}))
    assert result.states == [*START, *job("baseline_eval"), "BaselineEval Invalid", *FAILURE_PATH]
    assert result.error == "JobFailedError"
    assert json.loads(result.cause)["status"] == "Stopped"


def test_throttled_launch_succeeds_on_retry(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario(throttled_launches={"sft": 1}))
    assert result.status == "SUCCEEDED"
    # A Retry re-runs the task inside the same state: SFT Launch is entered once, invoked twice.
    assert result.states == [*START, *ALL_JOBS, *TAIL]
    assert result.fakes.launches["sft"] == 2


def test_launch_throttled_past_max_attempts_takes_the_failure_path(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario(throttled_launches={"baseline_eval": 99}))
    assert result.status == "FAILED"
    assert result.states == [*START, "BaselineEval Start", "BaselineEval Launch", *FAILURE_PATH]
    assert result.error == "ThrottlingError"
    # First call + MaxAttempts (settings.retry.task_max_attempts = 3 in the fixture) retries.
    assert result.fakes.launches["baseline_eval"] == 4


def test_gate_rejection_reports_without_deploying(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario(gate_passed=False))
    assert result.status == "SUCCEEDED"
    assert result.states == [
        *START,
        *ALL_JOBS,
        "Gate",
        "Register",
        "Gate Passed",
        "Mark Gate Rejected",
        "Report",
        "Notify Success",
        "Succeeded",
    ]
    assert "Deploy" not in result.states
    assert result.fakes.events["report"][0]["status"] == "GATE_REJECTED"


def test_rejected_data_enters_no_job_stage(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario(reject_data=True))
    assert result.status == "FAILED"
    assert result.states == [*START[:-2], *FAILURE_PATH]  # Prepare fails: no Preflight, no Champion either
    assert result.error == "DataValidationError"
    assert "row 3, field rating" in result.cause
    assert "run" not in result.fakes.events["cleanup"][0]


def test_preflight_runs_after_prepare_and_before_the_first_job(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario())
    first_job = job_state_names("baseline_eval")["start"]
    index = result.states.index
    assert index("Prepare") + 1 == index("Preflight") == index("Champion") - 1 == index(first_job) - 2


def test_a_preflight_problem_fails_the_run_before_any_launch(moto, full_pipeline):
    reason = "quotas: stages.sft: needs quota L-1 'ml.g5.2xlarge for training job usage' >= 1"
    result = run_pipeline(full_pipeline, Scenario(preflight_problem=reason))
    assert result.status == "FAILED"
    assert result.states == [*START[:-1], *FAILURE_PATH]
    assert result.error == "PreflightError" and reason in result.cause
    assert result.fakes.launches == {}
    (report,) = result.fakes.events["report"]  # the Catch path reports how far the run got
    assert report["status"] == "FAILED" and report["run"] == result.fakes.events["preflight"][0]["run"]


def test_rft_disabled_leaves_rft_states_out(moto, no_rft_pipeline):
    result = run_pipeline(no_rft_pipeline, Scenario())
    assert result.status == "SUCCEEDED"
    assert result.states == [*START, *BASELINE, *job("sft"), *job("eval_sft"), *TAIL]
    definition = json.dumps(no_rft_pipeline["template"])
    assert "RFT Launch" not in definition and "EvalRFT" not in definition


def test_capacity_retry_relaunches_with_the_next_attempt(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario(capacity_retries={"rft": 1}))
    assert result.status == "SUCCEEDED"
    rft = job_state_names("rft")
    relaunched = [*job("rft"), rft["relaunch"], rft["launch"], *[rft["wait"], rft["poll"], rft["status"]] * 3]
    assert result.states == [
        *START,
        *BASELINE,
        *job("sft"),
        *job("eval_sft"),
        *relaunched,
        *job("eval_rft"),
        *TAIL,
    ]
    assert [e["attempt"] for e in result.fakes.events["launch"] if e["stage"] == "rft"] == [1, 2]
    assert result.output["jobs"]["rft"]["job_name"] == "forge-rft-2"


def test_endpoint_failure_takes_the_failure_path(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario(endpoint_status="Failed"))
    assert result.status == "FAILED"
    assert result.states == [
        *START,
        *ALL_JOBS,
        "Gate",
        "Register",
        "Gate Passed",
        "Deploy",
        "Endpoint Wait",
        "Endpoint Status",
        "Endpoint Ready",
        "Endpoint Failed",
        *FAILURE_PATH,
    ]
    assert json.loads(result.cause)["failure_reason"] == "CapacityError: no ml.g5 capacity"
    assert result.fakes.events["cleanup"][0]["endpoint"]["status"] == "Failed"


def test_disabled_baseline_and_deploy_are_left_out(moto, lean_pipeline):
    result = run_pipeline(lean_pipeline, Scenario())
    assert result.status == "SUCCEEDED"
    assert result.states == [
        *LEAN_START,
        *job("sft"),
        *job("eval_sft"),
        "Gate",
        "Register",
        "Gate Passed",
        "Mark Succeeded",
        "Report",
        "Notify Success",
        "Succeeded",
    ]


def test_a_champion_on_the_endpoint_is_evaluated_before_sft(moto, full_pipeline):
    """Champion found a model: the Choice runs its evaluation, on the same launch/poll loop, then SFT."""
    result = run_pipeline(full_pipeline, Scenario(champion_present=True))
    assert result.status == "SUCCEEDED"
    assert result.states == [*START, *BASELINE, *job("eval_champion"), *ALL_JOBS[len(BASELINE):], *TAIL]
    assert result.fakes.events["champion"] == [{"run": result.output["run"]}]
    assert result.output["champion"]["present"] is True  # kept for the gate, the report and Cleanup
    assert result.fakes.launches["eval_champion"] == 1
    assert result.output["jobs"]["eval_champion"]["status"] == "Completed"


def test_no_champion_launches_no_champion_job(moto, full_pipeline):
    result = run_pipeline(full_pipeline, Scenario())
    assert result.output["champion"]["present"] is False
    assert "eval_champion" not in result.fakes.launches and "eval_champion" not in result.output["jobs"]


def test_the_champion_choice_reads_a_guarded_boolean(full_pipeline):
    """moto takes Default on a missing path (AWS fails): the Choice checks IsPresent first."""
    from tests.template_readers import state_machine_definition

    states = json.loads(state_machine_definition(full_pipeline["template"]))["States"]
    assert states["Preflight"]["Next"] == "Champion"
    assert states["Champion"]["ResultPath"] == "$.champion"
    assert states["Champion"]["Next"] == job_state_names("baseline_eval")["start"]
    choice = states[champion_choice_name("eval_champion")]
    assert choice["Default"] == job_state_names("sft")["start"]
    (rule,) = choice["Choices"]
    assert rule["Next"] == job_state_names("eval_champion")["start"]
    assert rule["And"] == [{"Variable": "$.champion.present", "IsPresent": True},
                           {"Variable": "$.champion.present", "BooleanEquals": True}]
    # The champion's evaluation continues into SFT, as the Choice's Default does.
    completed = states[job_state_names("eval_champion")["status"]]["Choices"]
    assert any(c.get("Next") == job_state_names("sft")["start"] for c in completed)
