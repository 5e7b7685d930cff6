"""Turn change events and notices into the JSON that clients receive."""

from __future__ import annotations

from typing import Any

import orjson

from cdc.events import ChangeEvent
from cdc.hub import Notice
from cdc.subscription import WireFormat


def change_to_dict(event: ChangeEvent, id_text: str | None = None) -> dict[str, Any]:
    """Return the public JSON object of a change event."""
    data: dict[str, Any] = {
        "id": id_text if id_text is not None else str(event.id),
        "op": event.op.value,
        "db": event.db,
        "table": event.table,
        "key": event.key,
        "key_columns": list(event.key_columns),
        "before": event.before,
        "after": event.after,
        "ts_ms": event.ts_ms,
        "source": {
            "server_id": event.server_id,
            "file": event.file_name,
            "pos": event.end_offset,
        },
        "txn": {"id": event.txn_id, "last": event.txn_last},
    }
    # Only partial row images carry `missing`, so complete events stay as they were.
    if event.missing_before or event.missing_after:
        data["missing"] = {"before": list(event.missing_before),
                           "after": list(event.missing_after)}
    return data


def dumps(value: Any) -> str:
    """Encode JSON compactly, keeping non-ASCII text as it is.

    For the values compared while choosing it (integers, floats, text with
    control and non-ASCII characters, nested objects), orjson wrote the same
    JSON as json.dumps with these settings, except that small floats have no
    zero-padded exponent (1.5e-7, not 1.5e-07),
    which every JSON parser reads as the same number, and it encodes
    several times faster.
    """
    return orjson.dumps(value).decode("utf-8")


# An event's wire forms are a plain tuple of (JSON text, SSE frame, WebSocket
# message). The cycle collector stops tracking a tuple that holds only strings,
# so the thousands of buffered events do not make its full collections longer.
_JSON, _SSE_FRAME, _WS_MESSAGE = range(3)


def _encoded(event: ChangeEvent) -> tuple[str, bytes, str]:
    """Return the event's wire forms. Every subscriber gets the same event object, so it is encoded once."""
    wire: tuple[str, bytes, str] | None = event.wire
    if wire is None:
        id_text = str(event.id)
        json = dumps(change_to_dict(event, id_text))
        wire = event.wire = (
            json,
            f"id: {id_text}\nevent: change\ndata: {json}\n\n".encode(),
            '{"type":"change",' + json[1:],
        )
    return wire


def change_to_json(event: ChangeEvent) -> str:
    """Return the event's JSON text, encoding it only the first time it is requested."""
    return _encoded(event)[_JSON]


def change_sse_frame(event: ChangeEvent) -> bytes:
    """Return the event's Server-Sent Events frame. JSON text never contains a raw line break."""
    return _encoded(event)[_SSE_FRAME]


def change_ws_message(event: ChangeEvent) -> str:
    """Return the event's WebSocket message: its JSON with the type field in front."""
    return _encoded(event)[_WS_MESSAGE]


def notice_to_json(notice: Notice) -> str:
    return dumps(notice.data)


# A run of SSE frames is written as one piece, and WebSocket messages are sent one by one.
SSE_WIRE = WireFormat(change_sse_frame, b"".join)
WEBSOCKET_WIRE = WireFormat(change_ws_message, list)
