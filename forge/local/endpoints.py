"""Local endpoints: the model's artifact served by ``job_code/serve.py`` as a loopback HTTP server.

The server follows the SageMaker inference-container contract: ``GET /ping`` answers 200 once the
model is loaded and ``POST /invocations`` answers a request. The endpoint is ``InService`` when /ping
answers, and ``Failed`` (with the server log's tail as FailureReason) when the process exits first.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forge.local import s3io
from forge.local.iam.enforce import denial_of
from forge.local.launcher import Launcher, Process, cold_launch

JOB_CODE_DIR = Path(__file__).resolve().parents[2] / "job_code"
ServeCommand = Callable[[Path, int], list[str]]
_START_TIMEOUT_SECONDS = 300
# SageMaker's FailureReason wording when the model's execution role cannot read its model data.
MODEL_DATA_DENIED = (
    'Could not access model data at {uri}. Please ensure that the role "{role}" exists and that its trust '
    'relationship policy allows the action "sts:AssumeRole" for the service principal '
    '"sagemaker.amazonaws.com". Also ensure that the role has "s3:GetObject" permissions and that the object '
    "is located in {region}. {detail}"
)
IMAGE_DENIED = "Failed to pull the inference image {image}: {detail}"
# Wording written from the deployment-guardrails docs, not read off a live account.
ALARMS_DENIED = (
    'The execution role "{role}" cannot read the auto-rollback alarms (cloudwatch:DescribeAlarms): {detail}'
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_serve_command(model_dir: Path, port: int, python: str = sys.executable) -> list[str]:
    return [
        python,
        str(JOB_CODE_DIR / "serve.py"),
        "--model-dir",
        str(model_dir),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]


@dataclass
class ServerProcess:
    """One running serve.py with its model directory, port and log."""

    model_dir: Path
    port: int
    log_path: Path
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 5) -> str:
        if not self.log_path.exists():
            return "no output"
        text = self.log_path.read_text(encoding="utf-8", errors="replace").strip().split("\n")
        return " | ".join(text[-lines:]) or "no output"


def start_server(
    model_dir: Path,
    log_path: Path,
    command: ServeCommand,
    env: dict[str, str] | None = None,
    *,
    launcher: Launcher = cold_launch,
    base_env: dict[str, str] | None = None,
) -> ServerProcess:
    port = free_port()
    full_env = {
        **(os.environ if base_env is None else base_env),
        **(env or {}),
        "SM_MODEL_DIR": str(model_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(JOB_CODE_DIR.parent), full_env.get("PYTHONPATH")])
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = launcher(command(model_dir, port), cwd=Path.cwd(), env=full_env, log_path=log_path)
    return ServerProcess(model_dir, port, log_path, process)


@dataclass
class LocalEndpoint:
    name: str
    arn: str
    config_name: str
    status: str = "Creating"
    failure_reason: str | None = None
    server: ServerProcess | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    generation: int = 0

    def describe(self, config: dict[str, Any]) -> dict[str, Any]:
        variants = [
            {
                "VariantName": v["VariantName"],
                "CurrentWeight": 1.0,
                "DesiredWeight": 1.0,
                "CurrentInstanceCount": v.get("InitialInstanceCount", 1),
                "DesiredInstanceCount": v.get("InitialInstanceCount", 1),
            }
            for v in config.get("ProductionVariants", [])
        ]
        out = {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config_name,
            "EndpointStatus": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "ProductionVariants": variants,
        }
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out


class EndpointRunner:
    """Brings endpoints up and down in background threads."""

    def __init__(self, s3: Any, root: Path, command: ServeCommand = default_serve_command,
                 launcher: Launcher = cold_launch, base_env: dict[str, str] | None = None):
        self.s3 = s3
        self.root = root
        self.command = command
        self.launcher = launcher
        self.base_env = base_env
        # Local IAM (forge.local.iam.enforce.JobIam): model data read and image pulled as the model's role.
        self.iam: Any | None = None

    def deploy(self, endpoint: LocalEndpoint, model: dict[str, Any], config_name: str,
               rollback_alarms: list[str] | None = None) -> None:
        """Start a server for ``model``; on success it replaces the endpoint's current server. An update's
        rollback alarms must be readable by the model's execution role, as SageMaker reads them as it."""
        endpoint.generation += 1
        generation = endpoint.generation
        threading.Thread(
            target=self._deploy,
            args=(endpoint, model, config_name, generation, list(rollback_alarms or [])),
            name=f"sm-endpoint-{endpoint.name}",
            daemon=True,
        ).start()

    def _deploy(
        self, endpoint: LocalEndpoint, model: dict[str, Any], config_name: str, generation: int,
        rollback_alarms: list[str],
    ) -> None:
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        workdir = self.root / endpoint.name / f"v{generation}"
        role = model.get("ExecutionRoleArn", "")
        data_url = container.get("ModelDataUrl")
        try:
            s3 = self.iam.s3_for(role) if self.iam else self.s3
            denial = self.iam.image_denial(role, container.get("Image", "")) if self.iam else None
            if denial:
                reason = IMAGE_DENIED.format(image=container["Image"], detail=denial.message)
                self._fail(endpoint, generation, reason)
                return
            denial = self.iam.alarm_denial(role, rollback_alarms) if self.iam and rollback_alarms else None
            if denial:
                self._fail(endpoint, generation, ALARMS_DENIED.format(role=role, detail=denial.message))
                return
            model_dir = workdir / "model"
            if data_url:
                s3io.download_model_data(s3, data_url, model_dir)
            else:
                model_dir.mkdir(parents=True, exist_ok=True)
            server = start_server(model_dir, workdir / "log.txt", self.command, container.get("Environment"),
                                  launcher=self.launcher, base_env=self.base_env)
        except Exception as error:  # noqa: BLE001 - surfaces as the endpoint's FailureReason, as in AWS
            denial = denial_of(error)
            if denial:
                region = self.iam.enforcer.facts.region if self.iam else ""
                reason = MODEL_DATA_DENIED.format(uri=data_url, role=role, region=region,
                                                  detail=denial.message)
            else:
                reason = f"could not start the model server: {error}"
            self._fail(endpoint, generation, reason)
            return
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and endpoint.generation == generation:
            if server.ping():
                previous, endpoint.server = endpoint.server, server
                endpoint.config_name = config_name
                endpoint.status, endpoint.failure_reason = "InService", None
                endpoint.modified = datetime.now(UTC)
                if previous:
                    previous.stop()
                return
            if not server.alive():
                self._fail(endpoint, generation, f"model server exited: {server.log_tail()}")
                return
            time.sleep(0.2)
        server.stop()
        if endpoint.generation == generation:
            self._fail(endpoint, generation, "model server did not answer /ping in time")

    @staticmethod
    def _fail(endpoint: LocalEndpoint, generation: int, reason: str) -> None:
        if endpoint.generation != generation:
            return
        # An update that fails leaves the old server serving, as AWS rolls back to the old config.
        endpoint.status = "InService" if endpoint.server and endpoint.server.alive() else "Failed"
        endpoint.failure_reason = reason[:1024]
        endpoint.modified = datetime.now(UTC)
