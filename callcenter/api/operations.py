"""Operations: health (a pluggable list of probes) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from callcenter.adapters.health import DatabaseProbe
from callcenter.api.deps import ContainerDep
from callcenter.sip.client import FOREIGN_SIP
from callcenter.sip.rtp import MEDIA_DROPS
from callcenter.web.media_metrics import MediaTrustCollector, SignallingTrustCollector
from callcenter.web.metrics import IncidentCollector, OutageCollector, WithoutDatabase
from callcenter.web.probe_metrics import ProbeCollector

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


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(container: ContainerDep) -> Response:
    registry = CollectorRegistry()
    registry.register(WithoutDatabase(IncidentCollector(container.engine)))
    database_up = DatabaseProbe(lambda: container.engine).check().ok
    registry.register(OutageCollector(lambda: container.outage_view(database_up)))
    registry.register(ProbeCollector(container.health_probes))
    registry.register(MediaTrustCollector(MEDIA_DROPS.snapshot))  # this process's RTP: forged keys dropped
    registry.register(SignallingTrustCollector(FOREIGN_SIP))  # this process's SIP from around the edge
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
