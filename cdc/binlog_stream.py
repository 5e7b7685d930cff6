"""Open a binlog dump with mysql-replication and read its events as raw bytes.

mysql-replication sets the connection up: it logs in, announces checksum and
heartbeat support, registers as a replica and requests the dump from a file
and offset. The first event of every dump is an artificial ROTATE event
naming that file, which the library returns. From then on this module reads
the packets of that same connection itself and hands out each event's header
fields and body, because the library parses every table map and decodes every
row into Python objects, which costs far more than rowcast's own decoding
(cdc/row_images.py). This is the only module that imports `pymysqlreplication`'s
stream reader.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import RotateEvent

from cdc.connection import ConnectionSettings
from cdc.position import BinlogPosition

logger = logging.getLogger(__name__)

# Event types (MySQL libbinlogevents binlog_event.h, MariaDB sql/log_event.h).
QUERY_EVENT = 2
ROTATE_EVENT = 4
FORMAT_DESCRIPTION_EVENT = 15
XID_EVENT = 16
TABLE_MAP_EVENT = 19
WRITE_ROWS_EVENT_V1 = 23
UPDATE_ROWS_EVENT_V1 = 24
DELETE_ROWS_EVENT_V1 = 25
HEARTBEAT_LOG_EVENT = 27
WRITE_ROWS_EVENT = 30
UPDATE_ROWS_EVENT = 31
DELETE_ROWS_EVENT = 32
GTID_LOG_EVENT = 33
PARTIAL_UPDATE_ROWS_EVENT = 39
MARIADB_GTID_EVENT = 162

# The OK byte that starts every binlog network packet, then the event header:
# timestamp, type, server id, event size, end position and flags.
_HEADER = struct.Struct("<xIBIIIH")
_BODY_START = _HEADER.size
_CHECKSUM_SIZE = 4
# FORMAT_DESCRIPTION_EVENT ends with the checksum algorithm (1 byte) and the
# event's own checksum (4 bytes); algorithm 1 is CRC32.
_CHECKSUM_ALGORITHM_FROM_END = 5
_CRC32 = 1
_EOF_MARKER = 0xFE
_ERROR_MARKER = 0xFF
# A packet has a 3-byte length and a sequence number; a payload of 2^24 - 1
# bytes continues in the next packet (MySQL client/server protocol).
_PACKET_HEADER_SIZE = 4
_MAX_PACKET_PART = 0xFFFFFF
_MAX_EOF_PACKET = 9
# Bytes read from the server's socket at once, at most.
READ_BUFFER_BYTES = 256 * 1024


@dataclass(frozen=True)
class StreamOptions:
    """How to open the dump: replica id, heartbeat period and read timeout in seconds."""

    server_id: int
    heartbeat_s: float
    read_timeout_s: float


def _connect_with_read_buffer(**kwargs: Any) -> pymysql.Connection:
    """Connect as pymysql.connect does, with a read buffer of READ_BUFFER_BYTES.

    PyMySQL reads through a buffer of Python's default size, 8 KiB on
    Python 3.11, so a reader thread makes a system call, and gives up the
    GIL, every few dozen rows. Each time the event loop may take the GIL,
    and the reader waits to get it back. The buffer is replaced after
    connecting. Until the dump starts, the server
    only replies to requests, so the small buffer contains no unread bytes.
    """
    connection = pymysql.connect(**kwargs)
    small_buffer = connection._rfile
    connection._rfile = connection._sock.makefile("rb", buffering=READ_BUFFER_BYTES)
    small_buffer.close()
    return connection


class BinlogStream:
    """One binlog dump connection, read event by event as raw bytes."""

    def __init__(self, connection: ConnectionSettings, options: StreamOptions,
                 start: BinlogPosition) -> None:
        self._settings = connection
        self._options = options
        self._start = start
        self._library: Any = None
        self._connection: Any = None
        self._rfile: Any = None
        self._checksum = 0
        # The file and offset the stream has reached, as the server reports them.
        self.file_name = start.file_name
        self.offset = start.offset
        self._file = start
        # True when the server's FORMAT_DESCRIPTION_EVENT names MariaDB.
        self.is_mariadb = False

    def open(self) -> None:
        """Connect and ask for the dump; raises pymysql errors and OSError as the library does."""
        kwargs = self._settings.pymysql_kwargs()
        kwargs.pop("database")
        # A read timeout well above the heartbeat period turns a silently dead
        # connection into an error instead of a reader that waits forever.
        kwargs["read_timeout"] = self._options.read_timeout_s
        self._library = BinLogStreamReader(
            connection_settings=kwargs,
            server_id=self._options.server_id,
            resume_stream=True,
            blocking=True,
            log_file=self._start.file_name,
            log_pos=self._start.offset,
            only_events=[RotateEvent],
            slave_heartbeat=self._options.heartbeat_s,
            # With is_mariadb=True, mysql-replication 1.0 ignores log_file and
            # log_pos and requests a GTID-based dump from MariaDB. Both servers accept
            # the file-and-position dump, and the library announces MariaDB GTID
            # support on every connection.
            is_mariadb=False,
            enable_logging=False,
            pymysql_wrapper=_connect_with_read_buffer,
        )
        first = self._library.fetchone()
        if first is None:
            raise EOFError("the server ended the binlog stream before its first event")
        self.file_name = first.next_binlog
        self.offset = first.position
        # The connection's buffered socket file. Reading it directly skips
        # PyMySQL's packet objects, which cost more than the event itself.
        self._connection = self._library._stream_connection
        self._rfile = getattr(self._connection, "_rfile", None)

    def read(self) -> tuple[int, int, int, int, bytes]:
        """Return the next event as (type, timestamp, server id, end offset, body).

        The body has neither the header nor the checksum. Raises EOFError when
        the server ends the stream.
        """
        data = self._read_packet()
        if data[0] == _EOF_MARKER and len(data) < _MAX_EOF_PACKET:
            raise EOFError("the server ended the binlog stream")
        if data[0] == _ERROR_MARKER:
            pymysql.err.raise_mysql_exception(data)
        timestamp, event_type, server_id, size, end_offset, _flags = _HEADER.unpack_from(data)
        end = 1 + size
        if event_type == FORMAT_DESCRIPTION_EVENT:
            self._checksum = _CHECKSUM_SIZE if data[end - _CHECKSUM_ALGORITHM_FROM_END] == _CRC32 else 0
            self.is_mariadb = b"MariaDB" in data[_BODY_START + 2:_BODY_START + 52]
        body = data[_BODY_START:end - self._checksum]
        if event_type == ROTATE_EVENT:
            self.offset = int.from_bytes(body[:8], "little")
            self.file_name = body[8:].decode("utf-8")
        elif end_offset:
            self.offset = end_offset
        return event_type, timestamp, server_id, end_offset, body

    def _read_packet(self) -> bytes:
        """Read one MySQL protocol packet's payload, joining the parts of one over 16 MB."""
        if self._rfile is None:
            # A PyMySQL without that attribute: read through its packet API.
            payload: bytes = self._connection._read_packet().get_all_data()
            return payload
        read = self._rfile.read
        parts: list[bytes] = []
        while True:
            header = read(_PACKET_HEADER_SIZE)
            if len(header) < _PACKET_HEADER_SIZE:
                raise EOFError("the server closed the binlog connection")
            size = int.from_bytes(header[:3], "little")
            payload = read(size)
            if len(payload) < size:
                raise EOFError("the server closed the binlog connection within a packet")
            if size < _MAX_PACKET_PART and not parts:
                return payload
            parts.append(payload)
            if size < _MAX_PACKET_PART:
                return b"".join(parts)

    @property
    def position(self) -> BinlogPosition:
        file = self._file
        if file.file_name != self.file_name:
            # Parse a file name once, not at every transaction.
            file = self._file = BinlogPosition.from_file(self.file_name, 0, self._start.source)
        return BinlogPosition(file.sequence, self.offset, file.basename, file.source)

    def close(self) -> None:
        if self._library is not None:
            try:
                self._library.close()
            except (pymysql.err.Error, OSError) as error:
                # The stream is being replaced or stopped, and the reader resumes
                # from its last transaction boundary, so no change is skipped.
                logger.debug("closing binlog stream failed error=%s", error)
            self._library = None
            self._connection = None
            self._rfile = None
