"""Decode throughput: rows per second over one binlog range, by several readers side by side.

Every repeat runs each reader once over the same range, so that a noisy
machine slows them alike and the ratios stay honest.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from benchmarks.clients import SseConnection
from benchmarks.database import READER_PASSWORD, TASK_TABLE, BenchDatabase, BinlogRange
from benchmarks.results import Figure, Summary
from benchmarks.server_process import ServeProcess
from cdc.events import ChangeEvent
from cdc.position import BinlogPosition, EventId
from cdc.reader import BinlogReader, ReaderSettings
from cdc.tables import TableFilter
from rowcast.paths import PROJECT_ROOT
from web.wire import change_to_json

SECTION = "1. Decode throughput"
METHOD = (
    "A task-shaped binlog: rows inserted into robots.task 1,000 per statement, then "
    "single-row updates, each its own transaction. Every reader decodes the same range, "
    "and each repeat runs them one after the other. (a) iterates mysql-replication's "
    "rows without blocking and reads every value; (b) is cdc.reader.BinlogReader with a "
    "sink that encodes every change event with web.wire.change_to_json; (c) is a "
    "`rowcast serve` process streaming the range to one SSE client that resumes from "
    "the range's start (the server started after the range was written, so its "
    "catch-up reader decodes the binlog), counted on a raw socket. Rates include "
    "connecting."
)
# Replica server ids of the benchmark's own binlog readers; rowcast serve uses 7001 and up.
RAW_SERVER_ID = 6001
READER_SERVER_ID = 6002
ZONGJI_SERVER_ID = 6003
READ_TIMEOUT_S = 300.0
NPM_TIMEOUT_S = 180.0
ZONGJI_PACKAGE = "@vlasky/zongji"
ZONGJI_SCRIPT = Path(__file__).resolve().parent / "zongji_reader.mjs"
TARGET_READER_RATIO = 4.0
TARGET_SERVER_RATIO = 0.8
PROFILE_TOP = 10

Reader = Callable[[BinlogRange], float]


@dataclass(frozen=True)
class DecodeSizes:
    """Rows of the decode binlog and of the smaller one that is profiled."""

    inserts: int
    updates: int
    rows_per_insert: int
    profile_rows: int


@dataclass(frozen=True)
class ProfileLine:
    """One function of the profile: where it is, calls, own and cumulative seconds."""

    function: str
    calls: int
    own_s: float
    cumulative_s: float


@dataclass(frozen=True)
class ReaderProfile:
    """The functions that took the most time in reader (b), by cumulative and by own time."""

    rows: int
    # Seconds of the profiled BinlogReader.run call: the reader thread's whole work.
    total_s: float
    by_cumulative: list[ProfileLine]
    by_own: list[ProfileLine]


@dataclass(frozen=True)
class DecodeResult:
    figures: list[Figure]
    profile: ReaderProfile
    # Versions of the readers from other projects, by name.
    tool_versions: dict[str, str]


def run_decode(
    database: BenchDatabase, sizes: DecodeSizes, repeats: int, work_dir: Path, use_node: bool
) -> DecodeResult:
    """Build the binlog, then time every available reader over it `repeats` times.

    With use_node false the Node reader is skipped, which saves the npm install.
    """
    binlog = database.build_decode_binlog(1, sizes.inserts, sizes.updates, sizes.rows_per_insert)
    half = sizes.profile_rows // 2
    profiled = database.build_decode_binlog(sizes.inserts + 1, half, half, sizes.rows_per_insert)
    print(f"decode: {binlog.rows:,} row events in {binlog.start} to {binlog.end}", flush=True)

    optional, skipped, versions = _optional_readers(database, work_dir, use_node)
    server = ServeProcess(
        database.reader_url, ".".join(TASK_TABLE), work_dir / "serve-decode.log",
        buffer_events=binlog.rows + 100_000, max_pending=binlog.rows + 100_000,
    )
    readers: dict[str, Reader] = {
        "raw": lambda span: _read_raw(database, span),
        "reader": lambda span: _read_with_rowcast(database, span),
        "server": lambda span: asyncio.run(_read_over_sse(server.port, span)),
        **optional,
    }
    rates: dict[str, list[float]] = {name: [] for name in readers}
    try:
        for repeat in range(repeats):
            for name, read in readers.items():
                rates[name].append(read(binlog))
            print(f"decode: repeat {repeat + 1}/{repeats} " + ", ".join(
                f"{name} {values[-1]:,.0f} rows/s" for name, values in rates.items()), flush=True)
    finally:
        server.stop()
    return DecodeResult(_figures(rates, skipped), _profile_reader(database, profiled), versions)


def _figures(rates: dict[str, list[float]], skipped: dict[str, str]) -> list[Figure]:
    def ratios(top: str, bottom: str) -> Summary:
        return Summary.of([a / b for a, b in zip(rates[top], rates[bottom])])

    reader_ratio = ratios("reader", "raw")
    server_ratio = ratios("server", "reader")
    figures = [
        Figure(SECTION, "(a) mysql-replication BinLogStreamReader, every value touched",
               "rows/s", Summary.of(rates["raw"])),
        Figure(SECTION, "(b) rowcast BinlogReader + change_to_json", "rows/s",
               Summary.of(rates["reader"])),
        Figure(SECTION, "(c) rowcast serve to one SSE client", "rows/s",
               Summary.of(rates["server"])),
        Figure(SECTION, "b/a", "", reader_ratio, 2, f"≥ {TARGET_READER_RATIO:.2f}",
               reader_ratio.median >= TARGET_READER_RATIO),
        Figure(SECTION, "c/a", "", ratios("server", "raw"), 2),
        Figure(SECTION, "c/b", "", server_ratio, 2, f"≥ {TARGET_SERVER_RATIO:.2f}",
               server_ratio.median >= TARGET_SERVER_RATIO),
    ]
    labels = {"mariadb-binlog": "mariadb-binlog --read-from-remote-server --verbose",
              "zongji": f"Node {ZONGJI_PACKAGE}, every value touched"}
    for name, label in labels.items():
        if name in rates:
            figures.append(Figure(SECTION, label, "rows/s", Summary.of(rates[name])))
            figures.append(Figure(SECTION, f"b/{name}", "", ratios("reader", name), 2))
        else:
            figures.append(Figure(SECTION, label, "rows/s", note=skipped[name]))
    return figures


def _read_raw(database: BenchDatabase, span: BinlogRange) -> float:
    """Time mysql-replication alone, without blocking, from the start to the end position."""
    settings = database.reader.pymysql_kwargs()
    settings.pop("database")
    started = time.perf_counter()
    stream = BinLogStreamReader(
        connection_settings=settings, server_id=RAW_SERVER_ID, blocking=False,
        resume_stream=True, log_file=span.start.file_name, log_pos=span.start.offset,
        end_log_pos=span.end.offset,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        only_tables=[TASK_TABLE[1]], only_schemas=[TASK_TABLE[0]],
        # As in cdc/reader.py: a file-and-position dump on MariaDB too.
        is_mariadb=False, enable_logging=False,
    )
    rows = 0
    # Counting non-NULL values makes the loop read every decoded value.
    present = 0
    try:
        for event in stream:
            for row in event.rows:
                for image in row.values():
                    for value in image.values():
                        present += value is not None
                rows += 1
    finally:
        stream.close()
    elapsed = time.perf_counter() - started
    _check_rows("mysql-replication", rows, span)
    return rows / elapsed


class _EncodingSink:
    """Encodes every change event to JSON bytes and stops the reader after the last one."""

    def __init__(self, expected: int, stop: threading.Event) -> None:
        self.expected = expected
        self.rows = 0
        # The total size of the encoded events, so that every encoding result is used.
        self.encoded_bytes = 0
        self.finished_at = 0.0
        self.done = threading.Event()
        self._stop = stop

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        for event in events:
            self.encoded_bytes += len(change_to_json(event).encode("utf-8"))
        self.rows += len(events)
        if self.rows >= self.expected:
            self.finished_at = time.perf_counter()
            self._stop.set()
            self.done.set()

    def progress(self, position: BinlogPosition) -> None:
        """Nothing to do: the benchmark stops on the row count."""

    def reader_state(self, state: str, message: str) -> None:
        """Nothing to do: a reconnect shows up as a slower run."""


def _read_with_rowcast(database: BenchDatabase, span: BinlogRange) -> float:
    """Time cdc.reader.BinlogReader with a sink that encodes each change event to JSON."""
    stop = threading.Event()
    sink = _EncodingSink(span.rows, stop)
    settings = ReaderSettings(database.reader, TableFilter.parse(".".join(TASK_TABLE)),
                              server_id=READER_SERVER_ID)
    reader = BinlogReader(settings, sink, span.start)
    thread = threading.Thread(target=reader.run, args=(stop,), name="bench-reader")
    started = time.perf_counter()
    thread.start()
    finished = sink.done.wait(READ_TIMEOUT_S)
    stop.set()
    thread.join(READ_TIMEOUT_S)
    if not finished:
        raise RuntimeError(
            f"rowcast's reader passed on {sink.rows:,} of {span.rows:,} change events "
            f"within {READ_TIMEOUT_S:.0f} s"
        )
    return span.rows / (sink.finished_at - started)


async def _read_over_sse(port: int, span: BinlogRange) -> float:
    """Time one SSE client that resumes before the range and counts its change events."""
    after = EventId.boundary(span.start)
    counted = 0

    def count(event: bytes, received: float) -> bool:
        nonlocal counted
        counted += 1
        return counted >= span.rows

    started = time.perf_counter()
    connection = await SseConnection.open(port, f"last_event_id={after}")
    try:
        await asyncio.wait_for(connection.read_changes(count), READ_TIMEOUT_S)
    finally:
        connection.close()
    elapsed = time.perf_counter() - started
    _check_rows("the SSE client", counted, span)
    return span.rows / elapsed


def _optional_readers(
    database: BenchDatabase, work_dir: Path, use_node: bool
) -> tuple[dict[str, Reader], dict[str, str], dict[str, str]]:
    """Return the readers from other projects that this machine has, why the others are
    skipped, and the versions of those found."""
    readers: dict[str, Reader] = {}
    skipped: dict[str, str] = {}
    versions: dict[str, str] = {}
    binlog_tool = shutil.which("mariadb-binlog") or shutil.which("mysqlbinlog")
    if binlog_tool is None:
        skipped["mariadb-binlog"] = "skipped: neither mariadb-binlog nor mysqlbinlog is on PATH"
    else:
        versions[Path(binlog_tool).name] = _first_line([binlog_tool, "--version"])
        readers["mariadb-binlog"] = lambda span: _read_with_binlog_tool(
            binlog_tool, database, span, work_dir)
    zongji_dir, reason = _install_zongji(work_dir) if use_node else (None, "skipped: --no-node")
    if zongji_dir is None:
        skipped["zongji"] = reason
    else:
        versions["node"] = _first_line(["node", "--version"])
        package = zongji_dir / "node_modules" / ZONGJI_PACKAGE / "package.json"
        versions[ZONGJI_PACKAGE] = json.loads(package.read_text(encoding="utf-8"))["version"]
        readers["zongji"] = lambda span: _read_with_zongji(zongji_dir, database, span)
    for name, reason in skipped.items():
        print(f"decode: {name} {reason}", flush=True)
    return readers, skipped, versions


def _first_line(command: list[str]) -> str:
    output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    return output.strip().splitlines()[0] if output.strip() else "unknown"


def _read_with_binlog_tool(
    tool: str, database: BenchDatabase, span: BinlogRange, work_dir: Path
) -> float:
    """Time the server's own binlog tool decoding the range into pseudo-SQL."""
    if span.start.file_name != span.end.file_name:
        raise RuntimeError(f"the decode range {span.start} to {span.end} spans two binlog files")
    output = work_dir / "mariadb-binlog.out"
    reader = database.reader
    command = [
        tool, "--read-from-remote-server", f"--host={reader.host}", f"--port={reader.port}",
        f"--user={reader.user}", f"--start-position={span.start.offset}",
        f"--stop-position={span.end.offset}", "--verbose", span.start.file_name,
    ]
    started = time.perf_counter()
    with output.open("wb") as sink:
        subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, check=True,
                       timeout=READ_TIMEOUT_S, env=os.environ | {"MYSQL_PWD": READER_PASSWORD})
    elapsed = time.perf_counter() - started
    rows = 0
    with output.open("rb") as decoded:
        for line in decoded:
            rows += line.startswith((b"### INSERT INTO", b"### UPDATE", b"### DELETE FROM"))
    output.unlink()
    _check_rows(Path(tool).name, rows, span)
    return rows / elapsed


def _install_zongji(work_dir: Path) -> tuple[Path | None, str]:
    """Install the Node reader into a temporary folder; return it, or None and the reason."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        return None, "skipped: node or npm is not on PATH"
    folder = Path(tempfile.mkdtemp(prefix="zongji-", dir=work_dir))
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", ZONGJI_PACKAGE],
            cwd=folder, capture_output=True, text=True, check=True, timeout=NPM_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as error:
        return None, f"skipped: npm install {ZONGJI_PACKAGE} failed: {error.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        return None, f"skipped: npm install {ZONGJI_PACKAGE} took over {NPM_TIMEOUT_S:.0f} s"
    # An ES module finds node_modules relative to its own file, so the script goes beside it.
    shutil.copy(ZONGJI_SCRIPT, folder / ZONGJI_SCRIPT.name)
    return folder, ""


def _read_with_zongji(folder: Path, database: BenchDatabase, span: BinlogRange) -> float:
    """Time the Node reader; the script measures from its start() to the last row."""
    reader = database.reader
    settings = {
        "host": reader.host, "port": reader.port, "user": reader.user,
        "password": reader.password, "serverId": ZONGJI_SERVER_ID,
        "schema": TASK_TABLE[0], "table": TASK_TABLE[1],
        "filename": span.start.file_name, "position": span.start.offset, "rows": span.rows,
    }
    result = subprocess.run(
        ["node", ZONGJI_SCRIPT.name, json.dumps(settings)], cwd=folder,
        capture_output=True, text=True, timeout=READ_TIMEOUT_S, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the zongji reader failed: {result.stderr.strip()[-500:]}")
    report = json.loads(result.stdout)
    _check_rows(ZONGJI_PACKAGE, int(report["rows"]), span)
    return float(report["rows"]) / float(report["seconds"])


def _profile_reader(database: BenchDatabase, span: BinlogRange) -> ReaderProfile:
    """Profile the reader and JSON encoding of (b) on the reader's thread."""
    stop = threading.Event()
    sink = _EncodingSink(span.rows, stop)
    settings = ReaderSettings(database.reader, TableFilter.parse(".".join(TASK_TABLE)),
                              server_id=READER_SERVER_ID)
    reader = BinlogReader(settings, sink, span.start)
    profiler = cProfile.Profile()
    # cProfile records only the thread that enabled it, so the reader thread runs it.
    thread = threading.Thread(target=profiler.runcall, args=(reader.run, stop))
    thread.start()
    sink.done.wait(READ_TIMEOUT_S)
    stop.set()
    thread.join(READ_TIMEOUT_S)
    stats = pstats.Stats(profiler)
    entries = stats.stats.items()  # type: ignore[attr-defined]
    lines = [
        ProfileLine(_function_label(key), calls, own_s, cumulative_s)
        for key, (_, calls, own_s, cumulative_s, _) in entries
    ]
    return ReaderProfile(
        rows=span.rows,
        total_s=max(line.cumulative_s for line in lines),
        by_cumulative=sorted(lines, key=lambda line: line.cumulative_s, reverse=True)[:PROFILE_TOP],
        by_own=sorted(lines, key=lambda line: line.own_s, reverse=True)[:PROFILE_TOP],
    )


def _function_label(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if path == "~":
        # cProfile's file name for built-in functions.
        return name
    paths = sysconfig.get_paths()
    for folder in (paths["purelib"], str(PROJECT_ROOT), paths["stdlib"]):
        if path.startswith(folder + os.sep):
            path = path[len(folder) + 1:]
            break
    return f"{path}:{line} {name}"


def _check_rows(reader: str, rows: int, span: BinlogRange) -> None:
    if rows != span.rows:
        raise RuntimeError(
            f"{reader} decoded {rows:,} rows between {span.start} and {span.end}, "
            f"but {span.rows:,} were written there"
        )
