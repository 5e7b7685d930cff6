"""A change stream that lets clients resume after ids that its reader has not reached yet.

Several processes that read the same binlog issue the same ids, but each
reader is at its own place. A client that moves from one process to another
may bring an id that the new process's reader reaches a moment later.
"""

from __future__ import annotations

import asyncio
import logging

from cdc.hub import EventFilter, Notice, Subscription
from cdc.position import EventId
from cdc.stream import ChangeStream, StreamSettings
from cdc.subscription import WireFormat

logger = logging.getLogger(__name__)


class WaitingChangeStream(ChangeStream):
    """Before resuming after an id ahead of the reader, wait up to wait_s for the reader."""

    def __init__(self, settings: StreamSettings, wait_s: float) -> None:
        super().__init__(settings)
        self._wait_s = wait_s

    async def open(
        self, after: EventId | None, accepts: EventFilter, coalesce: bool = False,
        wire_format: WireFormat | None = None,
    ) -> tuple[Subscription, Notice | None]:
        hub = self.hub
        if (
            after is not None
            and self._wait_s > 0
            and after.position.source == hub.position.source
            and after.position > hub.position
        ):
            try:
                await hub.wait_for_position(after.position, self._wait_s)
            except asyncio.TimeoutError:
                # The hub then sends a reset, as for any id it did not issue.
                logger.info("resume id still ahead of the reader after=%s position=%s "
                            "waited_s=%s", after, hub.position, self._wait_s)
        return await super().open(after, accepts, coalesce, wire_format)
