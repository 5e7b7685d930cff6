"""Read the binlog with mysql-replication and hand over one transaction at a time.

This is the only module that imports `pymysqlreplication`. The reader runs in
its own thread because the library blocks on the socket. It groups the row
events of a transaction and passes them on only at the transaction boundary
(XID, COMMIT or a DDL statement), so a consumer never receives half a transaction,
and every position it reports is one the reader can restart from.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    NotImplementedEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import (
    DeleteRowsEvent,
    TableMapEvent,
    UpdateRowsEvent,
    WriteRowsEvent,
)

from cdc.binlog_columns import TableRenderers, server_column_types
from cdc.column_filter import ColumnFilter
from cdc.compressed_events import check_not_compressed
from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent, Operation
from cdc.position import BinlogPosition, EventId
from cdc.row_images import ImageOptions, row_changes
from cdc.tables import TableFilter

logger = logging.getLogger(__name__)

# A replica id that no server of the demo uses; two readers on one server need two ids.
DEFAULT_SERVER_ID = 4217

_ROW_EVENTS = (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)
_OPERATIONS = {
    WriteRowsEvent: Operation.INSERT,
    UpdateRowsEvent: Operation.UPDATE,
    DeleteRowsEvent: Operation.DELETE,
}


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
    events: list[ChangeEvent] = field(default_factory=list)


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
        self._transaction: _OpenTransaction | None = None
        self._stream: Any = None
        self._renderers = TableRenderers(server_column_types(settings.connection))

    @property
    def position(self) -> BinlogPosition:
        return self._boundary

    def run(self, stop: threading.Event) -> None:
        """Read until stop is set, reconnecting with backoff after connection errors."""
        delay = self._settings.reconnect_min_s
        attempt = 0
        while not stop.is_set():
            try:
                self._stream = self._open_stream()
                self._read_until(stop, on_first_event=lambda: self._went_live(attempt))
                attempt = 0
                delay = self._settings.reconnect_min_s
            except (pymysql.err.Error, OSError, EOFError) as error:
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

    def _went_live(self, attempts: int) -> None:
        if attempts:
            logger.info("binlog stream resumed position=%s attempts=%s", self._boundary, attempts)
        self._sink.reader_state("live", f"Reading the binlog from {self._boundary}")

    def _open_stream(self) -> Any:
        connection = self._settings.connection
        logger.info(
            "binlog stream opening url=%s position=%s server_id=%s",
            connection.masked_url(), self._boundary, self._settings.server_id,
        )
        kwargs = connection.pymysql_kwargs()
        kwargs.pop("database")
        # A read timeout well above the heartbeat period turns a silently dead
        # connection into an error instead of a reader that waits forever.
        kwargs["read_timeout"] = max(5.0, self._settings.heartbeat_s * 5)
        return BinLogStreamReader(
            connection_settings=kwargs,
            server_id=self._settings.server_id,
            resume_stream=True,
            blocking=True,
            log_file=self._boundary.file_name,
            log_pos=self._boundary.offset,
            only_schemas=list(self._settings.tables.databases),
            only_events=[
                *_ROW_EVENTS, XidEvent, QueryEvent, GtidEvent, MariadbGtidEvent,
                RotateEvent, HeartbeatLogEvent, TableMapEvent, NotImplementedEvent,
            ],
            # The library drops events it cannot decode unless asked for them;
            # compressed ones must stop the reader (see cdc/compressed_events.py).
            filter_non_implemented_events=False,
            slave_heartbeat=self._settings.heartbeat_s,
            # With is_mariadb=True, mysql-replication 1.0 ignores log_file and
            # log_pos and requests a GTID-based dump from MariaDB. Both servers accept
            # the file-and-position dump, and the library announces MariaDB GTID
            # support on every connection.
            is_mariadb=False,
            enable_logging=False,
        )

    def _close_stream(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
            except (pymysql.err.Error, OSError) as error:
                # The stream is being replaced or stopped, and the boundary to resume from is kept.
                logger.debug("closing binlog stream failed error=%s", error)
            self._stream = None

    def _read_until(self, stop: threading.Event, on_first_event: Any) -> None:
        first = True
        while not stop.is_set():
            event = self._stream.fetchone()
            if event is None:
                raise EOFError("the server ended the binlog stream")
            if first:
                on_first_event()
                first = False
            self._dispatch(event)

    def _stream_position(self) -> BinlogPosition:
        return BinlogPosition.from_file(
            self._stream.log_file, self._stream.log_pos, self._boundary.source
        )

    def _dispatch(self, event: Any) -> None:
        if isinstance(event, _ROW_EVENTS):
            self._on_rows(event)
        elif isinstance(event, (GtidEvent, MariadbGtidEvent)):
            self._transaction = _OpenTransaction(self._boundary, event.gtid)
        elif isinstance(event, XidEvent):
            self._commit(event.timestamp)
        elif isinstance(event, QueryEvent):
            self._on_query(event)
        elif isinstance(event, TableMapEvent):
            self._on_table_map(event)
        elif isinstance(event, NotImplementedEvent):
            # Other undecoded events (such as MySQL's anonymous GTID) carry no
            # row changes and leave the boundary where it is.
            check_not_compressed(event.event_type, str(self._stream_position()))
        elif self._transaction is None:
            # Rotate and heartbeat events sit between transactions.
            self._boundary = self._stream_position()
            self._sink.progress(self._boundary)

    def _on_query(self, event: Any) -> None:
        statement = _query_text(event).strip().upper()
        if statement == "BEGIN":
            if self._transaction is None:
                self._transaction = _OpenTransaction(self._boundary, None)
            return
        # COMMIT ends a non-transactional group; any other statement is DDL,
        # which commits implicitly.
        self._commit(event.timestamp)

    def _on_table_map(self, event: Any) -> None:
        # A table map precedes the row events of its table; they share its column objects.
        if self._settings.tables.matches(event.schema, event.table):
            self._renderers.table_map(event)

    def _on_rows(self, event: Any) -> None:
        qualified = (event.schema, event.table)
        if not self._settings.tables.matches(*qualified):
            return
        if self._transaction is None:
            self._transaction = _OpenTransaction(self._boundary, None)
        transaction = self._transaction
        operation = _OPERATIONS[type(event)]
        end_offset = self._stream.log_pos
        # The library reads the rows on first access, with the columns as the renderers set them up.
        renderer = self._renderers.for_rows(event)
        options = ImageOptions(self._settings.excluded_columns.excluded_in(*qualified),
                               self._settings.allow_partial_images)
        for change in row_changes(event, operation, renderer, options):
            transaction.events.append(
                ChangeEvent(
                    id=EventId(transaction.start, len(transaction.events) + 1),
                    op=operation, db=event.schema, table=event.table, key=change.key,
                    before=change.before, after=change.after, ts_ms=event.timestamp * 1000,
                    server_id=event.packet.server_id, file_name=self._stream.log_file,
                    end_offset=end_offset, txn_id=transaction.gtid or str(transaction.start),
                    txn_last=False, key_columns=change.key_columns,
                    missing_before=change.missing_before, missing_after=change.missing_after,
                )
            )

    def _commit(self, timestamp: int) -> None:
        transaction = self._transaction
        self._transaction = None
        self._boundary = self._stream_position()
        if transaction is None or not transaction.events:
            self._sink.progress(self._boundary)
            return
        commit_ms = timestamp * 1000
        events = [_at_commit(event, commit_ms) for event in transaction.events]
        events[-1] = events[-1].with_last(True)
        logger.debug(
            "transaction read start=%s end=%s changes=%s",
            transaction.start, self._boundary, len(events),
        )
        self._sink.transaction(events, self._boundary)


def _at_commit(event: ChangeEvent, commit_ms: int) -> ChangeEvent:
    # Row events carry the statement's start time; the commit time is the XID's.
    return dataclasses.replace(event, ts_ms=commit_ms, txn_last=False)


def _query_text(event: Any) -> str:
    query = event.query
    if isinstance(query, bytes):
        return query.decode("utf-8", errors="replace")
    return str(query)
