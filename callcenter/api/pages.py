"""HTML pages of the console (templates, charts and texts from ``callcenter/web/``). Data comes from the
same functions as the JSON API; live parts are filled in by the page scripts from the API and the event stream."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from callcenter.accounts.roles import ROLE_LABELS, AccountRole, Permission, User
from callcenter.accounts.tokens import csrf_token, csrf_valid
from callcenter.api.accounts import start_session
from callcenter.api.deps import (
    LANGUAGE_COOKIE,
    PRE_LOGIN_COOKIE,
    SESSION_COOKIE,
    ContainerDep,
    OptionalUserDep,
    client_address,
    csrf_protect,
    require_page,
    session_csrf_token,
)
from callcenter.api.directory import visible_household
from callcenter.api.incidents import visible_incident
from callcenter.api.sources import list_sources
from callcenter.api.statistics import gather
from callcenter.bootstrap import ConsoleContainer
from callcenter.domain.types import EMERGENCY_TYPE_LABELS
from callcenter.web import WEB_DIR, charts
from callcenter.web.i18n import LANGUAGES, pick_language, texts
from contacts.model import CARE_FLAG_LABELS

__all__ = [
    "DEMO_LOGINS",
    "Admin",
    "Audit",
    "Directory",
    "Guard",
    "Queue",
    "Stats",
    "audit",
    "coverage",
    "directory",
    "household",
    "incident",
    "local_path",
    "login",
    "login_form",
    "logout",
    "page",
    "queue",
    "router",
    "sources",
    "statistics",
    "switch_language",
    "templates",
    "users",
]

templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
router = APIRouter(include_in_schema=False)
DEMO_LOGINS = (("operator", "operator"), ("supervisor", "supervisor"), ("grid", "grid_worker"), ("admin", "admin"))


def page(request: Request, container: ConsoleContainer, name: str, user: User | None, **context: Any) -> HTMLResponse:
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE))
    t = texts(language)
    return templates.TemplateResponse(request, name, {
        "t": t, "lang": language, "user": user, "demo": container.settings.mode == "demo",
        "csrf": session_csrf_token(request, container) if user else "", "Permission": Permission,
        "role_label": (lambda r: ROLE_LABELS[AccountRole(r)][1 if language == "en" else 0]), **context})


def local_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``/``: never a redirect to another host."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    return target


Queue = Annotated[User, Depends(require_page(Permission.VIEW_INCIDENTS))]
Directory = Annotated[User, Depends(require_page(Permission.VIEW_DIRECTORY))]
Stats = Annotated[User, Depends(require_page(Permission.VIEW_STATISTICS))]
Admin = Annotated[User, Depends(require_page(Permission.MANAGE_ACCOUNTS))]
Audit = Annotated[User, Depends(require_page(Permission.VIEW_AUDIT))]
Guard = Annotated[User, Depends(require_page(Permission.GUARD_EDGE))]


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, container: ContainerDep, user: OptionalUserDep, error: str = "") -> Response:
    if user is not None:
        return RedirectResponse("/", 303)
    nonce = request.cookies.get(PRE_LOGIN_COOKIE) or secrets.token_urlsafe(16)
    secret = container.settings.session_secret.get_secret_value()
    response = page(request, container, "login.html", None, login_csrf=csrf_token(secret, nonce), error=error,
                    demo_logins=DEMO_LOGINS)
    response.set_cookie(PRE_LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login")
    return response


@router.post("/login")
def login(request: Request, container: ContainerDep, name: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=200)], csrf_token_: Annotated[str, Form(alias="csrf_token")],
          next_url: Annotated[str, Form(alias="next")] = "/") -> Response:
    secret = container.settings.session_secret.get_secret_value()
    if not csrf_valid(secret, request.cookies.get(PRE_LOGIN_COOKIE, ""), csrf_token_):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page")
    response = RedirectResponse(local_path(next_url), 303)
    try:
        start_session(container, response, name, password, client_address(request))
    except HTTPException as exc:
        return RedirectResponse(f"/login?error={'limited' if exc.status_code == 429 else 'failed'}", 303)
    response.delete_cookie(PRE_LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Depends(csrf_protect)])
def logout(request: Request, container: ContainerDep, user: OptionalUserDep) -> Response:
    if user is not None:
        container.accounts.logout(request.cookies.get(SESSION_COOKIE, ""), user, client_address(request))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{language}")
def switch_language(language: str, next: str = "/") -> Response:
    if language not in LANGUAGES:
        raise HTTPException(404, "no such language")
    response = RedirectResponse(local_path(next), 303)
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, user: Queue, container: ContainerDep) -> HTMLResponse:
    return page(request, container, "queue.html", user)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident(incident_id: str, request: Request, user: Queue, container: ContainerDep) -> HTMLResponse:
    row = visible_incident(container, incident_id, user)
    return page(request, container, "incident.html", user, incident_id=row.id,
                types={str(k): v for k, v in EMERGENCY_TYPE_LABELS.items()})


@router.get("/directory", response_class=HTMLResponse)
def directory(request: Request, user: Directory, container: ContainerDep, q: str = "") -> HTMLResponse:
    hits = container.console_queries.search_households(q[:64], user.grid_scope) if q.strip() else []
    return page(request, container, "directory.html", user, q=q, hits=hits, care=CARE_FLAG_LABELS)


@router.get("/directory/households/{household_id}", response_class=HTMLResponse)
def household(household_id: int, request: Request, user: Directory, container: ContainerDep) -> HTMLResponse:
    found = visible_household(container, household_id, user)
    return page(request, container, "household.html", user, found=found, care=CARE_FLAG_LABELS,
                can_edit=user.can(Permission.EDIT_DIRECTORY))


@router.get("/directory/coverage", response_class=HTMLResponse)
def coverage(request: Request, user: Directory, container: ContainerDep, grid: int | None = None) -> HTMLResponse:
    scope = user.grid_scope if user.grid_scope is not None else grid
    grids = [g for g in container.console_queries.grids() if user.sees_grid(g.id)]
    return page(request, container, "coverage.html", user, report=container.directory_edits.coverage(scope),
                grids=grids, grid=scope)


@router.get("/statistics", response_class=HTMLResponse)
def statistics(request: Request, user: Stats, container: ContainerDep, since: date | None = None,
               until: date | None = None) -> HTMLResponse:
    since, until, s = gather(container, user, since, until)
    t = texts(pick_language(request.cookies.get(LANGUAGE_COOKIE)))
    svg = {
        "per_day": charts.column_chart([(d.strftime("%m-%d"), n) for d, n in s.days], t["stats.per_day"]),
        "by_type": charts.bar_chart([(k, n) for k, n in s.by_type], t["stats.by_type"]),
        "levels": charts.bar_chart(s.levels, t["stats.levels"], as_share=True),
        "grids": charts.bar_chart([(g.grid, g.rate) for g in s.grids], t["stats.grids"], as_share=True),
        "first_ack": charts.bar_chart([("p50", s.p50 or 0), ("p90", s.p90 or 0)], t["stats.first_ack"],
                                      target=float(s.target_seconds)),
    }
    return page(request, container, "statistics.html", user, stats=s, svg=svg, since=since, until=until)


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, user: Admin, container: ContainerDep) -> HTMLResponse:
    return page(request, container, "users.html", user, users=container.accounts.store.all_users(),
                grids=container.console_queries.grids(), roles=list(AccountRole))


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, user: Guard, container: ContainerDep) -> HTMLResponse:
    """Sources of unverified presses, banned first: the operators see who is forging presses."""
    return page(request, container, "sources.html", user, sources=list_sources(user, container))


@router.get("/admin/audit", response_class=HTMLResponse)
def audit(request: Request, user: Audit, container: ContainerDep) -> HTMLResponse:
    return page(request, container, "audit.html", user, entries=container.accounts.store.audit_log(300))
