"""A reader sink that runs its callbacks on an asyncio event loop thread.

Readers block on their socket, so they run on threads of their own, while the
hub and the subscriptions may only be touched from the event loop thread.
Waking the loop costs a system call, so callbacks queue up and one wake-up
runs all that arrived before the loop got to them. Under load one wake-up
carries many transactions, and an idle loop still wakes for the first one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from cdc.events import ChangeEvent
from cdc.position import BinlogPosition

logger = logging.getLogger(__name__)


class LoopSink:
    """Run reader callbacks on the loop in order; drop them once the loop has closed."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_transaction: Callable[[list[ChangeEvent], BinlogPosition], None],
        on_progress: Callable[[BinlogPosition], None],
        on_state: Callable[[str, str], None],
    ) -> None:
        self._loop = loop
        self._on_transaction = on_transaction
        self._on_progress = on_progress
        self._on_state = on_state
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[..., None], tuple[object, ...]]] = []
        # True while a run of the pending callbacks is scheduled on the loop.
        self._scheduled = False

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        self._call(self._on_transaction, events, end)

    def progress(self, position: BinlogPosition) -> None:
        self._call(self._on_progress, position)

    def reader_state(self, state: str, message: str) -> None:
        self._call(self._on_state, state, message)

    def _call(self, function: Callable[..., None], *args: object) -> None:
        with self._lock:
            self._pending.append((function, args))
            if self._scheduled:
                return
            self._scheduled = True
        call_soon_or_drop(self._loop, self._run_pending, "reader callback")

    def _run_pending(self) -> None:
        with self._lock:
            calls = self._pending
            self._pending = []
            self._scheduled = False
        for function, args in calls:
            try:
                function(*args)
            except Exception:
                # As the loop does for a failing callback: log it and go on with the next.
                logger.exception("reader callback failed callback=%s", function)


def call_soon_or_drop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None],
                      what: str) -> None:
    """Schedule callback on the loop from another thread; drop it once the loop has closed."""
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        # The loop has closed during shutdown, and the reader stops right after.
        logger.debug("event loop closed, dropping %s", what)
