"""Operations: health (a pluggable list of probes) and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from callcenter.adapters.health import DatabaseProbe
from callcenter.api.deps import ContainerDep
from callcenter.sip.client import FOREIGN_SIP
from callcenter.sip.rtp import MEDIA_DROPS, MEDIA_QUALITY
from callcenter.web.media_metrics import MediaQualityCollector, MediaTrustCollector, SignallingTrustCollector
from callcenter.web.metrics import IncidentCollector, OutageCollector, WithoutDatabase
from callcenter.web.probe_metrics import ProbeCollector

__all__ = ["Health", "ProbePublic", "health", "metrics", "router", "scraper"]

router = APIRouter(tags=["operations"])


class ProbePublic(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: str
    database: str
    mode: str
    probes: dict[str, ProbePublic]


@router.get("/health", response_model=Health, summary="Database, scheduler leadership and channel state",
            responses={503: {"description": "A probe failed"}})
def health(container: ContainerDep) -> JSONResponse:
    results = {p.name: p.check() for p in container.health_probes}
    ok = all(r.ok for r in results.values())
    database = results["database"].detail if "database" in results else "unknown"
    body = Health(status="ok" if ok else "degraded", database=database, mode=container.settings.mode,
                  probes={name: ProbePublic(ok=r.ok, detail=r.detail) for name, r in results.items()})
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def scraper(request: Request, container: ContainerDep) -> None:
    """With ``metrics.token`` set, only a scraper sending it as a bearer token reads /metrics: the
    series name incident counts, channel errors and degraded parts of the service."""
    token = container.settings.metrics.token.get_secret_value()
    if not token:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        raise HTTPException(401, "a bearer token is required (metrics.token)", headers={"WWW-Authenticate": "Bearer"})


@router.get("/metrics", summary="Prometheus metrics (bearer token when metrics.token is set)",
            response_class=Response, dependencies=[Depends(scraper)],
            responses={401: {"description": "Missing or wrong bearer token"}})
def metrics(container: ContainerDep) -> Response:
    registry = CollectorRegistry()
    registry.register(WithoutDatabase(IncidentCollector(container.engine)))
    database_up = DatabaseProbe(lambda: container.engine).check().ok
    registry.register(OutageCollector(lambda: container.outage_view(database_up)))
    registry.register(ProbeCollector(container.health_probes))
    registry.register(MediaTrustCollector(MEDIA_DROPS.snapshot))  # this process's RTP: forged keys dropped
    registry.register(SignallingTrustCollector(FOREIGN_SIP))  # this process's SIP from around the edge
    registry.register(MediaQualityCollector(MEDIA_QUALITY.snapshot))  # ended calls' loss and jitter, RTCP
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
