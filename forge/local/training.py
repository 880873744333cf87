"""Local training jobs: one subprocess per job under the SageMaker training-toolkit contract.

A job gets its own directory laid out like ``/opt/ml`` (input/config/*.json, input/data/<channel>/,
model/, output/, output/data/, checkpoints/), the ``SM_*`` environment the toolkit sets, and the
entry point named by the ``sagemaker_program`` / ``sagemaker_submit_directory`` hyperparameters.
Its stdout+stderr go to ``log.txt`` (the CloudWatch stand-in). On exit the model and output dirs are
uploaded as ``model.tar.gz`` / ``output.tar.gz`` and checkpoints are synced, as SageMaker does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forge.local import s3io
from forge.local.iam.enforce import denial_of
from forge.local.launcher import Launcher, Process, cold_launch
from job_code import sm_contract

NOVA_ONLY_REASON = (
    "ClientError: local mode runs model family 'hf' only; Nova training images ({image}) "
    "run on SageMaker in AWS. Use a config with model.family: hf for local runs."
)
_STOP_GRACE_SECONDS = 10
# SageMaker's FailureReason wording for a job whose role cannot read a channel or pull the image.
DATA_DOWNLOAD_FAILED = "Data download failed:Failed to download data. {detail}"
IMAGE_PULL_FAILED = (
    "Cannot pull algorithm container. Either the image does not exist or its permissions are incorrect. "
    "{detail}"
)


class JobClientError(Exception):
    """The job fails as SageMaker fails it before or after the script: FailureReason ``ClientError: ...``."""


def _access_detail(error: BaseException, uri: str) -> str:
    """What a denied S3 call says, naming the role, the action and the resource (local IAM's denial)."""
    denial = denial_of(error)
    return f"{denial.operation} failed for {uri}: {denial.message}" if denial else f"{uri}: {error}"


def parse_progress(log_text: str) -> dict[str, object] | None:
    """The last ``progress stage=… step=12/100 loss=… eta_s=…`` line of a job log, parsed; None if none."""
    for line in reversed(log_text.split("\n")):
        parsed = sm_contract.parse_progress(line.strip())
        if parsed:
            return parsed
    return None


def is_nova_image(image: str) -> bool:
    return "nova" in image.lower()


def _decode_hyperparameter(value: str) -> str:
    """The SageMaker SDK JSON-encodes string hyperparameters ('"sft.py"'); accept both forms."""
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        return value
    return decoded if isinstance(decoded, str) else value


def _env_name(channel: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", channel.upper())


@dataclass
class LocalTrainingJob:
    """State of one job. ``describe()`` renders it in DescribeTrainingJob's shape."""

    request: dict[str, Any]
    arn: str
    root: Path
    status: str = "InProgress"
    secondary_status: str = "Starting"
    failure_reason: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: datetime | None = None
    ended: datetime | None = None
    transitions: list[dict[str, Any]] = field(default_factory=list)
    process: Process | None = None
    stop_requested: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.request["TrainingJobName"]

    @property
    def log_path(self) -> Path:
        return self.root / "log.txt"

    @property
    def model_artifact_uri(self) -> str:
        return s3io.join_s3(
            self.request["OutputDataConfig"]["S3OutputPath"], self.name, "output/model.tar.gz"
        )

    def set_secondary(self, status: str, message: str = "") -> None:
        now = datetime.now(UTC)
        if self.transitions:
            self.transitions[-1].setdefault("EndTime", now)
        self.transitions.append({"Status": status, "StartTime": now, "StatusMessage": message or status})
        self.secondary_status = status

    def finish(self, status: str, secondary: str, reason: str | None = None) -> None:
        self.set_secondary(secondary, reason or "")
        self.transitions[-1]["EndTime"] = datetime.now(UTC)
        self.failure_reason = reason
        self.ended = datetime.now(UTC)
        self.status = status

    def describe(self) -> dict[str, Any]:
        req = self.request
        out: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary_status,
            "AlgorithmSpecification": req["AlgorithmSpecification"],
            "RoleArn": req.get("RoleArn"),
            "HyperParameters": req.get("HyperParameters", {}),
            "InputDataConfig": req.get("InputDataConfig", []),
            "OutputDataConfig": req["OutputDataConfig"],
            "ResourceConfig": req["ResourceConfig"],
            "StoppingCondition": req["StoppingCondition"],
            "CreationTime": self.created,
            "LastModifiedTime": self.ended or self.started or self.created,
            "SecondaryStatusTransitions": [dict(t) for t in self.transitions],
            "ModelArtifacts": {
                "S3ModelArtifacts": self.model_artifact_uri if self.status == "Completed" else ""
            },
        }
        for key in ("CheckpointConfig", "Environment", "EnableManagedSpotTraining", "VpcConfig"):
            if key in req:
                out[key] = req[key]
        if self.started:
            out["TrainingStartTime"] = self.started
        if self.ended:
            out["TrainingEndTime"] = self.ended
            out["TrainingTimeInSeconds"] = int((self.ended - (self.started or self.created)).total_seconds())
            out["BillableTimeInSeconds"] = out["TrainingTimeInSeconds"]
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out


class TrainingJobRunner:
    """Runs a LocalTrainingJob in a background thread: download, subprocess, upload."""

    def __init__(self, s3: Any, python: str = sys.executable, extra_env: dict[str, str] | None = None,
                 launcher: Launcher = cold_launch, base_env: dict[str, str] | None = None):
        self.s3 = s3
        self.python = python
        self.extra_env = dict(extra_env or {})
        self.launcher = launcher
        # A snapshot: the in-process Lambda handlers change os.environ as they run; jobs must not see that.
        self.base_env = dict(os.environ if base_env is None else base_env)
        # Local IAM (forge.local.iam.enforce.JobIam): S3 as the job's execution role, image pulls checked.
        self.iam: Any | None = None

    def start(self, job: LocalTrainingJob) -> None:
        image = job.request["AlgorithmSpecification"].get("TrainingImage", "")
        if is_nova_image(image):
            job.finish("Failed", "Failed", NOVA_ONLY_REASON.format(image=image))
            return
        threading.Thread(target=self._run, args=(job,), name=f"sm-job-{job.name}", daemon=True).start()

    def stop(self, job: LocalTrainingJob) -> None:
        with job.lock:
            job.stop_requested = True
            job.set_secondary("Stopping", "Stopping the training job")
            process = job.process
        if process and process.poll() is None:
            _terminate_group(process)

    # -- the job's life ---------------------------------------------------------------------------
    def _run(self, job: LocalTrainingJob) -> None:
        try:
            job.set_secondary("Downloading", "Downloading input data")
            s3 = self.iam.s3_for(job.request["RoleArn"]) if self.iam else self.s3
            env, argv = self._prepare(job, s3)
            self._pull_image(job)
            if job.stop_requested:
                job.finish("Stopped", "Stopped", None)
                return
            job.started = datetime.now(UTC)
            job.set_secondary("Training", "Training image download completed. Training in progress.")
            exit_code, timed_out = self._execute(job, env, argv)
            self._upload(job, s3)
            if job.stop_requested or timed_out:
                job.finish("Stopped", "MaxRuntimeExceeded" if timed_out else "Stopped", None)
            elif exit_code == 0:
                job.finish("Completed", "Completed", None)
            else:
                job.finish("Failed", "Failed", self._failure_reason(job, exit_code))
        except JobClientError as error:
            with job.log_path.open("a", encoding="utf-8") as log:
                log.write(f"ClientError: {error}\n")
            job.finish("Failed", "Failed", f"ClientError: {error}"[:1024])
        except Exception as error:  # noqa: BLE001 - any runtime error must surface as the job's FailureReason
            with job.log_path.open("a", encoding="utf-8") as log:
                log.write(f"local runtime error: {error!r}\n")
            job.finish("Failed", "Failed", f"ClientError: local runtime could not run the job: {error}")

    def _pull_image(self, job: LocalTrainingJob) -> None:
        """After the data, SageMaker pulls the image with the execution role (ECR permissions)."""
        if self.iam:
            image = job.request["AlgorithmSpecification"].get("TrainingImage", "")
            denial = self.iam.image_denial(job.request["RoleArn"], image)
            if denial:
                raise JobClientError(IMAGE_PULL_FAILED.format(detail=denial.message))

    def _download(self, s3: Any, uri: str, dest: Path) -> None:
        try:
            s3io.download_prefix(s3, uri, dest)
        except Exception as error:
            if denial_of(error) is None:
                raise
            raise JobClientError(DATA_DOWNLOAD_FAILED.format(detail=_access_detail(error, uri))) from error

    def _prepare(self, job: LocalTrainingJob, s3: Any) -> tuple[dict[str, str], list[str]]:
        req, root = job.request, job.root
        dirs = {
            name: root / name
            for name in ("input/config", "input/data", "model", "output/data", "checkpoints", "code")
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        hyperparameters = {k: str(v) for k, v in req.get("HyperParameters", {}).items()}
        channels: dict[str, dict[str, Any]] = {}
        for channel in req.get("InputDataConfig", []):
            name = channel["ChannelName"]
            source = channel["DataSource"]["S3DataSource"]["S3Uri"]
            self._download(s3, source, dirs["input/data"] / name)
            channels[name] = {k: v for k, v in channel.items() if k in ("ContentType", "CompressionType")}
            channels[name].update(
                {
                    "TrainingInputMode": channel.get("InputMode", "File"),
                    "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None",
                }
            )
        checkpoint = req.get("CheckpointConfig")
        if checkpoint:  # SageMaker restores checkpoints before the job starts.
            self._download(s3, checkpoint["S3Uri"], dirs["checkpoints"])
        config = dirs["input/config"]
        resource = {
            "current_host": "algo-1",
            "hosts": ["algo-1"],
            "network_interface_name": "lo",
            "current_instance_type": req["ResourceConfig"].get("InstanceType", "local"),
        }
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2))
        (config / "inputdataconfig.json").write_text(json.dumps(channels, indent=2))
        (config / "resourceconfig.json").write_text(json.dumps(resource, indent=2))

        program = _decode_hyperparameter(hyperparameters.get("sagemaker_program", ""))
        submit = _decode_hyperparameter(hyperparameters.get("sagemaker_submit_directory", ""))
        if not program:
            raise ValueError("hyperparameter sagemaker_program (the entry script) is missing")
        code_dir = self._resolve_code_dir(s3, submit, root, dirs["code"])
        entry = code_dir / program
        if not entry.is_file():
            raise FileNotFoundError(f"entry point {program!r} not found in {submit or 'the code channel'}")

        user_hps = {
            k: _decode_hyperparameter(v) for k, v in hyperparameters.items() if not k.startswith("sagemaker_")
        }
        env = {**self.base_env, **self.extra_env, **req.get("Environment", {})}
        env.update(
            {
                "SM_MODEL_DIR": str(dirs["model"]),
                "SM_OUTPUT_DIR": str(root / "output"),
                "SM_OUTPUT_DATA_DIR": str(dirs["output/data"]),
                "SM_OUTPUT_INTERMEDIATE_DIR": str(root / "output/intermediate"),
                "SM_INPUT_DIR": str(root / "input"),
                "SM_INPUT_CONFIG_DIR": str(config),
                "SM_INPUT_DATA_DIR": str(dirs["input/data"]),
                "SM_CHECKPOINT_DIR": str(dirs["checkpoints"]),
                "SM_CHANNELS": json.dumps(sorted(channels)),
                "SM_HPS": json.dumps(user_hps),
                "SM_USER_ENTRY_POINT": program,
                "SM_MODULE_DIR": str(code_dir),
                "SM_CURRENT_HOST": "algo-1",
                "SM_HOSTS": json.dumps(["algo-1"]),
                "SM_NUM_GPUS": "0",
                "SM_NUM_CPUS": str(os.cpu_count() or 1),
                "SM_TRAINING_JOB_NAME": job.name,
                "TRAINING_JOB_NAME": job.name,
                "SM_BASE_DIR": str(root),
                "PYTHONUNBUFFERED": "1",
                # As the training toolkit does: the code directory, and only it, is importable.
                "PYTHONPATH": str(code_dir),
            }
        )
        for name in channels:
            env[f"SM_CHANNEL_{_env_name(name)}"] = str(dirs["input/data"] / name)
        for key, value in user_hps.items():
            env[f"SM_HP_{_env_name(key)}"] = value
        argv = [self.python, str(entry)]
        for key, value in user_hps.items():  # the toolkit passes hyperparameters as --key value
            argv += [f"--{key}", value]
        return env, argv

    def _resolve_code_dir(self, s3: Any, submit: str, root: Path, code_root: Path) -> Path:
        if not submit:
            return root / "input/data/code"
        if submit.startswith("s3://"):
            if submit.endswith(".tar.gz"):
                s3io.download_model_data(s3, submit, code_root)
                return code_root
            target = code_root / Path(s3io.split_s3_uri(submit)[1].rstrip("/")).name
            self._download(s3, submit, target)
            return target
        if submit.startswith("/opt/ml/"):  # a path inside the container: map it into the job dir
            return root / submit[len("/opt/ml/") :]
        return Path(submit)

    def _execute(self, job: LocalTrainingJob, env: dict[str, str], argv: list[str]) -> tuple[int, bool]:
        max_runtime = job.request["StoppingCondition"].get("MaxRuntimeInSeconds")
        with job.lock:
            if job.stop_requested:
                return -signal.SIGTERM, False
            job.process = self.launcher(argv, cwd=env["SM_MODULE_DIR"], env=env, log_path=job.log_path)
        deadline = time.monotonic() + max_runtime if max_runtime else None
        while job.process.poll() is None:
            if deadline and time.monotonic() > deadline:
                _terminate_group(job.process)
                return job.process.wait(), True
            time.sleep(0.1)
        return job.process.returncode, False

    def _upload(self, job: LocalTrainingJob, s3: Any) -> None:
        job.set_secondary("Uploading", "Uploading generated training model")
        output = s3io.join_s3(job.request["OutputDataConfig"]["S3OutputPath"], job.name, "output")
        try:
            s3io.upload_tarball(s3, job.root / "model", job.model_artifact_uri)
            s3io.upload_tarball(s3, job.root / "output/data", s3io.join_s3(output, "output.tar.gz"))
            checkpoint = job.request.get("CheckpointConfig")
            if checkpoint:
                s3io.upload_dir(s3, job.root / "checkpoints", checkpoint["S3Uri"])
        except Exception as error:
            if denial_of(error) is None:
                raise
            detail = _access_detail(error, output)
            raise JobClientError(f"Failed to upload the job's output: {detail}") from error

    @staticmethod
    def _failure_reason(job: LocalTrainingJob, exit_code: int) -> str:
        failure = job.root / "output" / "failure"
        if failure.is_file() and failure.read_text(encoding="utf-8", errors="replace").strip():
            message = failure.read_text(encoding="utf-8", errors="replace").strip()
        else:
            tail = job.log_path.read_text(encoding="utf-8", errors="replace").strip().split("\n")[-3:]
            message = " | ".join(tail) or "no output"
        # SageMaker caps FailureReason at 1024 characters.
        return f"AlgorithmError: {message}, exit code: {exit_code}"[:1024]


def _terminate_group(process: Process) -> None:
    """SIGTERM the job's whole process group (dataloader workers too), SIGKILL after a grace period."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        # Gone, or a warm child in the instant before it made its own session: signal it directly.
        process.terminate()
    try:
        process.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
