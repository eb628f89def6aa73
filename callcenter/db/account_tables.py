"""Account tables: operator accounts, their sessions and the audit log of every operator action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from callcenter.db.types import UtcDateTime

__all__ = ["AuditEntry", "UserAccount", "UserSession"]


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


class UserAccount(SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=64)
    role: str = Field(max_length=16)
    grid_id: int | None = Field(default=None, foreign_key="grid.id", ondelete="SET NULL")
    phone: str = Field(default="", max_length=32)
    password_hash: str = Field(max_length=200)
    active: bool = True
    created_at: datetime = _ts()


class UserSession(SQLModel, table=True):
    """A logged-in browser. Only the token's digest is stored."""

    __tablename__ = "user_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    created_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)
    address: str = Field(default="", max_length=64)


class AuditEntry(SQLModel, table=True):
    """Who did what, when, to what, with the state before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    user_id: int | None = None
    user_name: str = Field(max_length=64)
    action: str = Field(max_length=48)
    target: str = Field(max_length=200)
    address: str = Field(default="", max_length=64)
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
