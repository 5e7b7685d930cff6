"""Catch-up reading: serve a resume older than the hub's buffer from the binlog itself.

A client that resumes after an id the buffer no longer reaches gets its own
binlog reader, started at the transaction of that id. The reader queues every
later change into the client's subscription until it reaches the hub's
horizon, the point from which the buffer is complete. There the subscription
is attached to the hub, which skips what the catch-up reader already
delivered, so the client sees every change exactly once, in binlog order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from cdc.errors import PositionUnavailable, SnapshotFailed
from cdc.events import ChangeEvent
from cdc.hub import ChangeHub, Notice, ResumeUnavailable, Subscription
from cdc.loop_sink import LoopSink, call_soon_or_drop
from cdc.position import BinlogPosition, EventId
from cdc.reader import BinlogReader, ReaderSettings
from cdc.refused import BinlogRefused
from cdc.subscription import EncodedChanges

logger = logging.getLogger(__name__)

# Seconds a catch-up reader waits before looking at its client's queue again.
PACE_WAIT_S = 0.01
# Encoded changes per queued item, at most: about 100 KB of task changes,
# which a sender writes at once.
ENCODED_RUN = 256
# The reader thread joins its encoded changes once it has this many, so that
# the loop joins and frees only the few read since.
JOIN_AT = 64


class CatchUp:
    """One catch-up reader feeding one subscription until the hub takes over."""

    def __init__(
        self,
        settings: ReaderSettings,
        hub: ChangeHub,
        subscription: Subscription,
        after: EventId,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._hub = hub
        self._subscription = subscription
        self._after = after
        self._loop = loop
        self._stop = threading.Event()
        self.finished: asyncio.Event = asyncio.Event()
        sink = _PacedSink(loop, self.on_transaction, self.on_progress, self._on_state,
                          subscription, self._stop)
        self._reader = BinlogReader(settings, sink, after.position)
        self._thread = threading.Thread(
            target=self._run, name=f"catch-up-{subscription.number}", daemon=True
        )
        subscription.after = after

    def start(self) -> None:
        """Start reading on a thread of its own."""
        logger.info(
            "catch-up started subscriber=%s after=%s horizon=%s",
            self._subscription.number, self._after, self._hub.horizon,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop reading; the subscription stays as it is."""
        self._stop.set()
        self.finished.set()

    def _run(self) -> None:
        try:
            self._reader.run(self._stop)
        except PositionUnavailable as error:
            logger.warning("catch-up position unreadable subscriber=%s after=%s error=%s",
                           self._subscription.number, self._after, error)
            self._loop.call_soon_threadsafe(
                self._reset_to_now, "unknown",
                f"Event id {self._after} names no transaction start that the server can read "
                f"({str(error).rstrip('.')}).",
            )
        except BinlogRefused as error:
            logger.warning("catch-up reader stopped at unsupported binlog content "
                           "subscriber=%s after=%s error=%s",
                           self._subscription.number, self._after, error)
            self._loop.call_soon_threadsafe(
                self._reset_to_now, "refused", f"Cannot resume after {self._after}: {error}"
            )
        except Exception:
            logger.exception("catch-up reader failed subscriber=%s", self._subscription.number)
            self._loop.call_soon_threadsafe(
                self._subscription.close,
                "reading the binlog for this resume failed; reconnect to try again",
            )

    def _reset_to_now(self, reason: str, message: str) -> None:
        """Send a reset and go on from now, as the hub does for an id it did not issue.

        Closing the stream instead would make the client reconnect with the
        same id, and fail the same way, again and again.
        """
        subscription = self._subscription
        if self._stop.is_set() or subscription.closed_reason is not None:
            return
        self.stop()
        subscription.offer(Notice("reset", {
            "reason": reason,
            "message": f"{message} The stream continues from now, so reload the snapshot.",
            "last_event_id": str(self._hub.last_id),
        }), backlog=True)
        subscription.after = None
        self._hub.attach(subscription, None)
        logger.info("catch-up reset to now subscriber=%s after=%s reason=%s",
                    subscription.number, self._after, reason)

    def _on_state(self, state: str, message: str) -> None:
        # Runs on the reader thread, which is fine because logging is thread-safe.
        logger.debug("catch-up reader state=%s message=%s", state, message)

    def on_transaction(
        self, events: list[ChangeEvent], runs: list[EncodedChanges], end: BinlogPosition
    ) -> None:
        """Queue the changes of one or more transactions that end at `end`. Runs on the loop."""
        if self._stop.is_set():
            return
        if runs:
            self._subscription.offer_encoded(runs)
        else:
            self._subscription.offer_backlog(events)
        self.on_progress(end)

    def on_progress(self, position: BinlogPosition) -> None:
        """Hand the subscription to the hub once the buffer covers the rest."""
        if self._stop.is_set() or self._subscription.closed_reason is not None:
            self.stop()
            return
        horizon = self._hub.horizon
        # The same test as EventId.boundary(position) < horizon, without
        # building an id for every transaction read.
        if (position.sequence, position.offset) < (horizon.position.sequence,
                                                   horizon.position.offset):
            return
        if position == horizon.position and horizon.row > 0:
            return
        boundary = EventId.boundary(position)
        self._subscription.after = max(boundary, self._subscription.after or boundary)
        try:
            self._hub.attach(self._subscription, self._subscription.after, ahead_ok=True)
        except ResumeUnavailable as error:
            self._subscription.close(error.message)
        logger.info(
            "catch-up handed over subscriber=%s position=%s", self._subscription.number, position
        )
        self.stop()


class _PacedSink:
    """Hand-over of a catch-up reader's changes to the event loop, in runs and at the client's pace.

    A catch-up reader often passes on a transaction of one change, faster than
    the loop could take a callback for each. So the changes wait here in one
    run, with the position after the last transaction read, and one wake-up of
    the loop takes the whole run. The reader thread waits while the run and
    the client's queue together reach its limit, so a slow client slows its
    own catch-up instead of filling memory.

    When the subscription has a wire format and does not coalesce, this
    thread also filters and encodes the changes and joins them into
    EncodedChanges. The event loop and this thread share one GIL, so the loop
    is left with little more than one write for each run of changes. The
    change objects are also freed on the thread that made them, whose CPU
    cache is likely to still contain them.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_transaction: Callable[[list[ChangeEvent], list[EncodedChanges], BinlogPosition],
                                 None],
        on_progress: Callable[[BinlogPosition], None],
        on_state: Callable[[str, str], None],
        subscription: Subscription,
        stop: threading.Event,
    ) -> None:
        self._loop = loop
        self._on_transaction = on_transaction
        self._on_progress = on_progress
        self._on_state = on_state
        self._subscription = subscription
        self._wire = None if subscription.coalesce else subscription.wire_format
        self._stop = stop
        self._lock = threading.Lock()
        # The run: change events, or with a wire format the joined runs and
        # the encoded changes not joined yet.
        self._events: list[ChangeEvent] = []
        self._runs: list[EncodedChanges] = []
        self._run_changes = 0
        self._parts: list[Any] = []
        self._position: BinlogPosition | None = None
        # True while a hand-over of the run is scheduled on the loop.
        self._scheduled = False

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        # Reading the lengths from this thread is a benign race, because it
        # only decides how long to wait.
        limit = self._subscription.max_pending
        while (self._subscription.pending_count + self._waiting() >= limit
               and not self._stop.is_set()):
            self._stop.wait(PACE_WAIT_S)
        if self._wire is None:
            self._add(events, [], end)
        else:
            self._add([], self._encoded(events), end)

    def progress(self, position: BinlogPosition) -> None:
        self._add([], [], position)

    def _waiting(self) -> int:
        """Return how many changes wait here for the loop."""
        return len(self._events) + self._run_changes + len(self._parts)

    def _encoded(self, events: list[ChangeEvent]) -> list[Any]:
        """Return the wire forms of the events the subscription takes."""
        assert self._wire is not None
        encode = self._wire.encode
        return [encode(event) for event in self._subscription.backlog_accepted(events)]

    def _add(self, events: list[ChangeEvent], parts: list[Any], position: BinlogPosition) -> None:
        """Add to the run and schedule its hand-over, unless one is already scheduled."""
        with self._lock:
            self._events += events
            self._parts += parts
            if len(self._parts) >= JOIN_AT:
                self._join_parts()
            self._position = position
            if self._scheduled:
                return
            self._scheduled = True
        call_soon_or_drop(self._loop, self._hand_over, "catch-up changes")

    def reader_state(self, state: str, message: str) -> None:
        self._on_state(state, message)

    def _join_parts(self) -> None:
        """Join the encoded changes into runs of at most ENCODED_RUN. Call with the lock held."""
        assert self._wire is not None
        parts, join = self._parts, self._wire.join
        for start in range(0, len(parts), ENCODED_RUN):
            chunk = parts[start:start + ENCODED_RUN]
            self._runs.append(EncodedChanges(join(chunk), len(chunk)))
        self._run_changes += len(parts)
        self._parts = []

    def _hand_over(self) -> None:
        with self._lock:
            if self._parts:
                # Fewer than JOIN_AT changes, read since the thread last joined.
                self._join_parts()
            events, self._events = self._events, []
            runs, self._runs = self._runs, []
            self._run_changes = 0
            position, self._scheduled = self._position, False
        if position is None:
            return
        try:
            if events or runs:
                self._on_transaction(events, runs, position)
            else:
                self._on_progress(position)
        except Exception:
            # As LoopSink does: log it, and let the reader go on.
            logger.exception("catch-up hand-over failed subscriber=%s position=%s",
                             self._subscription.number, position)


def catch_up_settings(settings: ReaderSettings, slot: int) -> ReaderSettings:
    """Return reader settings with the replica server id of a catch-up slot."""
    return dataclasses.replace(settings, server_id=settings.server_id + 1 + slot,
                               stop_at_unreadable_start=True)


async def read_range(
    settings: ReaderSettings, after: EventId, end: BinlogPosition, timeout_s: float
) -> list[ChangeEvent]:
    """Read from the binlog the change events above `after` in transactions before `end`."""
    loop = asyncio.get_running_loop()
    collected: list[ChangeEvent] = []
    reached = asyncio.Event()
    stop = threading.Event()

    def on_transaction(events: list[ChangeEvent], transaction_end: BinlogPosition) -> None:
        if reached.is_set():
            return
        collected.extend(event for event in events if after < event.id and event.id.position < end)
        on_progress(transaction_end)

    def on_progress(position: BinlogPosition) -> None:
        if position >= end:
            reached.set()
            stop.set()

    def on_state(state: str, message: str) -> None:
        logger.debug("range reader state=%s message=%s", state, message)

    reader = BinlogReader(settings, LoopSink(loop, on_transaction, on_progress, on_state),
                          after.position)
    failures: list[PositionUnavailable] = []

    def run() -> None:
        try:
            reader.run(stop)
        except PositionUnavailable as error:
            failures.append(error)
            loop.call_soon_threadsafe(reached.set)

    thread = threading.Thread(target=run, name="binlog-range", daemon=True)
    thread.start()
    try:
        await asyncio.wait_for(reached.wait(), timeout_s)
    finally:
        stop.set()
    if failures:
        raise SnapshotFailed(f"Reading the binlog for a snapshot failed: {failures[0]}. "
                             "Try again; if it keeps failing, the binlog was purged.")
    return collected
