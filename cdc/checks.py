"""Check that the source server has every setting and privilege the reader needs.

`rowcast check` prints these results, and the reader refuses to start with
the same messages when any of them fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pymysql

from cdc.errors import ServerMisconfigured
from cdc.server import ServerInfo, global_variables, server_info
from cdc.tables import TableFilter

CONFIG_HINT = "under [mysqld] in the server's option file (as in mysql-conf/rowcast.cnf)"

_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON (?P<target>\S+) TO ", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    """One checked setting: its current value and, when wrong, the fix.

    An informational result shows a value for reference and never fails.
    """

    name: str
    current: str
    required: str
    fix: str | None = None
    informational: bool = False
    # Set when the value is accepted with a drawback the reader should know about.
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.fix is None

    def describe(self) -> str:
        """Return one readable line, with the fix when the check failed."""
        if self.informational:
            return f"info  {self.name} = {self.current}"
        if self.warning is not None:
            return f"warn  {self.name} = {self.current}: {self.warning}"
        if self.ok:
            return f"ok    {self.name} = {self.current}"
        return f"FAIL  {self.name} = {self.current} (required: {self.required}). Fix: {self.fix}"


def _dynamic_fix(name: str, value: str) -> str:
    return (
        f"run SET GLOBAL {name} = '{value}'; and add `{name} = {value}` {CONFIG_HINT} "
        "so that it survives a restart. Sessions opened before SET GLOBAL keep the old value."
    )


def _check_variable(
    variables: dict[str, str | None], name: str, required: str, fix: str
) -> CheckResult:
    current = variables.get(name)
    if current is None:
        return CheckResult(
            name, "unknown", required,
            f"this server has no {name} variable. Use MySQL 8.0+ or MariaDB 10.5+.",
        )
    if current.upper() != required.upper():
        return CheckResult(name, current, required, fix)
    return CheckResult(name, current, required)


def check_settings(
    variables: dict[str, str | None], reader_server_id: int, allow_partial_images: bool = False
) -> list[CheckResult]:
    """Check binlog variables read with `global_variables`."""
    results = [
        _check_variable(
            variables, "log_bin", "ON",
            f"add `log_bin = binlog` {CONFIG_HINT} and restart the server; "
            "log_bin cannot be changed while the server runs.",
        ),
        _check_variable(variables, "binlog_format", "ROW", _dynamic_fix("binlog_format", "ROW")),
        _check_row_image(variables, allow_partial_images),
        _check_variable(
            variables, "binlog_row_metadata", "FULL", _dynamic_fix("binlog_row_metadata", "FULL")
        ),
        _check_server_id(variables, reader_server_id),
    ]
    results.extend(_check_compression(variables))
    results.extend(_check_row_value_options(variables))
    results.extend(_gtid_info(variables))
    return results


def _check_row_value_options(variables: dict[str, str | None]) -> list[CheckResult]:
    # MySQL only: PARTIAL_JSON logs a JSON update as a diff, without the whole document.
    current = variables.get("binlog_row_value_options")
    if current is None or current == "":
        return []
    return [CheckResult(
        "binlog_row_value_options", current, "''",
        "run SET GLOBAL binlog_row_value_options = ''; and remove the setting from the "
        "server's option file, so that JSON updates are logged as whole documents.",
    )]


def _gtid_info(variables: dict[str, str | None]) -> list[CheckResult]:
    # The reader follows file and offset positions, and reads GTIDs where the
    # server writes them, so any GTID setting works. MySQL has gtid_mode;
    # MariaDB always writes GTIDs and has gtid_strict_mode and gtid_current_pos.
    return [
        CheckResult(name, variables[name] or "(empty)", "any value", informational=True)
        for name in ("gtid_mode", "gtid_strict_mode", "gtid_current_pos")
        if variables.get(name) is not None
    ]


def _check_row_image(variables: dict[str, str | None], allow_partial_images: bool) -> CheckResult:
    result = _check_variable(
        variables, "binlog_row_image", "FULL", _dynamic_fix("binlog_row_image", "FULL")
    )
    if allow_partial_images and result.current.upper() in ("MINIMAL", "NOBLOB"):
        return CheckResult(
            result.name, result.current, "FULL, or MINIMAL or NOBLOB with --allow-partial-images",
            warning="accepted with --allow-partial-images; change events leave out the columns "
                    "the server did not log and list them in `missing`",
        )
    return result


def _check_server_id(variables: dict[str, str | None], reader_server_id: int) -> CheckResult:
    current = variables.get("server_id") or "0"
    if current == "0":
        return CheckResult(
            "server_id", current, "a non-zero id",
            f"add `server_id = 1` {CONFIG_HINT} and restart the server.",
        )
    if current == str(reader_server_id):
        return CheckResult(
            "server_id", current, f"an id other than the reader's {reader_server_id}",
            "start rowcast with another --server-id; a replica must not share the "
            "source server's id.",
        )
    return CheckResult("server_id", current, "a non-zero id")


def _check_compression(variables: dict[str, str | None]) -> list[CheckResult]:
    results = []
    for name in ("log_bin_compress", "binlog_transaction_compression"):
        if variables.get(name) is not None:
            results.append(
                _check_variable(variables, name, "OFF", _dynamic_fix(name, "OFF"))
            )
    return results


def check_privileges(grants: list[str], account: str, tables: TableFilter) -> list[CheckResult]:
    """Check SHOW GRANTS output for replication rights and SELECT on the watched tables."""
    granted = _parse_grants(grants)

    def has(privilege: str, db: str = "*", table: str = "*") -> bool:
        for target in ((db, table), (db, "*"), ("*", "*")):
            privileges = granted.get(target, set())
            if privilege in privileges or "ALL PRIVILEGES" in privileges:
                return True
        return False

    results = [
        _privilege_result("REPLICATION SLAVE", has("REPLICATION SLAVE"), account, "*.*"),
        _privilege_result(
            "REPLICATION CLIENT",
            has("REPLICATION CLIENT") or has("BINLOG MONITOR") or has("SUPER"),
            account, "*.*",
        ),
    ]
    for pattern in tables.patterns:
        db, table = pattern.split(".", 1)
        results.append(_privilege_result(f"SELECT on {pattern}", has("SELECT", db, table), account,
                                         f"{db}.{table}", privilege="SELECT"))
    return results


def _privilege_result(
    name: str, ok: bool, account: str, target: str, privilege: str | None = None
) -> CheckResult:
    if ok:
        return CheckResult(f"privilege {name}", "granted", "granted")
    statement = f"GRANT {privilege or name} ON {target} TO {account};"
    return CheckResult(f"privilege {name}", "missing", "granted", f"run {statement}")


def _parse_grants(grants: list[str]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for line in grants:
        match = _GRANT.match(line)
        if match is None:
            continue
        target = match["target"].replace("`", "")
        db, _, table = target.partition(".")
        privileges = {part.strip().upper() for part in match["privileges"].split(",")}
        granted.setdefault((db, table or "*"), set()).update(privileges)
    return granted


def run_checks(
    connection: pymysql.Connection, tables: TableFilter, reader_server_id: int,
    allow_partial_images: bool = False,
) -> tuple[ServerInfo, list[CheckResult]]:
    """Run every check over one connection; return the server info and the results."""
    info = server_info(connection)
    names = [
        "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "server_id",
        "log_bin_compress", "binlog_transaction_compression", "binlog_row_value_options",
        "gtid_mode", "gtid_strict_mode", "gtid_current_pos",
    ]
    results = check_settings(
        global_variables(connection, names), reader_server_id, allow_partial_images
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER()")
        user, _, host = str(cursor.fetchone()[0]).partition("@")
        cursor.execute("SHOW GRANTS")
        grants = [str(row[0]) for row in cursor.fetchall()]
    account = f"'{user}'@'{host}'"
    results.extend(check_privileges(grants, account, tables))
    results.extend(check_tables_exist(connection, tables))
    return info, results


def check_tables_exist(connection: pymysql.Connection, tables: TableFilter) -> list[CheckResult]:
    """Check that each table named in --tables exists, and each database of a `db.*` pattern.

    A misspelt name would otherwise pass every other check and stream nothing.
    """
    results = []
    with connection.cursor() as cursor:
        for pattern in tables.patterns:
            db, table = pattern.split(".", 1)
            if table == "*":
                cursor.execute(
                    "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db,))
                fix = (f"create the database {db}, or correct the pattern {pattern} in --tables; "
                       "SHOW DATABASES lists the databases the reader can see.")
            else:
                cursor.execute(
                    "SELECT 1 FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (db, table))
                fix = (f"correct the name {pattern} in --tables, or create the table first; "
                       f"SHOW TABLES IN {db} lists the tables the reader can see.")
            if cursor.fetchone() is None:
                results.append(CheckResult(f"table {pattern}", "not found", "exists", fix))
            else:
                results.append(CheckResult(f"table {pattern}", "exists", "exists"))
    return results


def require_ready(
    connect: Callable[[], pymysql.Connection], tables: TableFilter, reader_server_id: int,
    allow_partial_images: bool = False,
) -> ServerInfo:
    """Run every check; raise ServerMisconfigured listing each failed one with its fix."""
    connection = connect()
    try:
        info, results = run_checks(connection, tables, reader_server_id, allow_partial_images)
    finally:
        connection.close()
    failed = [result for result in results if not result.ok]
    if failed:
        raise ServerMisconfigured(
            [f"{result.name} is {result.current}, required {result.required}. Fix: {result.fix}"
             for result in failed]
        )
    return info
