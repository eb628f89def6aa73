"""Every route against every role: anonymous, operator, supervisor, a grid worker of the incident's
grid, a grid worker of another grid, admin. A route missing from the matrix fails the test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response

from callcenter.accounts.roles import ROLE_PERMISSIONS, AccountRole, Permission
from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.domain.incident import IncidentEvent
from callcenter.domain.types import CallerTrust
from callcenter.settings import load_settings
from tests.integration.console.conftest import (
    GUARD,
    HOUSEHOLD_A,
    LINE_A,
    NEIGHBOUR_KEY,
    PASSWORD,
    add_accounts,
    insert_directory,
    sign_in,
)

_names = itertools.count()


@dataclass
class Ctx:
    client: TestClient
    container: ConsoleContainer
    role: str

    def incident(self) -> str:
        """A fresh open incident of grid A (each press comes from a new neighbour's line)."""
        number = f"80{next(_names) % 90 + 10}"
        with self.container.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO emergency_line (number, household_id) VALUES (?, ?)"
                                 if self.container.settings.is_sqlite else
                                 "INSERT INTO emergency_line (number, household_id) VALUES (%s, %s)",
                                 (number, HOUSEHOLD_A))
        incident_id = self.container.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL).id
        return incident_id

    def held_incident(self) -> str:
        """An open incident of grid A held for the operators: its caller could not be verified."""
        return self.container.runtime.engine.key_press("8008", CallerTrust.UNVERIFIED).id

    def banned_source(self) -> str:
        """A source whose unverified presses went over the limit (each claims a stranger's number)."""
        source = f"192.0.2.{next(_names) % 200 + 1}"
        for n in range(self.container.policy.source_limit.presses + 1):
            self.container.runtime.engine.key_press(f"+86130000{n:05d}", CallerTrust.UNVERIFIED, source=source)
        return source

    def user_id(self, name: str) -> int:
        stored = self.container.accounts.store.by_name(name)
        assert stored is not None
        return stored.user.id

    def fresh(self) -> TestClient:
        """A client of its own, so signing in there leaves the role under test as it is."""
        return TestClient(create_app(self.container))

    def other_session(self) -> TestClient:
        client = TestClient(create_app(self.container))
        if self.role != "anonymous":
            sign_in(client, self.role)
        return client


Call = Callable[[Ctx], Response]


@dataclass(frozen=True)
class Route:
    permission: Permission | None  # None: public
    call: Call
    grid_scoped: bool = False  # a grid worker of another grid gets 404
    page: bool = False  # anonymous is redirected to the login page instead of 401
    other_grid: str = "404"  # what a grid worker of another grid gets on a grid-scoped route


def _open_incident_call(method: str, suffix: str, body: object = None) -> Call:
    def call(ctx: Ctx) -> Response:
        url = f"/api/incidents/{ctx.incident()}{suffix}"
        return ctx.client.request(method, url, json=body)
    return call


def _logout_api(ctx: Ctx) -> Response:
    with ctx.other_session() as client:
        return client.delete("/api/session")


def _logout_page(ctx: Ctx) -> Response:
    with ctx.other_session() as client:
        token = client.headers.get("X-CSRF-Token", "")
        response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        signed_out = response.status_code == 303 and client.get("/api/session").status_code == 401
        return Response(204) if signed_out else response


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/health"): Route(None, lambda c: c.client.get("/health")),
    ("GET", "/metrics"): Route(None, lambda c: c.client.get("/metrics")),
    ("GET", "/login"): Route(None, lambda c: c.client.get("/login", follow_redirects=False)),
    ("POST", "/login"): Route(None, lambda c: c.fresh().post("/login", data={
        "name": "x", "password": "y", "csrf_token": "bad"})),
    ("GET", "/lang/{language}"): Route(None, lambda c: c.client.get("/lang/en", follow_redirects=False)),
    ("POST", "/api/session"): Route(None, lambda c: c.fresh().post(
        "/api/session", json={"name": "admin", "password": PASSWORD})),
    ("GET", "/api/session"): Route(Permission.VIEW_INCIDENTS, lambda c: c.client.get("/api/session")),
    ("DELETE", "/api/session"): Route(Permission.VIEW_INCIDENTS, _logout_api),
    ("POST", "/logout"): Route(Permission.VIEW_INCIDENTS, _logout_page),
    ("GET", "/"): Route(Permission.VIEW_INCIDENTS, lambda c: c.client.get("/", follow_redirects=False), page=True),
    ("GET", "/incidents/{incident_id}"): Route(
        Permission.VIEW_INCIDENTS, lambda c: c.client.get(f"/incidents/{c.incident()}", follow_redirects=False),
        grid_scoped=True, page=True),
    ("GET", "/api/incidents"): Route(Permission.VIEW_INCIDENTS, lambda c: c.client.get("/api/incidents?grid=3"),
                                     grid_scoped=True, other_grid="403"),
    ("GET", "/api/incidents/{incident_id}"): Route(
        Permission.VIEW_INCIDENTS, _open_incident_call("GET", ""), grid_scoped=True),
    ("GET", "/api/incidents/{incident_id}/voice/{index}"): Route(
        Permission.VIEW_INCIDENTS, lambda c: c.client.get(f"/api/incidents/{c.voice_incident}/voice/0"),  # type: ignore[attr-defined]
        grid_scoped=True),
    ("GET", "/api/events"): Route(Permission.VIEW_INCIDENTS, lambda c: c.client.get("/api/events?lifetime=0.05")),
    # A grid worker of another grid gets their own grid's counts (tests/integration/console/test_flood_api.py).
    ("GET", "/api/flood"): Route(Permission.VIEW_INCIDENTS, lambda c: c.client.get("/api/flood")),
    ("POST", "/api/incidents/{incident_id}/acknowledge"): Route(
        Permission.ACT_ON_INCIDENTS, _open_incident_call("POST", "/acknowledge", {"recipient_key": NEIGHBOUR_KEY}),
        grid_scoped=True),
    ("POST", "/api/incidents/{incident_id}/type"): Route(
        Permission.ACT_ON_INCIDENTS, _open_incident_call("POST", "/type", {"emergency_type": "fire"}),
        grid_scoped=True),
    ("POST", "/api/incidents/{incident_id}/notes"): Route(
        Permission.ACT_ON_INCIDENTS, _open_incident_call("POST", "/notes", {"text": "已联系"}), grid_scoped=True),
    ("POST", "/api/incidents/{incident_id}/dispatch"): Route(
        Permission.ACT_ON_INCIDENTS, _open_incident_call("POST", "/dispatch", {"agency": "119", "reference": "F-1"}),
        grid_scoped=True),
    ("POST", "/api/incidents/{incident_id}/resolve"): Route(
        Permission.ACT_ON_INCIDENTS, _open_incident_call("POST", "/resolve", {"note": "ok"}), grid_scoped=True),
    ("POST", "/api/incidents/{incident_id}/release"): Route(
        Permission.ACT_ON_INCIDENTS, lambda c: c.client.post(f"/api/incidents/{c.held_incident()}/release"),
        grid_scoped=True),
    ("POST", "/api/incidents/{incident_id}/false-alarm"): Route(
        Permission.ACT_ON_INCIDENTS, _open_incident_call("POST", "/false-alarm"), grid_scoped=True),
    ("POST", "/api/incidents/{incident_id}/call-back"): Route(
        Permission.ACT_ON_INCIDENTS, _open_incident_call("POST", "/call-back"), grid_scoped=True),
    ("GET", "/api/households/{household_id}"): Route(
        Permission.VIEW_DIRECTORY, lambda c: c.client.get(f"/api/households/{HOUSEHOLD_A}"), grid_scoped=True),
    ("GET", "/api/lookup/{number}"): Route(
        Permission.VIEW_DIRECTORY, lambda c: c.client.get(f"/api/lookup/{LINE_A}"), grid_scoped=True),
    ("GET", "/api/directory/grids"): Route(Permission.VIEW_DIRECTORY, lambda c: c.client.get("/api/directory/grids")),
    ("GET", "/api/directory/households"): Route(
        Permission.VIEW_DIRECTORY, lambda c: c.client.get("/api/directory/households?q=张")),
    ("GET", "/api/directory/households/{household_id}"): Route(
        Permission.VIEW_DIRECTORY, lambda c: c.client.get(f"/api/directory/households/{HOUSEHOLD_A}"),
        grid_scoped=True),
    ("PATCH", "/api/directory/households/{household_id}"): Route(
        Permission.EDIT_DIRECTORY, lambda c: c.client.patch(f"/api/directory/households/{HOUSEHOLD_A}",
                                                            json={"notes": "门钥匙在邻居家"}), grid_scoped=True),
    ("PATCH", "/api/directory/responders/{responder_id}"): Route(
        Permission.EDIT_DIRECTORY, lambda c: c.client.patch("/api/directory/responders/4",
                                                            json={"name": "网格员刘"}), grid_scoped=True),
    ("GET", "/api/directory/coverage"): Route(Permission.VIEW_DIRECTORY,
                                              lambda c: c.client.get("/api/directory/coverage")),
    ("GET", "/directory"): Route(Permission.VIEW_DIRECTORY, lambda c: c.client.get(
        "/directory?q=张", follow_redirects=False), page=True),
    ("GET", "/directory/households/{household_id}"): Route(
        Permission.VIEW_DIRECTORY, lambda c: c.client.get(f"/directory/households/{HOUSEHOLD_A}",
                                                          follow_redirects=False), grid_scoped=True, page=True),
    ("GET", "/directory/coverage"): Route(Permission.VIEW_DIRECTORY, lambda c: c.client.get(
        "/directory/coverage", follow_redirects=False), page=True),
    ("GET", "/api/statistics"): Route(Permission.VIEW_STATISTICS, lambda c: c.client.get("/api/statistics")),
    ("GET", "/statistics"): Route(Permission.VIEW_STATISTICS, lambda c: c.client.get(
        "/statistics", follow_redirects=False), page=True),
    ("GET", "/api/audit"): Route(Permission.VIEW_AUDIT, lambda c: c.client.get("/api/audit")),
    ("GET", "/admin/audit"): Route(Permission.VIEW_AUDIT, lambda c: c.client.get(
        "/admin/audit", follow_redirects=False), page=True),
    ("GET", "/api/sources"): Route(Permission.GUARD_EDGE, lambda c: c.client.get("/api/sources?banned=true")),
    ("POST", "/api/sources/{source}/lift"): Route(
        Permission.GUARD_EDGE, lambda c: c.client.post(f"/api/sources/{c.banned_source()}/lift")),
    ("GET", "/sources"): Route(Permission.GUARD_EDGE, lambda c: c.client.get("/sources", follow_redirects=False),
                               page=True),
    ("GET", "/api/users"): Route(Permission.MANAGE_ACCOUNTS, lambda c: c.client.get("/api/users")),
    ("POST", "/api/users"): Route(Permission.MANAGE_ACCOUNTS, lambda c: c.client.post("/api/users", json={
        "name": f"new{next(_names)}", "role": "operator", "password": "a-long-password"})),
    ("PATCH", "/api/users/{user_id}"): Route(Permission.MANAGE_ACCOUNTS, lambda c: c.client.patch(
        f"/api/users/{c.user_id('supervisor')}", json={"display_name": "值班长"})),
    ("POST", "/api/users/{user_id}/password"): Route(Permission.MANAGE_ACCOUNTS, lambda c: c.client.post(
        f"/api/users/{c.user_id('other_grid')}/password", json={"password": PASSWORD})),
    ("GET", "/admin/users"): Route(Permission.MANAGE_ACCOUNTS, lambda c: c.client.get(
        "/admin/users", follow_redirects=False), page=True),
}

# name -> account role (None: anonymous); "other_grid" is a grid worker of grid B
ROLES: dict[str, AccountRole | None] = {
    "anonymous": None, "operator": AccountRole.OPERATOR, "supervisor": AccountRole.SUPERVISOR,
    "grid_worker": AccountRole.GRID_WORKER, "other_grid": AccountRole.GRID_WORKER, "admin": AccountRole.ADMIN,
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the application serves, walking included routers."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[object], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
            elif isinstance(route, APIRoute):
                found.update((m, prefix + route.path) for m in route.methods)

    walk(list(app.routes), "")
    return found


def expected(route: Route, role: str) -> str:
    account = ROLES[role]
    if route.permission is None:
        return "public"
    if account is None:
        return "login" if route.page else "401"
    if route.permission not in ROLE_PERMISSIONS[account]:
        return "403"
    if role == "other_grid" and route.grid_scoped:
        return route.other_grid
    return "ok"


def outcome(response: Response) -> str:
    if response.status_code == 303 and response.headers["location"].startswith("/login"):
        return "login"
    if response.status_code in (401, 403, 404):
        return str(response.status_code)
    if response.status_code in (200, 201, 204, 303):
        return "ok"
    return f"unexpected {response.status_code}: {response.text[:200]}"


@pytest.fixture
def matrix_console(sqlite_url: str, tmp_path: Path) -> Iterator[ConsoleContainer]:
    container = build(load_settings(database_url=sqlite_url, data_dir=tmp_path,
                                    engine={"simulated_time_scale": 10_000}, guard=GUARD))
    container.init_db()
    insert_directory(container.engine)
    add_accounts(container)
    container.runtime.start()
    yield container
    container.close()


def test_every_route_is_in_the_matrix(matrix_console: ConsoleContainer) -> None:
    assert app_routes(create_app(matrix_console)) == set(ROUTES)


@pytest.mark.parametrize("role", list(ROLES))
def test_role_against_every_route(role: str, matrix_console: ConsoleContainer, tmp_path: Path) -> None:
    voice = tmp_path / "voice.wav"
    voice.write_bytes(b"RIFF0000WAVE")
    with TestClient(create_app(matrix_console)) as client:
        if role != "anonymous":
            sign_in(client, role)
        ctx = Ctx(client, matrix_console, role)
        voice_incident = ctx.incident()
        matrix_console.incident_store.append_events(voice_incident, [_voice_event(voice)])
        ctx.voice_incident = voice_incident  # type: ignore[attr-defined]
        results = {key: (expected(route, role), outcome(route.call(ctx))) for key, route in ROUTES.items()}
    wrong = {key: got for key, got in results.items() if got[0] != got[1] and not _public_ok(got)}
    assert wrong == {}, f"{role}: (expected, got) per route"


def _public_ok(result: tuple[str, str]) -> bool:
    # Public routes answer on their own terms (a login with a bad CSRF token is 403): anything but an error.
    want, got = result
    return want == "public" and not got.startswith("unexpected")


def _voice_event(path: Path) -> IncidentEvent:
    return IncidentEvent(datetime.now(UTC), "voice_message", "ivr", {"path": str(path)})
