"""Open a hub subscription for a stream request, turning a failed resume into a reset."""

from __future__ import annotations

from cdc.hub import ChangeHub, Notice, ResumeUnavailable, Subscription
from web.params import StreamRequest


def open_subscription(hub: ChangeHub, request: StreamRequest) -> tuple[Subscription, Notice | None]:
    """Subscribe after the requested id; when that is impossible, subscribe from now.

    The second value is the `reset` notice the client must receive first in
    that case, so that it reloads its snapshot instead of missing changes silently.
    """
    try:
        return hub.subscribe(request.after, request.accepts), None
    except ResumeUnavailable as error:
        subscription = hub.subscribe(None, request.accepts)
        reset = Notice(
            "reset",
            {"reason": error.reason, "message": error.message, "last_event_id": str(hub.last_id)},
        )
        return subscription, reset
