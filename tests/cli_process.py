"""A rowcast command run as a child process, its output lines collected in a thread."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

START_TIMEOUT_S = 60.0


class CliProcess:
    """A `python -m rowcast.cli` child process with stdout and stderr merged into `lines`."""

    def __init__(self, *arguments: str) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rowcast.cli", *arguments],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, pattern: str) -> re.Match[str]:
        """Return the first match among the output lines, waiting for it."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + START_TIMEOUT_S
        with self._changed:
            while True:
                for line in self.lines:
                    match = compiled.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise AssertionError(
                        f"No line matching {pattern!r} in:\n" + "\n".join(self.lines))
                self._changed.wait(remaining)

    def output(self, timeout_s: float) -> str:
        """Return every output line once the process has closed its output, or after timeout_s."""
        self._reader.join(timeout=timeout_s)
        return "\n".join(self.lines)
