"""The one S3 layout: every key and prefix a run, the code channel, the uploads and the CLI use.

Three buckets (stacks/storage.py):

- the artifacts bucket: ``runs/<run-id>/`` (everything a run writes, see below) and ``code/`` (the
  open-weights jobs' code channel, deployed by stacks/job_code_asset.py, uploaded the same way by local mode);
- the data bucket: ``incoming/`` (an upload there starts a run, stacks/triggers.py) and ``cli/<run-id>/``
  (``forge run --aws`` uploads, kept out of ``incoming/`` so they do not start a second execution);
- the access-log bucket: one prefix per logged bucket.

Under a run prefix (docs/contracts.md; a local run directory is a copy of it, so the relative names below
are also paths inside ``runs/<run-id>/`` on disk)::

    data/validation.json          Prepare's row-level validation report
    data/<kind>/<file>            the formatted splits (train / validation / eval)
    jobs/<stage>/<job>/...        each job's SageMaker output (output/model.tar.gz, output/output.tar.gz)
    jobs/<stage>/checkpoints/     a training stage's checkpoints (a retried attempt resumes from them)
    artifacts/<stage>.json        the artifact record of a completed job
    eval/<stage>/results.json     an evaluation's metrics
    deployed/<file>               the copy of the model an endpoint serves
    champion.json                 the model on the pipeline's endpoint when the run began (the champion)
    report.json, report.md        the run report

The IAM object patterns at the end are built from the same constants, so a prefix the jobs or handlers
read cannot be missing from their roles (tests/infra/test_s3_layout.py checks the synthesized roles).
Standard library only: the stacks, the handlers and local mode import it alike.
"""

from __future__ import annotations

# -- artifacts bucket ---------------------------------------------------------------------------
RUNS_PREFIX = "runs/"
# The `code` channel of every open-weights job (forge_handlers.training_requests).
CODE_S3_PREFIX = "code/"

# Relative to a run prefix.
DATA_DIR = "data/"
VALIDATION_REPORT = f"{DATA_DIR}validation.json"
JOBS_DIR = "jobs/"
CHECKPOINTS_DIR = "checkpoints/"
ARTIFACTS_DIR = "artifacts/"
EVAL_DIR = "eval/"
EVAL_RESULTS_FILE = "results.json"
DEPLOYED_DIR = "deployed/"
CHAMPION_FILE = "champion.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
# SageMaker writes a job's output to <output path><job name>/output/; output.tar.gz holds what the job
# wrote to SM_OUTPUT_DATA_DIR (an eval's plots and inference outputs).
OUTPUT_ARCHIVE = "output/output.tar.gz"
JOB_OUTPUT_ARCHIVES = f"{JOBS_DIR}*/*/{OUTPUT_ARCHIVE}"
# What a training job writes beside train_metrics.json into that archive: the trainer's per-step log and
# its curves (job_code.training); a local run extracts it to outputs/<stage>/ (forge/local/results.py).
TRAINING_LOG_FILE = "training_log.json"
TRAINING_CURVES_FILE = "training_curves.png"
# A local run directory only: where job_outputs of training stages are extracted.
OUTPUTS_DIR = "outputs/"


def run_prefix(run_id: str) -> str:
    """``runs/<run-id>/``: everything one run writes."""
    return f"{RUNS_PREFIX}{run_id}/"


def is_run_key(key: str) -> bool:
    """Whether an artifacts-bucket key belongs to some run (its objects the SageMaker role may write)."""
    return key.startswith(RUNS_PREFIX)


def validation_report_key(run_id: str) -> str:
    """Prepare's row-level validation report."""
    return f"{run_prefix(run_id)}{VALIDATION_REPORT}"


def dataset_key(run_id: str, kind: str, filename: str) -> str:
    """A formatted split (``kind``: train / validation / eval) as the jobs read it."""
    return f"{run_prefix(run_id)}{DATA_DIR}{kind}/{filename}"


def job_output_prefix(run_id: str, stage: str) -> str:
    """The OutputDataConfig path of a stage's jobs (SageMaker adds ``<job name>/output/``)."""
    return f"{run_prefix(run_id)}{JOBS_DIR}{stage}/"


def job_output_archive_key(run_id: str, stage: str, job_name: str) -> str:
    """A job's output.tar.gz (what it wrote to SM_OUTPUT_DATA_DIR): JOB_OUTPUT_ARCHIVES names them all."""
    return f"{job_output_prefix(run_id, stage)}{job_name}/{OUTPUT_ARCHIVE}"


def checkpoint_prefix(run_id: str, stage: str) -> str:
    """A training stage's CheckpointConfig path, shared by its attempts."""
    return f"{job_output_prefix(run_id, stage)}{CHECKPOINTS_DIR}"


def recipe_key(run_id: str, stage: str, job: str) -> str:
    """The Nova recipe a job's `recipe` channel reads, beside that job's output."""
    return f"{job_output_prefix(run_id, stage)}{job}/recipe/recipe.yaml"


def artifact_key(run_id: str, stage: str) -> str:
    """The artifact record of a stage's completed job (forge_handlers.artifacts)."""
    return f"{run_prefix(run_id)}{ARTIFACTS_DIR}{stage}.json"


def eval_results_path(stage: str) -> str:
    """An evaluation's metrics, relative to the run prefix (and to a local run directory)."""
    return f"{EVAL_DIR}{stage}/{EVAL_RESULTS_FILE}"


def eval_results_key(run_id: str, stage: str) -> str:
    """An evaluation's metrics, as the jobs handler copies them out of the job's output."""
    return f"{run_prefix(run_id)}{eval_results_path(stage)}"


def report_key(run_id: str) -> str:
    """The run report (JSON), written by the Report step or the abort handler."""
    return f"{run_prefix(run_id)}{REPORT_JSON}"


def report_markdown_key(run_id: str) -> str:
    """The run report rendered as Markdown."""
    return f"{run_prefix(run_id)}{REPORT_MD}"


def champion_key(run_id: str) -> str:
    """The champion record (forge_handlers.champion): what the pipeline's endpoint served as the run began;
    the champion's evaluation reads its weights from it, the gate its presence."""
    return f"{run_prefix(run_id)}{CHAMPION_FILE}"


def deployed_model_key(run_id: str, source_key: str) -> str:
    """Where Deploy copies the served model (forge_handlers.model_copy); SERVED_MODELS matches it."""
    return f"{run_prefix(run_id)}{DEPLOYED_DIR}{source_key.rsplit('/', 1)[-1]}"


# -- data bucket --------------------------------------------------------------------------------
# An object created under it starts a run (stacks/triggers.py); local mode uploads there too.
INCOMING_PREFIX = "incoming/"
# `forge run --aws` uploads: not under incoming/, whose rule would start a second execution of the file.
CLI_UPLOAD_PREFIX = "cli/"


def upload_key(upload_prefix: str, run_id: str, input_name: str, filename: str) -> str:
    """Where a run's input file is uploaded: ``<prefix><run-id>/<file>``, the eval set as ``eval-<file>``.

    ``input_name`` is the execution-input field the file is given as (``dataset`` or ``eval_dataset``).
    """
    return f"{upload_prefix}{run_id}/{'eval-' if input_name == 'eval_dataset' else ''}{filename}"


# -- access-log bucket --------------------------------------------------------------------------
DATA_ACCESS_LOGS_PREFIX = "data/"
ARTIFACTS_ACCESS_LOGS_PREFIX = "artifacts/"


# -- IAM object patterns (relative to a bucket's ARN, or as s3:prefix condition values) -------------
def objects_under(prefix: str) -> str:
    """The IAM pattern of every object under ``prefix``."""
    return f"{prefix}*"


RUN_OBJECTS = objects_under(RUNS_PREFIX)
CODE_OBJECTS = objects_under(CODE_S3_PREFIX)
# runs/<run-id>/deployed/<file>: Deploy writes there, the bucket policy denies the SageMaker role.
SERVED_MODELS = objects_under(f"{RUNS_PREFIX}*/{DEPLOYED_DIR}")
# The data bucket is read whole: a scheduled run's dataset may be any key in it, not only an upload prefix.
DATA_OBJECTS = objects_under("")


def job_reads(code_channel: bool) -> tuple[str, ...]:
    """What the SageMaker jobs read in the artifacts bucket: the runs (datasets, earlier stages' models) and,
    for open-weights jobs, the code channel."""
    return (RUN_OBJECTS, CODE_OBJECTS) if code_channel else (RUN_OBJECTS,)


# What the jobs write: their outputs under job_output_prefix (the role's write reaches every run: one role
# runs every job of the pipeline, hence the served copies' Deny).
JOB_WRITES = (RUN_OBJECTS,)
# What the handlers read in the artifacts bucket; those that read the data bucket (stacks/permissions.py)
# read DATA_OBJECTS there too.
HANDLER_READS = (RUN_OBJECTS,)
# What the handlers write: Deploy only the served copies, every other writer under runs/.
HANDLER_WRITES = (RUN_OBJECTS,)
DEPLOY_WRITES = (SERVED_MODELS,)
