"""The console in headless Chromium (Debian's, driven by Playwright): sign in, a key press appears
live, urgent highlight, the incident page's actions, a responder's acknowledgement arriving live,
the language switch, CSRF rejection and a grid worker's view. Every wait is bounded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from sqlalchemy import text

from bench.web import CHROMIUM, CHROMIUM_ARGS, served
from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.domain.delivery import DeliveryFailure, delivery_detail
from callcenter.domain.incident import IncidentEvent
from callcenter.domain.types import Actor, CallerTrust, LegStatus
from callcenter.settings import load_settings
from tests.integration.console.conftest import LINE_A, LINE_B, NEIGHBOUR_KEY, PASSWORD, add_accounts, insert_directory
from tests.waiting import wait_for

WAIT_MS = 5_000  # a live update is due within 1 s; 5 s leaves room on a loaded machine
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


@dataclass
class LiveServer:
    url: str
    container: ConsoleContainer


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    container = build(load_settings(database_url=sqlite_url, data_dir=tmp_path,
                                    engine={"simulated_time_scale": 10_000}))
    container.init_db()
    insert_directory(container.engine)
    add_accounts(container)
    container.runtime.start()
    try:
        with served(create_app(container)) as url:
            yield LiveServer(url, container)
    finally:
        container.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, server: LiveServer, name: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url(f"{server.url}/")
    expect(page.locator("#live-status.on")).to_be_visible()


def test_wrong_password_stays_on_the_login_page(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/")
    page.wait_for_url(f"{server.url}/login?next=/")
    page.fill('input[name="name"]', "operator")
    page.fill('input[name="password"]', "not-the-password")
    page.click('#login-form button[type="submit"]')
    expect(page.locator("#login-error")).to_be_visible()


def test_a_key_press_appears_live_and_unknown_callers_are_highlighted(page: Page, server: LiveServer) -> None:
    sign_in(page, server, "operator")
    incident = server.container.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    row = page.locator(f'tr[data-id="{incident.id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("张大山家")
    expect(row).not_to_have_class("attention")

    unknown = server.container.runtime.engine.key_press("13912345678", CallerTrust.LOCAL)
    urgent = page.locator(f'tr[data-id="{unknown.id}"]')
    expect(urgent).to_have_class("incident-row attention fresh")
    expect(urgent).to_contain_text("未知来电")
    # Sorted by urgency: the unknown caller comes first although it pressed later.
    expect(page.locator("#queue-body tr").first).to_have_attribute("data-id", unknown.id)
    expect(page.locator("body")).to_have_attribute("data-alarms", "1")


def test_a_new_incident_is_shown_from_its_live_event_while_the_list_is_slow(page: Page, server: LiveServer) -> None:
    sign_in(page, server, "operator")
    held: list[Route] = []
    page.route("**/api/incidents?*", lambda route: held.append(route))  # every refetch from now on hangs
    incident = server.container.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    row = page.locator(f'tr[data-id="{incident.id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("张大山家")
    expect(row).to_have_class("incident-row  fresh")
    for _ in range(50):  # the refetch follows the event after the page's 100 ms debounce
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page did not refetch the list after the event"
    for route in held:
        route.continue_()
    page.unroute("**/api/incidents?*")
    expect(row).to_have_count(1)


def test_a_stream_of_events_refetches_the_queue_at_most_once_a_second(page: Page, server: LiveServer) -> None:
    """In a flood every operator's screen would otherwise read the whole queue ten times a second."""
    sign_in(page, server, "operator")
    engine = server.container.runtime.engine
    incident = engine.key_press(LINE_A, CallerTrust.LOCAL)
    expect(page.locator(f'tr[data-id="{incident.id}"]')).to_be_visible()
    page.wait_for_timeout(1200)  # the refetch that followed the press is over
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "/api/incidents?" in request.url else None)
    started = time.monotonic()
    for n in range(30):  # an event every 100 ms
        engine.add_note(incident.id, f"note {n}", Actor("operator", "operator"))
        page.wait_for_timeout(100)
    page.wait_for_timeout(1200)  # the last one
    seconds = time.monotonic() - started
    assert 2 <= len(fetched) <= seconds + 1, (len(fetched), seconds)


def test_incident_page_actions_and_a_live_acknowledgement(page: Page, server: LiveServer) -> None:
    engine = server.container.runtime.engine
    incident = engine.key_press(LINE_A, CallerTrust.LOCAL)
    sign_in(page, server, "operator")
    page.click(f'tr[data-id="{incident.id}"] a.open-incident')
    page.wait_for_url(f"**/incidents/{incident.id}")
    expect(page.locator("#profile-fields")).to_contain_text("独居老人")
    expect(page.locator("#profile-fields")).to_contain_text("石门村一组7号")

    page.click(f'#responders-body tr[data-responder="{NEIGHBOUR_KEY}"] button.ack')
    expect(page.locator(f'#responders-body tr[data-responder="{NEIGHBOUR_KEY}"]')).to_have_class("acked")

    # The grid worker replies "1" to the alert SMS: the page shows it without a reload.
    sms = next(leg for leg in engine._load(incident.id).legs.values()
               if leg.recipient.role == "grid_worker" and leg.channel == "sms")
    engine.leg_outcome(sms.id, LegStatus.ACKNOWLEDGED, "replied 1")
    expect(page.locator("#timeline")).to_contain_text("网格员刘")
    expect(page.locator("#incident-status")).to_have_text("已有人响应")

    page.fill("#note-text", "已电话联系，老人摔倒")
    page.click("#act-note")
    expect(page.locator("#timeline")).to_contain_text("已电话联系，老人摔倒")

    page.select_option("#dispatch-agency", "120")
    page.fill("#dispatch-ref", "JJ-0007")
    page.click("#act-dispatch")
    expect(page.locator("#timeline")).to_contain_text("JJ-0007")

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#act-resolve")
    expect(page.locator("#incident-status")).to_have_text("已处置")


def test_language_switch(page: Page, server: LiveServer) -> None:
    sign_in(page, server, "operator")
    expect(page.locator("h1")).to_contain_text("实时警情队列")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_contain_text("Live incident queue")
    expect(page.locator("#live-status.on")).to_have_text("live")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_contain_text("实时警情队列")


def test_a_request_without_the_csrf_token_is_rejected(page: Page, server: LiveServer) -> None:
    incident = server.container.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    sign_in(page, server, "operator")
    script = """async ([id, token]) => {
        const send = (headers) => fetch(`/api/incidents/${id}/notes`, {method: "POST",
            headers: {"Content-Type": "application/json", ...headers}, body: JSON.stringify({text: "x"})});
        return [(await send({})).status, (await send({"X-CSRF-Token": "forged"})).status,
                (await send({"X-CSRF-Token": token})).status];
    }"""
    token = page.get_attribute('meta[name="csrf-token"]', "content")
    assert page.evaluate(script, [incident.id, token]) == [403, 403, 200]


def test_grid_worker_does_not_see_another_grid(page: Page, server: LiveServer) -> None:
    engine = server.container.runtime.engine
    sign_in(page, server, "grid_worker")
    other = engine.key_press(LINE_B, CallerTrust.LOCAL)
    own = engine.key_press(LINE_A, CallerTrust.LOCAL)
    expect(page.locator(f'tr[data-id="{own.id}"]')).to_be_visible()
    expect(page.locator(f'tr[data-id="{other.id}"]')).to_have_count(0)
    response = page.goto(f"{server.url}/incidents/{other.id}")
    assert response is not None and response.status == 404


def test_directory_search_edit_and_coverage(page: Page, server: LiveServer) -> None:
    sign_in(page, server, "operator")
    page.click('header nav a[href="/directory"]')
    page.fill("#directory-q", "0717-6123456")
    page.press("#directory-q", "Enter")
    page.click("#directory-results a")
    expect(page.locator("#household h1")).to_contain_text("张大山家")
    page.check('input[name="care"][value="disabled"]')
    page.fill('textarea[name="notes"]', "轮椅，门口有坡道")
    page.click('#household-form button[type="submit"]')
    expect(page.locator("#household-result")).to_have_text("已完成")
    found = server.container.directory.household_by_id(7)
    assert found is not None and found.household.notes == "轮椅，门口有坡道"
    assert {str(f) for f in found.household.care_flags} == {"living_alone", "disabled"}

    page.goto(f"{server.url}/directory/coverage")
    expect(page.locator("#thin-groups")).to_contain_text("九组")
    expect(page.locator("#no-worker")).to_contain_text("第二网格")


def test_statistics_page_draws_its_charts(page: Page, server: LiveServer) -> None:
    server.container.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    page.goto(f"{server.url}/login")
    page.fill('input[name="name"]', "supervisor")
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.click('header nav a[href="/statistics"]')
    expect(page.locator("#stat-total")).to_have_text("1")
    expect(page.locator(".charts svg")).to_have_count(5)
    expect(page.locator("#chart-per-day rect.bar")).not_to_have_count(0)


def test_a_held_incident_is_flagged_and_one_click_releases_it(page: Page, server: LiveServer) -> None:
    engine = server.container.runtime.engine
    incident = engine.key_press(LINE_A, CallerTrust.UNVERIFIED)
    sign_in(page, server, "operator")
    row = page.locator(f'tr[data-id="{incident.id}"]')
    expect(row.locator(".badge.held")).to_be_visible()
    expect(page.locator("#queue-body tr").first).to_have_attribute("data-id", incident.id)  # attention first
    page.click(f'tr[data-id="{incident.id}"] a.open-incident')
    page.wait_for_url(f"**/incidents/{incident.id}")
    expect(page.locator("#held-badge")).to_be_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#act-release")
    expect(page.locator("#held-badge")).to_have_count(0)
    expect(page.locator("#act-release")).to_be_hidden()
    assert not engine._load(incident.id).is_held and engine._load(incident.id).level == 0


def test_an_operator_sees_a_banned_source_and_lifts_its_ban(page: Page, server: LiveServer) -> None:
    engine = server.container.runtime.engine
    for n in range(engine.policy.source_limit.presses + 1):
        engine.key_press(f"+86130000{n:05d}", CallerTrust.UNVERIFIED, source="192.0.2.66")
    sign_in(page, server, "operator")
    page.click('nav a[href="/sources"]')
    page.wait_for_url(f"{server.url}/sources")
    row = page.locator('#sources tr[data-source="192.0.2.66"]')
    expect(row).to_have_class("banned")
    expect(row).to_contain_text("+8613000000005")
    row.locator("button.lift-ban").click()
    expect(page.locator('#sources tr[data-source="192.0.2.66"]')).not_to_have_class("banned")
    record = engine.presses.source("192.0.2.66")
    assert record is not None and not record.banned(engine.clock.now())


def test_a_grid_worker_has_no_source_bans_page(page: Page, server: LiveServer) -> None:
    sign_in(page, server, "grid_worker")
    expect(page.locator('nav a[href="/sources"]')).to_have_count(0)


def test_the_flood_banner_shows_while_calls_wait_for_a_trunk_channel(page: Page, server: LiveServer) -> None:
    refused: list[str] = []  # script errors, and whatever the Content-Security-Policy blocked
    page.on("pageerror", lambda error: refused.append(str(error)))
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    sign_in(page, server, "operator")
    banner = page.locator("#flood-banner[role=status]")
    expect(banner).to_be_hidden()
    engine = server.container.runtime.engine
    incident = engine.key_press(LINE_A, CallerTrust.LOCAL)
    wait_for(lambda: all(leg.status != "pending" for leg in server.container.incident_store.legs(incident.id)),
             5.0, "the legs handed to the simulated channels")

    def calls(status: str) -> None:  # what the SIP channel reports as its calls wait for, then get, a channel
        with server.container.engine.begin() as conn:
            conn.execute(text("UPDATE alert_leg SET status = :s WHERE channel = 'call'"), {"s": status})

    calls("queued")
    expect(banner).to_be_visible()  # the page asks every 3 s
    expect(banner).to_have_text("大范围求助：1 起告警中，1 起尚无人接通，0 起等待确认人数；1 路呼叫排队")
    page.click("#lang-switch")
    expect(banner).to_have_text("Mass event: 1 incidents alerting, 1 with no call placed yet, 0 short of quorum; "
                                "1 calls queued")
    calls("dialing")
    expect(banner).to_be_hidden()
    assert refused == []


def test_the_timeline_shows_a_burst_of_identical_events_once_with_a_count(page: Page, server: LiveServer) -> None:
    """The auditor flags many late legs in one go: "超时告警" once with ×N, not a dozen lines."""
    engine = server.container.runtime.engine
    incident = engine.key_press(LINE_A, CallerTrust.LOCAL)
    now = server.container.runtime.engine.clock.now()
    events = [IncidentEvent(now, "audit_overdue", "auditor", {"what": f"leg {n}", "due_at": now, "late_seconds": 12.0})
              for n in range(12)]
    server.container.incident_store.append_events(incident.id, events)
    sign_in(page, server, "operator")
    page.goto(f"{server.url}/incidents/{incident.id}")
    overdue = page.locator("#timeline li.event.audit_overdue")
    expect(overdue).to_have_count(1)
    expect(overdue).to_contain_text("超时告警")
    expect(overdue.locator(".repeat")).to_have_text("×12")
    expect(page.locator("#timeline li.event.leg_planned").first).not_to_contain_text("×")  # distinct events stay apart


def test_an_undelivered_text_says_why_on_the_legs_and_the_timeline(page: Page, server: LiveServer) -> None:
    engine = server.container.runtime.engine
    incident = engine.key_press(LINE_A, CallerTrust.LOCAL)

    def submitted_text() -> str | None:
        legs = engine._load(incident.id).legs.values()
        return next((leg.id for leg in legs if leg.channel == "sms" and leg.recipient.phone == NEIGHBOUR_KEY
                     and leg.status == LegStatus.SUBMITTED), None)

    leg_id = wait_for(submitted_text, what="王二's alert text submitted")
    engine.leg_outcome(leg_id, LegStatus.UNDELIVERED, delivery_detail(DeliveryFailure.SWITCHED_OFF, "MK:0005"))
    sign_in(page, server, "operator")
    page.goto(f"{server.url}/incidents/{incident.id}")
    legs = page.locator('#responders-body tr[data-responder] td.legs span.leg.undelivered')
    expect(legs).to_have_count(1)
    expect(legs).to_have_text("sms #1 短信未送达（关机或不在服务区）")
    expect(page.locator("#timeline li.event.leg_status", has_text="关机或不在服务区")).to_have_count(1)
