"""Evaluation job: batched greedy generation on the `eval` channel, then metrics and plots.

Inputs: channel `eval` (chat JSONL, required), channel `model` (a previous stage's HF directory or
model.tar.gz; absent → hyperparameter base_model). Outputs into SM_OUTPUT_DATA_DIR:
``inference_output.jsonl`` (one {"id", "prompt", "inference", "gold", "label"} per row, in input order;
label = the label parsed from the inference, or null),
``results.json`` ({"results": {"all": {...}}} + extras, from job_code.core.metrics, then the
``metrics_modules``' values in ``all`` and ``custom_metrics`` (job_code.core.custom_metrics), + ``samples``:
five right and five wrong answers, + ``answer_tokens``: lengths against max_new_tokens, + ``robustness``: the
same questions scored with line endings normalized, see ``line_ending_robustness``), ``confusion_matrix.png``
(row-normalized, with counts), ``response_lengths.png`` (in tokens, the cap marked); results.json is
copied to ``SM_MODEL_DIR/eval/`` so it travels with the job output.

Progress lines: ``progress stage=eval step=<rows done>/<rows> samples_per_s=.. eta_s=..`` (see sm_contract).

Scale-out: evaluation is embarrassingly parallel but small; run it single-process (one GPU per job).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from job_code import tracking
from job_code.sm_contract import JobPaths, parse_hyperparameters, run_job

# The typed, bounded hyperparameters (shared with the settings' check at synth).
from pipeline_core.job_hyperparameters import EvalHyperparameters, check_room

__all__ = ["EvalHyperparameters", "evaluate_answers", "main", "run_evaluation"]

RESULTS_FILE = "results.json"
INFERENCE_FILE = "inference_output.jsonl"


def evaluate_answers(
    predictions: list[str], references: list[str], labels: list[str]
) -> tuple[dict, list[str | None]]:
    """Nova's results shape {"results": {"all": ...}} + the report's extras, and each parsed label."""
    from job_code.core.metrics import compute_report

    report = compute_report(predictions, references, labels or None)
    results: dict = {"results": {"all": report.pop("metrics")}}
    parsed = report.pop("parsed_labels", None) or [None] * len(predictions)  # per row: inference_output
    results.update(report)
    return results, parsed


def add_custom_metrics(results: dict, modules: str, answers: list[str], golds: list[str], rows: list) -> dict:
    """Run the ``metrics_modules`` (paths in the code channel) after the built-ins; their values join
    ``results.all`` (job_code.core.custom_metrics). A bad module raises CustomMetricError naming its file."""
    from job_code.core import custom_metrics
    from pipeline_core.job_hyperparameters import metric_modules_of

    paths = metric_modules_of(modules)
    if not paths:
        return results
    root = Path(__file__).resolve().parent.parent  # the code channel's root (job_code/ sits at its top)
    custom = custom_metrics.run_custom_metrics(
        [custom_metrics.resolve(path, root) for path in paths], answers, golds,
        custom_metrics.row_dicts(rows), taken=list(results["results"]["all"]),
    )
    return custom_metrics.merge_into(results, custom)


def answer_token_stats(token_lengths: list[int], cap: int) -> dict:
    """Answer lengths in tokens against the generation cap: how many answers it cut off."""
    count = len(token_lengths) or 1
    return {
        "mean": sum(token_lengths) / count,
        "max": max(token_lengths, default=0),
        "cap": cap,
        "at_cap": sum(1 for n in token_lengths if n >= cap),
        "at_cap_rate": sum(1 for n in token_lengths if n >= cap) / count,
    }


def line_ending_robustness(
    prompts: list[str],
    normalized_prompts: list[str],
    answers: list[str],
    golds: list[str],
    labels: list[str],
    generate: Callable[[list[str]], list[str]],
) -> dict:
    """The eval's score with each question's line endings normalized (``\r\n`` / ``\r`` -> ``\n``): a
    model that learnt the line-ending shortcut (job_code/core/shortcuts.py) loses accuracy here.

    Only the prompts that change are generated again; every other row keeps its answer (greedy decoding
    gives the same answer to the same prompt), so the cost is the share of rows with ``\r``.
    """
    from job_code.core.metrics import compute_report

    changed = [i for i, (raw, new) in enumerate(zip(prompts, normalized_prompts, strict=True)) if raw != new]
    started = time.monotonic()
    regenerated = generate([normalized_prompts[i] for i in changed]) if changed else []
    seconds = time.monotonic() - started
    merged = list(answers)
    for index, answer in zip(changed, regenerated, strict=True):
        merged[index] = answer
    report = compute_report(merged, golds, labels or None, text_metrics=False)
    metrics = report["metrics"]
    return {
        "accuracy": metrics.get("accuracy"),
        "accuracy_stderr": metrics.get("accuracy_stderr"),
        "macro_f1": metrics.get("macro_f1"),
        "recall": {label: c["recall"] for label, c in (report.get("per_class") or {}).items()},
        "n": len(prompts),
        "rows_changed": len(changed),
        "answers_changed": sum(1 for i in changed if merged[i] != answers[i]),
        "generate_seconds": round(seconds, 3),
    }


def run_evaluation(params: EvalHyperparameters, paths: JobPaths) -> dict:
    import torch
    from transformers import set_seed

    from job_code.chat import (
        labels_from_rows,
        parse_labels_hyperparameter,
        prompt_messages,
        prompt_text,
        read_chat_rows,
    )
    from job_code.core.samples import select_samples
    from job_code.core.shortcuts import normalize_line_endings
    from job_code.generation import generate_texts
    from job_code.models import load_model_and_tokenizer, resolve_model_dir
    from job_code.plots import plot_confusion_matrix, plot_response_lengths
    from job_code.sm_contract import ProgressLog, configure_cpu_threads

    configure_cpu_threads()
    set_seed(params.seed)
    rows = read_chat_rows(paths.require_channel("eval"), limit=params.max_samples)
    labels = parse_labels_hyperparameter(params.labels) or labels_from_rows(rows)
    check_room(params, labels=labels)  # the labels of the data, when no labels hyperparameter names them
    model_dir = resolve_model_dir(paths.channel("model"), params.base_model, paths.scratch_dir())
    model, tokenizer = load_model_and_tokenizer(model_dir)
    if torch.cuda.is_available():
        model = model.to("cuda")

    prompts = [
        prompt_text(prompt_messages(row, tokenizer, params.max_query_tokens), tokenizer) for row in rows
    ]
    progress = ProgressLog(params.stage, len(rows))
    started = time.monotonic()
    answers = generate_texts(
        model,
        tokenizer,
        prompts,
        max_new_tokens=params.max_new_tokens,
        batch_size=params.batch_size,
        on_batch=lambda done: progress.update(done, force=done == len(rows)),
    )
    seconds = time.monotonic() - started

    golds = [row.answer or "" for row in rows]
    results, parsed = evaluate_answers(answers, golds, labels)
    add_custom_metrics(results, params.metrics_modules, answers, golds, rows)
    if params.robustness and labels:  # a label-accuracy check: a generation eval (no labels) skips it
        normalized = [
            prompt_text(prompt_messages(
                dataclasses.replace(row, question=normalize_line_endings(row.question)), tokenizer,
                params.max_query_tokens), tokenizer)
            for row in rows
        ]
        results["robustness"] = {"normalized_line_endings": line_ending_robustness(
            prompts, normalized, answers, golds, labels,
            lambda texts: generate_texts(model, tokenizer, texts, max_new_tokens=params.max_new_tokens,
                                         batch_size=params.batch_size),
        )}
    # Lengths in tokens, the unit of the generation cap: an answer at max_new_tokens was cut off.
    token_lengths = [len(tokenizer(answer, add_special_tokens=False)["input_ids"]) for answer in answers]
    results["samples"] = select_samples(
        [row.id for row in rows], [row.question for row in rows], answers,
        [row.label or row.answer for row in rows], parsed,
    )
    results.update(
        {
            "stage": params.stage,
            "num_samples": len(rows),
            "labels": labels,
            "model_dir": str(model_dir),
            "generation": {"max_new_tokens": params.max_new_tokens, "batch_size": params.batch_size},
            "answer_tokens": answer_token_stats(token_lengths, params.max_new_tokens),
            "timing": {"generate_seconds": round(seconds, 3), "samples_per_s": round(len(rows) / seconds, 3)},
        }
    )

    out = paths.output_data_dir
    out.mkdir(parents=True, exist_ok=True)
    with (out / INFERENCE_FILE).open("w", encoding="utf-8") as handle:
        for row, prompt, answer, label in zip(rows, prompts, answers, parsed, strict=True):
            record = {"id": row.id, "prompt": prompt, "inference": answer, "gold": row.answer, "label": label}
            handle.write(json.dumps(record) + "\n")
    if "confusion_matrix" in results:
        title = f"{params.stage}: confusion matrix"
        plot_confusion_matrix(results["confusion_matrix"], out / "confusion_matrix.png", title)
    plot_response_lengths(token_lengths, out / "response_lengths.png", f"{params.stage}: answer lengths",
                          cap=params.max_new_tokens, unit="tokens")
    text = json.dumps(results, indent=2, sort_keys=True)
    (out / RESULTS_FILE).write_text(text, encoding="utf-8")
    (paths.model_dir / "eval").mkdir(parents=True, exist_ok=True)
    (paths.model_dir / "eval" / RESULTS_FILE).write_text(text, encoding="utf-8")
    return results


def log_evaluation(run, results: dict, out) -> None:
    """The stage's metrics (each with its ``_stderr``), per-class scores, answer lengths, and the plots."""
    numeric_metrics = tracking.numeric_metrics
    metrics = numeric_metrics(results["results"]["all"])
    metrics.update(numeric_metrics({"no_label_rate": results.get("no_label_rate")}))
    metrics.update(numeric_metrics(results.get("per_class") or {}, "class."))
    metrics.update(numeric_metrics(results.get("response_lengths") or {}, "length."))
    run.log_metrics(metrics)
    run.log_artifacts([out / name for name in (RESULTS_FILE, "confusion_matrix.png", "response_lengths.png")])


def main(argv: list[str] | None = None) -> int:
    def job(paths: JobPaths) -> None:
        params = parse_hyperparameters(EvalHyperparameters, argv, paths)
        with tracking.stage_run(tracking.hyperparameters_of(params)) as run:
            results = run_evaluation(params, paths)
            if run is not None:
                log_evaluation(run, results, paths.output_data_dir)
        print(json.dumps({"stage": params.stage, **results["results"]["all"]}, sort_keys=True), flush=True)

    return run_job(job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
