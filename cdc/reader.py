"""Read the binlog and hand over one transaction at a time.

The reader runs in its own thread because it blocks on the socket. It reads
raw events from cdc/binlog_stream.py, decodes the rows of the watched tables
with the decoders of cdc/table_decoders.py, and groups the changes of a
transaction. It passes them on only at the transaction boundary (XID, COMMIT
or a DDL statement), so a consumer never receives half a transaction, and
every position it reports is one the reader can restart from.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol

import pymysql

from cdc import binlog_stream as types
from cdc.binlog_stream import BinlogStream, StreamOptions
from cdc.column_filter import ColumnFilter
from cdc.compressed_events import check_not_compressed
from cdc.connection import ConnectionSettings
from cdc.errors import PositionUnavailable
from cdc.events import ChangeEvent, Operation
from cdc.position import BinlogPosition, EventId
from cdc.refused import BinlogRefused
from cdc.table_decoders import TableDecoders, server_column_types
from cdc.tables import TableFilter

logger = logging.getLogger(__name__)

# A replica id that no server of the demo uses; two readers on one server need two ids.
DEFAULT_SERVER_ID = 4217

_OPERATIONS = {
    types.WRITE_ROWS_EVENT_V1: (Operation.INSERT, False),
    types.UPDATE_ROWS_EVENT_V1: (Operation.UPDATE, False),
    types.DELETE_ROWS_EVENT_V1: (Operation.DELETE, False),
    types.WRITE_ROWS_EVENT: (Operation.INSERT, True),
    types.UPDATE_ROWS_EVENT: (Operation.UPDATE, True),
    types.DELETE_ROWS_EVENT: (Operation.DELETE, True),
}
# QUERY_EVENT body: thread id (4), run time (4), schema length (1), error code
# (2) and status variables length (2), the status variables, the schema and a
# NUL, then the statement.
_QUERY_SCHEMA_LENGTH_AT = 8
_QUERY_STATUS_LENGTH_AT = 11
_QUERY_FIXED_SIZE = 13
_BEGIN = b"BEGIN"
# ER_MASTER_FATAL_ERROR_READING_BINLOG: the source cannot send the binlog from
# the requested position, because the file is gone or the offset is not an event.
_FATAL_READING_BINLOG = 1236
_SID_SIZE = 16


@dataclass(frozen=True)
class ReaderSettings:
    """Connection, watched tables and columns, replica id, retry timing and image policy."""

    connection: ConnectionSettings
    tables: TableFilter
    # Replica server id sent to the source; unique among its replicas.
    server_id: int = DEFAULT_SERVER_ID
    # Seconds between heartbeats the source sends while it has nothing to send.
    heartbeat_s: float = 1.0
    # First and longest wait, in seconds, between reconnect attempts.
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0
    # Columns left out of every image and key.
    excluded_columns: ColumnFilter = field(default_factory=ColumnFilter)
    # True to stream partial row images (binlog_row_image MINIMAL or NOBLOB)
    # with their absent columns listed; False stops the reader at the first one.
    allow_partial_images: bool = False
    # True to raise PositionUnavailable when the server cannot read the binlog
    # from the start position (error 1236), instead of retrying: for a start
    # position a client chose, which may be purged or not a transaction start.
    stop_at_unreadable_start: bool = False


class TransactionSink(Protocol):
    """Receives what the reader reads, on the reader's thread."""

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        """Take the change events of one committed transaction that ends at `end`."""

    def progress(self, position: BinlogPosition) -> None:
        """Note that everything before position has been read."""

    def reader_state(self, state: str, message: str) -> None:
        """Note that the reader is `live` or `reconnecting`, with a reason."""


@dataclass
class _OpenTransaction:
    start: BinlogPosition
    gtid: str | None
    # Change events with a provisional time and end flag, set at the commit.
    changes: list[ChangeEvent] = field(default_factory=list)
    txn_id: str = ""

    def __post_init__(self) -> None:
        self.txn_id = self.gtid or str(self.start)


class BinlogReader:
    """Stream committed row changes of the watched tables from a start position."""

    def __init__(
        self,
        settings: ReaderSettings,
        sink: TransactionSink,
        start: BinlogPosition,
    ) -> None:
        self._settings = settings
        self._sink = sink
        # The last transaction boundary read: where a new stream resumes.
        self._boundary = start
        self._start = start
        self._transaction: _OpenTransaction | None = None
        self._stream: BinlogStream | None = None
        self._decoders = TableDecoders(
            settings.tables, settings.excluded_columns, settings.allow_partial_images,
            server_column_types(settings.connection),
        )

    @property
    def position(self) -> BinlogPosition:
        return self._boundary

    def run(self, stop: threading.Event) -> None:
        """Read until stop is set, reconnecting with backoff after connection errors."""
        delay = self._settings.reconnect_min_s
        attempt = 0
        while not stop.is_set():
            try:
                stream = self._open_stream()
                self._stream = stream
                stream.open()
                self._went_live(attempt)
                attempt = 0
                delay = self._settings.reconnect_min_s
                self._read_until(stop, stream)
            except (pymysql.err.Error, OSError, EOFError) as error:
                self._check_start_readable(error)
                attempt += 1
                message = (
                    f"Lost the binlog stream at {self._boundary} ({error}); "
                    f"reconnecting in {delay:.1f} s, attempt {attempt}"
                )
                if attempt == 1:
                    logger.warning("binlog stream lost position=%s error=%s", self._boundary, error)
                self._sink.reader_state("reconnecting", message)
                stop.wait(delay)
                delay = min(delay * 2, self._settings.reconnect_max_s)
            finally:
                self._close_stream()
                self._transaction = None

    def _check_start_readable(self, error: BaseException) -> None:
        if not (self._settings.stop_at_unreadable_start and self._boundary == self._start
                and isinstance(error, pymysql.err.OperationalError)
                and error.args and error.args[0] == _FATAL_READING_BINLOG):
            return
        reason = error.args[1] if len(error.args) > 1 else error
        raise PositionUnavailable(
            f"The server cannot read its binlog from {self._start}: {reason}"
        ) from error

    def _went_live(self, attempts: int) -> None:
        if attempts:
            logger.info("binlog stream resumed position=%s attempts=%s", self._boundary, attempts)
        self._sink.reader_state("live", f"Reading the binlog, started at {self._boundary}")

    def _open_stream(self) -> BinlogStream:
        connection = self._settings.connection
        logger.info(
            "binlog stream opening url=%s position=%s server_id=%s",
            connection.masked_url(), self._boundary, self._settings.server_id,
        )
        options = StreamOptions(
            server_id=self._settings.server_id,
            heartbeat_s=self._settings.heartbeat_s,
            read_timeout_s=max(5.0, self._settings.heartbeat_s * 5),
        )
        return BinlogStream(connection, options, self._boundary)

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _read_until(self, stop: threading.Event, stream: BinlogStream) -> None:
        read = stream.read
        operations = _OPERATIONS
        while not stop.is_set():
            event_type, timestamp, server_id, end_offset, body = read()
            operation = operations.get(event_type)
            if operation is not None:
                self._on_rows(stream, body, operation[0], operation[1], server_id, end_offset)
            elif event_type == types.TABLE_MAP_EVENT:
                self._decoders.table_map(body, stream.is_mariadb)
            elif event_type == types.XID_EVENT:
                self._commit(stream, timestamp)
            elif event_type == types.QUERY_EVENT:
                self._on_query(stream, body, timestamp)
            elif event_type == types.MARIADB_GTID_EVENT:
                sequence = int.from_bytes(body[:8], "little")
                domain = int.from_bytes(body[8:12], "little")
                self._transaction = _OpenTransaction(
                    self._boundary, f"{domain}-{server_id}-{sequence}")
            elif event_type == types.GTID_LOG_EVENT:
                self._transaction = _OpenTransaction(self._boundary, _mysql_gtid(body))
            elif event_type in (types.ROTATE_EVENT, types.HEARTBEAT_LOG_EVENT):
                if self._transaction is None:
                    # Rotate and heartbeat events sit between transactions.
                    self._boundary = stream.position
                    self._sink.progress(self._boundary)
            elif event_type == types.PARTIAL_UPDATE_ROWS_EVENT:
                raise BinlogRefused(
                    f"The binlog has a partial JSON update (PARTIAL_UPDATE_ROWS_EVENT) ending at "
                    f"{stream.position}, written because binlog_row_value_options = PARTIAL_JSON. "
                    "rowcast needs whole row images and stops rather than skip it. Fix: run "
                    "SET GLOBAL binlog_row_value_options = ''; and remove the setting from the "
                    "server's option file, then restart rowcast."
                )
            else:
                # Other events (such as MySQL's anonymous GTID) carry no row
                # changes and leave the boundary where it is.
                check_not_compressed(event_type, str(stream.position))

    def _on_query(self, stream: BinlogStream, body: bytes, timestamp: int) -> None:
        schema_length = body[_QUERY_SCHEMA_LENGTH_AT]
        status_length = int.from_bytes(
            body[_QUERY_STATUS_LENGTH_AT:_QUERY_STATUS_LENGTH_AT + 2], "little")
        statement = body[_QUERY_FIXED_SIZE + status_length + schema_length + 1:]
        if statement == _BEGIN or statement.strip().upper() == _BEGIN:
            if self._transaction is None:
                self._transaction = _OpenTransaction(self._boundary, None)
            return
        if statement.strip().upper() != b"COMMIT":
            # Any other statement is DDL, which commits implicitly and may change
            # the layout of a watched table.
            self._decoders.schema_changed()
        self._commit(stream, timestamp)

    def _on_rows(self, stream: BinlogStream, body: bytes, operation: Operation,
                 version2: bool, server_id: int, end_offset: int) -> None:
        table_id = int.from_bytes(body[:6], "little")
        try:
            decoder = self._decoders.for_rows(table_id)
        except KeyError:
            raise BinlogRefused(
                f"A row event ending at {stream.position} names table id {table_id}, which no "
                "table map before it announced. The binlog is not readable from this "
                "position; restart rowcast from a snapshot."
            ) from None
        if decoder is None:
            return
        transaction = self._transaction
        if transaction is None:
            transaction = self._transaction = _OpenTransaction(self._boundary, None)
        changes = transaction.changes
        start, txn_id = transaction.start, transaction.txn_id
        schema, table = decoder.table.schema, decoder.table.table
        decoded = decoder.rows(body, operation, version2)
        key_columns = decoder.key_columns
        file_name = stream.file_name
        missing_before, missing_after = decoded.missing_before, decoded.missing_after
        for before, after, key in decoded.rows:
            changes.append(ChangeEvent(
                EventId(start, len(changes) + 1), operation, schema, table, key, before, after,
                0, server_id, file_name, end_offset, txn_id, False, key_columns,
                missing_before, missing_after,
            ))

    def _commit(self, stream: BinlogStream, timestamp: int) -> None:
        transaction = self._transaction
        self._transaction = None
        self._boundary = stream.position
        if transaction is None or not transaction.changes:
            self._sink.progress(self._boundary)
            return
        # Row events carry the statement's start time; the commit time is the XID's.
        commit_ms = timestamp * 1000
        events = transaction.changes
        for event in events:
            event.ts_ms = commit_ms
        events[-1].txn_last = True
        logger.debug(
            "transaction read start=%s end=%s changes=%s",
            transaction.start, self._boundary, len(events),
        )
        self._sink.transaction(events, self._boundary)


def _mysql_gtid(body: bytes) -> str:
    # GTID_LOG_EVENT: flags (1), source uuid (16), transaction number (8).
    sid = body[1:1 + _SID_SIZE].hex()
    number = int.from_bytes(body[1 + _SID_SIZE:1 + _SID_SIZE + 8], "little")
    return f"{sid[:8]}-{sid[8:12]}-{sid[12:16]}-{sid[16:20]}-{sid[20:]}:{number}"
