"""The live page in headless Chromium: seeded rows, hand-typed edits, values shown as text."""

from __future__ import annotations

from pathlib import Path

import pymysql
from playwright.sync_api import Page, expect

from browser_support import needs_chromium
from servers import RunningApp

OUTPUT_DIR = Path(__file__).resolve().parents[2] / "test-output"

pytestmark = needs_chromium


def open_live(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-state", "live")


def test_page_shows_seeded_tasks(app: RunningApp, page: Page) -> None:
    open_live(page, app.base_url + "/")
    rows = page.locator("#task-rows tr[data-task-id]")
    expect(rows).to_have_count(10)
    first = page.locator('tr[data-task-id="1"] td[data-column="Task_Name"]')
    expect(first).to_have_text("Pick crate A7")
    expect(page.locator('tr[data-task-id="3"] td[data-column="Status"]')).to_have_text("ACTIVE")


def test_hand_typed_sql_appears_on_page(app: RunningApp, page: Page, root: pymysql.Connection) -> None:
    open_live(page, app.base_url + "/")
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3")
    status = page.locator('tr[data-task-id="3"] td[data-column="Status"]')
    expect(status).to_have_text("REJECTED")
    expect(status).to_have_attribute("title", "was: ACTIVE")

    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Status) "
                       "VALUES (99, 4, 'Typed by hand', 'SCHEDULED')")
    expect(page.locator('tr[data-task-id="99"] td[data-column="Task_Name"]')).to_have_text("Typed by hand")

    with root.cursor() as cursor:
        cursor.execute("DELETE FROM robots.task WHERE Task_ID = 5")
    expect(page.locator('tr[data-task-id="5"]')).to_have_count(0)
    expect(page.locator("#task-rows tr[data-task-id]")).to_have_count(10)


def test_markup_in_values_shows_as_text(app: RunningApp, page: Page, root: pymysql.Connection) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    markup = "<img src=x onerror=alert(1)>"
    open_live(page, app.base_url + "/")
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Task_Name = %s WHERE Task_ID = 2", (markup,))
        cursor.execute("INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Status) "
                       "VALUES (98, 1, %s, 'SCHEDULED')", (markup,))
    expect(page.locator('tr[data-task-id="2"] td[data-column="Task_Name"]')).to_have_text(markup)
    expect(page.locator('tr[data-task-id="98"] td[data-column="Task_Name"]')).to_have_text(markup)
    page.reload()
    expect(page.locator('tr[data-task-id="98"] td[data-column="Task_Name"]')).to_have_text(markup)
    assert page.locator("#tasks img").count() == 0
    assert dialogs == []


def test_filtered_url_shows_matching_rows(app: RunningApp, page: Page, root: pymysql.Connection) -> None:
    open_live(page, app.base_url + "/?robot=1")
    expect(page.locator("#task-rows tr[data-task-id]:visible")).to_have_count(2)
    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Status) "
                       "VALUES (97, 1, 'Robot one again', 'SCHEDULED'), (96, 2, 'Robot two', 'SCHEDULED')")
    expect(page.locator("#task-rows tr[data-task-id]:visible")).to_have_count(3)
    expect(page.locator('tr[data-task-id="96"]:visible')).to_have_count(0)


def test_screenshot_under_changes(app: RunningApp, page: Page, root: pymysql.Connection) -> None:
    open_live(page, app.base_url + "/")
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'COMPLETED' WHERE Task_ID = 4")
        cursor.execute("INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Issued_Time, "
                       "Scheduled_Time, Status) VALUES (11, 2, 'Load truck 7', '09:00:00', "
                       "'09:00:30', 'SCHEDULED')")
    expect(page.locator('tr[data-task-id="11"]')).to_have_count(1)
    OUTPUT_DIR.mkdir(exist_ok=True)
    path = OUTPUT_DIR / "live-page.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
