"""REST snapshots: GET /api/tasks and GET /api/tables/{db}.{table}."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cdc.errors import CdcError, TableNotFound
from cdc.snapshot import Snapshot
from web.state import AppState, app_state

logger = logging.getLogger(__name__)


async def get_tasks(request: Request) -> Response:
    """Return the task rows and the id to subscribe after."""
    state = app_state(request.app)
    db, table = state.settings.tasks_table
    snapshot = await _take(state, db, table)
    if isinstance(snapshot, Response):
        return snapshot
    return JSONResponse({"tasks": snapshot.rows, "last_event_id": str(snapshot.last_id)})


async def get_table(request: Request) -> Response:
    """Return the rows, columns and key of any watched table, and the id to subscribe after."""
    state = app_state(request.app)
    name = request.path_params["name"]
    db, dot, table = name.partition(".")
    if not dot or not db or not table:
        return JSONResponse(
            {"error": "invalid_parameter", "parameter": "table", "value": name,
             "message": f"Invalid table {name!r}: expected db.table, for example robots.task"},
            status_code=400,
        )
    snapshot = await _take(state, db, table)
    if isinstance(snapshot, Response):
        return snapshot
    return JSONResponse(
        {"db": snapshot.db, "table": snapshot.table, "columns": snapshot.columns,
         "key": snapshot.key_columns, "rows": snapshot.rows,
         "last_event_id": str(snapshot.last_id)}
    )


async def _take(state: AppState, db: str, table: str) -> Snapshot | Response:
    watched = state.settings.stream.reader.tables
    if not watched.matches(db, table):
        return JSONResponse(
            {"error": "not_found", "parameter": "table", "value": f"{db}.{table}",
             "message": f"Table {db}.{table} is not watched by this server. "
                        f"Watched tables: {watched}."},
            status_code=404,
        )
    try:
        return await state.stream.snapshot(db, table)
    except TableNotFound as error:
        return JSONResponse(
            {"error": "not_found", "parameter": "table", "value": f"{db}.{table}",
             "message": str(error)},
            status_code=404,
        )
    except CdcError as error:
        logger.warning("snapshot failed table=%s.%s error=%s", db, table, error)
        return JSONResponse({"error": "snapshot_failed", "message": str(error)}, status_code=503)
