"""Run `rowcast serve` as a child process and sample its CPU time and memory from /proc.

With --workers N the samples add up the parent and its worker processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rowcast.private_server import free_port

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# The reader uses its server id and catch-up readers the next 4, so two
# servers at once need ids at least 5 apart, and each worker of a server takes 5.
SERVER_ID_STEP = 5
# The line `rowcast serve --workers N` prints once every worker accepts connections.
WORKERS_READY = "workers ready"
FIRST_SERVER_ID = 7001
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessSample:
    """CPU seconds used so far and resident memory of one process."""

    at: float
    cpu_s: float
    rss_bytes: int


class ServeProcess:
    """One `python -m rowcast.cli serve` process on a free port of 127.0.0.1."""

    _next_server_id = FIRST_SERVER_ID

    def __init__(
        self, mysql_url: str, tables: str, log_path: Path,
        buffer_events: int = 10_000, max_pending: int = 10_000, workers: int = 1,
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        # The log may already contain another server's lines, so this server's
        # own text starts at the current end.
        self._log_start = log_path.stat().st_size if log_path.exists() else 0
        self.workers = workers
        server_id = ServeProcess._next_server_id
        ServeProcess._next_server_id += SERVER_ID_STEP * workers
        command = [
            sys.executable, "-m", "rowcast.cli", "--log-level", "WARNING", "serve",
            "--mysql-url", mysql_url, "--tables", tables,
            "--http-host", "127.0.0.1", "--http-port", str(self.port),
            "--server-id", str(server_id), "--workers", str(workers),
            "--buffer-events", str(buffer_events), "--max-pending", str(max_pending),
        ]
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        self._wait_until_ready()

    @property
    def pid(self) -> int:
        return self.process.pid

    def sample(self) -> ProcessSample:
        """Read the CPU time (user + system) and resident set size of the server's processes."""
        samples = [sample_process(pid) for pid in [self.pid, *child_pids(self.pid)]]
        return ProcessSample(max(one.at for one in samples), sum(one.cpu_s for one in samples),
                             sum(one.rss_bytes for one in samples))

    def log_text(self) -> str:
        """Return what this server has written to its log."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def stop(self) -> None:
        """Stop the server with SIGTERM, as a user's Ctrl-C would, and wait for it."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"rowcast serve exited with status {self.process.returncode} during "
                    f"start-up; its log {self.log_path} ends with: {self.log_text()[-2000:]}"
                )
            if self.workers > 1:
                # Until every worker accepts, the first one would take every client.
                if WORKERS_READY in self.log_text():
                    return
                time.sleep(0.1)
                continue
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"rowcast serve did not respond on 127.0.0.1:{self.port} within "
            f"{START_TIMEOUT_S:.0f} s; see {self.log_path}"
        )


def child_pids(pid: int) -> list[int]:
    """Return the pids of the processes whose parent is pid (Linux /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            # The process exited while the folder was read.
            continue
        # Field 4 of proc(5) is the parent pid; the name in field 2 may contain spaces.
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def sample_process(pid: int) -> ProcessSample:
    """Read CPU time and resident memory of a process from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat_file:
        # The command name in field 2 may contain spaces, so split after its closing bracket.
        fields = stat_file.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of proc(5); fields[0] here is field 3.
    cpu_s = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    rss_bytes = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status_file:
        for line in status_file:
            if line.startswith("VmRSS:"):
                rss_bytes = int(line.split()[1]) * 1024
                break
    return ProcessSample(time.monotonic(), cpu_s, rss_bytes)
