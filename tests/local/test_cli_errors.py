"""Issue 14: the common first tries of the AWS commands (no region, no credentials, no endpoint) and the
data checks before a run are one line on stderr, exit 1, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forge.cli import app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"
LOCAL = PROJECT_ROOT / "config" / "local.yaml"


def _aws_commands(data: Path) -> dict[str, list[str]]:
    return {
        "run": ["run", "--aws", "--stack", "Forge", "--data", str(data)],
        "status": ["status", "--stack", "Forge"],
        "report": ["report", "r-1", "--stack", "Forge"],
        "invoke": ["invoke", "r-1", "is this good?", "--stack", "Forge"],
        "logs": ["logs", "r-1", "--stack", "Forge"],
    }


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def no_aws_config(monkeypatch, tmp_path):
    """No config or credentials file, no instance metadata: only what each test sets."""
    empty = tmp_path / "empty"
    empty.write_text("")
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    data = tmp_path / "questions.csv"
    data.write_text("text,rating\nhow do I x?,HQ\n")
    return data


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["run", "status", "report", "invoke", "logs"])
def test_no_region_says_to_set_one(no_aws_config, monkeypatch, command):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    result = CliRunner().invoke(app, _aws_commands(no_aws_config)[command])
    _one_line_error(result, "no AWS region", "AWS_REGION")


@pytest.mark.parametrize("command", ["run", "status", "report", "invoke", "logs"])
def test_no_credentials_says_to_configure_them(no_aws_config, monkeypatch, command):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, _aws_commands(no_aws_config)[command])
    _one_line_error(result, "no AWS credentials", "aws configure")


@pytest.mark.parametrize("command", ["run", "status", "report", "invoke", "logs"])
def test_an_unreachable_endpoint_is_one_line(no_aws_config, command):
    result = CliRunner().invoke(app, _aws_commands(no_aws_config)[command])
    _one_line_error(result, "cannot reach", "127.0.0.1", "AWS_ENDPOINT_URL")


def test_an_unknown_profile_is_one_line(no_aws_config, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    result = CliRunner().invoke(app, ["status", "--stack", "Forge"])
    _one_line_error(result, "nobody", "AWS_PROFILE")


def test_run_aws_checks_the_data_file_before_any_aws_call(no_aws_config, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)  # an AWS call would fail on the region first
    result = CliRunner().invoke(app, ["run", "--aws", "--stack", "Forge", "--data", str(tmp_path / "no.csv")])
    _one_line_error(result, "no.csv does not exist")


def test_run_aws_with_a_config_checks_the_rows_first(no_aws_config, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    arguments = ["run", "--aws", "--stack", "Forge", "--data", str(SAMPLE), "--config", str(LOCAL)]
    _one_line_error(CliRunner().invoke(app, arguments), "sft needs 3500", "4700 in total", "587 distinct")


def test_run_local_missing_data_file_fails_at_once(tmp_path):
    result = CliRunner().invoke(app, ["run", "--local", "--data", str(tmp_path / "no.csv"),
                                      "--out", str(tmp_path / "runs")])
    _one_line_error(result, "no.csv does not exist")
    assert not (tmp_path / "runs").exists()


def test_run_local_too_few_rows_fails_before_starting_with_the_counts(tmp_path):
    """Issue 14: the default config with the bundled sample failed after 46 s, behind a Powertools JSON
    line and moto's StateFail dump; now the Prepare checks run first."""
    result = CliRunner().invoke(app, ["run", "--local", "--config", str(LOCAL), "--data", str(SAMPLE),
                                      "--out", str(tmp_path / "runs")])
    line = _one_line_error(result, "sft needs 3500", "eval needs 500", "add 4113 rows", "forge validate")
    assert str(LOCAL) in line
    assert result.stdout == "" and not (tmp_path / "runs").exists()


def test_run_local_bundled_sample_with_default_config_picks_the_demo_config(monkeypatch, tmp_path):
    from forge import cli

    seen = {}

    def fake_run_local(config, data, out, eval_data=None, run_id=None, ask=None):
        seen["config"] = config
        raise cli.typer.Exit(0)  # the pipeline itself is tested elsewhere (tests/local/test_end_to_end.py)

    monkeypatch.setattr(cli, "run_local", fake_run_local)
    result = CliRunner().invoke(app, ["run", "--local", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen["config"] == cli.DEMO_CONFIG
    assert "local-demo.yaml" in result.stderr and "bundled sample" in result.stderr


def test_usage_errors_exit_2_on_stderr(tmp_path):
    result = CliRunner().invoke(app, ["run", "--local", "--aws"])
    assert result.exit_code == 2 and "exactly one of --local or --aws" in result.stderr
    assert result.stdout == ""
    assert CliRunner().invoke(app, ["status", "--no-such-flag"]).exit_code == 2


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"forge {version('llm-forge')}"


def test_consoles_honour_no_color_and_never_wrap(monkeypatch):
    import io

    from forge.cli_support import make_console

    monkeypatch.setenv("NO_COLOR", "1")
    buffer = io.StringIO()
    colourless = make_console(file=buffer, force_terminal=True, width=40)
    url = "https://example.com/" + "a" * 100
    colourless.print(f"[red]see[/red] {url}")
    assert "\x1b[31m" not in buffer.getvalue() and url in buffer.getvalue()
    monkeypatch.delenv("NO_COLOR")
    buffer = io.StringIO()
    make_console(file=buffer, force_terminal=True, width=40).print("[red]see[/red]")
    assert "\x1b[31m" in buffer.getvalue()  # the check above can fail
