"""Turn the rows of one binlog row event into before and after images and a key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cdc.columns import RowRenderer
from cdc.events import Operation, Row


@dataclass(frozen=True)
class RowChange:
    """The images and the key of one changed row."""

    before: Row | None
    after: Row | None
    key: Row
    # The primary key columns that form `key`; empty when `key` is the whole image.
    key_columns: tuple[str, ...]


def row_changes(event: Any, operation: Operation, renderer: RowRenderer) -> Iterator[RowChange]:
    """Yield one RowChange per row of a row event; call after the renderer is set up."""
    key_columns = tuple(_key_columns(event))
    for row in event.rows:
        before, after = _images(operation, row, renderer)
        keyed = after if after is not None else before
        assert keyed is not None
        key = {name: keyed[name] for name in key_columns} if key_columns else dict(keyed)
        yield RowChange(before, after, key, key_columns)


def _images(
    operation: Operation, row: dict[str, Any], renderer: RowRenderer
) -> tuple[Row | None, Row | None]:
    if operation is Operation.INSERT:
        return None, renderer.render(row["values"])
    if operation is Operation.DELETE:
        return renderer.render(row["values"]), None
    return renderer.render(row["before_values"]), renderer.render(row["after_values"])


def _key_columns(event: Any) -> list[str]:
    primary = [column.name for column in event.columns if getattr(column, "is_primary", False)]
    if primary:
        return primary
    key = event.primary_key
    if isinstance(key, str) and key:
        return [key]
    if isinstance(key, (list, tuple)):
        return [str(name) for name in key]
    return []
