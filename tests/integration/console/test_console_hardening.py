"""Console and API hardening (issue #19), each control through HTTP as a browser, a scraper or an
attacker meets it: the /metrics token, no API docs in production, request size limit, live
streams that end with their session, sign-in limits per (account, address) behind trusted proxies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.settings import load_settings
from tests.integration.console.conftest import GUARD, PASSWORD, add_accounts, insert_directory, sign_in
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(60)
SECRET = "s" * 40
METRICS_TOKEN = "m" * 40
PROXY, ATTACKER, OPERATOR_DESK = "10.0.0.5", "198.51.100.7", "198.51.100.80"

Build = Callable[..., ConsoleContainer]


@pytest.fixture
def console_with(sqlite_url: str, tmp_path: Path) -> Iterator[Build]:
    """A console container with some settings changed, directory and accounts in place."""
    made: list[ConsoleContainer] = []

    def make(**settings: Any) -> ConsoleContainer:
        container = build(load_settings(database_url=sqlite_url, data_dir=tmp_path,
                                        engine={"simulated_time_scale": 10_000}, guard=GUARD, **settings))
        container.init_db()
        if not made:
            insert_directory(container.engine)
            add_accounts(container)
        made.append(container)
        return container

    yield make
    for container in made:
        container.close()


def client(container: ConsoleContainer, address: str = "203.0.113.1") -> TestClient:
    return TestClient(create_app(container), client=(address, 40000))


# -- 3. /metrics behind a bearer token ---------------------------------------------------------


def test_metrics_want_the_bearer_token_when_one_is_set(console_with: Build) -> None:
    scraper = client(console_with(metrics={"token": METRICS_TOKEN}))
    assert scraper.get("/metrics").status_code == 401
    assert scraper.get("/metrics").headers["www-authenticate"] == "Bearer"
    assert scraper.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
    assert scraper.get("/metrics", headers={"Authorization": f"Basic {METRICS_TOKEN}"}).status_code == 401
    scraped = scraper.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and "callcenter_incidents_open" in scraped.text


def test_metrics_without_a_token_stay_open_in_demo_mode(console_with: Build) -> None:
    assert client(console_with()).get("/metrics").status_code == 200


# -- 4. no API docs in production ---------------------------------------------------------------


def test_api_docs_are_not_served_in_production_but_are_in_demo(console_with: Build) -> None:
    production = client(console_with(mode="production", session_secret=SECRET))
    demo = client(console_with())
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert production.get(path).status_code == 404, path
        assert demo.get(path).status_code == 200, path
    assert production.get("/health").status_code == 200  # the rest is served as before


# -- request size limit -------------------------------------------------------------------------


def test_a_request_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(console_with: Build) -> None:
    container = console_with(http={"max_request_bytes": 4096})
    admin = client(container)
    sign_in(admin, "admin")
    big = {"name": "intruder", "role": "admin", "password": PASSWORD, "display_name": "x" * 8000}
    refused = admin.post("/api/users", json=big)
    assert refused.status_code == 413 and "http.max_request_bytes" in refused.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as the body arrives
        yield b'{"name": "intruder", "role": "admin", "password": "' + PASSWORD.encode() + b'", "notes": "'
        for _ in range(8):
            yield b"y" * 1024
        yield b'"}'

    streamed = admin.post("/api/users", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert container.accounts.store.by_name("intruder") is None
    small = admin.post("/api/users", json={"name": "newcomer", "role": "operator", "password": PASSWORD})
    assert small.status_code == 201


# -- 5. a live stream ends with its session -------------------------------------------------------


def _end_by_sign_out(container: ConsoleContainer, watcher: TestClient) -> None:
    assert watcher.delete("/api/session").status_code == 204


def _end_by_disabling(container: ConsoleContainer, watcher: TestClient) -> None:
    admin = client(container)
    sign_in(admin, "admin")
    user_id = container.accounts.store.by_name("operator")
    assert user_id is not None
    assert admin.patch(f"/api/users/{user_id.user.id}", json={"active": False}).status_code == 200


def _end_by_deleting(container: ConsoleContainer, watcher: TestClient) -> None:
    stored = container.accounts.store.by_name("operator")
    assert stored is not None
    with container.engine.begin() as conn:  # no API deletes accounts; an administrator's SQL might
        conn.execute(text("DELETE FROM user_session WHERE user_id = :id"), {"id": stored.user.id})
        conn.execute(text("UPDATE audit_log SET user_id = NULL WHERE user_id = :id"), {"id": stored.user.id})
        conn.execute(text("DELETE FROM user_account WHERE id = :id"), {"id": stored.user.id})


@pytest.mark.parametrize("end", [_end_by_sign_out, _end_by_disabling, _end_by_deleting],
                         ids=["signed-out", "disabled", "deleted"])
def test_an_open_live_stream_ends_soon_after_its_session_does(
        console_with: Build, end: Callable[[ConsoleContainer, TestClient], None]) -> None:
    container = console_with(console={"live_session_check_seconds": 0.1})
    watcher = client(container)
    sign_in(watcher, "operator")
    subscribers = len(container.events._subscribers)
    body: list[str] = []
    stream = threading.Thread(target=lambda: body.append(watcher.get("/api/events?lifetime=600").text), daemon=True)
    stream.start()
    wait_for(lambda: len(container.events._subscribers) > subscribers, timeout=10, what="the stream subscribed")

    end(container, client(container) if end is not _end_by_sign_out else watcher)

    wait_for(lambda: not stream.is_alive(), timeout=10, what="the stream to end (lifetime was 600 s)")
    assert body and body[0].startswith("retry: 2000") and "event: session_ended" in body[0]
    assert len(container.events._subscribers) == subscribers


def test_a_live_stream_with_its_session_keeps_running(console_with: Build) -> None:
    container = console_with(console={"live_session_check_seconds": 0.05})
    watcher = client(container)
    sign_in(watcher, "operator")
    body = watcher.get("/api/events?lifetime=0.5").text  # ten checks pass; ends by its lifetime
    assert "session_ended" not in body


# -- 6. sign-in limits no attacker can turn into a lockout ----------------------------------------


def _wrong_until_slowed(attacker: TestClient, headers: dict[str, str] | None = None) -> None:
    statuses = [attacker.post("/api/session", json={"name": "operator", "password": "wrong-guess"},
                              headers=headers or {}).status_code for _ in range(8)]
    assert statuses[:3] == [401, 401, 401] and 429 in statuses, statuses


def test_guessing_from_one_address_does_not_keep_the_operator_out_from_another(console_with: Build) -> None:
    container = console_with()
    _wrong_until_slowed(client(container, ATTACKER))
    refused = client(container, ATTACKER).post("/api/session", json={"name": "operator", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    at_the_desk = client(container, OPERATOR_DESK)
    assert at_the_desk.post("/api/session", json={"name": "operator", "password": PASSWORD}).status_code == 200


def test_behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for(console_with: Build) -> None:
    container = console_with(http={"trusted_proxies": [PROXY]})
    through_proxy = client(container, PROXY)
    _wrong_until_slowed(through_proxy, {"X-Forwarded-For": f"1.2.3.4, {ATTACKER}"})
    desk = {"X-Forwarded-For": OPERATOR_DESK}
    signed_in = through_proxy.post("/api/session", json={"name": "operator", "password": PASSWORD}, headers=desk)
    assert signed_in.status_code == 200
    failures = [r.address for r in container.accounts.store.audit_log() if r.action == "login_failed"]
    assert set(failures) == {ATTACKER}  # the hop our proxy saw; the client-written 1.2.3.4 is not believed
    assert container.accounts.store.audit_log()[0].address == OPERATOR_DESK


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(console_with: Build) -> None:
    container = console_with(http={"trusted_proxies": [PROXY]})
    attacker = client(container, ATTACKER)
    # A fresh forged address on every try changes nothing: the attacker is slowed all the same...
    statuses = [attacker.post("/api/session", json={"name": "operator", "password": "wrong-guess"},
                              headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code for n in range(8)]
    assert 429 in statuses, statuses
    # ...and cannot pin the delay on the operator's address by writing it in the header.
    at_the_desk = client(container, OPERATOR_DESK)
    assert at_the_desk.post("/api/session", json={"name": "operator", "password": PASSWORD}).status_code == 200
    assert {r.address for r in container.accounts.store.audit_log() if r.action == "login_failed"} == {ATTACKER}
