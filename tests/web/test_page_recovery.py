"""The page rides out a streamer restart, and reloads its snapshot after a reset."""

from __future__ import annotations


import pymysql
from playwright.sync_api import Page, expect

from cdc.connection import ConnectionSettings
from rowcast.private_server import free_port
from browser_support import needs_chromium
from servers import purge_older_binlogs, start_app

pytestmark = needs_chromium


def table_rows(root: pymysql.Connection) -> dict[str, str]:
    with root.cursor() as cursor:
        cursor.execute("SELECT Task_ID, Task_Name FROM robots.task")
        return {str(task_id): name for task_id, name in cursor.fetchall()}


def page_rows(page: Page) -> dict[str, str]:
    rows = page.eval_on_selector_all(
        "#task-rows tr[data-task-id]",
        "rows => rows.map(r => [r.dataset.taskId,"
        " r.querySelector('td[data-column=\"Task_Name\"]').textContent])",
    )
    return {task_id: name for task_id, name in rows}


def test_streamer_restart_shows_reconnecting_then_live(
    page: Page, reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> None:
    port = free_port()
    app = start_app(reader_settings, port=port)
    page.goto(f"{app.base_url}/")
    expect(page.locator("body")).to_have_attribute("data-state", "live")
    page.evaluate("window.loadMarker = 'kept'")
    app.stop()
    expect(page.locator("body")).to_have_attribute("data-state", "reconnecting")

    with seeded_tasks.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Task_Name = 'changed while down' WHERE Task_ID = 4")
        cursor.execute("INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Status) "
                       "VALUES (31, 2, 'added while down', 'SCHEDULED')")
        cursor.execute("DELETE FROM robots.task WHERE Task_ID = 6")
    app = start_app(reader_settings, port=port)
    try:
        expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=30_000)
        expect(page.locator('tr[data-task-id="31"]')).to_have_count(1)
        expect(page.locator('tr[data-task-id="6"]')).to_have_count(0)
        assert page.evaluate("window.loadMarker") == "kept"
        assert page_rows(page) == table_rows(seeded_tasks)
    finally:
        app.stop()


def test_reset_after_purge_reloads_snapshot(
    page: Page, reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> None:
    port = free_port()
    app = start_app(reader_settings, port=port)
    page.goto(f"{app.base_url}/")
    expect(page.locator("body")).to_have_attribute("data-state", "live")
    app.stop()
    expect(page.locator("body")).to_have_attribute("data-state", "reconnecting")

    with seeded_tasks.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Task_Name = 'renamed before purge' WHERE Task_ID = 2")
    purge_older_binlogs(seeded_tasks)
    with seeded_tasks.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Task_Name = 'renamed after purge' WHERE Task_ID = 3")
    app = start_app(reader_settings, port=port)
    try:
        expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=30_000)
        expect(page.locator("#status-message")).to_contain_text("purged")
        name = page.locator('tr[data-task-id="2"] td[data-column="Task_Name"]')
        expect(name).to_have_text("renamed before purge")
        assert page_rows(page) == table_rows(seeded_tasks)
    finally:
        app.stop()
