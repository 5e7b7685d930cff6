"""A limit on open stream connections, shared by SSE and WebSocket."""

from __future__ import annotations

import collections
import logging

logger = logging.getLogger(__name__)


class StreamSlots:
    """Count open streams per transport and refuse new ones beyond the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: collections.Counter[str] = collections.Counter()
        self.refused = 0

    def acquire(self, transport: str) -> bool:
        """Take a slot for a new stream; False when the limit is reached."""
        if sum(self.open.values()) >= self.limit:
            self.refused += 1
            if self.refused == 1 or self.refused % 100 == 0:
                logger.warning("stream refused transport=%s limit=%s refused=%s",
                               transport, self.limit, self.refused)
            return False
        self.open[transport] += 1
        return True

    def release(self, transport: str) -> None:
        """Give a slot back when its stream ends."""
        self.open[transport] -= 1
