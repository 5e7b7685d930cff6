"""Connection settings parsed from a mysql:// URL, with the password kept out of text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pymysql

from cdc.errors import ConfigurationError

DEFAULT_PORT = 3306
CONNECT_TIMEOUT_S = 10
# Server error codes of a failed login, the same on MySQL and MariaDB.
ER_DBACCESS_DENIED_ERROR = 1044
ER_ACCESS_DENIED_ERROR = 1045
ER_BAD_DB_ERROR = 1049


@dataclass(frozen=True)
class ConnectionSettings:
    """Host, port, account and database; `repr` and `masked_url` never show the password."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str | None = None

    @classmethod
    def from_url(cls, url: str) -> ConnectionSettings:
        """Parse `mysql://USER:PASSWORD@HOST:PORT/DATABASE`; the database is optional."""
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb"):
            raise ConfigurationError(
                f"Invalid database URL {mask_url(url)!r}: expected the form "
                "mysql://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as error:
            raise ConfigurationError(
                f"Invalid port in database URL {mask_url(url)!r}: {error}. "
                "Use a number from 1 to 65535."
            ) from None
        if not parts.hostname:
            raise ConfigurationError(
                f"Missing host in database URL {mask_url(url)!r}: expected the form "
                "mysql://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        if not parts.username:
            raise ConfigurationError(
                f"Missing user in database URL {mask_url(url)!r}: expected the form "
                "mysql://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        database = unquote(parts.path.lstrip("/")) or None
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            database=database,
        )

    def masked_url(self) -> str:
        """Return the URL with the password replaced by `***`."""
        secret = ":***" if self.password else ""
        database = f"/{quote(self.database)}" if self.database else ""
        return f"mysql://{quote(self.user)}{secret}@{self.host}:{self.port}{database}"

    def url(self) -> str:
        """Return the full URL, password included, for showing to the user once."""
        secret = f":{quote(self.password, safe='')}" if self.password else ""
        database = f"/{quote(self.database)}" if self.database else ""
        return f"mysql://{quote(self.user)}{secret}@{self.host}:{self.port}{database}"

    def pymysql_kwargs(self) -> dict[str, Any]:
        """Return keyword arguments for `pymysql.connect`."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "charset": "utf8mb4",
            "connect_timeout": CONNECT_TIMEOUT_S,
        }

    def connect(self, **overrides: Any) -> pymysql.Connection:
        """Open a pymysql connection; raise ConfigurationError when it fails."""
        kwargs = self.pymysql_kwargs() | overrides
        try:
            return pymysql.connect(**kwargs)
        except pymysql.err.OperationalError as error:
            raise ConfigurationError(
                f"Connecting to {self.masked_url()} failed: {error.args[-1]}. "
                f"{self._connect_hint(error.args[0])}"
            ) from error

    def _connect_hint(self, code: object) -> str:
        """Return what to check for a connection error, by server error code."""
        if code == ER_BAD_DB_ERROR:
            return (f"The database {self.database!r} does not exist on that server: create it, "
                    "or name an existing one at the end of the URL (SHOW DATABASES lists them).")
        if code == ER_DBACCESS_DENIED_ERROR:
            # The server gives this error for a missing database too, unless
            # the user may see every database.
            return (f"Either the database {self.database!r} does not exist, or the user "
                    f"{self.user!r} may not use it: check the name at the end of the URL "
                    "(SHOW DATABASES lists the ones this user can see), or grant access.")
        if code == ER_ACCESS_DENIED_ERROR:
            return "Check the user name and password in the URL."
        return ("Check that the server runs, the host and port are right, and the "
                "user and password are valid.")


def mask_url(url: str) -> str:
    """Hide the password of a URL that may not parse."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
