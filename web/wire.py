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


def change_to_json(event: ChangeEvent) -> str:
    return dumps(change_to_dict(event))


def notice_to_json(notice: Notice) -> str:
    return dumps(notice.data)
