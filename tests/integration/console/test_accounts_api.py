"""Sign-in over HTTP: cookie flags, rate limits, CSRF on forms, admin account management, audit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callcenter.api.app import create_app
from callcenter.api.pages import local_path
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.settings import load_settings
from tests.integration.console.conftest import PASSWORD, insert_directory

pytestmark = pytest.mark.slow  # started first (tests/conftest.py): one of the longest files

Clients = Callable[[str | None], TestClient]


def test_session_cookie_is_httponly_and_samesite(client_for: Clients) -> None:
    client = client_for(None)
    response = client.post("/api/session", json={"name": "operator", "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "cc_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # served over plain http on this address


def test_cookie_is_secure_when_the_public_url_is_https(sqlite_url: str, tmp_path: Path) -> None:
    container = build(load_settings(database_url=sqlite_url, data_dir=tmp_path,
                                    http={"public_base_url": "https://995.example.cn"}))
    container.init_db()
    container.accounts.add_user("operator", "operator", PASSWORD)
    with TestClient(create_app(container)) as client:
        response = client.post("/api/session", json={"name": "operator", "password": PASSWORD})
    assert "secure" in response.headers["set-cookie"].lower()
    container.close()


def test_sign_in_is_slowed_per_account_and_address(client_for: Clients) -> None:
    client = client_for(None)
    for _ in range(3):  # console.failed_logins_before_delay; then 1 s, 2 s, 4 s, ...
        assert client.post("/api/session", json={"name": "operator", "password": "wrong-one"}).status_code == 401
    refused = client.post("/api/session", json={"name": "operator", "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert client.post("/api/session", json={"name": "admin", "password": PASSWORD}).status_code == 200


def test_login_form_needs_its_csrf_token(client_for: Clients) -> None:
    client = client_for(None)
    form = client.get("/login")
    assert form.status_code == 200
    forged = client.post("/login", data={"name": "operator", "password": PASSWORD, "csrf_token": "forged"},
                         follow_redirects=False)
    assert forged.status_code == 403
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed_in = client.post("/login", data={"name": "operator", "password": PASSWORD, "csrf_token": token,
                                            "next": "/directory"}, follow_redirects=False)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/directory")
    assert client.get("/api/session").json()["user"]["name"] == "operator"


def test_login_never_redirects_off_site(client_for: Clients) -> None:
    client = client_for(None)
    form = client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login", data={"name": "operator", "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/"}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_admin_creates_changes_and_disables_accounts(client_for: Clients, console: ConsoleContainer) -> None:
    admin = client_for("admin")
    created = admin.post("/api/users", json={"name": "wang", "role": "grid_worker", "grid_id": 30,
                                             "password": "wang-password-1", "phone": "+8613900000099"})
    assert created.status_code == 201, created.text
    wang = created.json()
    assert (wang["role"], wang["grid_id"]) == ("grid_worker", 30)
    assert admin.post("/api/users", json={"name": "wang", "role": "operator",
                                          "password": "another-password"}).status_code == 400
    no_grid = admin.post("/api/users", json={"name": "li", "role": "grid_worker", "password": "li-password-1"})
    assert no_grid.json()["detail"].endswith("the grid they answer for")

    worker = client_for(None)
    assert worker.post("/api/session", json={"name": "wang", "password": "wang-password-1"}).status_code == 200
    assert admin.patch(f"/api/users/{wang['id']}", json={"active": False}).json()["active"] is False
    assert worker.get("/api/session").status_code == 401  # disabling ended the session at once
    assert worker.post("/api/session", json={"name": "wang", "password": "wang-password-1"}).status_code == 401

    actions = [(a["action"], a["user_name"]) for a in admin.get("/api/audit").json()]
    assert ("account_created", "admin") in actions and ("account_changed", "admin") in actions
    change = next(a for a in admin.get("/api/audit").json() if a["action"] == "account_changed")
    assert (change["before"]["active"], change["after"]["active"]) == (True, False)


def test_sign_out_ends_the_session(client_for: Clients) -> None:
    client = client_for("operator")
    assert client.delete("/api/session").status_code == 204
    assert client.get("/api/incidents").status_code == 401


def test_pages_redirect_to_login_and_show_the_demo_banner(client_for: Clients) -> None:
    anonymous = client_for(None)
    response = anonymous.get("/statistics", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/statistics")
    login = anonymous.get("/login").text
    assert "演示模式" in login and "demo-operator-995" in login


def test_production_mode_shows_no_demo_banner(sqlite_url: str, tmp_path: Path) -> None:
    container = build(load_settings(database_url=sqlite_url, data_dir=tmp_path, mode="production",
                                    session_secret="x" * 40))
    container.init_db()
    insert_directory(container.engine)
    with TestClient(create_app(container)) as client:
        page = client.get("/login").text
    assert "演示模式" not in page and "demo-operator-995" not in page
    container.close()


def test_pages_carry_security_headers(client_for: Clients) -> None:
    response = client_for(None).get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_redirects_stay_on_this_site() -> None:
    assert local_path("/directory?q=1") == "/directory?q=1"
    for target in ("//evil.example", "/\\evil.example", "https://evil.example", "/x\r\nLocation: //evil"):
        assert local_path(target) == "/", target
