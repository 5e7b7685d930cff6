"""Turn change events and notices into the JSON that clients receive."""

from __future__ import annotations

import json
from typing import Any

from cdc.events import ChangeEvent
from cdc.hub import Notice


def change_to_dict(event: ChangeEvent) -> dict[str, Any]:
    """Return the public JSON object of a change event."""
    data: dict[str, Any] = {
        "id": str(event.id),
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
    """Encode JSON compactly, keeping non-ASCII text as it is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# Encoded events by id(event). Every subscriber receives the same event object,
# so each event is encoded once, not once per client. An entry keeps its event
# alive, so no other object can take its id() while the entry exists.
_ENCODED: dict[int, tuple[ChangeEvent, str]] = {}
_ENCODED_MAX = 4_096


def change_to_json(event: ChangeEvent) -> str:
    """Return the event's JSON text, encoding it only the first time it is asked for."""
    cached = _ENCODED.get(id(event))
    if cached is not None and cached[0] is event:
        return cached[1]
    text = dumps(change_to_dict(event))
    if len(_ENCODED) >= _ENCODED_MAX:
        # Dicts keep insertion order, so this drops the oldest entry.
        del _ENCODED[next(iter(_ENCODED))]
    _ENCODED[id(event)] = (event, text)
    return text


def notice_to_json(notice: Notice) -> str:
    return dumps(notice.data)
