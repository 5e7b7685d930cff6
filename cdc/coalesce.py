"""Merging two pending changes of one row into one change with the latest image.

A state subscriber wants the current table, not the full history. While it
lags, its pending changes to the same row are merged: the result has the
first change's before image and the second change's after image, and the
second change's id, so that resuming after it stays correct.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cdc.events import ChangeEvent, Operation

# The merged operation for (first, second), or None when both cancel out.
_MERGED: dict[tuple[Operation, Operation], Operation | None] = {
    (Operation.INSERT, Operation.UPDATE): Operation.INSERT,
    (Operation.INSERT, Operation.DELETE): None,
    (Operation.UPDATE, Operation.UPDATE): Operation.UPDATE,
    (Operation.UPDATE, Operation.DELETE): Operation.DELETE,
    (Operation.DELETE, Operation.INSERT): Operation.UPDATE,
}

RowIdentity = tuple[str, str, tuple[tuple[str, Any], ...]]


def row_identity(event: ChangeEvent) -> RowIdentity | None:
    """Return the identity of the row a change touches; None when its key changes."""
    images = [image for image in (event.before, event.after) if image is not None]
    keys = {_key_of(event, image) for image in images}
    if len(keys) != 1:
        return None
    return (event.db, event.table, keys.pop())


def _key_of(event: ChangeEvent, image: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((name, _hashable(image.get(name))) for name in event.key))


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list)) else value


def can_merge(first: ChangeEvent, second: ChangeEvent) -> bool:
    """Tell whether two consecutive changes of one row merge into one (or none)."""
    return (first.op, second.op) in _MERGED


def merge(first: ChangeEvent, second: ChangeEvent) -> ChangeEvent | None:
    """Merge two changes of one row; None when the second undoes the first."""
    operation = _MERGED[(first.op, second.op)]
    if operation is None:
        return None
    before = None if operation is Operation.INSERT else first.before
    after = None if operation is Operation.DELETE else second.after
    # The merged change is applied on its own, because the rest of its
    # transactions may have been delivered or merged elsewhere already.
    return replace(second, op=operation, before=before, after=after, txn_last=True)
