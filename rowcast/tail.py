"""`rowcast tail`: print the change events of a running rowcast server, one line each.

Human lines or NDJSON go to stdout, and messages about the connection go to
stderr. After a dropped connection or a server restart it reconnects with
backoff and resumes after the last id it received, so no change prints twice.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import httpx

from rowcast.tail_format import Output, choose_style, escape_unencodable
from rowcast.tail_settings import TailSettings
from rowcast.tail_sse import SseEvent, parse_events

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0
# Maximum wait accepted from a Retry-After header, in seconds. The HTTP-date form
# of the header is not read, and then the normal backoff applies.
MAX_RETRY_AFTER_S = 60.0
CONNECT_TIMEOUT_S = 5.0
# The server sends a heartbeat comment every 15 s, so 45 s of silence means three
# heartbeats were lost and the connection is dead.
READ_TIMEOUT_S = 45.0
# Exit status of a request the server rejected with HTTP 400, the same as for a usage error.
USAGE_ERROR = 2


class StreamRejected(Exception):
    """A request the server rejected in a way that retrying cannot fix."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class ConnectionLost(Exception):
    """A stream that ended: the message is the reason, retry_after_s the wait requested."""

    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Backoff:
    """Reconnection delays: 0.5 s, doubling up to 10 s, and the number of the attempt."""

    def __init__(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        self.attempt += 1
        return min(FIRST_DELAY_S * 2.0 ** (self.attempt - 1), MAX_DELAY_S)

    def reset(self) -> None:
        self.attempt = 0


class Tail:
    """One /events stream, followed across reconnections, and the last id received from it."""

    def __init__(self, settings: TailSettings, output: Output, client: httpx.Client) -> None:
        self.settings = settings
        self.output = output
        self.client = client
        self.last_id = settings.since
        self._connected_before = False
        # True once the current stream has sent a change or a reset.
        self._delivered = False
        self._reader_state: str | None = None
        self._handlers: dict[str, Callable[[SseEvent], None]] = {
            "change": self._on_change, "status": self._on_status,
            "reset": self._on_reset, "closed": self._on_closed,
        }

    def run(self) -> NoReturn:
        """Stream and reconnect until interrupted; raise StreamRejected on a rejected request."""
        backoff = Backoff()
        while True:
            retry_after_s = 0.0
            try:
                self._stream(backoff)
                reason = "the server ended the stream"
            except ConnectionLost as lost:
                reason, retry_after_s = str(lost), lost.retry_after_s
            except httpx.TransportError as error:
                reason = self._describe(error)
            delay = max(backoff.next_delay(), retry_after_s)
            again = "Reconnecting" if self._connected_before else "Retrying"
            self.output.message(f"{reason}. {again} in {delay:.1f} s (attempt {backoff.attempt})…")
            if backoff.attempt == 1 and not self._connected_before:
                self.output.message("Is `rowcast serve` or `rowcast demo` running there? "
                                    "rowcast tail retries until it answers; Ctrl-C stops it.")
            time.sleep(delay)

    def _stream(self, backoff: Backoff) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        with self.client.stream("GET", self.settings.events_url, params=self.settings.query(),
                                headers=headers) as response:
            _check_response(response)
            self._announce_connection()
            opened = time.monotonic()
            self._delivered = False
            try:
                for event in parse_events(response.iter_lines()):
                    handler = self._handlers.get(event.event)
                    if handler is not None:
                        handler(event)
            finally:
                # Streams that the server keeps ending at once get ever
                # longer delays, as connections that fail do.
                if self._delivered or time.monotonic() - opened >= MAX_DELAY_S:
                    backoff.reset()

    def _announce_connection(self) -> None:
        if not self._connected_before:
            start = f" after {self.last_id}" if self.last_id else ""
            self.output.message(f"streaming {self.settings.events_url}{start} (Ctrl-C to stop)")
        elif self.last_id:
            self.output.message(f"resumed after {self.last_id}")
        else:
            self.output.message("reconnected; no change had arrived before the connection "
                                "dropped, so changes made while it was down are not shown")
        self._connected_before = True

    def _describe(self, error: httpx.TransportError) -> str:
        if isinstance(error, httpx.ConnectError):
            return f"cannot connect to {self.settings.events_url} ({error})"
        if isinstance(error, httpx.ReadTimeout):
            return f"no data from the server for {READ_TIMEOUT_S:.0f} s"
        return f"connection lost ({error or type(error).__name__})"

    def _on_change(self, event: SseEvent) -> None:
        change = _json_object(event)
        if change is None:
            self.output.message(f"skipped a change event whose data is not a JSON object: "
                                f"{event.data[:80]}")
            return
        self.output.change(change)
        self._delivered = True
        new_id = event.id or change.get("id")
        if new_id:
            self.last_id = str(new_id)

    def _on_status(self, event: SseEvent) -> None:
        status = _json_object(event) or {}
        state = str(status.get("state", "unknown"))
        if state != self._reader_state:
            self._reader_state = state
            self.output.message(f"reader {state}: {status.get('message', '')}")

    def _on_reset(self, event: SseEvent) -> None:
        reset = _json_object(event) or {}
        self.output.message(
            f"warning: cannot resume after {self.last_id}: {reset.get('message', reset)} "
            "Changes made since then may be missing; continuing from now."
        )
        self.last_id = str(reset.get("last_event_id") or event.id or "") or None
        self._delivered = True

    def _on_closed(self, event: SseEvent) -> None:
        closed = _json_object(event) or {}
        raise ConnectionLost(f"the server closed the stream: {closed.get('reason', event.data)}")


def _json_object(event: SseEvent) -> dict[str, Any] | None:
    try:
        value = json.loads(event.data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _check_response(response: httpx.Response) -> None:
    if response.status_code == 200:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            url = response.url.copy_with(query=None)
            raise StreamRejected(f"{url} is not an event stream; is it a rowcast server?", 1)
        return
    response.read()
    message = _error_message(response)
    if response.status_code >= 500:
        raise ConnectionLost(message, _retry_after_s(response))
    raise StreamRejected(message, USAGE_ERROR if response.status_code == 400 else 1)


def _error_message(response: httpx.Response) -> str:
    """Return the `message` of a rowcast error body, or else the status and URL."""
    try:
        return str(response.json()["message"])
    except (ValueError, KeyError, TypeError):
        url = response.url.copy_with(query=None)
        return f"HTTP {response.status_code} from {url}; is it a rowcast server?"


def _retry_after_s(response: httpx.Response) -> float:
    """Return the Retry-After header in seconds, up to MAX_RETRY_AFTER_S; 0 when absent."""
    text = response.headers.get("retry-after", "")
    return min(float(text), MAX_RETRY_AFTER_S) if text.isdigit() else 0.0


def run_tail(arguments: argparse.Namespace) -> int:
    """Run `rowcast tail` until Ctrl-C; return 0 then, 2 for a rejected request, 1 otherwise."""
    try:
        settings = TailSettings.from_arguments(arguments)
    except ValueError as error:
        print(f"rowcast: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    _quiet_request_logs()
    escape_unencodable(sys.stdout, sys.stderr)
    output = Output(sys.stdout, sys.stderr, settings.json_lines,
                    choose_style(sys.stdout, os.environ))
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
    try:
        with httpx.Client(timeout=timeout) as client:
            Tail(settings, output, client).run()
    except StreamRejected as rejected:
        output.message(f"error: {rejected}")
        return rejected.exit_status
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # The reader of a pipe, such as `head`, has exited. Point stdout at
        # /dev/null so that flushing it at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _quiet_request_logs() -> None:
    # httpx logs every request at INFO, once per reconnection here.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)

