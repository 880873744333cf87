"""The SageMaker training-toolkit contract, with local fallbacks, shared by every job script.

Paths (each env var wins; otherwise it is derived from the prefix ``SM_BASE_DIR``, default ``/opt/ml``):

| what | env var | fallback |
|---|---|---|
| model output (saved model, ``eval/`` metrics) | ``SM_MODEL_DIR`` | ``<prefix>/model`` |
| other outputs (inference, plots, results) | ``SM_OUTPUT_DATA_DIR`` | ``<prefix>/output/data`` |
| failure file | ``SM_OUTPUT_DIR`` + ``/failure`` | ``<prefix>/output/failure`` |
| checkpoints (spot resume) | ``SM_CHECKPOINT_DIR`` | ``<prefix>/checkpoints`` |
| channel ``NAME`` (train, eval, model) | ``SM_CHANNEL_<NAME>`` | ``<input data>/<name>`` if present |
| input root | ``SM_INPUT_DIR`` | ``<prefix>/input`` |
| channels root | ``SM_INPUT_DATA_DIR`` | ``<input>/data`` |
| hyperparameters.json (CLI flags override it) | ``SM_INPUT_CONFIG_DIR`` | ``<input>/config`` |

Hyperparameters arrive as strings (SageMaker stringifies them, sometimes JSON-quoted); each script declares
a dataclass whose field types drive parsing (pipeline_core.job_hyperparameters.parse_mapping). Unknown
names are rejected with a message naming them, except the ``sagemaker_*`` names SageMaker itself injects
(e.g. ``sagemaker_program``).

Progress lines: every script prints lines of the form (one line, space-separated key=value, stable order)::

    progress stage=sft step=12/100 loss=1.2340 reward=0.5000 samples_per_s=3.10 eta_s=120
    progress stage=rft step=3/20 reward=0.8125 reward_std=0.2500 zero_std=0.5000 samples_per_s=0.40 eta_s=85

``stage`` and ``step=<done>/<total>`` are always present; other keys appear when known. RFT adds
``reward_std`` (the std of the step's rewards) and ``zero_std`` (the share of prompt groups whose completions
all got the same reward: no gradient from them), TRL's ``reward_std`` and ``frac_reward_zero_std``.
``parse_progress`` turns such a line back into a dict; local mode uses it to show live progress from a job's
log.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline_core.job_hyperparameters import HyperparameterError, parse_mapping

PROGRESS_PREFIX = "progress "
T = typing.TypeVar("T")


class ChannelError(FileNotFoundError):
    """A required input channel is missing or holds no usable file."""


@dataclass(frozen=True)
class JobPaths:
    prefix: Path
    model_dir: Path
    output_data_dir: Path
    failure_file: Path
    checkpoint_dir: Path
    hyperparameters_file: Path
    input_data_dir: Path

    def scratch_dir(self) -> Path:
        """A private temp dir for extracted archives (the prefix may not be writable locally)."""
        import tempfile

        return Path(tempfile.mkdtemp(prefix="forge-job-"))

    def channel(self, name: str) -> Path | None:
        """The directory of input channel `name`, or None when the job got no such channel."""
        from_env = os.environ.get(f"SM_CHANNEL_{name.upper()}")
        if from_env:
            return Path(from_env)
        default = self.input_data_dir / name
        return default if default.exists() else None

    def require_channel(self, name: str) -> Path:
        path = self.channel(name)
        if path is None or not path.exists():
            raise ChannelError(
                f"required input channel '{name}' is missing (set SM_CHANNEL_{name.upper()} "
                f"or provide {self.input_data_dir / name})"
            )
        return path


def job_paths() -> JobPaths:
    prefix = Path(os.environ.get("SM_BASE_DIR", "/opt/ml"))
    output_dir = Path(os.environ.get("SM_OUTPUT_DIR", str(prefix / "output")))
    input_dir = Path(os.environ.get("SM_INPUT_DIR", str(prefix / "input")))
    config_dir = Path(os.environ.get("SM_INPUT_CONFIG_DIR", str(input_dir / "config")))
    return JobPaths(
        prefix=prefix,
        model_dir=Path(os.environ.get("SM_MODEL_DIR", str(prefix / "model"))),
        output_data_dir=Path(os.environ.get("SM_OUTPUT_DATA_DIR", str(output_dir / "data"))),
        failure_file=output_dir / "failure",
        checkpoint_dir=Path(os.environ.get("SM_CHECKPOINT_DIR", str(prefix / "checkpoints"))),
        hyperparameters_file=config_dir / "hyperparameters.json",
        input_data_dir=Path(os.environ.get("SM_INPUT_DATA_DIR", str(input_dir / "data"))),
    )


# ---------------------------------------------------------------- hyperparameters

def read_hyperparameters_file(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise HyperparameterError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise HyperparameterError(f"{path} must hold a JSON object of hyperparameters")
    return data


def parse_hyperparameters(cls: type[T], argv: list[str] | None, paths: JobPaths) -> T:
    """Build `cls` (a dataclass) from hyperparameters.json, overridden by CLI flags (--name value)."""
    fields = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    raw: dict[str, object] = {}
    for key, value in read_hyperparameters_file(paths.hyperparameters_file).items():
        raw[key.replace("-", "_")] = value

    parser = argparse.ArgumentParser(prog=cls.__name__, add_help=True)
    for name in fields:
        parser.add_argument(f"--{name}", f"--{name.replace('_', '-')}", dest=name, default=None)
    namespace, unknown = parser.parse_known_args(argv if argv is not None else [])
    if unknown:
        raise HyperparameterError(f"unknown command-line arguments: {' '.join(unknown)}")
    raw.update({name: value for name, value in vars(namespace).items() if value is not None})
    return parse_mapping(cls, raw)


# ---------------------------------------------------------------- failure file + entry point

def write_failure(paths: JobPaths, error: BaseException) -> None:
    message = str(error).strip().replace("\n", " ") or "no message"
    line = f"{type(error).__name__}: {message}"[:1000]
    try:
        paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(line + "\n", encoding="utf-8")
    except OSError as write_error:
        print(f"cannot write failure file {paths.failure_file}: {write_error}", file=sys.stderr)


def run_job(job: Callable[[JobPaths], None]) -> int:
    """Run a job body; on any exception write the one-line failure file and return exit code 1."""
    paths = job_paths()
    started = time.monotonic()
    try:
        job(paths)
    except Exception as error:  # noqa: BLE001 - the contract: any failure → failure file + non-zero exit
        traceback.print_exc()
        write_failure(paths, error)
        return 1
    write_job_resources(paths, time.monotonic() - started)
    return 0


JOB_RESOURCES_FILE = "job_resources.json"


def write_job_resources(paths: JobPaths, seconds: float) -> dict[str, float]:
    """Peak memory and wall time of the job process, in SM_OUTPUT_DATA_DIR (what instance size it needs)."""
    import resource

    usage = {
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # KiB on Linux
        "job_seconds": round(seconds, 2),
    }
    print("resources " + " ".join(f"{key}={value}" for key, value in usage.items()), flush=True)
    try:
        paths.output_data_dir.mkdir(parents=True, exist_ok=True)
        (paths.output_data_dir / JOB_RESOURCES_FILE).write_text(json.dumps(usage), encoding="utf-8")
    except OSError as error:
        print(f"cannot write {JOB_RESOURCES_FILE}: {error}", file=sys.stderr)
    return usage


def usable_cores() -> int:
    """Cores this process may run on (a container's or taskset's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def cpu_threads() -> int:
    """Intra-op threads: min(usable cores, OMP_NUM_THREADS), or the cores when OMP_NUM_THREADS is unset.

    More threads than cores never helps: OpenMP barriers then wait on descheduled threads (generation was
    >10x slower that way on a shared host). Set OMP_NUM_THREADS=1 on an oversubscribed machine.
    """
    cores = usable_cores()
    requested = os.environ.get("OMP_NUM_THREADS", "").strip()
    if requested.isdigit() and int(requested) > 0:
        return min(cores, int(requested))
    return cores


def configure_cpu_threads() -> None:
    """Set torch's intra-op threads to cpu_threads() (torch's own default can differ in containers)."""
    import torch

    if torch.cuda.is_available():
        return
    torch.set_num_threads(cpu_threads())


# ---------------------------------------------------------------- progress lines

class ProgressLog:
    """Prints `progress ...` lines at most every `every_s` seconds (and always for the last step)."""

    def __init__(self, stage: str, total: int, *, every_s: float = 5.0, samples_per_step: int = 1):
        self.stage, self.total, self.every_s = stage, max(1, total), every_s
        self.samples_per_step = samples_per_step
        self.started = time.monotonic()
        self.last_print = 0.0

    def update(self, step: int, *, force: bool = False, **metrics: float | None) -> str | None:
        now = time.monotonic()
        if not force and step < self.total and now - self.last_print < self.every_s:
            return None
        self.last_print = now
        elapsed = max(now - self.started, 1e-9)
        rate = step / elapsed
        parts = [f"stage={self.stage}", f"step={step}/{self.total}"]
        parts += [f"{key}={value:.4f}" for key, value in metrics.items() if value is not None]
        parts.append(f"samples_per_s={rate * self.samples_per_step:.2f}")
        parts.append(f"eta_s={int((self.total - step) / rate) if rate > 0 else -1}")
        line = PROGRESS_PREFIX + " ".join(parts)
        print(line, flush=True)
        return line


def parse_progress(line: str) -> dict[str, object] | None:
    """Parse a `progress ...` log line into {"stage", "step", "total", <float metrics>}; None otherwise."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    parsed: dict[str, object] = {}
    for token in line[len(PROGRESS_PREFIX):].split():
        key, _, value = token.partition("=")
        if key == "step":
            done, _, total = value.partition("/")
            parsed["step"], parsed["total"] = int(done), int(total)
        elif key == "stage":
            parsed["stage"] = value
        else:
            try:
                parsed[key] = float(value)
            except ValueError:
                parsed[key] = value
    return parsed if "step" in parsed else None


def trainer_progress_callback(stage: str, samples_per_step: int):
    """A transformers TrainerCallback that turns the trainer's log events into progress lines."""
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def __init__(self) -> None:
            self.log: ProgressLog | None = None
            self.losses: list[float] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.log = ProgressLog(stage, state.max_steps, every_s=0.0, samples_per_step=samples_per_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                self.losses.append(float(logs["loss"]))
            if self.log is not None and ("loss" in logs or "reward" in logs):
                self.log.update(
                    state.global_step,
                    force=True,
                    loss=logs.get("loss"),
                    reward=logs.get("reward"),
                    reward_std=logs.get("reward_std"),
                    zero_std=logs.get("frac_reward_zero_std"),
                )

    return _Progress()
