"""The reader turns committed row events of watched tables into change events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pymysql
import pytest

from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent, Operation
from cdc.position import BinlogPosition
from cdc.reader import BinlogReader, ReaderSettings
from cdc.server import current_position
from cdc.tables import TableFilter

WAIT_S = 15.0


@dataclass
class CollectingSink:
    """Records what the reader hands over, and lets the test wait for it."""

    transactions: list[tuple[list[ChangeEvent], BinlogPosition]] = field(default_factory=list)
    positions: list[BinlogPosition] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        with self.changed:
            self.transactions.append((events, end))
            self.changed.notify_all()

    def progress(self, position: BinlogPosition) -> None:
        with self.changed:
            self.positions.append(position)
            self.changed.notify_all()

    def reader_state(self, state: str, message: str) -> None:
        with self.changed:
            self.states.append(state)
            self.changed.notify_all()

    def wait_for_transactions(self, count: int) -> list[list[ChangeEvent]]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.transactions) >= count, WAIT_S):
                raise TimeoutError(f"{len(self.transactions)} of {count} transactions arrived")
            return [events for events, _ in self.transactions]

    def wait_for_position(self, target: BinlogPosition) -> None:
        with self.changed:
            reached = self.changed.wait_for(
                lambda: any(position >= target for position in self.positions), WAIT_S)
            assert reached, f"reader did not report progress to {target}"


@pytest.fixture
def reader(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> Iterator[CollectingSink]:
    """Run a reader of robots.task from the end of the binlog, after the seed rows."""
    root = seeded_tasks
    with root.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS robots.other (id INT PRIMARY KEY, note TEXT)")
        cursor.execute("DELETE FROM robots.other")
    start = current_position(root)
    sink = CollectingSink()
    settings = ReaderSettings(reader_settings, TableFilter.parse("robots.task"), server_id=7001,
                              heartbeat_s=0.5)
    stop = threading.Event()
    thread = threading.Thread(target=BinlogReader(settings, sink, start).run, args=(stop,))
    thread.start()
    yield sink
    stop.set()
    thread.join(timeout=WAIT_S)
    assert not thread.is_alive()


def test_transaction_arrives_whole_at_commit(reader: CollectingSink, seeded_tasks: pymysql.Connection) -> None:
    with seeded_tasks.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("INSERT INTO robots.task (Task_ID, Robot_ID, Status) VALUES (50, 1, 'SCHEDULED'), (51, 2, 'ACTIVE')")
        cursor.execute("UPDATE robots.task SET Task_Name = 'renamed' WHERE Task_ID = 50")
        cursor.execute("DELETE FROM robots.task WHERE Task_ID = 51")
        cursor.execute("COMMIT")
    (events,) = reader.wait_for_transactions(1)[-1:]
    assert [event.op for event in events] == [
        Operation.INSERT, Operation.INSERT, Operation.UPDATE, Operation.DELETE]
    assert [event.id.row for event in events] == [1, 2, 3, 4]
    assert len({event.id.position for event in events}) == 1
    assert [event.txn_last for event in events] == [False, False, False, True]
    assert events[2].before is not None and events[2].before["Task_Name"] is None
    assert events[2].after is not None and events[2].after["Task_Name"] == "renamed"
    assert events[3].key == {"Task_ID": 51}


def test_unwatched_table_only_advances_position(reader: CollectingSink, root: pymysql.Connection) -> None:
    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.other VALUES (1, 'secret')")
    target = current_position(root)
    reader.wait_for_position(target)
    assert reader.transactions == []


def test_key_change_keeps_both_images(reader: CollectingSink, seeded_tasks: pymysql.Connection) -> None:
    with seeded_tasks.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Task_ID = 77 WHERE Task_ID = 7")
    (event,) = reader.wait_for_transactions(1)[-1]
    assert event.before is not None and event.before["Task_ID"] == 7
    assert event.after is not None and event.after["Task_ID"] == 77
    assert event.key == {"Task_ID": 77}


def test_ids_increase_across_transactions_and_ddl(reader: CollectingSink, seeded_tasks: pymysql.Connection) -> None:
    with seeded_tasks.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 1")
        cursor.execute("ALTER TABLE robots.other ADD COLUMN extra INT")
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 9")
        cursor.execute("ALTER TABLE robots.other DROP COLUMN extra")
    transactions = reader.wait_for_transactions(2)
    first, second = transactions[0][0], transactions[1][0]
    assert first.id < second.id
    assert second.after is not None and second.after["Task_ID"] == 9


def test_reader_reports_live(reader: CollectingSink, root: pymysql.Connection) -> None:
    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.other VALUES (2, 'x')")
    reader.wait_for_position(current_position(root))
    assert reader.states[0] == "live"
