"""Limits shared by SSE and WebSocket: open stream connections, and items sent at once."""

from __future__ import annotations

import collections
import logging

logger = logging.getLogger(__name__)

# Items a stream takes from its subscription at once (about 100 KB of task
# changes), so that a client far behind costs the server little memory.
MAX_BATCH = 256


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
