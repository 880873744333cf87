"""The Report step's report.json / report.md: pipeline order, every block results.json carries, costs."""

from __future__ import annotations

import json

from forge_handlers import report

from pipeline_core import stages as stage_table
from pipeline_core.job_hyperparameters import SftHyperparameters
from pipeline_core.layout import eval_results_key, report_key, report_markdown_key
from pipeline_core.settings import load_settings
from tests.handlers.conftest import ARTIFACTS_BUCKET, PROJECT_ROOT, put_json
from tests.handlers.scripted import tarball


def results_document(accuracy: float) -> dict:
    """An eval job's results.json with every block the report reads (job_code.evaluate's shape)."""
    return {
        "results": {
            "all": {
                "accuracy": accuracy,
                "accuracy_stderr": 0.05,
                "em": accuracy / 2,
                "em_stderr": 0.02,
                "macro_f1": accuracy - 0.1,
            }
        },
        "per_class": {"HQ": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 4}},
        "confusion_matrix": {
            "rows": ["HQ", "LQ"],
            "columns": ["HQ", "LQ", None],
            "counts": [[1, 2, 1], [0, 4, 0]],
        },
        "no_label_rate": 0.125,
        "num_samples": 8,
        "response_lengths": {"mean_chars": 12.0},
        "answer_tokens": {"mean": 3.5, "max": 16, "cap": 16, "at_cap": 2, "at_cap_rate": 0.25},
        "generation": {"max_new_tokens": 16, "batch_size": 4},
        "samples": {
            "right": [{"id": "r1", "question": "q", "answer": "HQ", "gold": "HQ", "parsed": "HQ"}],
            "wrong": [{"id": "w1", "question": "q", "answer": "maybe", "gold": "HQ", "parsed": None}],
        },
        "robustness": {"normalized_line_endings": {
            "accuracy": accuracy - 0.25, "accuracy_stderr": 0.05, "macro_f1": 0.3, "recall": {"HQ": 0.5},
            "n": 8, "rows_changed": 3, "answers_changed": 2, "generate_seconds": 0.5,
        }},
    }


def a_state() -> dict:
    jobs = {}
    for stage in stage_table.names():
        timings = {"TrainingTimeInSeconds": 100, "BillableTimeInSeconds": 90}
        jobs[stage] = {"job_name": f"j-{stage}", "status": "Completed", "timings": timings}
    return {"run": {"run_id": "run-1", "counts": {"sft": 24, "eval": 8, "rft": 8}}, "jobs": jobs}


def test_report_json_keeps_the_stages_in_pipeline_order(aws, use_settings) -> None:
    """Issue 14: report.json was written with sorted keys, so its stages read baseline, rft, sft."""
    settings = use_settings(load_settings(PROJECT_ROOT / "config" / "local.yaml"))
    for index, stage in enumerate(s.name for s in stage_table.eval_stages()):
        put_json(aws, ARTIFACTS_BUCKET, eval_results_key("run-1", stage), results_document(0.5 + index / 10))
    report.write_report(settings, ARTIFACTS_BUCKET, a_state(), "SUCCEEDED")
    body = aws.get_object(Bucket=ARTIFACTS_BUCKET, Key=report_key("run-1"))["Body"].read()
    written = json.loads(body)
    assert list(written["stages"]) == ["baseline", "champion", "sft", "rft"]  # every stage ran here
    assert list(written)[:3] == ["run_id", "pipeline", "model"]  # every level keeps its built order
    markdown = (
        aws.get_object(Bucket=ARTIFACTS_BUCKET, Key=report_markdown_key("run-1"))["Body"].read().decode()
    )
    assert (markdown.index("### baseline") < markdown.index("### champion") < markdown.index("### sft")
            < markdown.index("### rft"))


def test_a_run_that_found_no_champion_reports_no_champion_section(aws, use_settings) -> None:
    """A first run: nothing deployed, so the champion's evaluation never ran and has no section."""
    settings = use_settings(load_settings(PROJECT_ROOT / "config" / "local.yaml"))
    state = a_state()
    del state["jobs"][stage_table.champion_stage().name]
    state["champion"] = {"present": False, "endpoint_name": "forge-local--endpoint", "reason": "no endpoint"}
    built = report.build_report(settings, ARTIFACTS_BUCKET, state, "SUCCEEDED")
    assert list(built["stages"]) == ["baseline", "sft", "rft"]
    assert "Champion: none (no endpoint)." in report.render_markdown(built)


def test_report_carries_every_block_of_results_json_and_the_job_facts(aws, use_settings) -> None:
    settings = use_settings(load_settings(PROJECT_ROOT / "config" / "local.yaml"))
    put_json(aws, ARTIFACTS_BUCKET, eval_results_key("run-1", "eval_sft"), results_document(0.75))
    built = report.build_report(settings, ARTIFACTS_BUCKET, a_state(), "SUCCEEDED")
    sft = built["stages"]["sft"]
    expected = results_document(0.75)
    for key in report.RESULT_EXTRAS:
        assert sft[key] == expected[key], key
    assert sft["metrics"]["accuracy_stderr"] == 0.05
    assert built["stages"]["baseline"]["samples"] is None  # no results.json for it: nothing invented
    job = sft["training_job"]
    assert (job["instance_type"], job["instance_count"], job["use_spot"]) == ("local", 1, False)
    # local.yaml's own SFT hyperparameters, each against the job code's default.
    defaults = SftHyperparameters()
    own = {k for k, v in settings.stages.sft.hyperparameters.items() if getattr(defaults, k) != v}
    assert own and own <= set(job["hyperparameters"])
    assert "use_lora" not in job["hyperparameters"]  # local.yaml sets it to its default: no change
    for name, change in job["hyperparameters"].items():
        assert change["value"] != change["default"], name
    assert "labels" not in job["hyperparameters"]  # the pipeline's own plumbing, not a change
    markdown = report.render_markdown(built)
    assert "| HQ | 0.500 | 0.250 | 0.333 | 4 |" in markdown
    assert "0.7500 [0.652, 0.848]" in markdown  # 0.75 -/+ 1.96 x 0.05
    assert "local, no charge" in markdown and "Total: $0.00" in markdown
    assert "split sizes: sft 24, eval 8, rft 8" in markdown


def test_the_report_carries_the_training_curves_from_the_jobs_output(aws, use_settings) -> None:
    """On AWS too (no local run directory): the curves come from the training job's output.tar.gz."""
    from pipeline_core.layout import job_output_archive_key

    settings = use_settings(load_settings(PROJECT_ROOT / "config" / "local.yaml"))
    history = [{"step": step, "loss": 2.0 / step, "learning_rate": 1e-3} for step in range(1, 6)]
    history.append({"step": 5, "train_runtime": 12.0})  # the trainer's summary line: no curve point
    body = tarball({"training_log.json": json.dumps({"stage": "sft", "log_history": history}).encode()})
    aws.put_object(Bucket=ARTIFACTS_BUCKET, Key=job_output_archive_key("run-1", "sft", "j-sft"), Body=body)
    built = report.build_report(settings, ARTIFACTS_BUCKET, a_state(), "SUCCEEDED")
    curve = built["stages"]["sft"]["training_job"]["curve"]
    assert curve["loss"] == [[float(s), 2.0 / s] for s in range(1, 6)]
    assert "curve" not in built["stages"]["rft"]["training_job"]  # no archive for it: nothing invented
    assert "Training (5 logged steps): loss 2 → 0.4" in report.render_markdown(built)


def test_long_curves_are_thinned_keeping_both_ends() -> None:
    from pipeline_core.report_table import MAX_CURVE_POINTS, training_curve

    history = [{"step": step, "loss": float(step)} for step in range(1, 1001)]
    points = training_curve(history)["loss"]
    assert len(points) == MAX_CURVE_POINTS and points[0] == [1.0, 1.0] and points[-1] == [1000.0, 1000.0]


RFT_FACTS = {
    "prompts_seen": 48, "prompts_available": 4200, "prompt_selection": "uncertain", "groups": 48,
    "zero_variance_groups": 30, "zero_variance_share": 0.625, "reward_std_mean": 0.2134,
    "selection": {"pool": 192, "kept": 48, "pool_entropy_mean": 0.41, "kept_entropy_mean": 0.83,
                  "max_entropy": 1.0986, "seconds": 12.5},
}


def test_the_rft_section_says_how_many_prompts_were_seen_and_how_many_groups_taught_nothing(
        aws, use_settings) -> None:
    """Issue 17: the RFT job's training_log.json carries its signal; report.json and report.md show it."""
    from pipeline_core.layout import job_output_archive_key

    settings = use_settings(load_settings(PROJECT_ROOT / "config" / "local.yaml"))
    history = [{"step": s, "loss": 0.0, "reward": 0.5, "reward_std": 0.2, "frac_reward_zero_std": 0.625}
               for s in range(1, 25)]
    document = {"stage": "rft", "log_history": history, "rft": {**RFT_FACTS, "note": "text is dropped"}}
    body = tarball({"training_log.json": json.dumps(document).encode()})
    aws.put_object(Bucket=ARTIFACTS_BUCKET, Key=job_output_archive_key("run-1", "rft", "j-rft"), Body=body)
    built = report.build_report(settings, ARTIFACTS_BUCKET, a_state(), "SUCCEEDED")
    job = built["stages"]["rft"]["training_job"]
    assert job["signal"] == RFT_FACTS
    assert job["curve"]["frac_reward_zero_std"][0] == [1.0, 0.625]
    assert "signal" not in built["stages"]["sft"]["training_job"]
    markdown = report.render_markdown(built)
    rft_section = markdown[markdown.index("### rft"):]
    assert "- RFT prompts seen: 48 of 4,200" in rft_section
    zero = ("zero-variance groups (every completion rewarded alike: no gradient): 62% of 48; "
            "mean reward std 0.213")
    assert zero in rft_section
    assert "prompts selected by uncertainty: 48 of a pool of 192, label entropy 0.830 (pool 0.410, at most " \
           "1.099)" in rft_section
    assert "RFT prompts seen" not in markdown[:markdown.index("### rft")]


def test_the_html_rft_section_shows_the_same_signal(tmp_path) -> None:
    from forge import report_sections
    from pipeline_core import layout
    from pipeline_core.report_table import rft_signal_lines

    folder = tmp_path / layout.OUTPUTS_DIR / "rft"
    folder.mkdir(parents=True)
    history = [{"step": 1, "loss": 0.0, "reward": 0.5, "reward_std": 0.2, "frac_reward_zero_std": 0.625}]
    (folder / layout.TRAINING_LOG_FILE).write_text(
        json.dumps({"stage": "rft", "log_history": history, "rft": RFT_FACTS}), encoding="utf-8")
    page = report_sections._curves(tmp_path, "rft")
    for line in rft_signal_lines(RFT_FACTS):
        assert f"<li>{line}</li>" in page
    assert "frac_reward_zero_std" in page
    assert rft_signal_lines(None) == [] and rft_signal_lines({"prompts_seen": 3}) == []


def test_custom_metrics_get_their_own_columns_in_the_report(aws, use_settings) -> None:
    """metrics.modules (issue 16): each metric a module returned is a column of the stage table."""
    settings = use_settings(load_settings(PROJECT_ROOT / "config" / "local.yaml"))
    for stage, recall in (("baseline_eval", 0.25), ("eval_sft", 0.5)):
        document = results_document(0.5)
        document["results"]["all"]["answer_recall"] = recall
        document["custom_metrics"] = {"metric.py": {"answer_recall": recall}}
        put_json(aws, ARTIFACTS_BUCKET, eval_results_key("run-1", stage), document)
    built = report.build_report(settings, ARTIFACTS_BUCKET, a_state(), "SUCCEEDED")
    assert built["stages"]["sft"]["custom_metrics"] == {"metric.py": {"answer_recall": 0.5}}
    assert "custom_metrics" not in built["stages"]["rft"]  # nothing invented for a stage without them
    markdown = report.render_markdown(built)
    header = next(line for line in markdown.splitlines() if line.startswith("| stage | accuracy"))
    assert header.endswith("| answer_recall | eval job |")
    assert "| sft | answer_recall | +0.2500 | +0.2500 |" in markdown
