"""The change stream: checks the server, runs the reader thread and feeds the hub."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from cdc.catchup import CatchUp, catch_up_settings, read_range
from cdc.checks import require_ready
from cdc.column_filter import require_excludable
from cdc.events import ChangeEvent
from cdc.hub import ChangeHub, EventFilter, HubSettings, Notice, ResumeUnavailable, Subscription
from cdc.loop_sink import LoopSink
from cdc.position import BinlogPosition, EventId
from cdc.reader import BinlogReader, ReaderSettings
from cdc.refused import BinlogRefused
from cdc.server import ServerInfo, binlog_files, current_position, server_fingerprint
from cdc.snapshot import Snapshot, take_snapshot
from cdc.subscription import WireFormat

logger = logging.getLogger(__name__)

READER_JOIN_TIMEOUT_S = 10.0
# Seconds a snapshot may spend re-reading the binlog when the buffer moved on.
RANGE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class StreamSettings:
    """Settings of the reader, the hub and the catch-up readers."""

    reader: ReaderSettings
    hub: HubSettings = field(default_factory=HubSettings)
    # Catch-up readers that may run at once; they use the replica server ids
    # right after the reader's. Further resumes wait for a free one.
    catch_up_slots: int = 4


class ChangeStream:
    """Owns the hub and the reader thread for the lifetime of the app."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hub: ChangeHub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._catch_ups: dict[Subscription, CatchUp] = {}
        self._free_slots: asyncio.Queue[int] | None = None
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
            require_ready, connection.connect, reader_settings.tables, reader_settings.server_id,
            reader_settings.allow_partial_images,
        )
        await asyncio.to_thread(
            require_excludable, connection.connect, reader_settings.excluded_columns
        )
        link = await asyncio.to_thread(connection.connect)
        try:
            source = await asyncio.to_thread(server_fingerprint, link)
            start = await asyncio.to_thread(current_position, link, source)
        finally:
            link.close()
        self._free_slots = asyncio.Queue()
        for slot in range(self.settings.catch_up_slots):
            self._free_slots.put_nowait(slot)
        self._hub = ChangeHub(start, self.settings.hub)
        self._loop = asyncio.get_running_loop()
        sink = LoopSink(self._loop, self._hub.publish, self._hub.advance,
                        self._hub.set_reader_status)
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
        for catch_up in list(self._catch_ups.values()):
            catch_up.stop()
        if self._hub is not None:
            self._hub.close_all("the server is shutting down; reconnect to resume")
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, READER_JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                logger.warning("binlog reader did not stop within %s s", READER_JOIN_TIMEOUT_S)
        logger.info("change stream stopped")

    async def open(
        self, after: EventId | None, accepts: EventFilter, coalesce: bool = False,
        wire_format: WireFormat | None = None,
    ) -> tuple[Subscription, Notice | None]:
        """Subscribe after an id: from the buffer, from the binlog, or else from now.

        The second value is a `reset` notice when the id cannot be resumed (the
        binlog was purged, or the id belongs to another server). The client must
        then reload its snapshot; the subscription starts from now. A sender
        that takes EncodedChanges passes its transport's wire format, in which
        a catch-up reader encodes the changes it reads.
        """
        hub = self.hub
        try:
            return hub.subscribe(after, accepts, coalesce), None
        except ResumeUnavailable as error:
            if error.reason != "expired" or after is None:
                return self._reset(error, accepts, coalesce)
        if not await self._binlog_has(after.position):
            purged = ResumeUnavailable(
                "purged",
                f"Event id {after} points into binlog file {after.position.file_name}, "
                "which the server has purged; reload the snapshot.",
            )
            return self._reset(purged, accepts, coalesce)
        subscription = hub.new_subscription(accepts, coalesce)
        subscription.wire_format = wire_format
        asyncio.get_running_loop().create_task(self._catch_up(subscription, after))
        return subscription, None

    def close(self, subscription: Subscription) -> None:
        """Forget a subscription whose client has gone, stopping its catch-up reader."""
        catch_up = self._catch_ups.pop(subscription, None)
        if catch_up is not None:
            catch_up.stop()
        self.hub.unsubscribe(subscription)

    def _reset(
        self, error: ResumeUnavailable, accepts: EventFilter, coalesce: bool
    ) -> tuple[Subscription, Notice]:
        logger.info("resume impossible reason=%s", error.reason)
        subscription = self.hub.subscribe(None, accepts, coalesce)
        notice = Notice("reset", {"reason": error.reason, "message": error.message,
                                  "last_event_id": str(self.hub.last_id)})
        return subscription, notice

    async def _binlog_has(self, position: BinlogPosition) -> bool:
        connection = self.settings.reader.connection
        link = await asyncio.to_thread(connection.connect)
        try:
            files = await asyncio.to_thread(binlog_files, link)
        finally:
            link.close()
        return position.file_name in files

    async def _catch_up(self, subscription: Subscription, after: EventId) -> None:
        assert self._free_slots is not None
        slot = await self._free_slots.get()
        try:
            if subscription.closed_reason is not None:
                return
            settings = catch_up_settings(self.settings.reader, slot)
            catch_up = CatchUp(settings, self.hub, subscription, after, self.loop)
            self._catch_ups[subscription] = catch_up
            catch_up.start()
            await catch_up.finished.wait()
        finally:
            self._catch_ups.pop(subscription, None)
            self._free_slots.put_nowait(slot)

    async def snapshot(self, db: str, table: str) -> Snapshot:
        """Take a snapshot of one watched table, consistent with the stream."""
        reader = self.settings.reader
        return await take_snapshot(
            self.hub, reader.connection, db, table, self._read_binlog,
            reader.excluded_columns.excluded_in(db, table),
        )

    async def _read_binlog(self, after: EventId, end: BinlogPosition) -> list[ChangeEvent]:
        assert self._free_slots is not None
        slot = await self._free_slots.get()
        try:
            settings = catch_up_settings(self.settings.reader, slot)
            return await read_range(settings, after, end, RANGE_TIMEOUT_S)
        finally:
            self._free_slots.put_nowait(slot)

    def _run_reader(self, reader: BinlogReader, sink: LoopSink) -> None:
        """Run the reader; restart it with backoff if it fails, from its last boundary."""
        failures = 0
        while not self._stop.is_set():
            try:
                reader.run(self._stop)
                return
            except BinlogRefused as error:
                # Reading the same binlog again would fail the same way.
                logger.error("binlog reader stopped position=%s error=%s", reader.position, error)
                sink.reader_state("failed", str(error))
                return
            except Exception:
                failures += 1
                delay = min(self.settings.reader.reconnect_max_s, 0.5 * 2 ** min(failures, 6))
                if failures == 1:
                    logger.exception("binlog reader failed position=%s", reader.position)
                else:
                    logger.warning("binlog reader failed again position=%s failures=%s",
                                   reader.position, failures)
                sink.reader_state(
                    "reconnecting",
                    f"The binlog reader failed at {reader.position} and restarts in "
                    f"{delay:.1f} s (failure {failures}); see the server log",
                )
                self._stop.wait(delay)
