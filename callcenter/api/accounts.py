"""Accounts API: sign in and out, who am I, user administration (admin), the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from callcenter.accounts.roles import AccountError, AccountRole, Permission, User
from callcenter.accounts.service import AuditRecord, LoginFailed, LoginRefused
from callcenter.accounts.tokens import csrf_token
from callcenter.api.deps import (
    SESSION_COOKIE,
    ContainerDep,
    OptionalUserDep,
    client_address,
    csrf_protect,
    require,
    session_csrf_token,
)
from callcenter.bootstrap import ConsoleContainer

__all__ = [
    "Admin", "AuditPublic", "Auditor", "Credentials", "NewUser", "PasswordChange", "SessionInfo", "UserChange",
    "UserPublic", "audit_log", "change_user", "create_user", "list_users", "protected", "router", "set_password",
    "sign_in", "sign_out", "start_session", "who_am_i",
]

router = APIRouter(prefix="/api", tags=["accounts"])
protected = APIRouter(prefix="/api", tags=["accounts"], dependencies=[Depends(csrf_protect)])
Admin = Annotated[User, Depends(require(Permission.MANAGE_ACCOUNTS))]
Auditor = Annotated[User, Depends(require(Permission.VIEW_AUDIT))]


class Credentials(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class UserPublic(BaseModel):
    id: int
    name: str
    display_name: str
    role: AccountRole
    grid_id: int | None
    phone: str
    active: bool

    @classmethod
    def of(cls, u: User) -> UserPublic:
        return cls(id=u.id, name=u.name, display_name=u.display_name, role=u.role, grid_id=u.grid_id,
                   phone=u.phone, active=u.active)


class SessionInfo(BaseModel):
    user: UserPublic
    csrf_token: str = Field(description="send it as X-CSRF-Token with every state-changing request")


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: AccountRole
    password: str = Field(min_length=1, max_length=200)
    grid_id: int | None = None
    display_name: str = Field("", max_length=64)
    phone: str = Field("", max_length=32)


class UserChange(BaseModel):
    role: AccountRole | None = None
    grid_id: int | None = None
    active: bool | None = None
    display_name: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=32)


class PasswordChange(BaseModel):
    password: str = Field(min_length=1, max_length=200)


class AuditPublic(BaseModel):
    at: datetime
    user_name: str
    action: str
    target: str
    address: str
    before: dict[str, Any]
    after: dict[str, Any]

    @classmethod
    def of(cls, r: AuditRecord) -> AuditPublic:
        return cls(at=r.at, user_name=r.user_name, action=r.action, target=r.target, address=r.address,
                   before=r.before, after=r.after)


def start_session(container: ConsoleContainer, response: Response, name: str, password: str,
                  address: str) -> tuple[User, str]:
    """Check the password (rate limited) and set the session cookie; returns the user and the token."""
    try:
        login = container.accounts.login(name, password, address)
    except LoginRefused as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(int(exc.retry_after.total_seconds()) + 1)}
                            ) from exc
    except LoginFailed as exc:
        raise HTTPException(401, "wrong name or password") from exc
    secure = container.settings.http.public_base_url.startswith("https://")
    response.set_cookie(SESSION_COOKIE, login.token, max_age=int(container.accounts.session_ttl.total_seconds()),
                        httponly=True, samesite="lax", secure=secure, path="/")
    return login.user, login.token


@router.post("/session", response_model=SessionInfo, summary="Sign in (JSON)",
             responses={401: {"description": "Wrong name or password"}, 429: {"description": "Too many failures"}})
def sign_in(body: Credentials, request: Request, response: Response, container: ContainerDep) -> SessionInfo:
    user, token = start_session(container, response, body.name, body.password, client_address(request))
    secret = container.settings.session_secret.get_secret_value()
    return SessionInfo(user=UserPublic.of(user), csrf_token=csrf_token(secret, token))


@router.get("/session", response_model=SessionInfo, summary="Who is signed in, and their CSRF token")
def who_am_i(request: Request, user: OptionalUserDep, container: ContainerDep) -> SessionInfo:
    if user is None:
        raise HTTPException(401, "sign in first")
    return SessionInfo(user=UserPublic.of(user), csrf_token=session_csrf_token(request, container))


@protected.delete("/session", status_code=204, summary="Sign out")
def sign_out(request: Request, response: Response, user: OptionalUserDep, container: ContainerDep) -> None:
    if user is not None:
        container.accounts.logout(request.cookies.get(SESSION_COOKIE, ""), user, client_address(request))
    response.delete_cookie(SESSION_COOKIE, path="/")


@protected.get("/users", response_model=list[UserPublic], summary="Every account (admin)")
def list_users(_: Admin, container: ContainerDep) -> list[UserPublic]:
    return [UserPublic.of(u) for u in container.accounts.store.all_users()]


@protected.post("/users", response_model=UserPublic, status_code=201, summary="Create an account (admin)",
                responses={400: {"description": "Bad name, role, grid or password"}})
def create_user(body: NewUser, admin: Admin, container: ContainerDep, request: Request) -> UserPublic:
    try:
        user = container.accounts.add_user(body.name, str(body.role), body.password, body.grid_id,
                                           body.display_name, body.phone)
    except AccountError as exc:
        raise HTTPException(400, str(exc)) from exc
    container.accounts.audit(admin, "account_created", f"user:{user.name}", {}, UserPublic.of(user).model_dump(
        mode="json"), client_address(request))
    return UserPublic.of(user)


@protected.patch("/users/{user_id}", response_model=UserPublic, summary="Change role, grid, phone or disable (admin)",
                 responses={400: {"description": "Not a valid account after the change"}})
def change_user(user_id: int, body: UserChange, admin: Admin, container: ContainerDep,
                request: Request) -> UserPublic:
    # null clears the grid; for every other field (never empty in an account) it means "leave as it is"
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k == "grid_id"}
    try:
        user = container.accounts.update(admin, user_id, client_address(request), **changes)
    except AccountError as exc:
        raise HTTPException(400, str(exc)) from exc
    return UserPublic.of(user)


@protected.post("/users/{user_id}/password", status_code=204, summary="Set a new password (admin)")
def set_password(user_id: int, body: PasswordChange, admin: Admin, container: ContainerDep,
                 request: Request) -> None:
    try:
        container.accounts.set_password(user_id, body.password)
    except AccountError as exc:
        raise HTTPException(400, str(exc)) from exc
    container.accounts.audit(admin, "password_set", f"user_id:{user_id}", address=client_address(request))


@protected.get("/audit", response_model=list[AuditPublic], summary="The audit log, newest first")
def audit_log(_: Auditor, container: ContainerDep, target: str | None = None, limit: int = 200) -> list[AuditPublic]:
    return [AuditPublic.of(r) for r in container.accounts.store.audit_log(min(max(limit, 1), 1000), target)]
