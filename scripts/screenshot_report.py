"""Screenshot a run's report.html in headless Chromium at desktop width, to check it reads in a real browser.

    python scripts/screenshot_report.py RUN_DIR [--out PNG] [--width 1440] [--height 6000]

RUN_DIR is a local run directory (runs/<run-id>/ with report.html). Without --out the PNG is written beside
the report as report.png. Needs a Chromium binary (``apt-get install chromium``, or set CHROMIUM).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str:
    explicit = os.environ.get("CHROMIUM")
    found = explicit or next((path for name in CANDIDATES if (path := shutil.which(name))), None)
    if not found:
        raise SystemExit("screenshot_report: no Chromium found; install it (apt-get install chromium) "
                         "or set CHROMIUM to its path")
    return found


def screenshot(report: Path, out: Path, width: int, height: int, timeout: float = 120) -> Path:
    with tempfile.TemporaryDirectory(prefix="forge-chromium-") as profile:
        command = [
            find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={out}",
            report.resolve().as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0 or not out.exists():
        detail = result.stderr.strip()[-500:]
        raise SystemExit(f"screenshot_report: chromium exited {result.returncode}: {detail}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a local run directory holding report.html")
    parser.add_argument("--out", type=Path, default=None, help="PNG to write (default RUN_DIR/report.png)")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=6000, help="the page height captured, in pixels")
    args = parser.parse_args(argv)
    report = args.run_dir / "report.html"
    if not report.is_file():
        print(f"screenshot_report: {report} does not exist (is {args.run_dir} a run directory?)",
              file=sys.stderr)
        return 1
    out = screenshot(report, args.out or args.run_dir / "report.png", args.width, args.height)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
