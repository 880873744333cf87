"""Issue 12, points 1-2: a local run id is checked before it names a path, and a run claims its directory
exclusively, so no run can delete, share or overwrite another's."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forge.cli import app
from forge.local.run_ids import new_run_id
from forge.local.runner import LocalModeError, LocalPipeline

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "examples" / "data" / "so_sample.csv"
CONFIG = PROJECT_ROOT / "config" / "local-demo.yaml"


@pytest.mark.parametrize("run_id", ["../victim", "a/b", "..", "", ".hidden", "x" * 81, "run id"])
def test_a_run_id_that_could_escape_or_mangle_a_path_is_refused(tmp_path, run_id):
    victim = tmp_path / "runs" / "victim"
    victim.mkdir(parents=True)
    (victim / "report.json").write_text("{}")
    with pytest.raises(LocalModeError, match="run_id"):
        LocalPipeline(CONFIG, SAMPLE, tmp_path / "runs", run_id=run_id)
    assert (victim / "report.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["victim"]


def test_the_cli_names_the_bad_run_id_and_touches_nothing(tmp_path):
    victim = tmp_path / "runs" / "victim"
    victim.mkdir(parents=True)
    result = CliRunner().invoke(
        app, ["run", "--local", "--config", str(CONFIG), "--data", str(SAMPLE),
              "--out", str(tmp_path / "runs"), "--run-id", "../victim"],
    )
    assert result.exit_code == 1, result.output
    assert "run_id '../victim' is invalid" in result.output
    assert victim.is_dir() and not (tmp_path / "victim").exists()


def test_default_run_ids_differ_within_one_second():
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) <= 80 for i in ids)


def test_of_two_runs_started_at_once_with_one_id_exactly_one_gets_the_directory(tmp_path):
    out, barrier = tmp_path / "runs", threading.Barrier(2)
    outcomes: list[object] = []

    def start() -> None:
        barrier.wait()
        try:
            outcomes.append(LocalPipeline(CONFIG, SAMPLE, out, run_id="same"))
        except LocalModeError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pipelines = [o for o in outcomes if isinstance(o, LocalPipeline)]
    errors = [o for o in outcomes if isinstance(o, LocalModeError)]
    assert len(pipelines) == 1 and len(errors) == 1
    assert "already exists" in str(errors[0]) and "--run-id" in str(errors[0])


def test_a_second_run_with_a_taken_id_fails_at_once_and_leaves_the_first_alone(tmp_path):
    out = tmp_path / "runs"
    first = LocalPipeline(CONFIG, SAMPLE, out, run_id="taken")
    (first.run_dir / "report.json").write_text('{"run_id": "taken"}')
    (out / ".work" / "taken").mkdir(parents=True)
    (out / ".work" / "taken" / "job.log").write_text("first run's log")
    with pytest.raises(LocalModeError, match="already exists"):
        LocalPipeline(CONFIG, SAMPLE, out, run_id="taken")
    assert (first.run_dir / "report.json").read_text() == '{"run_id": "taken"}'
    assert (out / ".work" / "taken" / "job.log").read_text() == "first run's log"


def test_a_run_that_fails_to_start_gives_its_id_back(tmp_path, monkeypatch):
    import forge.local.runner as runner

    def broken_synth(config, outdir, **options):
        raise RuntimeError("synth failed")

    monkeypatch.setattr(runner, "synthesize", broken_synth)
    pipeline = LocalPipeline(CONFIG, SAMPLE, tmp_path / "runs", run_id="retry-me", warm_start=False)
    with pytest.raises(RuntimeError, match="synth failed"), pipeline:
        pass
    assert not (tmp_path / "runs" / "retry-me").exists()
    LocalPipeline(CONFIG, SAMPLE, tmp_path / "runs", run_id="retry-me")  # the id is free again
