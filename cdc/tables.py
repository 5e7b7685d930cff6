"""Table filters: watched `db.table` names and `db.*` patterns, minus excluded ones."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdc.errors import ConfigurationError

# Unquoted MySQL identifiers: letters, digits, _ and $ (the manual's "Schema Object Names").
_NAME = r"[A-Za-z0-9_$]+"
_PATTERN = re.compile(rf"^(?P<db>{_NAME})\.(?P<table>{_NAME}|\*)$")


@dataclass(frozen=True)
class TableFilter:
    """A set of watched tables; a pattern `db.*` matches every table of db.

    A table matches when an include pattern matches it and no exclude pattern does.
    """

    patterns: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, exclude: str = "") -> TableFilter:
        """Parse comma-separated lists such as `robots.task,shop.*` to include and to exclude."""
        patterns = _split(text)
        if not patterns:
            raise ConfigurationError(
                f"Invalid table list {text!r}: name at least one table as db.table or db.*"
            )
        excluded = _split(exclude)
        for pattern in patterns + excluded:
            if not _PATTERN.match(pattern):
                raise ConfigurationError(
                    f"Invalid table pattern {pattern!r}: expected db.table or db.* "
                    "(letters, digits, _ and $ only), for example robots.task"
                )
        return cls(patterns, excluded)

    def matches(self, db: str, table: str) -> bool:
        """Tell whether db.table is watched: included and not excluded."""
        return _any_matches(self.patterns, db, table) and not _any_matches(self.excluded, db, table)

    @property
    def databases(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(pattern.split(".", 1)[0] for pattern in self.patterns))

    def __str__(self) -> str:
        included = ",".join(self.patterns)
        if not self.excluded:
            return included
        return f"{included} except {','.join(self.excluded)}"


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _any_matches(patterns: tuple[str, ...], db: str, table: str) -> bool:
    for pattern in patterns:
        pattern_db, pattern_table = pattern.split(".", 1)
        if pattern_db == db and pattern_table in ("*", table):
            return True
    return False
