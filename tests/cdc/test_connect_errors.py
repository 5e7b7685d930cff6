"""The message of a failed login names what to fix: the database name, the grant, or the password."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from cdc.connection import ConnectionSettings
from cdc.errors import ConfigurationError
from rowcast.private_server import PrivateServer


def connect_error(settings: ConnectionSettings) -> str:
    with pytest.raises(ConfigurationError) as caught:
        settings.connect().close()
    return str(caught.value)


@pytest.fixture
def global_reader(mysql_server: PrivateServer) -> Iterator[ConnectionSettings]:
    """Return an account that may read every database, so the server names a missing one."""
    root = mysql_server.root_connection()
    try:
        with root.cursor() as cursor:
            cursor.execute("CREATE USER 'probe'@'127.0.0.1' IDENTIFIED BY 'probe-pw'")
            cursor.execute("GRANT SELECT ON *.* TO 'probe'@'127.0.0.1'")
        yield ConnectionSettings("127.0.0.1", mysql_server.port, "probe", "probe-pw", "robots")
    finally:
        with root.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS 'probe'@'127.0.0.1'")
        root.close()


def test_missing_database_is_named(global_reader: ConnectionSettings) -> None:
    message = connect_error(dataclasses.replace(global_reader, database="no_such_db"))
    assert "The database 'no_such_db' does not exist on that server" in message
    assert "SHOW DATABASES" in message


def test_hidden_database_names_both_causes(reader_settings: ConnectionSettings) -> None:
    for database in ("no_such_db", "mysql"):
        message = connect_error(dataclasses.replace(reader_settings, database=database))
        assert f"Either the database {database!r} does not exist" in message
        assert "the user 'rowcast_reader' may not use it" in message


def test_wrong_password_points_at_credentials(reader_settings: ConnectionSettings) -> None:
    message = connect_error(dataclasses.replace(reader_settings, password="wrong-password"))
    assert "Check the user name and password in the URL." in message
    assert "wrong-password" not in message
