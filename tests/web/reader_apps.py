"""Serve apps whose reader settings a test chooses: excluded tables and columns, partial images."""

from __future__ import annotations

from typing import Any

from servers import RunningApp, start_app

from cdc.connection import ConnectionSettings
from cdc.tables import TableFilter


def start_reader_app(
    connection: ConnectionSettings, tables: TableFilter, **reader_options: Any
) -> RunningApp:
    """Serve a new app on a free port whose ReaderSettings get reader_options."""
    return start_app(connection, tables, reader_options=reader_options)
