"""`python -m benchmarks --quick` as a user runs it: every benchmark runs and prints its table.

Timings are not checked: at these sizes they mean nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import decode
from benchmarks.results import Figure, Summary
from rowcast.paths import PROJECT_ROOT
from rowcast.private_server import find_server_binary

# The quick run takes about 30 s on a 2-core machine; the rest is headroom for a busy one.
RUN_TIMEOUT_S = 180
SECTIONS = ("1. Decode throughput", "2. Latency", "3. Fan-out", "4. Slow client")


@pytest.fixture(scope="module")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the quick benchmarks once, without the Node reader and its npm install."""
    if find_server_binary() is None:
        pytest.fail("No mysqld or mariadbd found; .ci/run installs mariadb-server.")
    output = tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-node", "--output", str(output)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
    )
    return result, output


def test_quick_run_exits_zero(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, _ = quick_run
    assert result.returncode == 0, (
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")


@pytest.mark.parametrize("section", SECTIONS)
def test_quick_run_prints_section(
    quick_run: tuple[subprocess.CompletedProcess[str], Path], section: str
) -> None:
    result, _ = quick_run
    assert f"\n{section}\n" in result.stdout


def test_quick_run_prints_decode_rates(
    quick_run: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    result, _ = quick_run
    assert "(b) rowcast BinlogReader + change_to_json" in result.stdout
    assert "rows/s" in result.stdout


def test_quick_run_writes_markdown(
    quick_run: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    _, output = quick_run
    text = output.read_text(encoding="utf-8")
    assert "## Machine and versions" in text
    assert "## Where the time goes" in text
    assert re.search(r"\| CPU time stolen by the host, by benchmark \| decode [0-9]+ %, "
                     r"latency [0-9]+ %, fanout [0-9]+ %, slow-client [0-9]+ % \|", text)


def test_quick_figures_are_not_judged() -> None:
    figure = Figure("1. Decode throughput", "b/a", "", Summary.of([3.0]), 2, "≥ 4.00", False)
    unjudged = figure.unjudged()
    assert unjudged.met is None
    assert unjudged.met_text() == ""
    assert "≥ 4.00" in unjudged.note


def test_decode_ratios_to_other_readers() -> None:
    rates = {"raw": [10.0, 10.0], "reader": [60.0, 80.0], "server": [50.0, 70.0],
             "mariadb-binlog": [120.0, 100.0]}
    figures = {figure.name: figure for figure in
               decode._figures(rates, {"zongji": "skipped: --no-node"})}
    # Each repeat's ratio, paired within the repeat: 0.5 and 0.8.
    summary = figures["b/mariadb-binlog"].summary
    assert summary is not None
    assert (summary.low, summary.high) == (0.5, 0.8)
    assert "b/zongji" not in figures
    assert figures["Node @vlasky/zongji, every value touched"].note == "skipped: --no-node"
