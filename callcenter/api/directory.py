"""Directory API for the console: search households, view and edit special-care flags, notes, key
holders and responders, and the coverage report. Grid workers see and edit only their own grid."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from callcenter.accounts.roles import Permission, User
from callcenter.api.deps import ContainerDep, client_address, csrf_protect, require
from callcenter.api.schemas import HouseholdDetail
from callcenter.bootstrap import ConsoleContainer
from contacts.errors import InvalidPhoneNumber
from contacts.model import CARE_FLAG_LABELS, CareFlag
from contacts.phones import normalise_phone

__all__ = [
    "CoverageReport", "Editor", "GridPublic", "HouseholdChange", "HouseholdHit", "KeyHolderIn", "Reader",
    "ResponderChange", "coverage", "edit_household", "edit_responder", "grids", "household", "router", "search",
    "visible_household",
]

router = APIRouter(prefix="/api/directory", tags=["directory"], dependencies=[Depends(csrf_protect)])
Reader = Annotated[User, Depends(require(Permission.VIEW_DIRECTORY))]
Editor = Annotated[User, Depends(require(Permission.EDIT_DIRECTORY))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such household or responder (or not in your grid)"}}


class HouseholdHit(BaseModel):
    id: int
    code: str
    label: str
    address: str
    care_labels: list[str]
    grid_id: int
    grid: str
    group: str


class GridPublic(BaseModel):
    id: int
    name: str
    village: str
    town: str


class KeyHolderIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=1, max_length=32)


class HouseholdChange(BaseModel):
    care_flags: list[CareFlag] | None = None
    notes: str | None = Field(None, max_length=2000)
    key_holders: list[KeyHolderIn] | None = Field(None, max_length=10)


class ResponderChange(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64)
    phone: str | None = Field(None, min_length=1, max_length=32)


class CoverageReport(BaseModel):
    thin_groups: list[dict[str, Any]] = Field(description="joint-defense groups with fewer than 2 reachable responders")
    households_without_line: list[dict[str, Any]]
    grids_without_worker: list[dict[str, Any]]


@router.get("/grids", response_model=list[GridPublic], summary="Grids (a grid worker: their own)")
def grids(user: Reader, container: ContainerDep) -> list[GridPublic]:
    rows = container.console_queries.grids()
    return [GridPublic(id=r.id, name=r.name, village=r.village, town=r.town) for r in rows if user.sees_grid(r.id)]


@router.get("/households", response_model=list[HouseholdHit], summary="Search by name, number, address or code")
def search(user: Reader, container: ContainerDep,
           q: Annotated[str, Query(min_length=1, max_length=64)], limit: Annotated[int, Query(ge=1, le=200)] = 50,
           ) -> list[HouseholdHit]:
    rows = container.console_queries.search_households(q, user.grid_scope, limit)
    return [HouseholdHit(id=r.id, code=r.code, label=r.label, address=r.address, grid_id=r.grid_id,
                         care_labels=[CARE_FLAG_LABELS[CareFlag(f)] for f in r.care_flags],
                         grid=r.grid_name, group=r.group_name) for r in rows]


@router.get("/households/{household_id}", response_model=HouseholdDetail, responses=_NOT_FOUND,
            summary="A household's profile and responders")
def household(household_id: int, user: Reader, container: ContainerDep) -> HouseholdDetail:
    return HouseholdDetail.of(visible_household(container, household_id, user))


@router.patch("/households/{household_id}", response_model=HouseholdDetail, responses=_NOT_FOUND,
              summary="Edit special-care flags, notes or key holders")
def edit_household(household_id: int, body: HouseholdChange, user: Editor, container: ContainerDep,
                   request: Request) -> HouseholdDetail:
    visible_household(container, household_id, user)
    # null means "leave as it is": these columns have no empty state to set
    values: dict[str, Any] = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    if body.key_holders is not None:
        values["key_holders"] = [{"name": k.name.strip(), "phone": _phone(container, k.phone, "key_holders")}
                                 for k in body.key_holders]
    before = container.directory_edits.household_fields(household_id) or {}
    container.directory_edits.update_household(household_id, values)
    container.accounts.audit(user, "household_edited", f"household:{household_id}",
                             {k: before.get(k) for k in values}, values, client_address(request))
    return HouseholdDetail.of(visible_household(container, household_id, user))


@router.patch("/responders/{responder_id}", responses=_NOT_FOUND, summary="Correct a responder's name or phone")
def edit_responder(responder_id: int, body: ResponderChange, user: Editor, container: ContainerDep,
                   request: Request) -> dict[str, Any]:
    row = container.console_queries.responder(responder_id)
    if row is None or not user.sees_grid(container.directory_edits.responder_grid(row)):
        raise HTTPException(404, f"no responder {responder_id}")
    values: dict[str, Any] = body.model_dump(exclude_unset=True, exclude_none=True)
    if body.phone is not None:
        values["phone"] = _phone(container, body.phone, "phone")
    container.directory_edits.update_responder(responder_id, values)
    container.accounts.audit(user, "responder_edited", f"responder:{responder_id}",
                             {k: getattr(row, k) for k in values}, values, client_address(request))
    return {"id": responder_id, **{k: getattr(row, k) for k in ("name", "phone", "role")}, **values}


@router.get("/coverage", response_model=CoverageReport, summary="Where alerts would reach too few people")
def coverage(user: Reader, container: ContainerDep, grid: int | None = None,
             village: int | None = None) -> CoverageReport:
    if user.grid_scope is not None:
        if grid not in (None, user.grid_scope):
            raise HTTPException(403, "a grid worker sees only their own grid")
        grid = user.grid_scope
    found = container.directory_edits.coverage(grid, village)
    return CoverageReport(thin_groups=[dict(r._mapping) for r in found.thin_groups],
                          households_without_line=[dict(r._mapping) for r in found.households_without_line],
                          grids_without_worker=[dict(r._mapping) for r in found.grids_without_worker])


def visible_household(container: ConsoleContainer, household_id: int, user: User) -> Any:
    exists, grid_id = container.console_queries.household_grid(household_id)
    found = container.directory.household_by_id(household_id) if exists and user.sees_grid(grid_id) else None
    if found is None:
        raise HTTPException(404, f"no household {household_id}")
    return found


def _phone(container: ConsoleContainer, raw: str, field: str) -> str:
    try:
        return normalise_phone(raw, container.settings.directory.phone_policy(), field)
    except InvalidPhoneNumber as exc:
        raise HTTPException(422, str(exc)) from exc
