"""The soak script runs end to end with tiny sizes, so that it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_soak_script_small_run_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "0.1", "--clients", "5",
         "--rate", "40"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "events_lost          0" in result.stdout
    assert "duplicates           0" in result.stdout
    assert "soak: passed" in result.stdout
