"""One subscriber's bounded queue of pending items, optionally coalesced by row."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Union

from cdc.coalesce import RowIdentity, can_merge, merge, row_identity
from cdc.events import ChangeEvent
from cdc.position import EventId


@dataclass(frozen=True)
class Notice:
    """A message for clients that is not a row change: `status` or `reset`."""

    kind: str
    data: dict[str, Any]


Item = Union[ChangeEvent, Notice]
EventFilter = Callable[[ChangeEvent], bool]


@dataclass(eq=False)
class Subscription:
    """One client's place in the stream: a bounded queue of items to send.

    A log subscription keeps every change. A coalescing (state) subscription
    merges a new change into a still pending change of the same row, so a
    lagging client catches up with the table instead of replaying its history.
    """

    number: int
    accepts: EventFilter
    max_pending: int
    coalesce: bool = False
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

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def pending_items(self) -> list[Item]:
        """Return the pending items without taking them."""
        return list(self._pending.values())

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
        """Stop the subscription; the next `next_batch` returns what is left, then nothing."""
        if self.closed_reason is None:
            self.closed_reason = reason
        self._ready.set()

    async def next_batch(self, limit: int | None = None) -> list[Item]:
        """Wait for items and return the oldest pending ones, at most limit of them.

        Returns [] once closed and drained. A limit keeps the batch a sender
        has in memory small when a client lags far behind.
        """
        while not self._pending:
            if self.closed_reason is not None:
                return []
            self._ready.clear()
            await self._ready.wait()
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
        self._allowance = max(0, self._allowance - len(batch))
        return batch


def _single_image(event: ChangeEvent, image: dict[str, Any]) -> ChangeEvent:
    return replace(event, before=image, after=None)
