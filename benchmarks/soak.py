"""Soak test: steady writes for minutes while clients connect, leave and resume at random.

Run `python -m benchmarks.soak` (10 minutes, 200 clients) or with --minutes and
--clients. It starts a private server and `rowcast serve` as a separate
process, writes at a steady rate, and lets every client disconnect and resume
with its last event id again and again. At the end it compares each client's
changes with those of a reference client that never disconnects, and reports
events sent, events lost and duplicates (both must be 0), and the server's
resident memory at start and end. It exits with status 1 when anything was
lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rowcast.paths import GRANTS_FILE, SCHEMA_FILE
from rowcast.private_server import PrivateServer, find_server_binary, free_port

READER = ("rowcast_reader", "reader-demo-pw")
# Every wait is bounded, so a hang ends the run with a message instead.
START_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 120.0


@dataclass
class ClientRecord:
    """Everything one client received over all its connections."""

    ids: list[str] = field(default_factory=list)
    connections: int = 0
    # Connections that failed or broke off; the client then resumes like after leaving.
    failures: int = 0
    last_id: str | None = None


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the write phase")
    parser.add_argument("--clients", type=int, default=200, help="clients that come and go")
    parser.add_argument("--rate", type=float, default=20.0, help="committed changes per second")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random schedule")
    return parser.parse_args(argv)


def start_database(folder: Path) -> PrivateServer:
    binary = find_server_binary()
    if binary is None:
        raise SystemExit("soak: no mariadbd or mysqld found; install mariadb-server")
    server = PrivateServer(folder, free_port(), binary, stop_with_parent=True)
    server.start()
    server.load_sql(SCHEMA_FILE, GRANTS_FILE)
    connection = server.root_connection("robots")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS soak")
        cursor.execute("CREATE TABLE soak (id INT PRIMARY KEY, value INT NOT NULL)")
    connection.close()
    return server


def start_rowcast(server: PrivateServer, port: int) -> subprocess.Popen[bytes]:
    url = f"mysql://{READER[0]}:{READER[1]}@127.0.0.1:{server.port}/robots"
    process = subprocess.Popen(
        [sys.executable, "-m", "rowcast.cli", "--log-level", "WARNING", "serve",
         "--mysql-url", url, "--tables", "robots.soak", "--http-port", str(port),
         "--max-streams", "1000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("soak: rowcast serve did not become ready")


def resident_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def write_steadily(server: PrivateServer, rate: float, seconds: float, done: threading.Event) -> int:
    """Commit single-row inserts and updates at a steady rate; return how many."""
    connection = server.root_connection("robots")
    count = 0
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            while time.monotonic() - started < seconds:
                row_id = count % 500
                cursor.execute(
                    "INSERT INTO soak VALUES (%s, %s) ON DUPLICATE KEY UPDATE value = %s",
                    (row_id, count, count))
                count += 1
                pause = started + count / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
    finally:
        connection.close()
        done.set()
    return count


async def read_events(client: httpx.AsyncClient, url: str, record: ClientRecord,
                      until: float) -> None:
    """Read change ids from one connection until `until` (monotonic) or the stream ends."""
    headers = {"Last-Event-ID": record.last_id} if record.last_id else {}
    record.connections += 1
    async with client.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            # A blank line ends one event: handle it whole, then check the time.
            handle_event(fields, record)
            fields = {}
            if time.monotonic() >= until:
                return


def handle_event(fields: dict[str, str], record: ClientRecord) -> None:
    event = fields.get("event")
    if event == "change":
        record.ids.append(json.loads(fields["data"])["id"])
        record.last_id = fields["id"]
    elif event == "reset":
        raise RuntimeError(f"unexpected reset: {fields.get('data')}")
    elif event == "status" and "id" in fields and record.last_id is None:
        record.last_id = fields["id"]


async def come_and_go(url: str, record: ClientRecord, rng: random.Random,
                      writes_done: asyncio.Event, writes_end: float) -> None:
    """Connect, read a while, leave, come back and resume, until the writes end."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0)) as client:
        await asyncio.sleep(rng.uniform(0, min(5.0, max(0.0, writes_end - time.monotonic()))))
        while not writes_done.is_set():
            remaining = max(0.5, writes_end - time.monotonic())
            await read_for(client, url, record, min(rng.uniform(1, 20), remaining))
            await asyncio.sleep(rng.uniform(0, 3))
        # One last connection collects everything up to the end of the writes.
        await read_for(client, url, record, 3.0)


async def read_for(client: httpx.AsyncClient, url: str, record: ClientRecord,
                   seconds: float) -> None:
    """Stay connected for about `seconds`, even when no event arrives meanwhile."""
    try:
        await asyncio.wait_for(
            read_events(client, url, record, time.monotonic() + seconds), seconds + 1)
    except asyncio.TimeoutError:
        return
    except httpx.HTTPError:
        # A refused or broken connection is one more way to leave; the next
        # connection resumes after the last id like any other.
        record.failures += 1


async def read_reference(url: str, record: ClientRecord, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client:
        task = asyncio.create_task(read_events(client, url, record, float("inf")))
        await stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def compare(reference: list[str], received: list[str]) -> tuple[int, int]:
    """Return (lost, duplicated) of a client's ids against the reference order."""
    if not received:
        return 0, 0
    duplicated = len(received) - len(set(received))
    position = {event_id: index for index, event_id in enumerate(reference)}
    first = min(position.get(event_id, len(reference)) for event_id in received)
    last = max(position.get(event_id, -1) for event_id in received)
    expected = set(reference[first:last + 1])
    lost = len(expected - set(received))
    return lost, duplicated


async def run(arguments: argparse.Namespace, url: str, server: PrivateServer) -> dict[str, int]:
    rng = random.Random(arguments.seed)
    reference = ClientRecord()
    stop_reference = asyncio.Event()
    reference_task = asyncio.create_task(read_reference(url, reference, stop_reference))
    await asyncio.sleep(1)

    writes_done_thread = threading.Event()
    writes_done = asyncio.Event()
    writer = asyncio.create_task(asyncio.to_thread(
        write_steadily, server, arguments.rate, arguments.minutes * 60, writes_done_thread))
    writes_end = time.monotonic() + arguments.minutes * 60
    records = [ClientRecord() for _ in range(arguments.clients)]
    clients = [asyncio.create_task(come_and_go(url, record, random.Random(rng.random()),
                                               writes_done, writes_end))
               for record in records]
    written = await writer
    writes_done.set()
    await asyncio.wait_for(asyncio.gather(*clients), DRAIN_TIMEOUT_S)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while len(reference.ids) < written and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    stop_reference.set()
    await reference_task

    lost = duplicated = sent = 0
    for record in records:
        client_lost, client_duplicated = compare(reference.ids, record.ids)
        lost += client_lost
        duplicated += client_duplicated
        sent += len(record.ids)
    return {
        "written": written, "reference_received": len(reference.ids), "events_sent": sent,
        "events_lost": lost + max(0, written - len(reference.ids)),
        "duplicates": duplicated + len(reference.ids) - len(set(reference.ids)),
        "connections": sum(record.connections for record in records),
        "connection_failures": sum(record.failures for record in records),
    }


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="rowcast-soak-") as folder:
        server = start_database(Path(folder) / "db")
        port = free_port()
        process = start_rowcast(server, port)
        try:
            memory_start = resident_kb(process.pid)
            results = asyncio.run(run(arguments, f"http://127.0.0.1:{port}/events", server))
            memory_end = resident_kb(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            server.stop()
    print(f"soak: {arguments.minutes:g} min, {arguments.clients} clients, "
          f"{arguments.rate:g} changes/s")
    for name, value in results.items():
        print(f"  {name:<20} {value}")
    print(f"  {'memory_start_kb':<20} {memory_start}")
    print(f"  {'memory_end_kb':<20} {memory_end}")
    ok = results["events_lost"] == 0 and results["duplicates"] == 0
    print("soak: passed" if ok else "soak: FAILED (events lost or duplicated)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
