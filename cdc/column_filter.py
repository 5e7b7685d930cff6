"""Excluded columns: `db.table.column` names never sent in any change event or snapshot."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pymysql

from cdc.errors import ConfigurationError
from cdc.result_columns import column_types
from cdc.snapshot import primary_key_columns

# Unquoted MySQL identifiers, as in cdc/tables.py.
_NAME = r"[A-Za-z0-9_$]+"
_COLUMN = re.compile(rf"^(?P<db>{_NAME})\.(?P<table>{_NAME})\.(?P<column>{_NAME})$")
_NO_SUCH_TABLE = 1146


@dataclass(frozen=True)
class ColumnFilter:
    """Columns to leave out of every image, key and snapshot, as (db, table, column) names.

    Column names compare case-insensitively, as MySQL compares them; database
    and table names compare exactly, as on a server with lower_case_table_names=0.
    """

    excluded: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> ColumnFilter:
        """Parse a comma-separated list such as `robots.accounts.password_hash`."""
        names = []
        for part in (part.strip() for part in text.split(",")):
            if not part:
                continue
            match = _COLUMN.match(part)
            if match is None:
                raise ConfigurationError(
                    f"Invalid column name {part!r}: expected db.table.column "
                    "(letters, digits, _ and $ only), for example robots.accounts.password_hash"
                )
            names.append((match["db"], match["table"], match["column"]))
        return cls(tuple(names))

    def excluded_in(self, db: str, table: str) -> frozenset[str]:
        """Return the lower-case names of the excluded columns of db.table."""
        return frozenset(
            column.lower() for (column_db, column_table, column) in self.excluded
            if (column_db, column_table) == (db, table)
        )

    def __str__(self) -> str:
        return ",".join(".".join(name) for name in self.excluded)


def require_excludable(connect: Callable[[], pymysql.Connection], columns: ColumnFilter) -> None:
    """Connect and run check_excludable, unless no column is excluded."""
    if not columns.excluded:
        return
    link = connect()
    try:
        check_excludable(link, columns)
    finally:
        link.close()


def check_excludable(link: pymysql.Connection, columns: ColumnFilter) -> None:
    """Raise ConfigurationError for an excluded column that is missing or part of a primary key.

    A misspelt name would let the column it meant through, and change events
    need every primary key column to identify their row.
    """
    for db, table, column in columns.excluded:
        qualified = f"{db}.{table}.{column}"
        try:
            names = {name.lower() for name, _ in column_types(link, db, table)}
        except pymysql.err.ProgrammingError as error:
            if error.args[0] != _NO_SUCH_TABLE:
                raise
            raise ConfigurationError(
                f"Invalid --exclude-columns entry {qualified}: table {db}.{table} does not "
                "exist. Correct the name, or create the table before starting rowcast."
            ) from None
        if column.lower() not in names:
            raise ConfigurationError(
                f"Invalid --exclude-columns entry {qualified}: {db}.{table} has no column "
                f"{column}. Correct the name so that the column is really left out."
            )
        key = [name.lower() for name in primary_key_columns(link, db, table)]
        if column.lower() in key:
            raise ConfigurationError(
                f"Cannot exclude {qualified}: it is part of the primary key of {db}.{table}, "
                "and change events need the whole key to identify their row. Remove it from "
                "--exclude-columns, or exclude the table with --exclude-tables."
            )
