"""The benchmarks' server process waits for its own start, even in a log another server wrote."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from benchmarks.server_process import WORKERS_READY, ServeProcess
from cdc.connection import ConnectionSettings


def test_second_server_waits_on_shared_log(
    reader_settings: ConnectionSettings, tmp_path: Path,
) -> None:
    log_path = tmp_path / "serve.log"
    first = ServeProcess(reader_settings.url(), "robots.task", log_path, workers=2)
    first.stop()
    second = ServeProcess(reader_settings.url(), "robots.task", log_path, workers=2)
    try:
        # The first server's "workers ready" line is already in the log; the
        # second must not take it for its own and return before it listens.
        with urllib.request.urlopen(f"http://127.0.0.1:{second.port}/healthz", timeout=10) as reply:
            assert reply.status == 200
        assert second.log_text().count(WORKERS_READY) == 1
        assert log_path.read_text().count(WORKERS_READY) == 2
    finally:
        second.stop()
