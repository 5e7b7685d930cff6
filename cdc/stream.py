"""The change stream: checks the server, runs the reader thread and feeds the hub."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from cdc.checks import require_ready
from cdc.events import ChangeEvent
from cdc.hub import ChangeHub, HubSettings
from cdc.position import BinlogPosition
from cdc.reader import BinlogReader, ReaderSettings
from cdc.server import ServerInfo, current_position
from cdc.snapshot import Snapshot, take_snapshot

logger = logging.getLogger(__name__)

READER_JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class StreamSettings:
    """Settings of the reader and of the hub."""

    reader: ReaderSettings
    hub: HubSettings = field(default_factory=HubSettings)


class _LoopSink:
    """Passes what the reader thread reads to the hub on the event loop thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, hub: ChangeHub) -> None:
        self._loop = loop
        self._hub = hub

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        self._call(self._hub.publish, events, end)

    def progress(self, position: BinlogPosition) -> None:
        self._call(self._hub.advance, position)

    def reader_state(self, state: str, message: str) -> None:
        self._call(self._hub.set_reader_status, state, message)

    def _call(self, function: object, *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(function, *args)  # type: ignore[arg-type]
        except RuntimeError:
            # The loop has closed during shutdown; the reader is about to stop too.
            logger.debug("event loop closed, dropping reader callback")


class ChangeStream:
    """Owns the hub and the reader thread for the lifetime of the app."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hub: ChangeHub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.server: ServerInfo | None = None

    @property
    def hub(self) -> ChangeHub:
        if self._hub is None:
            raise RuntimeError("ChangeStream.start() has not run yet")
        return self._hub

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """Return the event loop the hub lives on; other threads schedule hub calls on it."""
        if self._loop is None:
            raise RuntimeError("ChangeStream.start() has not run yet")
        return self._loop

    async def start(self) -> None:
        """Check the server, then start reading from the current end of the binlog."""
        reader_settings = self.settings.reader
        connection = reader_settings.connection
        self.server = await asyncio.to_thread(
            require_ready, connection.connect, reader_settings.tables, reader_settings.server_id
        )
        link = await asyncio.to_thread(connection.connect)
        try:
            start = await asyncio.to_thread(current_position, link)
        finally:
            link.close()
        self._hub = ChangeHub(start, self.settings.hub)
        self._loop = asyncio.get_running_loop()
        sink = _LoopSink(self._loop, self._hub)
        reader = BinlogReader(reader_settings, sink, start)
        self._thread = threading.Thread(
            target=self._run_reader, args=(reader, sink), name="binlog-reader", daemon=True
        )
        self._thread.start()
        logger.info(
            "change stream started tables=%s position=%s server=%s",
            reader_settings.tables, start, self.server.version,
        )

    async def stop(self) -> None:
        """Stop the reader and close every subscription."""
        self._stop.set()
        if self._hub is not None:
            self._hub.close_all("the server is shutting down; reconnect to resume")
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, READER_JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                logger.warning("binlog reader did not stop within %s s", READER_JOIN_TIMEOUT_S)
        logger.info("change stream stopped")

    async def snapshot(self, db: str, table: str) -> Snapshot:
        """Take a snapshot of one watched table, consistent with the stream."""
        return await take_snapshot(self.hub, self.settings.reader.connection, db, table)

    def _run_reader(self, reader: BinlogReader, sink: _LoopSink) -> None:
        try:
            reader.run(self._stop)
        except Exception:
            logger.exception("binlog reader failed position=%s", reader.position)
            sink.reader_state("failed", "The binlog reader stopped after an error; see the server log")
