"""Queries about the source server: flavour, variables and binlog coordinates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pymysql

from cdc.errors import ServerMisconfigured
from cdc.position import NO_SOURCE, BinlogPosition

_SYNTAX_ERROR = 1064


@dataclass(frozen=True)
class ServerInfo:
    """Identity of the source server."""

    version: str
    server_id: int

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.version.lower()


def server_info(connection: pymysql.Connection) -> ServerInfo:
    """Read the version string and server id."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@GLOBAL.server_id")
        version, server_id = cursor.fetchone()
    return ServerInfo(str(version), int(server_id))


def global_variables(connection: pymysql.Connection, names: list[str]) -> dict[str, str | None]:
    """Read global variables by name; a name the server does not know maps to None."""
    values: dict[str, str | None] = dict.fromkeys(names)
    with connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL VARIABLES")
        for name, value in cursor.fetchall():
            if name in values:
                values[name] = str(value)
    return values


def server_fingerprint(connection: pymysql.Connection) -> str:
    """Return 8 hex digits that identify the server and stay the same across restarts.

    MySQL has a persistent server_uuid. MariaDB has none, so its fingerprint
    comes from the server id, the data folder and the binlog basename.
    """
    names = ["server_uuid", "server_id", "datadir", "log_bin_basename"]
    values = global_variables(connection, names)
    identity = values["server_uuid"] or "|".join(str(values[name]) for name in names[1:])
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


def current_position(connection: pymysql.Connection, source: str = NO_SOURCE) -> BinlogPosition:
    """Return the end of the binlog: where the next transaction will be written."""
    row = None
    with connection.cursor() as cursor:
        # MySQL 8.4 removed SHOW MASTER STATUS in favour of SHOW BINARY LOG STATUS,
        # which MariaDB does not know.
        try:
            cursor.execute("SHOW MASTER STATUS")
        except pymysql.err.ProgrammingError as error:
            if error.args[0] != _SYNTAX_ERROR:
                raise
            cursor.execute("SHOW BINARY LOG STATUS")
        row = cursor.fetchone()
    if not row:
        raise ServerMisconfigured(
            [
                "The binary log is off (SHOW MASTER STATUS returned no row). Add "
                "`log_bin = binlog` under [mysqld] in the server's option file, as "
                "mysql-conf/rowcast.cnf does, and restart the server."
            ]
        )
    return BinlogPosition.from_file(str(row[0]), int(row[1]), source)


def binlog_files(connection: pymysql.Connection) -> list[str]:
    """List the binlog files the server still has, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW BINARY LOGS")
        return [str(row[0]) for row in cursor.fetchall()]
