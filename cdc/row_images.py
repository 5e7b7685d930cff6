"""Turn the rows of one binlog row event into before and after images and a key.

With binlog_row_image = MINIMAL or NOBLOB the server logs only some columns
of a row. Each row event carries a columns-present bitmap per image.
mysql-replication 1.0.17 returns an absent column as None, the same value as
SQL NULL, and notes "cols bitmap" in its none_sources. So this module reads
the bitmaps itself. An absent column is left out of the image and listed as
missing, or, when partial images are not allowed, the reader stops with
BinlogRefused instead of sending nulls.
Columns excluded with --exclude-columns are dropped from both images here,
so they never reach the hub, the snapshot replay or a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cdc.columns import RowRenderer
from cdc.events import Operation, Row
from cdc.refused import BinlogRefused


@dataclass(frozen=True)
class ImageOptions:
    """Columns to leave out of the images of one table, and whether partial images pass."""

    # Lower-case names of the columns never to send (see cdc/column_filter.py).
    excluded: frozenset[str] = frozenset()
    # True to stream rows the server logged only in part, listing the absent columns.
    allow_partial: bool = False


@dataclass(frozen=True)
class RowChange:
    """The images and the key of one changed row."""

    before: Row | None
    after: Row | None
    key: Row
    # The primary key columns that form `key`; empty when `key` is the whole image.
    key_columns: tuple[str, ...]
    # Columns the server did not log, per image; empty for full images.
    missing_before: tuple[str, ...] = field(default=())
    missing_after: tuple[str, ...] = field(default=())


def row_changes(
    event: Any, operation: Operation, renderer: RowRenderer, options: ImageOptions
) -> Iterator[RowChange]:
    """Yield one RowChange per row of a row event; call after the renderer is set up."""
    key_columns = tuple(_key_columns(event))
    _check_key_not_excluded(event, key_columns, options.excluded)
    present = _present_columns(event, operation)
    missing = {image: _missing(event, names, options.excluded) for image, names in present.items()}
    if any(missing.values()) and not options.allow_partial:
        raise BinlogRefused(_partial_message(event, missing))

    for row in event.rows:
        before, after = _images(operation, row, renderer)
        before = _keep(before, present.get("before"), options.excluded)
        after = _keep(after, present.get("after"), options.excluded)
        # A partial after image may lack the key, which the before image then has.
        keyed = {**(before or {}), **(after or {})}
        key = {name: keyed.get(name) for name in key_columns} if key_columns else keyed
        yield RowChange(before, after, key, key_columns,
                        missing.get("before", ()), missing.get("after", ()))


def _images(
    operation: Operation, row: dict[str, Any], renderer: RowRenderer
) -> tuple[Row | None, Row | None]:
    if operation is Operation.INSERT:
        return None, renderer.render(row["values"])
    if operation is Operation.DELETE:
        return renderer.render(row["values"]), None
    return renderer.render(row["before_values"]), renderer.render(row["after_values"])


def _present_columns(event: Any, operation: Operation) -> dict[str, set[str]]:
    # Write and delete events have one bitmap, for the after and the before image.
    # Update events have one per image, which mysql-replication reads as
    # columns_present_bitmap and columns_present_bitmap2.
    first = _bitmap_names(event, event.columns_present_bitmap)
    if operation is Operation.INSERT:
        return {"after": first}
    if operation is Operation.DELETE:
        return {"before": first}
    return {"before": first, "after": _bitmap_names(event, event.columns_present_bitmap2)}


def _bitmap_names(event: Any, bitmap: bytes) -> set[str]:
    # Bit i, least significant first within each byte, is set when column i is present.
    return {
        str(column.name) for index, column in enumerate(event.columns)
        if bitmap[index // 8] >> (index % 8) & 1
    }


def _missing(event: Any, present: set[str], excluded: frozenset[str]) -> tuple[str, ...]:
    return tuple(
        str(column.name) for column in event.columns
        if column.name not in present and str(column.name).lower() not in excluded
    )


def _keep(image: Row | None, present: set[str] | None, excluded: frozenset[str]) -> Row | None:
    if image is None:
        return None
    return {
        name: value for name, value in image.items()
        if (present is None or name in present) and name.lower() not in excluded
    }


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


def _partial_message(event: Any, missing: dict[str, tuple[str, ...]]) -> str:
    absent = ", ".join(sorted({name for names in missing.values() for name in names}))
    return (
        f"A row event of {event.schema}.{event.table} has a partial row image: the server did "
        f"not log the columns {absent}, because the session that wrote it had "
        "binlog_row_image = MINIMAL or NOBLOB. rowcast stops rather than send those columns "
        "as null. Fix: run SET GLOBAL binlog_row_image = 'FULL' and keep sessions from "
        "changing it, or start rowcast with --allow-partial-images to stream partial images "
        "that list the absent columns in `missing`. Then restart rowcast."
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
