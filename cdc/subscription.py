"""One subscriber's place in the stream: a cursor into the shared log, and its own queue.

Live items reach most subscribers through the hub's shared log, which each
reads from its own cursor. The subscriber's own queue contains what only it gets:
the backlog of a resume, and, for a coalescing subscriber, every item, so that
a new change can merge into a pending change of the same row.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Union

from cdc.change_log import ChangeLog
from cdc.coalesce import RowIdentity, can_merge, merge, row_identity
from cdc.events import ChangeEvent
from cdc.position import EventId

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """A message for clients that is not a row change: `status` or `reset`."""

    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class WireFormat:
    """A transport's encoding: of one change event, and of a run of encoded events as one piece.

    Catch-up readers call both on their own threads, so they must be safe to
    call from any thread.
    """

    encode: Callable[[ChangeEvent], Any]
    join: Callable[[list[Any]], Any]


@dataclass(frozen=True)
class EncodedChanges:
    """A run of change events already encoded and joined by a WireFormat, queued as one item.

    A catch-up reader encodes its changes on its own thread, so the event
    loop only has to write them.
    """

    wire: Any
    count: int


Item = Union[ChangeEvent, Notice, EncodedChanges]
EventFilter = Callable[[ChangeEvent], bool]


def accept_every_event(event: ChangeEvent) -> bool:
    """Accept any change: the filter of a stream that takes them all, which reading the log skips calling."""
    return True


@dataclass(eq=False)
class Subscription:
    """One client's place in the stream: the items it has still to send.

    A log subscription keeps every change. A coalescing (state) subscription
    merges a new change into a still pending change of the same row, so a
    lagging client catches up with the table instead of replaying its history.
    """

    number: int
    accepts: EventFilter
    max_pending: int
    coalesce: bool = False
    # The transport's encoding, for a sender that can take EncodedChanges.
    wire_format: WireFormat | None = None
    # Change events with an id up to this one were already delivered or skipped.
    after: EventId | None = None
    closed_reason: str | None = None
    # Backlog items queued on top of max_pending when the subscription started;
    # they count against the limit only once taken, so a resume is not
    # disconnected just because it starts far behind.
    _allowance: int = 0
    # Pending items by arrival number; a dict keeps insertion order and deletes in O(1).
    _pending: dict[int, Item] = field(default_factory=dict)
    _slot_of_row: dict[RowIdentity, int] = field(default_factory=dict)
    _arrivals: itertools.count[int] = field(default_factory=itertools.count)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    # The shared log this subscription reads live items from, once it follows one.
    _log: ChangeLog[Item] | None = None
    # Sequence number of the next log item to read.
    _cursor: int = 0
    # Change events read from the log with ids up to this one are skipped.
    _skip_through: EventId | None = None
    # Change events in pending EncodedChanges, beyond the one item each counts as.
    _encoded_extra: int = 0

    @property
    def pending_count(self) -> int:
        """Return the items waiting, counting unread log items whether or not they pass the filter."""
        count = len(self._pending) + self._encoded_extra
        if self._log is not None:
            count += self._log.end - self._cursor
        return count

    @property
    def cursor(self) -> int | None:
        """Return the sequence number of the next log item to read, or None when not following."""
        return self._cursor if self._log is not None else None

    def pending_items(self) -> list[Item]:
        """Return the pending items without taking them."""
        items = list(self._pending.values())
        log = self._log
        if log is not None:
            cursor = max(self._cursor, log.start)
            items += self._accepted(log.read(cursor, log.end - cursor), self._skip_through)[0]
        return items

    def follow(self, log: ChangeLog[Item]) -> None:
        """Read live items from the log's current end on, skipping events up to `after`."""
        self._log = log
        self._cursor = log.end
        self._skip_through = self.after

    def offer(self, item: Item, backlog: bool = False) -> bool:
        """Queue an item; return False when the subscriber is too far behind.

        A backlog item (a buffered or re-read change the client asked for by
        resuming) is always queued; the caller paces how many it adds.
        """
        if isinstance(item, ChangeEvent):
            if self.after is not None and item.id <= self.after:
                return True
            if not self.accepts(item):
                return True
            if self.coalesce and self._merged(item):
                self._ready.set()
                return True
        if backlog:
            self._allowance += 1
        elif len(self._pending) >= self.max_pending + self._allowance:
            return False
        self._append(item)
        return True

    def offer_backlog(self, events: list[ChangeEvent]) -> None:
        """Queue backlog change events given in id order, as offer(event, backlog=True) does."""
        if self.coalesce:
            for event in events:
                self.offer(event, backlog=True)
            return
        events = self.backlog_accepted(events)
        if not events:
            return
        self._allowance += len(events)
        pending, arrivals = self._pending, self._arrivals
        for event in events:
            pending[next(arrivals)] = event
        self._ready.set()

    def backlog_accepted(self, events: list[ChangeEvent]) -> list[ChangeEvent]:
        """Return the backlog events in id order that pass `after` and the filter, without coalescing.

        A catch-up reader calls this on its own thread, which is safe because
        `after` changes only when the reader hands over.
        """
        after = self.after
        if events and after is not None and events[0].id <= after:
            events = [event for event in events if after < event.id]
        if self.accepts is not accept_every_event:
            events = [event for event in events if self.accepts(event)]
        return events

    def offer_encoded(self, runs: list[EncodedChanges]) -> None:
        """Queue backlog changes that a catch-up reader has filtered and encoded already."""
        pending, arrivals = self._pending, self._arrivals
        for run in runs:
            pending[next(arrivals)] = run
            self._allowance += 1
            self._encoded_extra += run.count - 1
        if runs:
            self._ready.set()

    def _append(self, item: Item) -> None:
        slot = next(self._arrivals)
        self._pending[slot] = item
        if self.coalesce and isinstance(item, ChangeEvent):
            identity = row_identity(item)
            if identity is not None:
                self._slot_of_row[identity] = slot
        self._ready.set()

    def _merged(self, event: ChangeEvent) -> bool:
        """Merge event into the pending change of its row; False when there is none."""
        identity = row_identity(event)
        if identity is None:
            # A key change is a barrier: later changes must not merge across it.
            self._forget_rows(event)
            return False
        slot = self._slot_of_row.get(identity)
        if slot is None:
            return False
        pending = self._pending[slot]
        assert isinstance(pending, ChangeEvent)
        if not can_merge(pending, event):
            del self._slot_of_row[identity]
            return False
        del self._pending[slot]
        del self._slot_of_row[identity]
        merged = merge(pending, event)
        if merged is not None:
            # Appending keeps the queue in id order, so resuming after any
            # delivered id still yields every later change.
            self._append(merged)
        return True

    def _forget_rows(self, event: ChangeEvent) -> None:
        for image in (event.before, event.after):
            if image is not None:
                identity = row_identity(_single_image(event, image))
                if identity is not None:
                    self._slot_of_row.pop(identity, None)

    def close(self, reason: str) -> None:
        """Stop the subscription; the next `next_batch` returns what is left, then nothing.

        Unread log items move to the subscription's own queue, at most
        max_pending of them, so that nothing the log appends later reaches it.
        """
        if self.closed_reason is None:
            self.closed_reason = reason
        log = self._log
        if log is not None:
            self._log = None
            log.forget(self._ready)
            cursor = max(self._cursor, log.start)
            unread = log.read(cursor, min(log.end - cursor, self.max_pending))
            for item in self._accepted(unread, self._skip_through)[0]:
                self._append(item)
        self._ready.set()

    async def next_batch(self, limit: int | None = None) -> list[Item]:
        """Wait for items and return the oldest pending ones, at most limit of them.

        Returns [] once closed and drained. A limit keeps the batch a sender
        has in memory small when a client lags far behind. The subscription's
        own queue goes first, because it contains only items older than the log's.
        """
        while True:
            if self._pending:
                return self._take_pending(limit)
            log = self._log
            if log is not None and self._cursor < log.end:
                batch = self._read_log(log, limit)
                if batch:
                    return batch
                continue
            if self.closed_reason is not None:
                return []
            self._ready.clear()
            if log is not None:
                log.notify(self._ready)
            await self._ready.wait()

    def _read_log(self, log: ChangeLog[Item], limit: int | None) -> list[Item]:
        if self._cursor < log.start:
            # The hub drops a subscriber before trimming what it has not read,
            # so only a subscription the hub no longer tracks gets here.
            logger.warning("subscriber fell behind the trimmed log subscriber=%s cursor=%s "
                           "log_start=%s", self.number, self._cursor, log.start)
            self.close(f"too slow: fell more than {log.capacity} items behind the stream; "
                       "reconnect with the last event id to resume")
            return []
        items = log.read(self._cursor, limit if limit is not None else log.end - self._cursor)
        self._cursor += len(items)
        batch, self._skip_through = self._accepted(items, self._skip_through)
        return batch

    def _accepted(
        self, items: list[Item], skip_through: EventId | None
    ) -> tuple[list[Item], EventId | None]:
        """Return the items this subscription takes, and what is still to skip after them."""
        if skip_through is None and self.accepts is accept_every_event:
            return items, None
        accepted = []
        accepts = self.accepts
        for item in items:
            if isinstance(item, ChangeEvent):
                if skip_through is not None:
                    if item.id <= skip_through:
                        continue
                    # The log is in id order, so nothing later needs the comparison.
                    skip_through = None
                if not accepts(item):
                    continue
            accepted.append(item)
        return accepted, skip_through

    def _take_pending(self, limit: int | None) -> list[Item]:
        if self._encoded_extra and limit is not None:
            limit = self._items_within(limit)
        if limit is None or limit >= len(self._pending):
            batch = list(self._pending.values())
            self._pending.clear()
            self._slot_of_row.clear()
        else:
            slots = list(itertools.islice(self._pending, limit))
            batch = [self._pending.pop(slot) for slot in slots]
            if self._slot_of_row:
                # Rows whose pending change was just taken can no longer merge.
                self._slot_of_row = {identity: slot for identity, slot in self._slot_of_row.items()
                                     if slot in self._pending}
        if self._encoded_extra:
            self._encoded_extra -= sum(item.count - 1 for item in batch
                                       if isinstance(item, EncodedChanges))
        self._allowance = max(0, self._allowance - len(batch))
        return batch

    def _items_within(self, limit: int) -> int:
        """Return how many of the first pending items contain at most `limit` changes, and at least one."""
        count = changes = 0
        for item in self._pending.values():
            changes += item.count if isinstance(item, EncodedChanges) else 1
            if changes > limit and count:
                break
            count += 1
        return count


def _single_image(event: ChangeEvent, image: dict[str, Any]) -> ChangeEvent:
    return replace(event, before=image, after=None)
