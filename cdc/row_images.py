"""Decode the rows of one binlog row event into before and after images and a key.

A TableDecoder is built once per table layout (see cdc/table_decoders.py)
and reads every row event of that layout. The body of a row event (MySQL
libbinlogevents Rows_event) holds the table id and flags, for version 2
events an extra-data block, the column count, a columns-present bitmap per
image, then the rows. Each row image is a NULL bitmap over the present
columns followed by the values of the present, non-NULL columns.

With binlog_row_image = MINIMAL or NOBLOB the server logs only some columns.
An absent column is left out of the image and listed as missing, or, when
partial images are not allowed, the reader stops with BinlogRefused instead
of sending nulls. Columns excluded with --exclude-columns are decoded past
and dropped, so they never reach the hub, the snapshot replay or a client.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from cdc.columns import ColumnNotDecodable, Decode, FixedValue
from cdc.events import Operation, Row
from cdc.refused import BinlogRefused
from cdc.tablemap import POST_HEADER_SIZE, TableMap, read_length

# Reads one row image at an offset: (event bytes, offset) -> (row, next offset).
_ReadImage = Callable[[bytes, int], tuple[Row, int]]


@dataclass(frozen=True)
class ImageOptions:
    """Columns to leave out of the images of one table, and whether partial images pass."""

    # Lower-case names of the columns never to send (see cdc/column_filter.py).
    excluded: frozenset[str] = frozenset()
    # True to stream rows the server logged only in part, listing the absent columns.
    allow_partial: bool = False


@dataclass(frozen=True)
class RowsEvent:
    """The decoded rows of one row event: (before, after, key) per row, and absent columns."""

    rows: list[tuple[Row | None, Row | None, Row]]
    missing_before: tuple[str, ...]
    missing_after: tuple[str, ...]


@dataclass(frozen=True)
class _PresentColumns:
    read: _ReadImage
    missing: tuple[str, ...]


class TableDecoder:
    """Read the row events of one table layout."""

    def __init__(
        self,
        table: TableMap,
        decoders: list[Decode],
        fixed: list[FixedValue | None],
        options: ImageOptions,
    ) -> None:
        self.table = table
        self.key_columns = table.key_columns
        excluded = options.excluded
        for name in table.key_columns:
            if name.lower() in excluded:
                raise BinlogRefused(
                    f"Column {table.qualified}.{name} is excluded with --exclude-columns but "
                    "is now part of the table's primary key, which every change event needs. "
                    "Remove it from --exclude-columns, or exclude the table with "
                    "--exclude-tables, and restart rowcast."
                )
        self._names = tuple(spec.name for spec in table.columns)
        self._is_sent = tuple(spec.name.lower() not in excluded for spec in table.columns)
        self._decoders = decoders
        self._fixed = fixed
        self._allow_partial = options.allow_partial
        self._by_bitmap: dict[bytes, _PresentColumns] = {}

    def rows(self, body: bytes, operation: Operation, version2: bool) -> RowsEvent:
        """Decode every row of a row event body, the checksum already cut off."""
        offset = POST_HEADER_SIZE
        if version2:
            # The extra-data length counts its own two bytes.
            offset += int.from_bytes(body[offset:offset + 2], "little")
        count, offset = read_length(body, offset)
        if count != len(self._names):
            raise BinlogRefused(
                f"A row event of {self.table.qualified} has {count} columns, but its table "
                f"map lists {len(self._names)}. The binlog does not match its table map; "
                "check the server's binlog with mariadb-binlog or mysqlbinlog."
            )
        size = (count + 7) // 8
        first = self._present(body[offset:offset + size])
        offset += size
        second = first
        if operation is Operation.UPDATE:
            second = self._present(body[offset:offset + size])
            offset += size
        missing = tuple(dict.fromkeys((*first.missing, *second.missing)))
        if missing and not self._allow_partial:
            raise BinlogRefused(_partial_message(self.table.qualified, missing))
        try:
            rows = self._read_rows(body, offset, operation, first, second)
        except (struct.error, IndexError, ValueError) as error:
            raise self._mismatch(str(error)) from None
        if operation is Operation.INSERT:
            return RowsEvent(rows, (), first.missing)
        if operation is Operation.DELETE:
            return RowsEvent(rows, first.missing, ())
        return RowsEvent(rows, first.missing, second.missing)

    def _read_rows(
        self, body: bytes, offset: int, operation: Operation,
        first: _PresentColumns, second: _PresentColumns,
    ) -> list[tuple[Row | None, Row | None, Row]]:
        rows: list[tuple[Row | None, Row | None, Row]] = []
        end = len(body)
        key_columns = self.key_columns
        partial = bool(first.missing or second.missing)
        read_first, read_second = first.read, second.read
        while offset < end:
            image, offset = read_first(body, offset)
            before: Row | None
            after: Row | None
            if operation is Operation.INSERT:
                before, after = None, image
            elif operation is Operation.DELETE:
                before, after = image, None
            else:
                before = image
                after, offset = read_second(body, offset)
            rows.append((before, after, _key(before, after, key_columns, partial)))
        if offset != end:
            raise self._mismatch(f"the rows end {offset - end} bytes past the event")
        return rows

    def _mismatch(self, detail: str) -> ColumnNotDecodable:
        return ColumnNotDecodable(
            f"A row event of {self.table.qualified} does not match the layout its table map "
            f"gives ({detail}), so rowcast stops rather than send wrong values. A column may "
            "have a type rowcast does not know; exclude the table from --tables."
        )

    def _present(self, bitmap: bytes) -> _PresentColumns:
        present = self._by_bitmap.get(bitmap)
        if present is None:
            columns: list[_ImageColumn] = []
            missing = []
            for index, (name, sent) in enumerate(zip(self._names, self._is_sent)):
                if bitmap[index // 8] >> (index % 8) & 1:
                    columns.append(
                        _ImageColumn(name if sent else None, self._decoders[index],
                                     self._fixed[index]))
                elif sent:
                    missing.append(name)
            present = _PresentColumns(_compile_image(columns), tuple(missing))
            self._by_bitmap[bitmap] = present
        return present


@dataclass(frozen=True)
class _ImageColumn:
    # None for a column excluded with --exclude-columns: read past, not kept.
    name: str | None
    decode: Decode
    fixed: FixedValue | None


def _compile_image(columns: list[_ImageColumn]) -> _ReadImage:
    """Build the function that reads one row image with these present columns.

    The generated code tests each column's NULL bit and reads its value in
    line, without a loop over the columns. Names, decoders and labels reach it
    as variables of its namespace, never as source text.
    """
    null_bytes = (len(columns) + 7) // 8
    namespace: dict[str, object] = {"from_bytes": int.from_bytes}
    lines = [
        "def read_image(data, offset):",
        f"    nulls = from_bytes(data[offset:offset + {null_bytes}], 'little')",
        f"    offset += {null_bytes}",
        "    row = {}",
    ]
    for index, column in enumerate(columns):
        namespace[f"name{index}"] = column.name
        target = f"row[name{index}]" if column.name is not None else "_"
        lines.append(f"    if nulls & {1 << index}:")
        lines.append(f"        {target} = None" if column.name is not None else "        pass")
        lines.append("    else:")
        fixed = column.fixed
        if fixed is not None and fixed.unpack_from is not None:
            namespace[f"unpack{index}"] = fixed.unpack_from
            lines.append(f"        {target} = unpack{index}(data, offset)[0]")
            lines.append(f"        offset += {fixed.size}")
        elif fixed is not None:
            namespace[f"labels{index}"] = fixed.labels
            lines.append(f"        {target} = labels{index}[data[offset]]")
            lines.append(f"        offset += {fixed.size}")
        else:
            namespace[f"decode{index}"] = column.decode
            lines.append(f"        {target}, offset = decode{index}(data, offset)")
    lines.append("    return row, offset")
    exec("\n".join(lines), namespace)  # noqa: S102 - the source holds no data, only indexes
    read: _ReadImage = namespace["read_image"]  # type: ignore[assignment]
    return read


def _key(before: Row | None, after: Row | None, key_columns: tuple[str, ...], partial: bool) -> Row:
    if partial or not key_columns:
        # A partial after image may lack the key, which the before image then has.
        source = {**(before or {}), **(after or {})}
    else:
        source = after if after is not None else before  # type: ignore[assignment]
    if not key_columns:
        return source
    return {name: source.get(name) for name in key_columns}


def _partial_message(qualified: str, missing: tuple[str, ...]) -> str:
    absent = ", ".join(sorted(missing))
    return (
        f"A row event of {qualified} has a partial row image: the server did "
        f"not log the columns {absent}, because the session that wrote it had "
        "binlog_row_image = MINIMAL or NOBLOB. rowcast stops rather than send those columns "
        "as null. Fix: run SET GLOBAL binlog_row_image = 'FULL' and keep sessions from "
        "changing it, or start rowcast with --allow-partial-images to stream partial images "
        "that list the absent columns in `missing`. Then restart rowcast."
    )
