"""The shared log of live items that subscribers read at their own position.

Queuing every change for every subscriber costs one queue operation per change
and client, which with thousands of clients takes more time than sending. The
hub instead appends each item once to this log, and each subscriber keeps a
cursor into it. Items carry sequence numbers that only grow; the log keeps the
newest `capacity` of them, and a reader whose cursor falls behind the oldest
kept item has lost its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class ChangeLog(Generic[T]):
    """A bounded, append-only run of items addressed by sequence number."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        # Trimming moves the whole list, so it waits until this many extra
        # items have piled up and then drops them together.
        self._slack = max(1, capacity // 4)
        self._items: list[T] = []
        # Sequence number of self._items[0].
        self._start = 0
        self._waiting: set[asyncio.Event] = set()

    @property
    def start(self) -> int:
        """Return the sequence number of the oldest item kept."""
        return self._start

    @property
    def end(self) -> int:
        """Return the sequence number the next appended item gets."""
        return self._start + len(self._items)

    def append(self, items: Iterable[T]) -> None:
        """Add items at the end and wake every reader that waits for more."""
        self._items.extend(items)
        if self._waiting:
            waiting = self._waiting
            self._waiting = set()
            for event in waiting:
                event.set()

    def trim_start(self) -> int | None:
        """Return where the log would start after trimming, or None when it keeps everything.

        The caller deals with readers behind that point, then calls `trim`.
        """
        if len(self._items) <= self.capacity + self._slack:
            return None
        return self.end - self.capacity

    def trim(self, start: int) -> None:
        """Forget the items before sequence number start."""
        if start > self._start:
            del self._items[: start - self._start]
            self._start = start

    def read(self, cursor: int, limit: int) -> list[T]:
        """Return up to limit items from sequence number cursor on.

        Raises IndexError when the cursor lies before the oldest item kept.
        """
        if cursor < self._start:
            raise IndexError(f"sequence number {cursor} was trimmed; the log starts at {self._start}")
        offset = cursor - self._start
        return self._items[offset: offset + limit]

    def notify(self, event: asyncio.Event) -> None:
        """Set event at the next append."""
        self._waiting.add(event)

    def forget(self, event: asyncio.Event) -> None:
        """Stop notifying event."""
        self._waiting.discard(event)
