"""Run the benchmarks: `python -m benchmarks [--quick] [--only NAMES] [--output PATH]`.

Starts a private database server in a temporary folder, runs each selected
benchmark against it, prints the results and writes them to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import decode, fanout, latency, slow_client
from benchmarks.client_group import raise_file_limit
from benchmarks.database import private_database
from benchmarks.decode import DecodeSizes, ReaderProfile
from benchmarks.fanout import FanoutSizes
from benchmarks.latency import LatencySizes
from benchmarks.report import (
    RunInfo,
    cpu_times,
    describe_machine,
    describe_versions,
    print_table,
    today,
    write_markdown,
)
from benchmarks.results import Figure
from benchmarks.slow_client import SlowClientSizes
from rowcast.paths import PROJECT_ROOT

BENCHMARKS = ("decode", "latency", "fanout", "slow-client")
DEFAULT_OUTPUT = PROJECT_ROOT / "BENCHMARKS.md"
# `make bench` must finish within 15 minutes, creating .venv in a fresh clone
# included, so a benchmark that would end after this many seconds of the run is
# skipped with a note.
TIME_BUDGET_S = 13.5 * 60
# Seconds to start a server and its client processes and to stop them, added to
# the writing and draining time when planning a run. An estimate: a fresh
# server took about 2 s and 5,000 connections about 6 s on a 2-core machine.
STARTUP_ALLOWANCE_S = 15.0
# Machine table row with the CPU time the host gave to others during each benchmark.
STEAL_LABEL = "CPU time stolen by the host, by benchmark"
METHODS = {
    decode.SECTION: decode.METHOD,
    latency.SECTION: latency.METHOD,
    fanout.SECTION: fanout.METHOD,
    slow_client.SECTION: slow_client.METHOD,
}


@dataclass(frozen=True)
class Sizes:
    """Sizes of every benchmark for one kind of run."""

    name: str
    repeats: int
    decode: DecodeSizes
    latency: LatencySizes
    fanout: FanoutSizes
    slow_client: SlowClientSizes


FULL = Sizes(
    name="full sizes",
    repeats=5,
    decode=DecodeSizes(inserts=100_000, updates=100_000, rows_per_insert=1000,
                       profile_rows=10_000),
    latency=LatencySizes(run_s=10.0, windows=5),
    # 5,000 SSE clients run on 2 worker processes, because their target is set for a
    # 2-core machine.
    fanout=FanoutSizes(configs=(("sse", 100, 1), ("sse", 1000, 1), ("sse", 5000, 2),
                                ("ws", 1000, 1)),
                       run_s=2.5, windows=5, drain_s=4.0),
    slow_client=SlowClientSizes(readers=100, burst=20_000, windows=5, drain_s=30.0,
                                rate=1000.0, pairs=3),
)
# Tiny sizes that check that every part runs, in well under a minute; the
# figures mean nothing.
QUICK = Sizes(
    name="--quick sizes: the figures only show that each part runs",
    repeats=1,
    decode=DecodeSizes(inserts=1000, updates=1000, rows_per_insert=100, profile_rows=1000),
    latency=LatencySizes(run_s=2.0, windows=1),
    fanout=FanoutSizes(configs=(("sse", 10, 2), ("ws", 10, 1)), run_s=1.0, windows=1,
                       drain_s=5.0),
    slow_client=SlowClientSizes(readers=10, burst=500, windows=1, drain_s=5.0),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure rowcast's decode throughput, latency, fan-out and slow-client "
                    "behaviour against a private database server.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 1 repeat, to check that everything runs")
    parser.add_argument("--only", type=_names, default=BENCHMARKS, metavar="NAMES",
                        help=f"comma-separated benchmarks to run: {', '.join(BENCHMARKS)} "
                             "(default: all)")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown file for the results (default: BENCHMARKS.md at the "
                             "project root for a full run of all benchmarks; other runs "
                             "write a file only when this option is given)")
    parser.add_argument("--no-node", action="store_true",
                        help="skip the Node reader, and with it the npm install")
    return parser


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"invalid benchmark names {text!r}: choose from {', '.join(BENCHMARKS)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; return 1 when any of them failed."""
    arguments = build_parser().parse_args(argv)
    sizes = QUICK if arguments.quick else FULL
    output = arguments.output
    if output is None and not arguments.quick and arguments.only == BENCHMARKS:
        output = DEFAULT_OUTPUT
    # Thousands of connections need as many file descriptors in the client and
    # server processes, which inherit this limit.
    file_limit = raise_file_limit()
    print(f"benchmarks: open files limit {file_limit[1]:,} (was {file_limit[0]:,}); "
          f"running {', '.join(arguments.only)} at {sizes.name}", flush=True)

    started = time.monotonic()
    machine = describe_machine()
    figures: list[Figure] = []
    profile: ReaderProfile | None = None
    tools: dict[str, str] = {}
    failed: list[str] = []
    with private_database() as database, tempfile.TemporaryDirectory(
            prefix="rowcast-bench-logs-") as folder:
        work_dir = Path(folder)
        server_version = database.version()

        def run_decode() -> list[Figure]:
            nonlocal profile
            result = decode.run_decode(database, sizes.decode, sizes.repeats, work_dir,
                                       use_node=not arguments.no_node)
            profile = result.profile
            tools.update(result.tool_versions)
            return result.figures

        steps: dict[str, Step] = {
            "decode": Step(decode.SECTION, 0.0, run_decode),
            "latency": Step(latency.SECTION, _planned_s("latency", sizes),
                            lambda: latency.run_latency(database, sizes.latency, work_dir)),
            "fanout": Step(fanout.SECTION, _planned_s("fanout", sizes),
                           lambda: fanout.run_fanout(database, sizes.fanout, work_dir)),
            "slow-client": Step(slow_client.SECTION, _planned_s("slow-client", sizes),
                                lambda: slow_client.run_slow_client(
                                    database, sizes.slow_client, work_dir)),
        }
        steal: dict[str, float] = {}
        for name in arguments.only:
            figures += _run_step(name, steps[name], started, failed, steal)
        machine[STEAL_LABEL] = ", ".join(f"{name} {share:.0f} %" for name, share in steal.items())

    info = RunInfo(
        command=_command(argv), sizes=sizes.name, date=today(),
        duration_s=time.monotonic() - started, machine=machine,
        versions=describe_versions(server_version, tools), file_limit=file_limit,
    )
    if arguments.quick:
        # The targets are set for the full sizes; tiny runs only show that each part works.
        figures = [figure.unjudged() for figure in figures]
    print_table(figures)
    print(f"benchmarks: finished in {info.duration_s / 60:.1f} minutes", flush=True)
    if output is not None:
        write_markdown(output, info, figures, METHODS, profile)
        print(f"benchmarks: wrote {output}")
    if failed:
        print(f"benchmarks: failed: {', '.join(failed)}; see the errors above", file=sys.stderr)
        return 1
    return 0


@dataclass(frozen=True)
class Step:
    """One benchmark: its section title, its estimated duration and how to run it."""

    section: str
    planned_s: float
    run: Callable[[], list[Figure]]


def _planned_s(name: str, sizes: Sizes) -> float:
    """Estimate how long a benchmark takes: writing and draining plus start-up allowances."""
    if name == "latency":
        return len(latency.RATES) * (sizes.latency.run_s + STARTUP_ALLOWANCE_S / 2)
    if name == "fanout":
        per_config = sizes.fanout.run_s + sizes.fanout.drain_s + STARTUP_ALLOWANCE_S
        return len(sizes.fanout.configs) * per_config
    # The slow-client benchmark runs its burst twice in each pair.
    return 2 * sizes.slow_client.pairs * (sizes.slow_client.drain_s + STARTUP_ALLOWANCE_S)


def _run_step(
    name: str, step: Step, started: float, failed: list[str], steal: dict[str, float]
) -> list[Figure]:
    """Run one benchmark; a failure becomes a row of the table and the run goes on.

    Records in steal the share of the machine's CPU time that the host gave
    to others while the benchmark ran, in percent.
    """
    step_started = time.monotonic()
    used_s = step_started - started
    if used_s + step.planned_s > TIME_BUDGET_S:
        reason = (f"skipped: {used_s:.0f} s of the {TIME_BUDGET_S:.0f} s budget were used, and "
                  f"this benchmark takes about {step.planned_s:.0f} s")
        print(f"benchmarks: {name} {reason}", flush=True)
        return [Figure(step.section, f"{name} not run", "", note=reason)]
    stolen_before, total_before = cpu_times()
    try:
        figures = step.run()
    except Exception as error:  # noqa: BLE001 - reported, and the exit status becomes 1
        traceback.print_exc()
        failed.append(name)
        figures = [Figure(step.section, f"{name} failed", "",
                          note=f"{type(error).__name__}: {error}")]
    stolen_after, total_after = cpu_times()
    if total_after > total_before:
        steal[name] = 100 * (stolen_after - stolen_before) / (total_after - total_before)
    now = time.monotonic()
    print(f"benchmarks: {name} took {now - step_started:.0f} s, "
          f"{now - started:.0f} s so far", flush=True)
    return figures


def _command(argv: Sequence[str] | None) -> str:
    arguments = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", "-m", "benchmarks", *arguments])


if __name__ == "__main__":
    sys.exit(main())
