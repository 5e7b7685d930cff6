"""A reader sink that runs its callbacks on an asyncio event loop thread.

Readers block on their socket, so they run on threads of their own, while the
hub and the subscriptions may only be touched from the event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from cdc.events import ChangeEvent
from cdc.position import BinlogPosition

logger = logging.getLogger(__name__)


class LoopSink:
    """Schedule each reader callback on the loop; drop it once the loop has closed."""

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

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        self._call(self._on_transaction, events, end)

    def progress(self, position: BinlogPosition) -> None:
        self._call(self._on_progress, position)

    def reader_state(self, state: str, message: str) -> None:
        self._call(self._on_state, state, message)

    def _call(self, function: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(function, *args)
        except RuntimeError:
            # The loop has closed during shutdown; the reader stops right after.
            logger.debug("event loop closed, dropping reader callback")
