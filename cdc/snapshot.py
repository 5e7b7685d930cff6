"""Snapshots: the rows of one table, consistent with an id of the change stream.

A snapshot selects every column inside `START TRANSACTION WITH CONSISTENT
SNAPSHOT`. MariaDB reports the binlog position of that read view
(binlog_snapshot_file and binlog_snapshot_position), so there the rows are
exactly as of that position P and need no replay.

MySQL reports no such position, so there the snapshot reads the binlog end
position P right after the read view exists: every transaction the SELECT can see
lies before P. The SELECT may also miss some transactions before P, and the
hub may have published some that the read view missed (the binlog is written
before the storage engine commits). So the snapshot replays every change of
the table from the hub's horizon up to P onto the selected rows. Replaying
full row images in binlog order is idempotent per key: the last change to a
key decides its row, whichever state the SELECT saw.

Either way the snapshot waits until the reader has read up to P, and
subscribing after `EventId.boundary(P)` yields exactly the changes that follow.
This needs only SELECT and REPLICATION CLIENT.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pymysql

from cdc.connection import ConnectionSettings
from cdc.errors import SnapshotFailed, TableNotFound
from cdc.events import ChangeEvent, Row
from cdc.hub import ChangeHub, ResumeUnavailable
from cdc.position import BinlogPosition, EventId
from cdc.result_columns import (
    TEXT_CONVERSIONS,
    column_types,
    quote_name,
    row_renderer,
    select_sql,
)
from cdc.server import current_position

logger = logging.getLogger(__name__)

# Seconds a snapshot waits for the reader to reach the snapshot's position.
CATCH_UP_TIMEOUT_S = 10.0
ATTEMPTS = 3
_NO_SUCH_TABLE = 1146


@dataclass(frozen=True)
class Snapshot:
    """The rows of one table as of `last_id`, sorted by primary key."""

    db: str
    table: str
    columns: list[str]
    key_columns: list[str]
    rows: list[Row]
    last_id: EventId


@dataclass(frozen=True)
class _Selected:
    columns: list[str]
    key_columns: list[str]
    rows: list[Row]
    position: BinlogPosition
    # True when the server reported the binlog position of the read view itself,
    # so the rows are exactly as of `position` and need no replay.
    exact: bool


ReplaySource = Callable[[EventId, BinlogPosition], Awaitable[list[ChangeEvent]]]


async def take_snapshot(
    hub: ChangeHub,
    connection: ConnectionSettings,
    db: str,
    table: str,
    read_binlog: ReplaySource | None = None,
    excluded: frozenset[str] = frozenset(),
) -> Snapshot:
    """Read db.table consistently with the hub's stream, without the columns named in excluded.

    The changes to replay come from the hub's buffer. When the buffer moved on
    while the table was read, they come from `read_binlog`, which re-reads
    that part of the binlog. Without `read_binlog` the snapshot is retried.
    """
    for attempt in range(1, ATTEMPTS + 1):
        started = time.monotonic()
        replay_from = hub.horizon
        selected = await asyncio.to_thread(
            _select_consistent, connection, db, table, hub.position.source, excluded
        )
        try:
            await hub.wait_for_position(selected.position, CATCH_UP_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise SnapshotFailed(
                f"Snapshot of {db}.{table}: the binlog reader did not reach "
                f"{selected.position} within {CATCH_UP_TIMEOUT_S:.0f} s; it is behind "
                "or disconnected. Try again shortly."
            ) from None
        if selected.exact:
            changes: list[ChangeEvent] = []
        else:
            try:
                changes = hub.events_after(replay_from)
            except ResumeUnavailable:
                if read_binlog is None:
                    logger.info("snapshot retried table=%s.%s attempt=%s", db, table, attempt)
                    continue
                logger.info("snapshot replays from the binlog table=%s.%s from=%s",
                            db, table, replay_from)
                changes = await read_binlog(replay_from, selected.position)
        snapshot = _replay(selected, changes, db, table)
        logger.debug(
            "snapshot taken table=%s.%s rows=%s position=%s duration_ms=%.1f",
            db, table, len(snapshot.rows), selected.position,
            (time.monotonic() - started) * 1000,
        )
        return snapshot
    raise SnapshotFailed(
        f"Snapshot of {db}.{table}: the change buffer moved on {ATTEMPTS} times while "
        "the table was read. Raise the buffer size or try again."
    )


def _select_consistent(
    connection: ConnectionSettings, db: str, table: str, source: str, excluded: frozenset[str]
) -> _Selected:
    link = connection.connect(autocommit=True, conv=TEXT_CONVERSIONS)
    try:
        with link.cursor() as cursor:
            # The binlog stores TIMESTAMP in UTC; SELECT shows it in the session time zone.
            cursor.execute("SET SESSION time_zone = '+00:00'")
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            position = snapshot_position(link, source)
            exact = position is not None
            if position is None:
                position = current_position(link, source)
            try:
                # Excluded columns are not even selected; `excluded` contains lower-case names.
                columns = [(name, sql_type) for name, sql_type in column_types(link, db, table)
                           if name.lower() not in excluded]
            except pymysql.err.ProgrammingError as error:
                if error.args[0] == _NO_SUCH_TABLE:
                    raise TableNotFound(f"Table {db}.{table} does not exist on the server.") from None
                raise
            cursor.execute(select_sql(db, table, columns))
            render = row_renderer(columns)
            rows = [render(values) for values in cursor.fetchall()]
            cursor.execute("COMMIT")
            key_columns = primary_key_columns(link, db, table)
    finally:
        link.close()
    return _Selected([name for name, _ in columns], key_columns, rows, position, exact)


def snapshot_position(link: Any, source: str) -> BinlogPosition | None:
    """Return the binlog position of the open consistent snapshot, where the server reports it.

    MariaDB reports it as the status variables binlog_snapshot_file and
    binlog_snapshot_position (the mechanism mysqldump --single-transaction
    --master-data uses). MySQL has no such variables; it returns None there.
    """
    with link.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")
        status = {str(name).lower(): value for name, value in cursor.fetchall()}
    file_name = status.get("binlog_snapshot_file")
    offset = status.get("binlog_snapshot_position")
    if not file_name or offset in (None, ""):
        return None
    if isinstance(file_name, bytes):
        file_name = file_name.decode()
    return BinlogPosition.from_file(str(file_name), int(offset), source)


def primary_key_columns(link: Any, db: str, table: str) -> list[str]:
    """Return the primary key columns of db.table in key order; [] without a key."""
    with link.cursor() as cursor:
        cursor.execute(
            f"SHOW KEYS FROM {quote_name(db)}.{quote_name(table)} WHERE Key_name = 'PRIMARY'"
        )
        names = {description[0]: index for index, description in enumerate(cursor.description)}
        keyed = sorted(cursor.fetchall(), key=lambda row: row[names["Seq_in_index"]])
        return [str(row[names["Column_name"]]) for row in keyed]


def _replay(selected: _Selected, changes: list[ChangeEvent], db: str, table: str) -> Snapshot:
    boundary = EventId.boundary(selected.position)
    relevant = [change for change in changes
                if change.id < boundary and change.db == db and change.table == table]
    if selected.key_columns:
        rows = _replay_keyed(selected.rows, relevant, selected.key_columns)
    else:
        rows = _replay_keyless(selected.rows, relevant)
    key_columns = selected.key_columns or selected.columns
    ordered = sorted(rows, key=lambda row: _sort_key(tuple(row.get(n) for n in key_columns)))
    return Snapshot(db, table, selected.columns, selected.key_columns, ordered, boundary)


def _replay_keyed(rows: list[Row], changes: list[ChangeEvent], key_columns: list[str]) -> list[Row]:
    def key_of(row: Row) -> tuple[Any, ...]:
        return tuple(row.get(name) for name in key_columns)

    by_key = {key_of(row): row for row in rows}
    for change in changes:
        previous = None
        if change.before is not None:
            previous = by_key.pop(key_of(change.before), None)
        if change.after is not None:
            # A partial after image (--allow-partial-images) lacks columns the
            # server did not log; the row read or replayed so far supplies them.
            after = {**(previous or {}), **change.after} if change.missing_after else change.after
            by_key[key_of(after)] = after
    return list(by_key.values())


def _replay_keyless(rows: list[Row], changes: list[ChangeEvent]) -> list[Row]:
    # Without a key, equal rows are distinct rows, so they stay in a list.
    # NOTE: replaying a change the SELECT already saw duplicates or loses a row
    # here. That can only happen on servers that do not report the snapshot's
    # own binlog position (MySQL); MariaDB snapshots need no replay.
    result = list(rows)
    for change in changes:
        if change.before is not None and change.before in result:
            result.remove(change.before)
        if change.after is not None:
            result.append(change.after)
    return result


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    # None and mixed types sort without errors: None first, then by type name.
    return tuple((0, "") if part is None else (1, str(type(part)), part) for part in key)
