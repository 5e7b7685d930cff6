"""GET /ws: change events over a WebSocket, one JSON text message each."""

from __future__ import annotations

import asyncio
import collections
import json
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from cdc.events import ChangeEvent
from cdc.hub import Item, Notice, Subscription
from cdc.subscription import EncodedChanges
from web.limits import MAX_BATCH
from web.params import InvalidParameter, parse_stream_request
from web.security import origin_allowed
from web.state import app_state
from web.wire import WEBSOCKET_WIRE, change_ws_message, dumps

logger = logging.getLogger(__name__)

TRANSPORT = "websocket"

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
# Maximum length of a client message, in characters; clients only send small control messages.
MAX_MESSAGE_CHARS = 4096


async def stream_websocket(websocket: WebSocket) -> None:
    """Send change events; resume after `?last_event_id=`; close with 1008 on bad parameters."""
    state = app_state(websocket.app)
    hub = state.stream.hub
    await websocket.accept()
    if not origin_allowed(websocket.headers, state.settings.allowed_origins):
        origin = websocket.headers.get("origin", "")
        logger.info("websocket rejected origin=%s", origin[:100])
        await websocket.close(POLICY_VIOLATION, f"Origin {origin[:60]} is not allowed")
        return
    try:
        stream_request = parse_stream_request(
            websocket.query_params, None, state.settings.stream.reader.tables,
            hub.position.basename,
        )
    except InvalidParameter as error:
        logger.info("websocket rejected parameter=%s value=%r", error.parameter, error.value[:100])
        await websocket.send_text(dumps({"type": "error", **error.to_dict()}))
        await websocket.close(POLICY_VIOLATION, error.message[:120])
        return
    if not state.slots.acquire(TRANSPORT):
        await websocket.close(TRY_AGAIN_LATER, f"Over the limit of {state.slots.limit} streams")
        return
    subscription, reset = await state.stream.open(
        stream_request.after, stream_request.accepts, stream_request.coalesce,
        WEBSOCKET_WIRE,
    )
    try:
        if reset is not None:
            await websocket.send_text(dumps({"type": "reset", **reset.data}))
        await websocket.send_text(dumps({"type": "status", **hub.reader_status}))
        await _pump(websocket, subscription, state.sent)
    except WebSocketDisconnect:
        logger.info("websocket client left subscriber=%s", subscription.number)
    finally:
        state.stream.close(subscription)
        state.slots.release(TRANSPORT)


async def _pump(
    websocket: WebSocket, subscription: Subscription, sent: collections.Counter[str]
) -> None:
    sender = asyncio.create_task(_send_items(websocket, subscription, sent))
    receiver = asyncio.create_task(_receive_messages(websocket))
    done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        error = task.exception()
        if error is not None and not isinstance(error, WebSocketDisconnect):
            raise error
    if sender in done and subscription.closed_reason is not None:
        await _close_with_reason(websocket, subscription.closed_reason)


async def _close_with_reason(websocket: WebSocket, reason: str) -> None:
    code = GOING_AWAY if "shutting down" in reason else TRY_AGAIN_LATER
    try:
        await websocket.send_text(dumps({"type": "closed", "reason": reason}))
        await websocket.close(code, reason[:120])
    except WebSocketDisconnect:
        # On shutdown uvicorn may already have closed the socket with 1012
        # (service restart), which gives the client the same signal.
        logger.info("websocket already closed reason=%s", reason)


async def _send_items(
    websocket: WebSocket, subscription: Subscription, sent: collections.Counter[str]
) -> None:
    while True:
        batch = await subscription.next_batch(MAX_BATCH)
        if not batch:
            return
        for item in batch:
            if isinstance(item, EncodedChanges):
                for message in item.wire:
                    await websocket.send_text(message)
                sent[TRANSPORT] += item.count
                continue
            await websocket.send_text(_to_message(item))
            if isinstance(item, ChangeEvent):
                sent[TRANSPORT] += 1


async def _receive_messages(websocket: WebSocket) -> None:
    """Reply to control messages until the client disconnects."""
    while True:
        text = await websocket.receive_text()
        reply = _reply_to(text)
        await websocket.send_text(dumps(reply))


def _reply_to(text: str) -> dict[str, str]:
    if len(text) > MAX_MESSAGE_CHARS:
        return {"type": "error", "message": f"Message of {len(text)} characters is over the "
                f"limit of {MAX_MESSAGE_CHARS}; only small control messages are accepted."}
    try:
        message = json.loads(text)
    except json.JSONDecodeError as error:
        return {"type": "error", "message": f"Message is not valid JSON ({error.msg}); "
                'send {"type": "ping"}.'}
    if isinstance(message, dict) and message.get("type") == "ping":
        return {"type": "pong"}
    return {"type": "error", "message": 'Unknown message; the only accepted one is {"type": "ping"}.'}


def _to_message(item: ChangeEvent | Notice) -> str:
    if isinstance(item, ChangeEvent):
        return change_ws_message(item)
    return dumps({"type": item.kind, **item.data})
