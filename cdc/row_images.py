"""Turn the rows of one binlog row event into before and after images and a key.

Columns excluded with --exclude-columns are dropped from both images here,
so they never reach the hub, the snapshot replay or a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cdc.columns import RowRenderer
from cdc.events import Operation, Row
from cdc.refused import BinlogRefused


@dataclass(frozen=True)
class ImageOptions:
    """What the reader leaves out of the images of one table."""

    # Lower-case names of the columns never to send (see cdc/column_filter.py).
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RowChange:
    """The images and the key of one changed row."""

    before: Row | None
    after: Row | None
    key: Row
    # The primary key columns that form `key`; empty when `key` is the whole image.
    key_columns: tuple[str, ...]


def row_changes(
    event: Any, operation: Operation, renderer: RowRenderer, options: ImageOptions
) -> Iterator[RowChange]:
    """Yield one RowChange per row of a row event; call after the renderer is set up."""
    key_columns = tuple(_key_columns(event))
    _check_key_not_excluded(event, key_columns, options.excluded)
    for row in event.rows:
        before, after = _images(operation, row, renderer)
        before = _keep(before, options.excluded)
        after = _keep(after, options.excluded)
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


def _keep(image: Row | None, excluded: frozenset[str]) -> Row | None:
    if image is None or not excluded:
        return image
    return {name: value for name, value in image.items() if name.lower() not in excluded}


def _check_key_not_excluded(
    event: Any, key_columns: tuple[str, ...], excluded: frozenset[str]
) -> None:
    # The start-up check rejects such a setting, but an ALTER TABLE may change the key later.
    for name in key_columns:
        if name.lower() in excluded:
            raise BinlogRefused(
                f"Column {event.schema}.{event.table}.{name} is excluded with "
                "--exclude-columns but is now part of the table's primary key, which every "
                "change event needs. Remove it from --exclude-columns, or exclude the table "
                "with --exclude-tables, and restart rowcast."
            )


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
