"""API schemas, separate from table models so storage never leaks into the API."""

from __future__ import annotations

from pydantic import BaseModel

from contacts.model import CallerLookup, HouseholdProfile, Place, Responder
from contacts.phones import display_phone

__all__ = ["HouseholdDetail"]


class ContactPublic(BaseModel):
    name: str
    phone: str
    phone_display: str


class ResponderPublic(BaseModel):
    id: int
    name: str
    role: str
    role_label: str
    phone: str
    phone_display: str
    scope: str
    household_id: int | None

    @classmethod
    def of(cls, r: Responder) -> ResponderPublic:
        return cls(id=r.id, name=r.name, role=r.role, role_label=r.role_label, phone=r.phone,
                   phone_display=display_phone(r.phone), scope=r.scope, household_id=r.household_id)


class PlacePublic(BaseModel):
    town: str
    village: str
    grid: str
    group: str
    path: str

    @classmethod
    def of(cls, p: Place) -> PlacePublic:
        return cls(town=p.town, village=p.village, grid=p.grid, group=p.group, path=p.path)


class HouseholdPublic(BaseModel):
    id: int
    code: str
    label: str
    head: str
    address: str
    emergency_lines: list[str]
    care_flags: list[str]
    care_labels: list[str]
    residents: list[str]
    key_holders: list[ContactPublic]
    notes: str

    @classmethod
    def of(cls, h: HouseholdProfile) -> HouseholdPublic:
        return cls(
            id=h.id, code=h.code, label=h.label, head=h.head, address=h.address,
            emergency_lines=list(h.emergency_lines), care_flags=sorted(h.care_flags),
            care_labels=list(h.care_labels), residents=list(h.residents),
            key_holders=[ContactPublic(name=k.name, phone=k.phone, phone_display=display_phone(k.phone))
                         for k in h.key_holders],
            notes=h.notes,
        )


class HouseholdDetail(BaseModel):
    """A household with everyone who answers for it, in escalation order."""

    household: HouseholdPublic
    place: PlacePublic
    own_contacts: list[ResponderPublic]
    neighbours: list[ResponderPublic]
    upper_levels: list[ResponderPublic]

    @classmethod
    def of(cls, found: CallerLookup) -> HouseholdDetail:
        return cls(
            household=HouseholdPublic.of(found.household),
            place=PlacePublic.of(found.place),
            own_contacts=[ResponderPublic.of(r) for r in found.own_contacts],
            neighbours=[ResponderPublic.of(r) for r in found.neighbours],
            upper_levels=[ResponderPublic.of(r) for r in found.upper_levels],
        )


class Health(BaseModel):
    status: str
    database: str
    mode: str
