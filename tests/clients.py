"""Real HTTP clients for the stream endpoints, reading in background threads."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.sync.client import connect as ws_connect

WAIT_S = 15.0


@dataclass
class SseMessage:
    """One parsed Server-Sent Event."""

    event: str
    id: str | None
    data: Any


def parse_sse(lines: Iterable[str]) -> Iterator[SseMessage]:
    """Parse Server-Sent Events from response lines, skipping comments and retry hints."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in fields or "data" in fields:
                yield SseMessage(fields.get("event", "message"), fields.get("id"),
                                 json.loads(fields["data"]) if fields.get("data") else None)
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


class SseClient:
    """Read /events in a thread and queue every parsed event."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.messages: queue.Queue[SseMessage | Exception] = queue.Queue()
        self.status_code: int | None = None
        self.retry: int | None = None
        self._opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None))
        self._thread = threading.Thread(target=self._read, args=(headers or {},), daemon=True)
        self._thread.start()
        if not self._opened.wait(WAIT_S):
            raise TimeoutError(f"No response from {url} within {WAIT_S} s")

    def _read(self, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", self.url, headers=headers) as response:
                self.status_code = response.status_code
                self._opened.set()
                self._parse(response.iter_lines())
        except (httpx.HTTPError, RuntimeError) as error:
            self._opened.set()
            self.messages.put(error)

    def _parse(self, lines: Any) -> None:
        fields: dict[str, str] = {}
        for line in lines:
            if line == "":
                if "data" in fields or "event" in fields:
                    data = fields.get("data")
                    self.messages.put(SseMessage(
                        fields.get("event", "message"), fields.get("id"),
                        json.loads(data) if data else None,
                    ))
                fields = {}
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "retry":
                    self.retry = int(value)
                elif name == "data" and "data" in fields:
                    fields["data"] += "\n" + value
                else:
                    fields[name] = value

    def next(self, event: str | None = "change", timeout: float = WAIT_S) -> SseMessage:
        """Return the next message of the given type, skipping others; None takes any."""
        while True:
            message = self.messages.get(timeout=timeout)
            if isinstance(message, Exception):
                raise message
            if event is None or message.event == event:
                return message

    def changes(self, count: int, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """Return the data of the next count change events."""
        return [self.next("change", timeout).data for _ in range(count)]

    def close(self) -> None:
        self._client.close()


class WsClient:
    """Read /ws in a thread and queue every decoded message."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: queue.Queue[dict[str, Any] | Exception] = queue.Queue()
        self.close_code: int | None = None
        self._opened = threading.Event()
        self._connection: Any = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._opened.wait(WAIT_S):
            raise TimeoutError(f"No WebSocket handshake from {url} within {WAIT_S} s")

    def _read(self) -> None:
        try:
            with ws_connect(self.url, open_timeout=WAIT_S) as connection:
                self._connection = connection
                self._opened.set()
                for text in connection:
                    self.messages.put(json.loads(text))
                self.close_code = connection.close_code
                self.messages.put(ConnectionError(f"closed with code {self.close_code}"))
        except Exception as error:  # noqa: BLE001 - handed to the test thread
            if self._connection is not None:
                self.close_code = self._connection.close_code
            self._opened.set()
            self.messages.put(ConnectionError(f"closed with code {self.close_code}: {error}"))

    def next(self, kind: str | None = "change", timeout: float = WAIT_S) -> dict[str, Any]:
        """Return the next message of the given type, skipping others; None takes any."""
        while True:
            message = self.messages.get(timeout=timeout)
            if isinstance(message, Exception):
                raise message
            if kind is None or message.get("type") == kind:
                return message

    def changes(self, count: int, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        return [self.next("change", timeout) for _ in range(count)]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
