"""FastAPI application: thin HTTP over the container's components."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated
from urllib.parse import quote

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

from callcenter.accounts.roles import Permission, User
from callcenter.api import accounts, directory, flood, incidents, live, operations, pages, sources, statistics
from callcenter.api.deps import ContainerDep, LoginRequired, require
from callcenter.api.directory import visible_household
from callcenter.api.limits import RequestSizeLimit
from callcenter.api.schemas import HouseholdDetail
from callcenter.bootstrap import Container
from callcenter.web import WEB_DIR

__all__ = ["create_app"]

Reader = Annotated[User, Depends(require(Permission.VIEW_DIRECTORY))]


def create_app(container: Container, on_stop: Callable[[], None] | None = None) -> FastAPI:
    """The HTTP application; ``on_stop`` runs when the server stops, after its last request.

    API docs (/docs, /redoc, /openapi.json) are served in demo mode only: Swagger UI loads its
    scripts from a third-party CDN, and production has no use for a map of every route."""
    docs = container.settings.mode == "demo"
    app = FastAPI(
        lifespan=_lifespan(on_stop),
        docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        title="995 one-key emergency service",
        version="0.1.0",
        description="Directory, incident and console API of the 995 service. Sign in with `POST /api/session`; "
                    "send the returned `csrf_token` as `X-CSRF-Token` with every state-changing request.",
    )
    app.state.container = container
    for module in (operations, accounts, incidents, flood, live, directory, statistics, sources):
        app.include_router(module.router)
    app.include_router(accounts.protected)
    app.get("/api/households/{household_id}", response_model=HouseholdDetail, tags=["directory"],
            responses={404: {"description": "No such household"}})(household_by_id)
    app.get("/api/lookup/{number}", response_model=HouseholdDetail, tags=["directory"],
            responses={404: {"description": "Unknown caller"}})(lookup_caller)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.add_exception_handler(LoginRequired, _to_login)
    for too_large in (OverflowError, DataError):
        app.add_exception_handler(too_large, _out_of_range)
    app.middleware("http")(_security_headers)
    app.add_middleware(RequestSizeLimit, max_bytes=container.settings.http.max_request_bytes)
    for router in container.channel_routers():  # the channels' webhooks (Twilio's when twilio.enabled)
        app.include_router(router)
    return app


def _lifespan(on_stop: Callable[[], None] | None) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    # uvicorn re-raises SIGTERM once it has shut down, which ends the process at once: whatever
    # must happen on a stop (SIP un-register, leg reports stored, leases released) happens here.
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if on_stop is not None:
            await anyio.to_thread.run_sync(on_stop)
    return lifespan


# Console pages load only their own scripts and styles; /docs (Swagger UI, demo mode only) loads its own
# from a CDN.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.url.path.startswith(("/docs", "/redoc")):
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


async def _out_of_range(request: Request, exc: Exception) -> Response:
    """A number in the request the database cannot hold (an id past 64 bits): the request's fault.

    Every integer path, query and body field reaches SQL; SQLite raises OverflowError and
    PostgreSQL "value out of range" for them, which are answered here rather than as a 500.
    """
    return JSONResponse({"detail": "a number in the request is out of range"}, status_code=422)


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", 303)


def household_by_id(household_id: int, user: Reader, container: ContainerDep) -> HouseholdDetail:
    """A household's profile, place and responders in escalation order."""
    return HouseholdDetail.of(visible_household(container, household_id, user))


def lookup_caller(number: str, user: Reader, container: ContainerDep) -> HouseholdDetail:
    """The household whose emergency key dials from ``number`` (any usual way of writing it)."""
    found = container.directory.household_by_caller(number)
    if found is None or not user.sees_grid(found.place.grid_id):
        raise HTTPException(404, f"unknown caller {number}")
    return HouseholdDetail.of(found)
