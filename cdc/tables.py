"""Table filters: `db.table` names and `db.*` patterns of watched tables."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdc.errors import ConfigurationError

# Unquoted MySQL identifiers: letters, digits, _ and $ (the manual's "Schema Object Names").
_NAME = r"[A-Za-z0-9_$]+"
_PATTERN = re.compile(rf"^(?P<db>{_NAME})\.(?P<table>{_NAME}|\*)$")


@dataclass(frozen=True)
class TableFilter:
    """A set of watched tables; a pattern `db.*` matches every table of db."""

    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> TableFilter:
        """Parse a comma-separated list such as `robots.task,shop.*`."""
        patterns = tuple(part.strip() for part in text.split(",") if part.strip())
        if not patterns:
            raise ConfigurationError(
                f"Invalid table list {text!r}: name at least one table as db.table or db.*"
            )
        for pattern in patterns:
            if not _PATTERN.match(pattern):
                raise ConfigurationError(
                    f"Invalid table pattern {pattern!r}: expected db.table or db.* "
                    "(letters, digits, _ and $ only), for example robots.task"
                )
        return cls(patterns)

    def matches(self, db: str, table: str) -> bool:
        """Tell whether db.table is watched."""
        for pattern in self.patterns:
            pattern_db, pattern_table = pattern.split(".", 1)
            if pattern_db == db and pattern_table in ("*", table):
                return True
        return False

    @property
    def databases(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(pattern.split(".", 1)[0] for pattern in self.patterns))

    def __str__(self) -> str:
        return ",".join(self.patterns)
