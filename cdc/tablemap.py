"""Read the ENUM and SET labels of a table map event as bytes.

mysql-replication 1.0.17 decodes every label of the table map's optional
metadata as UTF-8 and turns a label it cannot decode into "". The server
writes the labels in the column's character set, so a latin1 label such as
'é' (byte 0xE9) is lost. This module parses the labels again from the event's
bytes so that cdc/columns.py can decode them in the right character set.

The event body (MySQL libbinlogevents/include/rows_event.h, Table_map_event)
starts with the table id (6 bytes) and flags (2). The schema and table name
follow, each as a length byte, the name and a NUL. Then come the column count,
column types, column metadata and null bitmap. The optional metadata fills the
rest of the event as type, length and value fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The OK byte that starts every binlog network packet, then the 19-byte event header.
_EVENT_BODY_START = 1 + 19
_POST_HEADER_SIZE = 8
# Optional metadata field types (MySQL Table_map_event::Optional_metadata_field_type).
_SET_STR_VALUE = 5
_ENUM_STR_VALUE = 6


@dataclass
class TypeLabels:
    """The labels of each ENUM column and of each SET column, in column order."""

    enums: list[list[bytes]] = field(default_factory=list)
    sets: list[list[bytes]] = field(default_factory=list)


def raw_type_labels(event: Any) -> TypeLabels | None:
    """Return the ENUM and SET labels of a TableMapEvent, or None if its bytes do not parse.

    The parse checks the schema and table name against what the library read,
    and returns None on any mismatch, so a layout it does not know never
    yields wrong labels.
    """
    data = event.packet.packet.get_all_data()
    end = _EVENT_BODY_START + event.event_size
    reader = _Reader(data, _EVENT_BODY_START + _POST_HEADER_SIZE)
    try:
        if reader.name() != event.schema.encode() or reader.name() != event.table.encode():
            return None
        column_count = reader.length()
        reader.skip(column_count)
        reader.skip(reader.length())
        reader.skip((column_count + 7) // 8)
        return _read_optional_labels(reader, end)
    except (IndexError, ValueError):
        return None


def _read_optional_labels(reader: _Reader, end: int) -> TypeLabels:
    labels = TypeLabels()
    while reader.position < end:
        kind = reader.byte()
        size = reader.length()
        value_end = reader.position + size
        if kind == _ENUM_STR_VALUE:
            labels.enums = _read_label_lists(reader, value_end)
        elif kind == _SET_STR_VALUE:
            labels.sets = _read_label_lists(reader, value_end)
        reader.position = value_end
    return labels


def _read_label_lists(reader: _Reader, end: int) -> list[list[bytes]]:
    lists: list[list[bytes]] = []
    while reader.position < end:
        count = reader.length()
        lists.append([reader.take(reader.length()) for _ in range(count)])
    return lists


class _Reader:
    """A cursor over event bytes; reading past the end raises IndexError."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data = data
        self.position = position

    def byte(self) -> int:
        value = self.data[self.position]
        self.position += 1
        return value

    def take(self, size: int) -> bytes:
        if self.position + size > len(self.data):
            raise IndexError("table map event ends early")
        value = self.data[self.position:self.position + size]
        self.position += size
        return value

    def skip(self, size: int) -> None:
        self.take(size)

    def name(self) -> bytes:
        value = self.take(self.byte())
        self.skip(1)
        return value

    def length(self) -> int:
        """Read a length-encoded integer (MySQL client/server protocol)."""
        first = self.byte()
        if first < 0xFB:
            return first
        size = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first)
        if size is None:
            raise ValueError(f"invalid length prefix {first:#x} in table map event")
        return int.from_bytes(self.take(size), "little")
