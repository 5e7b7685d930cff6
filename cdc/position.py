"""Binlog positions and the event ids built from them.

An event id names one change event: the source server's fingerprint, the
binlog position at which its transaction can be re-read, and the 1-based index
of the change within that transaction. Ids of one server order numerically, so
comparing two ids shows which change came first, and an id alone is enough to
restart reading right after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cdc.errors import InvalidEventId

_FILE_NAME = re.compile(r"^(?P<basename>.+)\.(?P<sequence>\d+)$")
_EVENT_ID = re.compile(
    r"^(?P<source>[0-9a-f]{8})-(?P<sequence>\d{1,10})-(?P<offset>\d{1,12})-(?P<row>\d{1,10})$"
)
# Fingerprint of positions made without a server at hand, as in unit tests.
NO_SOURCE = "00000000"
# Binlog file numbers have at least six digits on MySQL and MariaDB.
_MIN_SEQUENCE_DIGITS = 6


@dataclass(frozen=True, order=True)
class BinlogPosition:
    """A binlog file and byte offset, ordered by file number, then offset.

    `source` is the fingerprint of the server whose binlog this is; positions of
    different servers do not compare meaningfully.
    """

    sequence: int
    offset: int
    basename: str = field(compare=False)
    source: str = field(default=NO_SOURCE, compare=False)

    @classmethod
    def from_file(cls, file_name: str, offset: int, source: str = NO_SOURCE) -> BinlogPosition:
        """Build a position from a file name such as `binlog.000012`."""
        match = _FILE_NAME.match(file_name)
        if match is None:
            raise ValueError(
                f"Invalid binlog file name {file_name!r}: expected BASENAME.NUMBER, "
                "as SHOW BINARY LOGS lists them."
            )
        return cls(int(match["sequence"]), offset, match["basename"], source)

    @property
    def file_name(self) -> str:
        return f"{self.basename}.{self.sequence:0{_MIN_SEQUENCE_DIGITS}d}"

    def __str__(self) -> str:
        return f"{self.file_name}:{self.offset}"


@dataclass(frozen=True, order=True)
class EventId:
    """The id of one change event, or with row 0 the point before a transaction."""

    position: BinlogPosition
    row: int

    @classmethod
    def boundary(cls, position: BinlogPosition) -> EventId:
        """Return the id that sorts before every change of the transaction at position."""
        return cls(position, 0)

    @classmethod
    def parse(cls, text: str, basename: str) -> EventId:
        """Parse an id string; basename is the server's binlog file basename."""
        match = _EVENT_ID.match(text)
        if match is None:
            raise InvalidEventId(
                f"Invalid event id {text[:80]!r}: expected the id of an event or "
                "snapshot sent by rowcast, such as "
                "1f2e3d4c-0000000002-000000000756-0000000001. "
                "Take a new snapshot to get a valid id."
            )
        position = BinlogPosition(
            int(match["sequence"]), int(match["offset"]), basename, match["source"]
        )
        return cls(position, int(match["row"]))

    def __str__(self) -> str:
        position = self.position
        return f"{position.source}-{position.sequence:010d}-{position.offset:012d}-{self.row:010d}"
