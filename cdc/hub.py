"""Fan-out: deliver each change event to every subscriber, and keep recent ones for resumes.

The hub lives on one asyncio event loop and must only be called from it. It
keeps a bounded buffer of recent change events, so that a client that
reconnects with the id of the last event it saw gets exactly the events after
it. It also tracks how far the reader has read, so that a snapshot can wait
until the stream has caught up with it.

Live items go once into a shared log (cdc/change_log.py) that subscribers
read at their own pace; only coalescing subscribers, which merge changes of
the same row, get each item queued for them.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from cdc.change_log import ChangeLog
from cdc.events import ChangeEvent
from cdc.position import BinlogPosition, EventId
from cdc.subscription import EventFilter, Item, Notice, Subscription, accept_every_event

__all__ = ["ChangeHub", "EventFilter", "HubSettings", "Item", "Notice", "ResumeUnavailable",
           "Subscription", "accept_every_event"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSettings:
    """Buffer and queue sizes of the hub."""

    # Recent change events kept for resuming clients and for snapshots, at most
    # this many and at most about this many bytes (see `estimated_size`).
    buffer_events: int = 10_000
    buffer_bytes: int = 64 * 1024 * 1024
    # Items one subscriber may have waiting before it is dropped as too slow.
    # A subscriber that reads the shared log is dropped once it falls this
    # many items behind it, plus up to a quarter more: the log is trimmed in steps.
    max_pending: int = 10_000


@dataclass
class HubStats:
    """Counters for monitoring, read by the metrics endpoint."""

    # Change events read, by (db.table, operation).
    events_read: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    slow_subscribers_dropped: int = 0
    reader_reconnects: int = 0
    # time.monotonic() of the last word from the reader: a transaction or a heartbeat.
    last_progress: float = field(default_factory=time.monotonic)


class ResumeUnavailable(Exception):
    """The id is older than the buffer or newer than anything read; `reason` names which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ChangeHub:
    """Buffer of recent change events and the set of live subscribers."""

    def __init__(self, start: BinlogPosition, settings: HubSettings | None = None) -> None:
        self.settings = settings or HubSettings()
        self.position = start
        self._buffer: collections.deque[tuple[ChangeEvent, int]] = collections.deque()
        self._buffer_bytes = 0
        # The buffer contains every change event with an id above the horizon.
        self._horizon = EventId.boundary(start)
        self._subscribers: set[Subscription] = set()
        # The subscribers that get each item queued instead of reading the log.
        self._pushed: set[Subscription] = set()
        self._log: ChangeLog[Item] = ChangeLog(self.settings.max_pending)
        self._numbers = itertools.count(1)
        self._waiters: list[tuple[BinlogPosition, asyncio.Future[None]]] = []
        self.reader_status: dict[str, Any] = {"state": "starting", "message": "Starting the reader"}
        self.stats = HubStats()

    @property
    def last_id(self) -> EventId:
        """Return the id that sorts after every change read so far."""
        return EventId.boundary(self.position)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        """Add one committed transaction's events and deliver them to every subscriber."""
        events_read = self.stats.events_read
        for event in events:
            events_read[(event.qualified_table, event.op.value)] += 1
            self._append(event)
        self._log.append(events)
        self._trim_log()
        if self._pushed:
            for event in events:
                self._push(event)
        self.advance(end)

    def advance(self, position: BinlogPosition) -> None:
        """Note reader progress and wake snapshots waiting for it."""
        self.stats.last_progress = time.monotonic()
        if position > self.position:
            self.position = position
        still_waiting = []
        for target, future in self._waiters:
            if target <= self.position:
                if not future.done():
                    future.set_result(None)
            else:
                still_waiting.append((target, future))
        self._waiters = still_waiting

    def set_reader_status(self, state: str, message: str) -> None:
        """Record the reader's state and tell every subscriber when it changes."""
        if self.reader_status.get("state") == state:
            return
        if state == "reconnecting":
            self.stats.reader_reconnects += 1
        self.reader_status = {"state": state, "message": message}
        notice = Notice("status", dict(self.reader_status))
        self._log.append([notice])
        self._trim_log()
        self._push(notice)

    async def wait_for_position(self, position: BinlogPosition, timeout_s: float) -> None:
        """Wait until the reader has read everything before position."""
        if position <= self.position:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((position, future))
        await asyncio.wait_for(future, timeout_s)

    def new_subscription(self, accepts: EventFilter, coalesce: bool = False) -> Subscription:
        """Create a subscription that is not attached to the stream yet."""
        return Subscription(next(self._numbers), accepts, self.settings.max_pending, coalesce)

    def subscribe(
        self, after: EventId | None, accepts: EventFilter, coalesce: bool = False
    ) -> Subscription:
        """Register a subscriber that gets every accepted event after the given id.

        Raises ResumeUnavailable when the buffer no longer reaches back to `after`
        or when `after` lies beyond what the reader has read.
        """
        subscription = self.new_subscription(accepts, coalesce)
        self.attach(subscription, after)
        return subscription

    def attach(
        self, subscription: Subscription, after: EventId | None, ahead_ok: bool = False
    ) -> None:
        """Queue the buffered events after `after`, then deliver live events too.

        With ahead_ok, `after` may lie ahead of the reader, as when a catch-up
        reader hands a subscription over: the events up to it are then skipped
        when they arrive. Raises ResumeUnavailable when `after` is older than the
        buffer, from another server, or (without ahead_ok) ahead of the reader.
        """
        if after is not None:
            if ahead_ok and after.position > self.position:
                backlog: list[ChangeEvent] = []
            else:
                backlog = self.events_after(after)
            subscription.after = after
            for event in backlog:
                subscription.offer(event, backlog=True)
        self._subscribers.add(subscription)
        if subscription.coalesce:
            self._pushed.add(subscription)
        else:
            subscription.follow(self._log)
        logger.info(
            "subscriber joined subscriber=%s after=%s subscribers=%s",
            subscription.number, after, len(self._subscribers),
        )

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscriber; a no-op when it is already gone."""
        if subscription in self._subscribers:
            self._subscribers.discard(subscription)
            self._pushed.discard(subscription)
            logger.info(
                "subscriber left subscriber=%s reason=%s subscribers=%s",
                subscription.number, subscription.closed_reason or "disconnected",
                len(self._subscribers),
            )

    @property
    def horizon(self) -> EventId:
        """Return the id above which the buffer contains every change event."""
        return self._horizon

    def events_after(self, after: EventId) -> list[ChangeEvent]:
        """Return buffered events with ids above `after`, or raise ResumeUnavailable."""
        if after.position.source != self.position.source:
            raise ResumeUnavailable(
                "other_server",
                f"Event id {after} was issued for another database server (fingerprint "
                f"{after.position.source}, this one is {self.position.source}); reload the snapshot.",
            )
        if after < self._horizon:
            raise ResumeUnavailable(
                "expired",
                f"Event id {after} is older than the oldest change this server still "
                "buffers; reload the snapshot.",
            )
        if after.position > self.position:
            raise ResumeUnavailable(
                "unknown",
                f"Event id {after} lies beyond the binlog position {self.position} "
                "read so far, so it was not issued by this server; reload the snapshot.",
            )
        return [event for event, _ in self._buffer if event.id > after]

    def close_all(self, reason: str) -> None:
        """Close every subscription, for shutdown."""
        for subscription in list(self._subscribers):
            subscription.close(reason)

    def _append(self, event: ChangeEvent) -> None:
        size = estimated_size(event)
        self._buffer.append((event, size))
        self._buffer_bytes += size
        settings = self.settings
        while len(self._buffer) > settings.buffer_events or (
            self._buffer_bytes > settings.buffer_bytes and len(self._buffer) > 1
        ):
            dropped, dropped_size = self._buffer.popleft()
            self._buffer_bytes -= dropped_size
            self._horizon = dropped.id

    def _push(self, item: Item) -> None:
        """Queue an item for each coalescing subscriber."""
        for subscription in list(self._pushed):
            if subscription.closed_reason is not None:
                continue
            if not subscription.offer(item):
                self._drop(subscription)

    def _trim_log(self) -> None:
        """Trim the log in steps, first dropping the subscribers that have not read what goes."""
        start = self._log.trim_start()
        if start is None:
            return
        for subscription in list(self._subscribers):
            cursor = subscription.cursor
            if cursor is not None and cursor < start and subscription.closed_reason is None:
                self._drop(subscription)
        self._log.trim(start)

    def _drop(self, subscription: Subscription) -> None:
        self.stats.slow_subscribers_dropped += 1
        logger.warning(
            "slow subscriber dropped subscriber=%s pending=%s",
            subscription.number, subscription.pending_count,
        )
        subscription.close(_too_slow(subscription))


def estimated_size(event: ChangeEvent) -> int:
    """Estimate the memory an event takes, in bytes: its text plus a fixed overhead.

    An estimate is enough to bound the buffer; measuring with sys.getsizeof
    recursively would cost more than the event itself.
    """
    size = 400
    for image in (event.before, event.after):
        if image is not None:
            for name, value in image.items():
                size += 60 + len(name) + (len(value) if isinstance(value, str) else 16)
    return size


def _too_slow(subscription: Subscription) -> str:
    return (
        f"too slow: {subscription.pending_count} items were waiting; "
        "reconnect with the last event id to resume"
    )
