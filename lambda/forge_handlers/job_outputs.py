"""Read what a finished SageMaker job left on S3: eval results and Nova's checkpoint manifest.

SageMaker packs SM_OUTPUT_DATA_DIR into ``<S3OutputPath>/<job>/output/output.tar.gz`` and SM_MODEL_DIR into
``.../output/model.tar.gz``. Our evaluate.py writes ``results.json`` (+ ``inference_output.jsonl``); Nova's
gen_qa eval writes ``results_<time>.json`` and ``inference_output.jsonl``; Nova training writes
``manifest.json`` whose ``checkpoint_s3_bucket`` is the trained checkpoint.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from forge_handlers.aws import s3io
from forge_handlers.errors import ArtifactMissingError, JobFailedError
from pipeline_core.settings_task import channel_paths

if TYPE_CHECKING:
    from pipeline_core.settings import Settings


def output_tarball_uri(description: dict[str, Any]) -> str:
    base = description["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return f"{base}/{description['TrainingJobName']}/output/output.tar.gz"


def read_tar_members(uri: str, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """Members of a .tar.gz on S3 whose base name matches one of ``wanted`` (prefix match on 'results')."""
    body = s3io.get_bytes(uri, what="job output archive")
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
            for member in archive.getmembers():
                name = PurePosixPath(member.name).name
                if member.isfile() and any(_matches(name, pattern) for pattern in wanted):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        found.setdefault(name, extracted.read())
    except tarfile.TarError as error:
        raise ArtifactMissingError(f"job output archive {uri} is not a readable tar.gz: {error}") from None
    return found


def _matches(name: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1]) and name.endswith(".json")
    return name == pattern


def bundled_metric_paths(settings: Settings) -> list[Path]:
    """Nova: the metrics.modules files in this Lambda's bundle (stacks/bundle.py stages them beside the
    packages), run on the eval's inference output. Open weights: none (the eval job ran them)."""
    if settings.model.family != "nova":
        return []
    root = Path(__file__).resolve().parent.parent
    return [root / path for path in channel_paths(settings)]


def read_eval_results(tarball_uri: str, labels: list[str]) -> dict[str, Any]:
    """The eval results in Nova's shape ``{"results": {"all": {...}}}``, completed with our label metrics."""
    members = read_tar_members(tarball_uri, ("results.json", "results_*", "inference_output.jsonl"))
    results_name = (
        "results.json"
        if "results.json" in members
        else next((name for name in sorted(members) if name.startswith("results_")), None)
    )
    if results_name is None:
        raise ArtifactMissingError(f"no results.json / results_*.json in {tarball_uri}")
    try:
        results = json.loads(members[results_name])
        flat = results["results"]["all"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ArtifactMissingError(f"{results_name} in {tarball_uri} lacks results.all") from None
    if "accuracy" not in flat and "inference_output.jsonl" in members:
        # Nova's gen_qa evaluator reports lighteval metrics only: add the permissive label accuracy,
        # macro F1 and the per-class extras, recomputed from its inference output by job_code.
        rescored = _rescore(members["inference_output.jsonl"], labels, tarball_uri)
        flat.update({k: v for k, v in rescored.pop("results")["all"].items() if k not in flat})
        results.update({k: v for k, v in rescored.items() if k not in results})
    return results


def add_custom_metrics(results: dict[str, Any], tarball_uri: str, paths: list[Path]) -> dict[str, Any]:
    """The user's metric files on Nova's inference output, in this Lambda (stdlib-only files: the runtime
    has boto3 and the Powertools layer, nothing else), merged into ``results`` (job_code.core.custom_metrics).
    A bad file fails the eval stage, naming it."""
    from job_code.core.custom_metrics import CustomMetricError, merge_into, run_custom_metrics
    from job_code.core.results import ResultsFormatError, read_inference_output

    source = tarball_uri
    members = read_tar_members(tarball_uri, ("inference_output.jsonl",))
    if "inference_output.jsonl" not in members:
        raise JobFailedError(f"metrics.modules need the eval's inference_output.jsonl, absent from {source}")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "inference_output.jsonl"
        path.write_bytes(members["inference_output.jsonl"])
        try:
            records = read_inference_output(path)
        except ResultsFormatError as error:
            raise ArtifactMissingError(f"inference_output.jsonl in {source}: {error}") from None
    rows = [{"id": str(index), "system": None, "question": r.prompt, "answer": r.gold}
            for index, r in enumerate(records)]
    try:
        custom = run_custom_metrics(paths, [r.prediction for r in records], [r.gold for r in records], rows,
                                    taken=list(results["results"]["all"]))
    except CustomMetricError as error:
        raise JobFailedError(f"eval results of {source}: {error}") from None
    return merge_into(results, custom)


def _rescore(jsonl: bytes, labels: list[str], source: str) -> dict[str, Any]:
    from job_code.core.results import ResultsFormatError, rescore_inference_output

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "inference_output.jsonl"
        path.write_bytes(jsonl)
        try:
            # Nova's results already hold the gen_qa text metrics; ROUGE/BLEU would need rouge-score,
            # sacrebleu and numpy, which neither the Lambda runtime nor the Powertools layer ships.
            return rescore_inference_output(path, labels, text_metrics=False)
        except ResultsFormatError as error:
            raise ArtifactMissingError(f"inference_output.jsonl in {source}: {error}") from None


def read_nova_checkpoint(tarball_uri: str) -> str | None:
    """``checkpoint_s3_bucket`` from a Nova training job's manifest.json, or None when absent."""
    try:
        members = read_tar_members(tarball_uri, ("manifest.json",))
    except ArtifactMissingError:
        return None
    if "manifest.json" not in members:
        return None
    try:
        manifest = json.loads(members["manifest.json"])
    except json.JSONDecodeError:
        raise ArtifactMissingError(f"manifest.json in {tarball_uri} is not valid JSON") from None
    return manifest.get("checkpoint_s3_bucket") or None
