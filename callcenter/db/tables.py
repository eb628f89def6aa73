"""Directory tables. Table models stay in this adapter; the API has its own schemas.

The lookup path a key press takes is ``emergency_line.number`` (primary key) → household →
group → grid → village → town, then ``responder.scope_key`` (indexed) for the four levels.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["EmergencyLine", "Grid", "Household", "JointDefenseGroup", "ResponderRow", "Town", "Village", "scope_key"]


class Town(SQLModel, table=True):
    __tablename__ = "town"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)


class Village(SQLModel, table=True):
    __tablename__ = "village"
    __table_args__ = (UniqueConstraint("town_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    town_id: int = Field(foreign_key="town.id", ondelete="CASCADE")
    name: str = Field(max_length=64)


class Grid(SQLModel, table=True):
    __tablename__ = "grid"
    __table_args__ = (UniqueConstraint("village_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", ondelete="CASCADE")
    name: str = Field(max_length=64)


class JointDefenseGroup(SQLModel, table=True):
    __tablename__ = "joint_defense_group"
    __table_args__ = (UniqueConstraint("grid_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    grid_id: int = Field(foreign_key="grid.id", ondelete="CASCADE")
    name: str = Field(max_length=64)


class Household(SQLModel, table=True):
    __tablename__ = "household"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)  # 户编号, the roster's stable id
    group_id: int = Field(foreign_key="joint_defense_group.id", index=True, ondelete="CASCADE")
    head: str = Field(max_length=64)
    label: str = Field(max_length=128)
    address: str = Field(max_length=256)
    care_flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    residents: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    key_holders: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str = Field(default="", max_length=2000)


class EmergencyLine(SQLModel, table=True):
    """A caller ID a household's emergency key dials from; unique across the directory."""

    __tablename__ = "emergency_line"
    number: str = Field(primary_key=True, max_length=32)
    household_id: int = Field(foreign_key="household.id", index=True, ondelete="CASCADE")


class ResponderRow(SQLModel, table=True):
    """A person or post that receives alerts for the level it covers.

    ``scope_key`` is ``"<level>:<id>"`` so one indexed IN finds every level of a caller.
    """

    __tablename__ = "responder"
    __table_args__ = (Index("ix_responder_scope_key", "scope_key"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    phone: str = Field(max_length=32, index=True)
    role: str = Field(max_length=32)
    scope_level: str = Field(max_length=16)
    scope_id: int
    scope_key: str = Field(max_length=48)
    household_id: int | None = Field(
        default=None, foreign_key="household.id", index=True, ondelete="CASCADE"
    )
    position: int = 0  # order within a household's contacts


def scope_key(level: str, scope_id: int) -> str:
    return f"{level}:{scope_id}"
