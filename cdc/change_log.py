"""The shared log of live items that subscribers read at their own position.

Queuing every change for every subscriber costs one queue operation per change
and client, which with thousands of clients takes more time than sending. The
hub instead appends each item once to this log, and each subscriber keeps a
cursor into it. Items carry sequence numbers that only grow. The log keeps the
newest `capacity` of them, so a reader whose cursor falls behind the oldest
kept item has lost its place.

Waking a reader costs far more than the items it then sends, because each
wake ends in a socket write of its own. So when many readers wait, the log
wakes them at most once per hold, a short wait that grows with their number.
Under load each write then carries several changes, while a few readers are
woken at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

# Seconds of hold between wake-ups per waiting reader, and the longest hold.
# One wake and its socket write took 20 to 65 µs of CPU in py-spy profiles
# of `rowcast serve` on two machines. So the wake-ups after one hold take
# about half of the next hold on the faster machine, and all of it on the
# slower one. With 1,000 readers a change waits at most 40 ms, with 2,500 100 ms.
# NOTE: these are estimates from two 2-core machines, not tuned per machine.
HOLD_PER_READER_S = 40e-6
MAX_HOLD_S = 0.25
# A shorter hold is not kept: the event loop's timers wait at least about a
# millisecond, which would delay a few readers more than it saves.
MIN_HOLD_S = 0.001


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
        # time.monotonic() of the last wake-up, and the wake-up scheduled after a hold.
        self._last_wake = 0.0
        self._scheduled_wake: asyncio.TimerHandle | None = None

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
        if not self._waiting or self._scheduled_wake is not None:
            return
        hold = min(MAX_HOLD_S, len(self._waiting) * HOLD_PER_READER_S)
        remaining = self._last_wake + hold - time.monotonic()
        if remaining <= 0 or hold < MIN_HOLD_S:
            self._wake()
        else:
            self._scheduled_wake = asyncio.get_running_loop().call_later(remaining, self._wake)

    def _wake(self) -> None:
        self._scheduled_wake = None
        self._last_wake = time.monotonic()
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
