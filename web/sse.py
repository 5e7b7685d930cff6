"""GET /events: change events as Server-Sent Events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cdc.events import ChangeEvent
from cdc.hub import Item, Notice, accept_every_event
from cdc.subscription import EncodedChanges
from web.limits import MAX_BATCH
from web.params import InvalidParameter, parse_stream_request
from web.send_watch import WatchedEventSourceResponse
from web.state import app_state
from web.wire import SSE_WIRE, change_sse_frame, dumps, notice_to_json

logger = logging.getLogger(__name__)

TRANSPORT = "sse"
# Plain LF line ends, as curl users expect; each ServerSentEvent uses its own
# separator (CRLF by default), not the response's.
SEPARATOR = "\n"
# Seconds a client refused at the stream limit is asked to wait.
RETRY_AFTER_S = 5
# Headers of every stream response, besides those sse-starlette sets.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def stream_events(request: Request) -> Response:
    """Stream change events; resume after `Last-Event-ID` or `?last_event_id=`."""
    state = app_state(request.app)
    hub = state.stream.hub
    try:
        stream_request = parse_stream_request(
            request.query_params,
            request.headers.get("last-event-id"),
            state.settings.stream.reader.tables,
            hub.position.basename,
        )
    except InvalidParameter as error:
        logger.info("sse rejected parameter=%s value=%r", error.parameter, error.value[:100])
        return JSONResponse(error.to_dict(), status_code=400)
    if request.method == "HEAD":
        # sse-starlette responds to HEAD with the headers alone, so a
        # subscription opened here would never be read or closed.
        return EventSourceResponse(_no_events(), sep=SEPARATOR, headers=HEADERS)
    if not state.slots.acquire(TRANSPORT):
        return JSONResponse(
            {"error": "too_many_streams",
             "message": f"This server already serves {state.slots.limit} streams; "
                        f"retry in {RETRY_AFTER_S} s."},
            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    subscription, reset = await state.stream.open(
        stream_request.after, stream_request.accepts, stream_request.coalesce, SSE_WIRE
    )

    async def events() -> AsyncIterator[ServerSentEvent | bytes]:
        try:
            yield ServerSentEvent(comment="rowcast change stream", retry=state.settings.retry_ms,
                                  sep=SEPARATOR)
            if reset is not None:
                yield _notice_event(reset, str(hub.last_id))
            # A client that subscribes from now gets the current id with the first
            # event, so that a reconnect before any change still resumes exactly.
            start_id = str(hub.last_id) if stream_request.after is None and reset is None else None
            yield _notice_event(Notice("status", dict(hub.reader_status)), start_id)
            # What is pending goes out as one write: one frame per item, joined,
            # and at most MAX_BATCH of them, so a lagging client costs little memory.
            shared = stream_request.accepts is accept_every_event and not stream_request.coalesce
            while batch := await subscription.next_batch(MAX_BATCH):
                # A catch-up reader's encoded changes go to this client alone.
                if shared and not isinstance(batch[0], EncodedChanges):
                    data, changes = _BATCHES.frames(batch)
                else:
                    data, changes = _frames(batch)
                state.sent[TRANSPORT] += changes
                yield data
            if subscription.closed_reason is not None:
                yield ServerSentEvent(
                    sep=SEPARATOR, event="closed", data=dumps({"reason": subscription.closed_reason})
                )
        finally:
            state.stream.close(subscription)
            state.slots.release(TRANSPORT)

    return WatchedEventSourceResponse(
        events(),
        state.send_watch,
        subscription.number,
        sep=SEPARATOR,
        headers=HEADERS,
    )


async def _no_events() -> AsyncIterator[bytes]:
    """Yield nothing: the body of a response to HEAD."""
    return
    yield


def _frames(batch: list[Item]) -> tuple[bytes, int]:
    """Return the SSE frames of a batch joined, and how many change events it has."""
    changes = 0
    for item in batch:
        if isinstance(item, ChangeEvent):
            changes += 1
        elif isinstance(item, EncodedChanges):
            changes += item.count
    return b"".join(_frame(item) for item in batch), changes


class _BatchFrames:
    """The joined frames of recent batches of streams that take every event.

    Such streams read the same slices of the hub's log, so with thousands of
    clients most of them send the very batch another one just framed. A batch
    is one run of consecutive items, so its first item, last item and length
    name it. An entry keeps its first and last item alive, so no other object
    can take their id() while the entry exists.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[tuple[int, int, int], tuple[Item, Item, bytes, int]] = {}

    def frames(self, batch: list[Item]) -> tuple[bytes, int]:
        first, last = batch[0], batch[-1]
        key = (id(first), id(last), len(batch))
        entry = self._entries.get(key)
        if entry is not None and entry[0] is first and entry[1] is last:
            return entry[2], entry[3]
        data, changes = _frames(batch)
        if len(self._entries) >= self._size:
            # Dicts keep insertion order, so this drops the oldest entry.
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (first, last, data, changes)
        return data, changes


_BATCHES = _BatchFrames(64)


def _frame(item: Item) -> bytes:
    """Return the SSE frame of one item. JSON text never contains a raw line break."""
    if isinstance(item, ChangeEvent):
        return change_sse_frame(item)
    if isinstance(item, EncodedChanges):
        wire: bytes = item.wire
        return wire
    return f"event: {item.kind}\ndata: {notice_to_json(item)}\n\n".encode()


def _notice_event(notice: Notice, event_id: str | None = None) -> ServerSentEvent:
    return ServerSentEvent(event=notice.kind, id=event_id, data=notice_to_json(notice),
                           sep=SEPARATOR)
