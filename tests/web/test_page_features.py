"""Page features in headless Chromium: the change log, the lag indicator and the generic table view."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from playwright.sync_api import Browser, Page, expect

from browser_support import STEP_TIMEOUT_MS, needs_chromium
from cdc.connection import ConnectionSettings
from rowcast.private_server import free_port
from servers import RunningApp, start_app

OUTPUT_DIR = Path(__file__).resolve().parents[2] / "test-output"
CLOCK_TIME = re.compile(r"^\d\d:\d\d:\d\d$")
LAG_TEXT = re.compile(r"^lag (\d+\.\d) s$")
PHONE_VIEWPORT = {"width": 390, "height": 844}

pytestmark = needs_chromium


def open_live(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-state", "live")


def horizontal_overflow(page: Page) -> int:
    """Return how many pixels the whole page is wider than the viewport."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.fixture
def gadgets(root: pymysql.Connection) -> Iterator[pymysql.Connection]:
    """Create robots.gadgets with two rows, and drop it afterwards."""
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.gadgets")
        cursor.execute("CREATE TABLE robots.gadgets (id INT PRIMARY KEY, name VARCHAR(50), "
                       "price DECIMAL(8,2), tags JSON NULL)")
        cursor.execute("INSERT INTO robots.gadgets VALUES (2, 'Wrench', 7.5, '[\"tool\"]'), "
                       "(1, 'Gripper', 12.5, NULL)")
    yield root
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.gadgets")


@pytest.fixture
def gadgets_app(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection, gadgets: pymysql.Connection
) -> Iterator[RunningApp]:
    """Serve an app that watches robots.task and robots.gadgets."""
    running = start_app(reader_settings, tables="robots.task,robots.gadgets")
    yield running
    running.stop()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """Open a page with the viewport of a phone."""
    context = browser.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True)
    opened = context.new_page()
    opened.set_default_timeout(STEP_TIMEOUT_MS)
    yield opened
    context.close()


# ---- Change log ----


def test_log_shows_update_newest_first(app: RunningApp, page: Page, root: pymysql.Connection) -> None:
    open_live(page, app.base_url + "/")
    entries = page.locator("#change-log li")
    expect(page.locator("#change-log-empty")).to_be_visible()

    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3")
    expect(entries).to_have_count(1)
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Task_Name = 'Deliver parts to L3' WHERE Task_ID = 4")
    expect(entries).to_have_count(2)

    newest = entries.nth(0)
    expect(newest.locator(".log-key")).to_have_text("Task_ID=4")
    expect(newest.locator(".log-detail")).to_have_text(
        'Task_Name: "Deliver parts to L2" → "Deliver parts to L3"'
    )
    older = entries.nth(1)
    expect(older.locator(".log-op")).to_have_text("update")
    expect(older.locator(".log-key")).to_have_text("Task_ID=3")
    expect(older.locator(".log-detail")).to_have_text("Status: ACTIVE → REJECTED")
    expect(older.locator(".log-time")).to_have_text(CLOCK_TIME)
    expect(page.locator("#change-log-empty")).to_be_hidden()


def test_log_is_not_live_region(app: RunningApp, page: Page) -> None:
    open_live(page, app.base_url + "/")
    log = page.locator("#change-log")
    expect(page.locator("#change-log-heading")).to_have_text("Change log")
    assert log.evaluate("list => list.closest('[aria-live]')") is None
    assert log.evaluate("list => list.tagName") == "OL"
    expect(page.locator("#status-area")).to_have_attribute("aria-live", "polite")


def test_log_keeps_newest_hundred(app: RunningApp, page: Page, root: pymysql.Connection) -> None:
    open_live(page, app.base_url + "/")
    task_ids = range(101, 221)
    rows = ", ".join(f"({task_id}, 1, 'Bulk task {task_id}', 'SCHEDULED')" for task_id in task_ids)
    with root.cursor() as cursor:
        cursor.execute(f"INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Status) VALUES {rows}")
    expect(page.locator("#task-rows tr[data-task-id]")).to_have_count(130)

    entries = page.locator("#change-log li")
    expect(entries).to_have_count(100)
    expect(entries.first.locator(".log-key")).to_have_text("Task_ID=220")
    expect(entries.first.locator(".log-op")).to_have_text("insert")
    expect(entries.first.locator(".log-detail")).to_contain_text('Task_Name="Bulk task 220"')
    expect(entries.last.locator(".log-key")).to_have_text("Task_ID=121")

    with root.cursor() as cursor:
        cursor.execute("DELETE FROM robots.task WHERE Task_ID = 101")
    expect(entries.first.locator(".log-key")).to_have_text("Task_ID=101")
    expect(entries.first.locator(".log-op")).to_have_text("delete")
    expect(entries).to_have_count(100)
    expect(entries.last.locator(".log-key")).to_have_text("Task_ID=122")


def test_log_toggles_by_keyboard(app: RunningApp, page: Page) -> None:
    open_live(page, app.base_url + "/")
    toggle = page.locator("#change-log-toggle")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#change-log-body")).to_be_hidden()
    page.keyboard.press("Space")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#change-log-body")).to_be_visible()


# ---- Lag indicator and times ----


def test_lag_shows_seconds_after_change(app: RunningApp, page: Page, root: pymysql.Connection) -> None:
    open_live(page, app.base_url + "/")
    lag = page.locator("#lag")
    expect(lag).to_have_text("idle")

    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'COMPLETED' WHERE Task_ID = 4")
    expect(lag).to_have_text(LAG_TEXT)
    expect(lag).to_have_attribute("data-state", "flowing")
    match = LAG_TEXT.match(lag.inner_text())
    assert match is not None
    # ts_ms has whole seconds, so a change shown at once reads between 0 and about 1 s.
    # The bound leaves 2 s for a slow machine.
    assert float(match.group(1)) < 3.0
    expect(page.locator("#last-change time")).to_have_text(CLOCK_TIME)

    expect(lag).to_have_text("idle", timeout=15_000)


# ---- Generic table view ----


def test_generic_view_shows_rows(gadgets_app: RunningApp, page: Page) -> None:
    open_live(page, gadgets_app.base_url + "/table/robots.gadgets")
    headers = page.locator("#column-headers th")
    expect(headers).to_have_text(["id", "name", "price", "tags"])
    expect(page.locator("#column-headers th.key-column")).to_have_text(["id"])
    expect(page).to_have_title("rowcast — robots.gadgets")

    rows = page.locator("#rows tr[data-key]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-key", "[1]")
    expect(page.locator('tr[data-key="[1]"] td[data-column="price"]')).to_have_text("12.50")
    expect(page.locator('tr[data-key="[1]"] td[data-column="tags"]')).to_have_text("NULL")
    expect(page.locator('tr[data-key="[2]"] td[data-column="tags"]')).to_have_text('["tool"]')
    expect(page.locator("#row-count")).to_have_text("2 rows")


def test_generic_view_applies_sql_changes(
    gadgets_app: RunningApp, page: Page, gadgets: pymysql.Connection
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_live(page, gadgets_app.base_url + "/table/robots.gadgets")

    with gadgets.cursor() as cursor:
        cursor.execute("INSERT INTO robots.gadgets VALUES (3, '<b>x</b>', 1.25, '{\"size\": 3}')")
    inserted = page.locator('tr[data-key="[3]"]')
    expect(inserted.locator('td[data-column="name"]')).to_have_text("<b>x</b>")
    expect(inserted).to_have_class(re.compile(r"\binserted\b"))
    expect(page.locator("#rows-table b")).to_have_count(0)

    with gadgets.cursor() as cursor:
        cursor.execute("UPDATE robots.gadgets SET price = 13 WHERE id = 1")
    price = page.locator('tr[data-key="[1]"] td[data-column="price"]')
    expect(price).to_have_text("13.00")
    expect(price).to_have_attribute("title", "was: 12.50")
    expect(price).to_have_class(re.compile(r"\bchanged\b"))
    newest = page.locator("#change-log li").first
    expect(newest.locator(".log-detail")).to_have_text("price: 12.50 → 13.00")

    with gadgets.cursor() as cursor:
        cursor.execute("DELETE FROM robots.gadgets WHERE id = 2")
    expect(page.locator('tr[data-key="[2]"]')).to_have_count(0)
    expect(page.locator("#rows tr[data-key]")).to_have_count(2)
    expect(page.locator("#row-count")).to_have_text("2 rows")
    assert dialogs == []


def test_generic_view_applies_transaction_together(
    gadgets_app: RunningApp, page: Page, gadgets: pymysql.Connection
) -> None:
    open_live(page, gadgets_app.base_url + "/table/robots.gadgets")
    gadgets.begin()
    with gadgets.cursor() as cursor:
        cursor.execute("INSERT INTO robots.gadgets VALUES (4, 'Sensor', 3, NULL)")
        cursor.execute("UPDATE robots.gadgets SET name = 'Big wrench' WHERE id = 2")
    gadgets.commit()
    expect(page.locator("#last-change")).to_contain_text("(2 changes in one transaction)")
    expect(page.locator('tr[data-key="[4]"] td[data-column="name"]')).to_have_text("Sensor")
    expect(page.locator('tr[data-key="[2]"] td[data-column="name"]')).to_have_text("Big wrench")


def test_keyless_table_keys_by_all_columns(
    reader_settings: ConnectionSettings, page: Page, root: pymysql.Connection
) -> None:
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.keyless")
        cursor.execute("CREATE TABLE robots.keyless (a INT, b VARCHAR(10))")
        cursor.execute("INSERT INTO robots.keyless VALUES (2, 'y'), (1, 'x')")
    app = start_app(reader_settings, tables="robots.keyless")
    try:
        open_live(page, app.base_url + "/table/robots.keyless")
        rows = page.locator("#rows tr[data-key]")
        expect(rows).to_have_count(2)
        expect(rows.first).to_have_attribute("data-key", '[1,"x"]')
        expect(page.locator("#rows-caption")).to_contain_text("no primary key")

        # Equal rows are separate rows: each insert adds one, each delete removes one.
        with root.cursor() as cursor:
            cursor.execute("INSERT INTO robots.keyless VALUES (1, 'x')")
        expect(page.locator("""#rows tr[data-key='[1,"x"]']""")).to_have_count(2)
        with root.cursor() as cursor:
            cursor.execute("DELETE FROM robots.keyless WHERE a = 1 LIMIT 1")
        expect(page.locator("""#rows tr[data-key='[1,"x"]']""")).to_have_count(1)
        expect(page.locator("#row-count")).to_have_text("2 rows")
    finally:
        app.stop()
        with root.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS robots.keyless")


def test_values_render_as_compact_json(gadgets_app: RunningApp, page: Page) -> None:
    # MariaDB sends JSON columns as text, so arrays and objects are checked on the formatter.
    open_live(page, gadgets_app.base_url + "/table/robots.gadgets")
    texts = page.evaluate(
        "async () => { const { displayText } = await import('/static/format.js');"
        " return [{ a: [1, null] }, ['x', true], false, null, 0].map(displayText); }"
    )
    assert texts == ['{"a":[1,null]}', '["x",true]', "false", "NULL", "0"]


def test_unknown_table_shows_server_message(gadgets_app: RunningApp, page: Page) -> None:
    page.goto(gadgets_app.base_url + "/table/robots.nope")
    expect(page.locator("body")).to_have_attribute("data-state", "failed")
    error = page.locator("#load-error")
    expect(error).to_contain_text("Table robots.nope is not watched by this server")
    expect(error).to_contain_text("HTTP 404")


def test_generic_view_reconnects_after_restart(
    page: Page, reader_settings: ConnectionSettings, gadgets: pymysql.Connection
) -> None:
    port = free_port()
    app = start_app(reader_settings, tables="robots.gadgets", port=port)
    open_live(page, app.base_url + "/table/robots.gadgets")
    app.stop()
    expect(page.locator("body")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#connection-text")).to_contain_text("attempt")

    with gadgets.cursor() as cursor:
        cursor.execute("UPDATE robots.gadgets SET name = 'changed while down' WHERE id = 1")
    app = start_app(reader_settings, tables="robots.gadgets", port=port)
    try:
        expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=30_000)
        name = page.locator('tr[data-key="[1]"] td[data-column="name"]')
        expect(name).to_have_text("changed while down")
    finally:
        app.stop()


# ---- Phone viewport and screenshots ----


def test_phone_view_has_no_page_scroll(
    gadgets_app: RunningApp, phone_page: Page, gadgets: pymysql.Connection
) -> None:
    long_name = "A gadget with a long name for a narrow phone"
    # One unbroken word of 80 letters, which only wraps inside a word.
    long_tags = '["' + "x" * 80 + '"]'
    with gadgets.cursor() as cursor:
        cursor.execute("INSERT INTO robots.gadgets VALUES (5, %s, 99.99, %s)", (long_name, long_tags))
    open_live(phone_page, gadgets_app.base_url + "/table/robots.gadgets")
    expect(phone_page.locator('tr[data-key="[5]"] td[data-column="name"]')).to_have_text(long_name)
    with gadgets.cursor() as cursor:
        cursor.execute("UPDATE robots.gadgets SET tags = %s WHERE id = 5", ('["' + "y" * 80 + '"]',))
    expect(phone_page.locator("#change-log li")).to_have_count(1)
    assert horizontal_overflow(phone_page) == 0

    OUTPUT_DIR.mkdir(exist_ok=True)
    path = OUTPUT_DIR / "table-view-phone.png"
    phone_page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000

    open_live(phone_page, gadgets_app.base_url + "/")
    expect(phone_page.locator("#task-rows tr[data-task-id]")).to_have_count(10)
    assert horizontal_overflow(phone_page) == 0


def test_generic_view_screenshot(gadgets_app: RunningApp, page: Page, gadgets: pymysql.Connection) -> None:
    open_live(page, gadgets_app.base_url + "/table/robots.gadgets")
    with gadgets.cursor() as cursor:
        cursor.execute("INSERT INTO robots.gadgets VALUES (3, 'Torque sensor', 42, '[\"sensor\", \"arm\"]')")
        cursor.execute("UPDATE robots.gadgets SET price = 8.25 WHERE id = 2")
    expect(page.locator('tr[data-key="[2]"] td[data-column="price"]')).to_have_text("8.25")
    expect(page.locator("#lag")).to_have_text(LAG_TEXT)

    OUTPUT_DIR.mkdir(exist_ok=True)
    path = OUTPUT_DIR / "table-view.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
