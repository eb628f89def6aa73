"""FastAPI application: thin HTTP over the container's components."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from callcenter.api.schemas import Health, HouseholdDetail
from callcenter.bootstrap import Container
from callcenter.db.directory_repo import SqlDirectory
from callcenter.twilio import wiring as twilio_wiring
from callcenter.twilio.router import twilio_router


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="995 one-key emergency service",
        version="0.1.0",
        description="Directory and incident API of the 995 service.",
    )
    app.state.container = container
    app.get("/health", response_model=Health, tags=["operations"])(health)
    app.get("/api/households/{household_id}", response_model=HouseholdDetail, tags=["directory"],
            responses={404: {"description": "No such household"}})(household_by_id)
    app.get("/api/lookup/{number}", response_model=HouseholdDetail, tags=["directory"],
            responses={404: {"description": "Unknown caller"}})(lookup_caller)
    if container.settings.twilio.enabled:
        check = twilio_wiring.signature_check(container.settings.twilio, container.settings.http.public_base_url)
        app.include_router(twilio_router(lambda: container.twilio_webhooks, check))
    return app


def _container(request: Request) -> Container:
    container = request.app.state.container
    assert isinstance(container, Container)
    return container


def _directory(request: Request) -> SqlDirectory:
    return _container(request).directory


ContainerDep = Annotated[Container, Depends(_container)]
DirectoryDep = Annotated[SqlDirectory, Depends(_directory)]


def health(container: ContainerDep) -> JSONResponse:
    """Liveness and database reachability. 503 when the database does not answer."""
    try:
        with container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # any driver error means "unreachable" to an operator
        database = f"unreachable: {type(exc).__name__}"
    body = Health(status="ok" if database == "ok" else "degraded", database=database,
                  mode=container.settings.mode)
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)


def household_by_id(household_id: int, directory: DirectoryDep) -> HouseholdDetail:
    """A household's profile, place and responders in escalation order."""
    found = directory.household_by_id(household_id)
    if found is None:
        raise HTTPException(404, f"no household {household_id}")
    return HouseholdDetail.of(found)


def lookup_caller(number: str, directory: DirectoryDep) -> HouseholdDetail:
    """The household whose emergency key dials from ``number`` (any usual way of writing it)."""
    found = directory.household_by_caller(number)
    if found is None:
        raise HTTPException(404, f"unknown caller {number}")
    return HouseholdDetail.of(found)
