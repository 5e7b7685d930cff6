"""The demo database: a private server loaded from sql/, or a server the user names."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import pymysql

from cdc.connection import ConnectionSettings
from cdc.errors import ConfigurationError
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE, SEED_FILE
from rowcast.private_server import PrivateServer, PrivateServerError, find_server_binary, free_port
from scheduler.store import is_missing_table, missing_privileges

logger = logging.getLogger(__name__)

# Passwords of the demo accounts created by sql/grants.sql.
READER = ("rowcast_reader", "reader-demo-pw")
SCHEDULER = ("rowcast_scheduler", "scheduler-demo-pw")

NO_SERVER_MESSAGE = (
    "no MySQL or MariaDB server binary (mysqld or mariadbd) was found on PATH, so the "
    "demo cannot start a private server. Install one (Debian/Ubuntu: "
    "sudo apt-get install mariadb-server; macOS: brew install mariadb), or run "
    "`docker compose up`, or point the demo at a server you run with "
    "--mysql-url mysql://USER:PASSWORD@HOST:PORT/robots."
)


@dataclass
class DemoDatabase:
    """Accounts for the reader and the scheduler, and the private server if one was started."""

    reader: ConnectionSettings
    scheduler: ConnectionSettings
    server: PrivateServer | None = None

    def close(self) -> None:
        """Stop the private server, if the demo started one."""
        if self.server is not None:
            self.server.stop()


def prepare_database(arguments: argparse.Namespace) -> DemoDatabase:
    """Use --mysql-url as it is, or start a private server and load sql/ into it."""
    if arguments.mysql_url:
        settings = ConnectionSettings.from_url(arguments.mysql_url)
        return DemoDatabase(reader=settings, scheduler=settings)

    binary = find_server_binary()
    if binary is None:
        raise PrivateServerError(NO_SERVER_MESSAGE)
    port = arguments.mysql_port or free_port()
    server = PrivateServer(Path(arguments.data_dir), port, binary, stop_with_parent=True)
    print(f"rowcast: starting a private {binary.name} on 127.0.0.1:{port}, data in {server.data_dir}")
    server.start()
    try:
        server.load_sql(SCHEMA_FILE, GRANTS_FILE, SEED_FILE)
    except Exception:
        server.stop()
        raise
    reader = ConnectionSettings("127.0.0.1", port, READER[0], READER[1], "robots")
    scheduler = replace(reader, user=SCHEDULER[0], password=SCHEDULER[1])
    return DemoDatabase(reader=reader, scheduler=scheduler, server=server)


def require_scheduler_account(settings: ConnectionSettings) -> None:
    """Raise ConfigurationError when the scheduler's account cannot read and change robots.task.

    Without this check a demo against a read-only account would start and
    show a table that never changes.
    """
    connection = settings.connect()
    try:
        missing = missing_privileges(connection)
    except pymysql.err.MySQLError as error:
        if is_missing_table(error):
            raise ConfigurationError(
                f"The table robots.task does not exist on {settings.masked_url()}, and the "
                "demo's scheduler works on it: load sql/schema.sql and sql/seed.sql into that "
                "server, or use `rowcast serve` to stream your own tables.") from None
        raise ConfigurationError(
            f"Checking the scheduler's privileges on {settings.masked_url()} failed: "
            f"{error.args[-1] if error.args else error}. Check that the server is up and "
            "try again.") from error
    finally:
        connection.close()
    if missing:
        raise ConfigurationError(
            f"The account {settings.user!r} on {settings.masked_url()} lacks "
            f"{', '.join(missing)} on robots.task, which the demo's scheduler needs. "
            f"Run GRANT SELECT, INSERT, UPDATE, DELETE ON robots.task TO the account "
            "(sql/grants.sql has the full set), or use `rowcast serve` to stream without "
            "the scheduler.")


# The hand edit the welcome suggests. The demo issues a SCHEDULED task every
# few seconds, so it finds a row to change, while a fixed Task_ID is deleted
# minutes after that task finishes.
EDIT_STATEMENT = ("UPDATE task SET Status='REJECTED' WHERE Status='SCHEDULED' "
                  "ORDER BY Task_ID DESC LIMIT 1")


def print_welcome(host: str, port: int, database: DemoDatabase) -> None:
    """Print where to look, how to tail, and how to edit a row by hand."""
    base = f"http://{host}:{port}"
    editor = database.scheduler
    print(
        "\n"
        f"  Live page:      {base}/\n"
        f"  Tail changes:   curl -N {base}/events\n"
        f"  Database URL:   {editor.url()}\n"
        f"  Edit a row:     mysql -h {editor.host} -P {editor.port} -u {editor.user} "
        f"-p{editor.password} robots -e \"{EDIT_STATEMENT}\"\n"
        "                  (rejects the newest SCHEDULED task; any row the page shows works too)\n"
        "  Stop:           Ctrl-C\n",
        flush=True,
    )
