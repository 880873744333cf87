"""`forge status` over local runs: an unreadable report.json is skipped with a one-line warning."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from forge.cli import app


def test_status_skips_corrupt_reports_and_lists_the_others(tmp_path):
    for name, body in {
        "a-good": json.dumps({"run_id": "a-good", "status": "SUCCEEDED"}).encode(),
        "b-truncated": b'{"run_id": "b-trunc',
        "c-not-an-object": b"[1, 2]",
        "d-binary": b"\xff\xfe\x00garbage",
        "e-good": json.dumps({"run_id": "e-good", "status": "FAILED"}).encode(),
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_bytes(body)
    result = CliRunner().invoke(app, ["status", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "a-good  SUCCEEDED" in result.output and "e-good  FAILED" in result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3
    for name in ("b-truncated", "c-not-an-object", "d-binary"):
        [line] = [w for w in warnings if name in w]
        assert str(tmp_path / name / "report.json") in line and len(line) < 300
