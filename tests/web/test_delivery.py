"""Delivery over real HTTP under load: snapshots plus changes, resumes, slow clients, restarts."""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymysql
import pytest
from clients import SseClient, SseMessage, WsClient, parse_sse
from servers import (
    READER_PASSWORD,
    RunningApp,
    body_table,
    start_app,
    start_server,
    update_bodies,
)

from cdc.connection import ConnectionSettings
from cdc.hub import HubSettings
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE
from rowcast.private_server import PrivateServer

# Seconds to wait for one message, a snapshot or the writer. It only turns a hang into a failure.
WAIT_S = 30.0

ITEM_IDS = range(1, 41)
# Outside ITEM_IDS, so only the final marker write touches this row.
MARKER_ID = 1000
NOTE_CHARACTERS = "abcdefgh XYZ 0123 é✓'\"\\"

LOAD_CHANGES = 2000
SNAPSHOT_THREADS = 3
SNAPSHOTS_PER_THREAD = 4
# Changes a client lets the writer commit between its snapshot and its subscription,
# more than SMALL_BUFFER, so that with the small buffer the resume needs the binlog.
SUBSCRIBE_LAG = 60
SMALL_BUFFER = 50

BURST_CHANGES = 1200
RESUME_BUFFER = 20
# Events read per connection before disconnecting, in turn, while far from the end.
READS_PER_CONNECTION = (1, 5, 13, 34, 55, 89)
# Within this many changes of the end, a client reads few per connection, so that
# its last resumes start inside the buffer.
TAIL_CHANGES = 40
TAIL_READS = 4
# Every this many resumes, the client waits until the buffer has moved past its last id.
FORCED_BINLOG_EVERY = 5

PAGE_ROWS = 10
PAGE_ROUNDS = 300
# Characters per body. Each update event carries two bodies, so the writes send
# about 25 MB. A connection whose client read nothing took about 4.5 MB before the
# server stopped sending (measured on Linux with default TCP settings, where
# tcp_wmem caps the send buffer at 4 MiB), so the stalled client falls far behind.
PAGE_BODY_CHARS = 4000
SLOW_MAX_PENDING = 50

CATCH_UP_LOGGER = "cdc.catchup"


@dataclass(frozen=True)
class WrittenChange:
    """One row change as the writer committed it."""

    op: str
    key: int
    after: dict[str, Any] | None


class ItemWriter:
    """Commit random inserts, updates and deletes to robots.items and record each change in order.

    The writer keeps its own copy of the table and checks every statement's row
    count against it, so each recorded change is one row event. Values only
    grow, so every update writes a value the row never had: an UPDATE that
    changes nothing writes no row event.
    """

    def __init__(self, server: PrivateServer, seed: int, single_row: bool) -> None:
        self._server = server
        self._random = random.Random(seed)
        self._single_row = single_row
        self._rows: dict[int, dict[str, Any]] = {}
        # Above the values of the rows items_table inserts.
        self._next_value = 100
        self._progress = threading.Condition()
        self.committed: list[WrittenChange] = []
        self.finished = False

    @property
    def committed_count(self) -> int:
        with self._progress:
            return len(self.committed)

    def wait_for(self, count: int) -> None:
        """Wait until count changes are committed or the writer has stopped."""
        with self._progress:
            reached = self._progress.wait_for(
                lambda: len(self.committed) >= count or self.finished, WAIT_S
            )
        if not reached:
            pytest.fail(f"The writer did not commit {count} changes within {WAIT_S} s")

    def run(self, changes: int) -> None:
        """Commit transactions of one to four statements until `changes` changes are committed.

        With single_row, every statement changes one row and the total is exact.
        Otherwise the last statement may overshoot it.
        """
        connection = self._server.root_connection("robots")
        try:
            with connection.cursor(pymysql.cursors.DictCursor) as cursor:
                cursor.execute("SELECT id, value, note FROM items")
                self._rows = {row["id"]: row for row in cursor.fetchall()}
                while self.committed_count < changes:
                    transaction: list[WrittenChange] = []
                    cursor.execute("BEGIN")
                    for _ in range(self._random.randint(1, 4)):
                        if self.committed_count + len(transaction) >= changes:
                            break
                        transaction += self._write_statement(cursor)
                    cursor.execute("COMMIT")
                    with self._progress:
                        self.committed += transaction
                        self._progress.notify_all()
        finally:
            connection.close()
            with self._progress:
                self.finished = True
                self._progress.notify_all()

    def _write_statement(self, cursor: Any) -> list[WrittenChange]:
        absent = [item_id for item_id in ITEM_IDS if item_id not in self._rows]
        choice = self._random.random()
        if (choice < 0.4 and absent) or not self._rows:
            return self._insert(cursor, absent)
        if choice < 0.75:
            return self._update(cursor)
        return self._delete(cursor)

    def _use_multi_row(self) -> bool:
        return not self._single_row and self._random.random() < 0.3

    def _new_note(self) -> str | None:
        length = self._random.randint(0, 40)
        return None if length == 0 else "".join(self._random.choices(NOTE_CHARACTERS, k=length))

    def _new_row(self, item_id: int) -> dict[str, Any]:
        self._next_value += 1
        return {"id": item_id, "value": self._next_value, "note": self._new_note()}

    def _insert(self, cursor: Any, absent: list[int]) -> list[WrittenChange]:
        count = min(len(absent), self._random.randint(2, 4)) if self._use_multi_row() else 1
        rows = [self._new_row(item_id) for item_id in self._random.sample(absent, count)]
        placeholders = ", ".join(["(%s, %s, %s)"] * count)
        values = [value for row in rows for value in (row["id"], row["value"], row["note"])]
        cursor.execute(f"INSERT INTO items (id, value, note) VALUES {placeholders}", values)
        return self._record(cursor, "insert", rows)

    def _update(self, cursor: Any) -> list[WrittenChange]:
        if self._use_multi_row():
            low = self._random.choice(ITEM_IDS)
            high = low + self._random.randint(1, 6)
            keys = [item_id for item_id in sorted(self._rows) if low <= item_id <= high]
            # Ids stay below 100, so base + id stays below every later value.
            base = self._next_value
            self._next_value += 100
            note = self._new_note()
            cursor.execute(
                "UPDATE items SET value = %s + id, note = %s WHERE id BETWEEN %s AND %s",
                (base, note, low, high),
            )
            rows = [{"id": key, "value": base + key, "note": note} for key in keys]
        else:
            rows = [self._new_row(self._random.choice(sorted(self._rows)))]
            cursor.execute("UPDATE items SET value = %s, note = %s WHERE id = %s",
                           (rows[0]["value"], rows[0]["note"], rows[0]["id"]))
        return self._record(cursor, "update", rows)

    def _delete(self, cursor: Any) -> list[WrittenChange]:
        if self._use_multi_row():
            low = self._random.choice(ITEM_IDS)
            high = low + self._random.randint(1, 6)
            keys = [item_id for item_id in sorted(self._rows) if low <= item_id <= high]
            cursor.execute("DELETE FROM items WHERE id BETWEEN %s AND %s", (low, high))
        else:
            keys = [self._random.choice(sorted(self._rows))]
            cursor.execute("DELETE FROM items WHERE id = %s", (keys[0],))
        if cursor.rowcount != len(keys):
            raise AssertionError(f"DELETE removed {cursor.rowcount} rows, expected {keys}")
        for key in keys:
            del self._rows[key]
        return [WrittenChange("delete", key, None) for key in keys]

    def _record(self, cursor: Any, op: str, rows: list[dict[str, Any]]) -> list[WrittenChange]:
        if cursor.rowcount != len(rows):
            raise AssertionError(f"{op} changed {cursor.rowcount} rows, expected {rows}")
        for row in rows:
            self._rows[row["id"]] = row
        return [WrittenChange(op, row["id"], row) for row in rows]


@pytest.fixture
def items_table(root: pymysql.Connection) -> Iterator[None]:
    """Create robots.items with five rows, and drop it afterwards.

    Other tests create robots.items with other columns when it does not exist.
    """
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.items")
        cursor.execute(
            "CREATE TABLE robots.items (id INT PRIMARY KEY, value INT, note VARCHAR(40))"
        )
        cursor.execute("INSERT INTO robots.items VALUES (1, 1, 'one'), (2, 2, NULL), "
                       "(3, 3, 'three'), (4, 4, ''), (5, 5, 'five')")
    yield
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.items")


@pytest.fixture
def pages_table(root: pymysql.Connection) -> Iterator[None]:
    """Create robots.pages with PAGE_ROWS rows, and drop it afterwards."""
    with body_table(root, "pages", PAGE_ROWS, "TEXT"):
        yield


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[PrivateServer]:
    """Start a server this test may stop and start again."""
    server = start_server(tmp_path / "restart")
    server.load_sql(SCHEMA_FILE, GRANTS_FILE)
    yield server
    server.stop()


def get_snapshot(app: RunningApp, table: str) -> dict[str, Any]:
    url = f"{app.base_url}/api/tables/{table}"
    response = httpx.get(url, timeout=WAIT_S)
    if response.status_code != 200:
        pytest.fail(f"GET {url} returned {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


def next_message(client: SseClient, waiting_for: str) -> SseMessage:
    try:
        return client.next(None, timeout=WAIT_S)
    except queue.Empty:
        pytest.fail(f"No event from {client.url} within {WAIT_S} s while waiting for "
                    f"{waiting_for}")


def read_changes(client: SseClient, count: int) -> list[dict[str, Any]]:
    """Return the next count changes. Fail on `reset` or `closed`, because either hides a gap."""
    changes: list[dict[str, Any]] = []
    while len(changes) < count:
        message = next_message(client, f"change {len(changes) + 1} of {count}")
        if message.event in ("reset", "closed"):
            pytest.fail(f"{client.url} sent {message.event} after {len(changes)} changes: "
                        f"{message.data}")
        if message.event == "change":
            changes.append(message.data)
    return changes


def read_changes_through(client: SseClient, key: dict[str, Any]) -> list[dict[str, Any]]:
    """Return changes up to and including the first one of the row with this key."""
    changes: list[dict[str, Any]] = []
    while not changes or changes[-1]["key"] != key:
        changes += read_changes(client, 1)
    return changes


def ids_of(changes: list[dict[str, Any]]) -> list[str]:
    return [change["id"] for change in changes]


def apply_changes(
    rows: list[dict[str, Any]], changes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return the rows after the changes: a delete removes before's key, others put after's."""
    by_key = {row["id"]: row for row in rows}
    for change in changes:
        if change["op"] == "delete":
            del by_key[change["before"]["id"]]
        else:
            by_key[change["after"]["id"]] = change["after"]
    return [by_key[key] for key in sorted(by_key)]


def select_items(root: pymysql.Connection) -> list[dict[str, Any]]:
    with root.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute("SELECT id, value, note FROM robots.items ORDER BY id")
        return list(cursor.fetchall())


def catch_up_count(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for record in caplog.records if record.name == CATCH_UP_LOGGER
               and record.getMessage().startswith("catch-up started"))


def subscribe_during_writes(
    app: RunningApp, writer: ItemWriter, thread_number: int, clients: list[SseClient]
) -> list[tuple[dict[str, Any], SseClient]]:
    """Take snapshots spread over the writes, each followed by a subscription after its id."""
    subscriptions: list[tuple[dict[str, Any], SseClient]] = []
    rounds = SNAPSHOT_THREADS * SNAPSHOTS_PER_THREAD
    for round_number in range(SNAPSHOTS_PER_THREAD):
        turn = round_number * SNAPSHOT_THREADS + thread_number
        writer.wait_for(LOAD_CHANGES * turn // rounds)
        snapshot = get_snapshot(app, "robots.items")
        writer.wait_for(writer.committed_count + SUBSCRIBE_LAG)
        client = SseClient(f"{app.base_url}/events?table=robots.items"
                           f"&last_event_id={snapshot['last_event_id']}")
        clients.append(client)
        subscriptions.append((snapshot, client))
    return subscriptions


@pytest.mark.parametrize(
    "hub", [HubSettings(), HubSettings(buffer_events=SMALL_BUFFER)],
    ids=["default", "small-buffer"],
)
def test_snapshot_plus_changes_equals_table(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, root: pymysql.Connection,
    items_table: None, caplog: pytest.LogCaptureFixture, hub: HubSettings,
) -> None:
    app = start_app(reader_settings, tables="robots.task,robots.items", hub=hub)
    writer = ItemWriter(mysql_server, seed=hub.buffer_events, single_row=False)
    clients: list[SseClient] = []
    try:
        with ThreadPoolExecutor(SNAPSHOT_THREADS + 1) as pool:
            writing = pool.submit(writer.run, LOAD_CHANGES)
            subscribing = [pool.submit(subscribe_during_writes, app, writer, number, clients)
                           for number in range(SNAPSHOT_THREADS)]
            writing.result(timeout=WAIT_S * 4)
            subscriptions = [pair for future in subscribing
                             for pair in future.result(timeout=WAIT_S)]
        with root.cursor() as cursor:
            cursor.execute("INSERT INTO robots.items VALUES (%s, 0, 'end of writes')",
                           (MARKER_ID,))
        final = select_items(root)
        results = [(snapshot, read_changes_through(client, {"id": MARKER_ID}))
                   for snapshot, client in subscriptions]
        served_final = get_snapshot(app, "robots.items")
    finally:
        for client in clients:
            client.close()
        app.stop()

    assert writer.committed_count >= LOAD_CHANGES
    assert len(results) == SNAPSHOT_THREADS * SNAPSHOTS_PER_THREAD
    for snapshot, changes in results:
        ids = ids_of(changes)
        assert ids[0] > snapshot["last_event_id"]
        assert len(set(ids)) == len(ids)
        assert ids == sorted(ids)
        assert apply_changes(snapshot["rows"], changes) == final
    assert served_final["rows"] == final
    if hub.buffer_events == SMALL_BUFFER:
        assert catch_up_count(caplog) >= 1
    else:
        assert catch_up_count(caplog) == 0


@dataclass
class ResumedRead:
    """What a client read while reconnecting after every few changes."""

    received: list[dict[str, Any]]
    # Changes the reference client had read by the end, a prefix of all of them.
    reference: list[dict[str, Any]]
    resumes: int
    # Resumes made after the buffer had moved past the last id.
    beyond_buffer: int


def read_with_resumes(url: str, reference: SseClient, clients: list[SseClient]) -> ResumedRead:
    """Read BURST_CHANGES changes, reconnecting with Last-Event-ID after every few.

    Every FORCED_BINLOG_EVERY-th resume, unless it is too close to the end,
    first waits until the reference client has seen more than RESUME_BUFFER
    newer changes, so the buffer no longer reaches the last id and the resume
    needs the binlog.
    Near the end the client reads TAIL_READS per connection, so its last
    resumes start inside the buffer.
    """
    sizes = itertools.cycle(READS_PER_CONNECTION)
    read = ResumedRead([], [], 0, 0)
    client = clients[-1]
    while True:
        remaining = BURST_CHANGES - len(read.received)
        near_end = remaining <= TAIL_CHANGES
        count = min(TAIL_READS if near_end else next(sizes), remaining)
        read.received += read_changes(client, count)
        client.close()
        if len(read.received) == BURST_CHANGES:
            return read
        # Once the reference client has this many changes, the buffer of the last
        # RESUME_BUFFER changes starts after the last one received.
        target = len(read.received) + RESUME_BUFFER + 5
        if read.resumes % FORCED_BINLOG_EVERY == 0 and target <= BURST_CHANGES:
            read.reference += read_changes(reference, max(0, target - len(read.reference)))
            read.beyond_buffer += 1
        client = SseClient(url, headers={"Last-Event-ID": read.received[-1]["id"]})
        clients.append(client)
        read.resumes += 1


def test_resumes_during_burst_lose_nothing(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, items_table: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = start_app(reader_settings, tables="robots.task,robots.items",
                    hub=HubSettings(buffer_events=RESUME_BUFFER))
    url = f"{app.base_url}/events?table=robots.items"
    writer = ItemWriter(mysql_server, seed=11, single_row=True)
    clients: list[SseClient] = []
    try:
        reference = SseClient(url)
        clients.append(reference)
        next_message(reference, "the first status")
        clients.append(SseClient(url))
        next_message(clients[-1], "the first status")
        with ThreadPoolExecutor(1) as pool:
            writing = pool.submit(writer.run, BURST_CHANGES)
            read = read_with_resumes(url, reference, clients)
            writing.result(timeout=WAIT_S)
        read.reference += read_changes(reference, BURST_CHANGES - len(read.reference))
    finally:
        for client in clients:
            client.close()
        app.stop()

    written = [WrittenChange(change["op"], change["key"]["id"], change["after"])
               for change in read.received]
    catch_ups = catch_up_count(caplog)
    assert read.resumes >= 30
    assert ids_of(read.received) == ids_of(read.reference)
    assert written == writer.committed
    assert catch_ups >= read.beyond_buffer
    assert catch_ups < read.resumes


def write_pages(server: PrivateServer, normal: SseClient) -> list[dict[str, Any]]:
    """Update every page PAGE_ROUNDS times, reading each round's changes from `normal`.

    Reading each round before writing the next keeps the normal client within one
    transaction of the stream, well below SLOW_MAX_PENDING. The loop would stall
    if the stalled client held up delivery to the others.
    """
    return update_bodies(server, "pages", PAGE_ROUNDS, PAGE_BODY_CHARS,
                         lambda: read_changes(normal, PAGE_ROWS))


def read_until_closed(response: httpx.Response, last_id: str) -> tuple[list[dict[str, Any]], Any]:
    """Read a stalled stream until its `closed` event, and return its changes and that event.

    Fails when the stream delivers the change with last_id instead, that is when
    the client was never dropped. Also fails when WAIT_S pass without `closed`,
    because the heartbeat comments keep an open stream from timing out by itself.
    """
    changes: list[dict[str, Any]] = []
    for message in parse_sse(lines_within(response, WAIT_S)):
        if message.event == "closed":
            return changes, message.data
        if message.event == "change":
            changes.append(message.data)
            if message.id == last_id:
                pytest.fail(f"The stalled client got all {len(changes)} changes "
                            "and was not dropped")
    pytest.fail(f"The stalled stream ended after {len(changes)} changes without a closed event")


def lines_within(response: httpx.Response, seconds: float) -> Iterator[str]:
    """Yield the response's lines, and fail once the seconds have passed."""
    deadline = time.monotonic() + seconds
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            pytest.fail(f"{response.url} was still open after {seconds} s")
        yield line


def read_changes_until_closed(client: SseClient, count: int) -> list[dict[str, Any]]:
    """Return the next count changes, or fewer when the server sends `closed` first."""
    changes: list[dict[str, Any]] = []
    while len(changes) < count:
        message = next_message(client, f"change {len(changes) + 1} of {count}")
        if message.event == "closed":
            return changes
        if message.event == "reset":
            pytest.fail(f"{client.url} sent reset after {len(changes)} changes: {message.data}")
        if message.event == "change":
            changes.append(message.data)
    return changes


def resume_until_complete(
    url: str, after: str, count: int, clients: list[SseClient]
) -> list[dict[str, Any]]:
    """Read count changes after the id, reconnecting with the last id after each `closed`.

    The hub queues a resume's whole backlog at once, so with max_pending below
    the backlog each connection delivers max_pending changes, then `closed`.
    Every connection must deliver at least one change.
    """
    changes: list[dict[str, Any]] = []
    while len(changes) < count:
        last_id = changes[-1]["id"] if changes else after
        client = SseClient(url, headers={"Last-Event-ID": last_id})
        clients.append(client)
        delivered = read_changes_until_closed(client, count - len(changes))
        client.close()
        if not delivered:
            pytest.fail(f"A resume after {last_id} was closed before it delivered any change")
        changes += delivered
    return changes


def test_slow_client_dropped_others_unaffected(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, pages_table: None
) -> None:
    app = start_app(reader_settings, tables="robots.task,robots.pages",
                    hub=HubSettings(max_pending=SLOW_MAX_PENDING))
    url = f"{app.base_url}/events?table=robots.pages"
    stalled_http = httpx.Client(timeout=httpx.Timeout(WAIT_S))
    clients: list[SseClient] = []
    try:
        normal = SseClient(url)
        clients.append(normal)
        next_message(normal, "the first status")
        # send() returns once the headers arrived, and the server subscribes before it
        # sends them. The body stays unread until the writes are done.
        stalled = stalled_http.send(stalled_http.build_request("GET", url), stream=True)
        try:
            normal_changes = write_pages(mysql_server, normal)
            stalled_changes, closed = read_until_closed(stalled, normal_changes[-1]["id"])
        finally:
            stalled.close()
        rest = resume_until_complete(url, stalled_changes[-1]["id"],
                                     len(normal_changes) - len(stalled_changes), clients)
    finally:
        for client in clients:
            client.close()
        stalled_http.close()
        app.stop()

    expected = [(page, f"{round_number:05d}")
                for round_number in range(PAGE_ROUNDS) for page in range(1, PAGE_ROWS + 1)]
    delivered = [(change["key"]["id"], change["after"]["body"][:5]) for change in normal_changes]
    assert delivered == expected
    assert len(set(ids_of(normal_changes))) == len(normal_changes)
    assert ids_of(normal_changes) == sorted(ids_of(normal_changes))
    assert "too slow" in closed["reason"]
    assert ids_of(stalled_changes) == ids_of(normal_changes)[:len(stalled_changes)]
    assert ids_of(stalled_changes + rest) == ids_of(normal_changes)


def insert_tasks(server: PrivateServer, task_ids: range) -> None:
    """Insert each task in its own transaction."""
    connection = server.root_connection("robots")
    with connection.cursor() as cursor:
        for task_id in task_ids:
            cursor.execute(
                "INSERT INTO task (Task_ID, Robot_ID, Task_Name) VALUES (%s, 1, %s)",
                (task_id, f"restart task {task_id}"),
            )
    connection.close()


def read_until_state(client: SseClient, state: str) -> list[dict[str, Any]]:
    """Read until a `status` event with this state, and return the changes read on the way."""
    changes: list[dict[str, Any]] = []
    while True:
        message = next_message(client, f"status {state}")
        if message.event == "status" and message.data["state"] == state:
            return changes
        if message.event == "change":
            changes.append(message.data)
        elif message.event != "status":
            pytest.fail(f"{client.url} sent {message.event}: {message.data}")


def test_database_restart_keeps_stream_exact(own_server: PrivateServer) -> None:
    connection = ConnectionSettings("127.0.0.1", own_server.port, "rowcast_reader",
                                    READER_PASSWORD, "robots")
    app = start_app(connection)
    try:
        client = SseClient(f"{app.base_url}/events")
        next_message(client, "the first status")
        insert_tasks(own_server, range(1, 6))
        changes = read_changes(client, 5)

        own_server.stop()
        changes += read_until_state(client, "reconnecting")
        own_server.start()
        # Committed while the reader may still be waiting to reconnect.
        insert_tasks(own_server, range(6, 9))
        changes += read_until_state(client, "live")
        insert_tasks(own_server, range(9, 13))
        # A duplicate anywhere before the last insert would show in the keys.
        changes += read_changes_through(client, {"Task_ID": 12})
        client.close()
    finally:
        app.stop()

    assert [change["key"]["Task_ID"] for change in changes] == list(range(1, 13))
    assert [change["op"] for change in changes] == ["insert"] * 12
    assert len(set(ids_of(changes))) == 12
    assert ids_of(changes) == sorted(ids_of(changes))


def rename_tasks(root: pymysql.Connection, numbers: range) -> None:
    """Give the seed tasks new names in turn, one transaction each."""
    with root.cursor() as cursor:
        for number in numbers:
            cursor.execute("UPDATE robots.task SET Task_Name = %s WHERE Task_ID = %s",
                           (f"renamed {number}", number % 10 + 1))


def read_ws_changes(client: WsClient, count: int) -> list[dict[str, Any]]:
    """Return the next count change messages, and fail on `reset`, `closed` or `error`."""
    changes: list[dict[str, Any]] = []
    while len(changes) < count:
        try:
            message = client.next(None, timeout=WAIT_S)
        except queue.Empty:
            pytest.fail(f"No message from {client.url} within {WAIT_S} s after "
                        f"{len(changes)} changes")
        if message["type"] in ("reset", "closed", "error"):
            pytest.fail(f"{client.url} sent {message}")
        if message["type"] == "change":
            changes.append(message)
    return changes


@pytest.mark.parametrize("buffer_events", [10_000, 3], ids=["buffer", "binlog"])
def test_websocket_resumes_after_id(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection, buffer_events: int
) -> None:
    app = start_app(reader_settings, hub=HubSettings(buffer_events=buffer_events))
    try:
        first = WsClient(f"{app.ws_url}/ws")
        first.next("status")
        rename_tasks(seeded_tasks, range(12))
        changes = read_ws_changes(first, 12)
        first.close()

        resumed = WsClient(f"{app.ws_url}/ws?last_event_id={changes[4]['id']}")
        replayed = read_ws_changes(resumed, 7)
        rename_tasks(seeded_tasks, range(100, 102))
        live = read_ws_changes(resumed, 2)
        resumed.close()
    finally:
        app.stop()

    assert ids_of(replayed) == ids_of(changes[5:])
    assert [change["after"]["Task_Name"] for change in live] == ["renamed 100", "renamed 101"]
