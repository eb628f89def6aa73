"""Typed dependencies of the console and API: the container, the signed-in user, permissions, CSRF."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from callcenter.accounts.roles import Permission, User
from callcenter.accounts.tokens import csrf_token, csrf_valid
from callcenter.bootstrap import ConsoleContainer

__all__ = [
    "LANGUAGE_COOKIE",
    "PRE_LOGIN_COOKIE",
    "SESSION_COOKIE",
    "ContainerDep",
    "LoginRequired",
    "OptionalUserDep",
    "client_address",
    "csrf_protect",
    "require",
    "require_page",
    "session_csrf_token",
]

SESSION_COOKIE = "cc_session"
PRE_LOGIN_COOKIE = "cc_pre"  # a nonce that binds the login form's CSRF token before any session exists
LANGUAGE_COOKIE = "cc_lang"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """An HTML page asked for without a session: the app redirects to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def get_container(request: Request) -> ConsoleContainer:
    container = request.app.state.container
    assert isinstance(container, ConsoleContainer)
    return container


ContainerDep = Annotated[ConsoleContainer, Depends(get_container)]


def optional_user(request: Request, container: ContainerDep) -> User | None:
    if not hasattr(request.state, "user"):
        request.state.user = container.accounts.user_for_session(request.cookies.get(SESSION_COOKIE))
    user = request.state.user
    assert user is None or isinstance(user, User)
    return user


OptionalUserDep = Annotated[User | None, Depends(optional_user)]


def require(permission: Permission) -> Callable[[User | None], User]:
    """An API dependency: 401 without a session, 403 when the role lacks ``permission``."""
    def check(user: OptionalUserDep) -> User:
        if user is None:
            raise HTTPException(401, "sign in first")
        if not user.can(permission):
            raise HTTPException(403, f"your role may not {permission.value.replace('_', ' ')}")
        return user
    return check


def require_page(permission: Permission) -> Callable[[Request, User | None], User]:
    """A page dependency: redirect to the login page without a session, 403 without permission."""
    def check(request: Request, user: OptionalUserDep) -> User:
        if user is None:
            raise LoginRequired(request.url.path)
        if not user.can(permission):
            raise HTTPException(403, f"your role may not {permission.value.replace('_', ' ')}")
        return user
    return check


def session_csrf_token(request: Request, container: ConsoleContainer) -> str:
    return csrf_token(container.settings.session_secret.get_secret_value(), request.cookies.get(SESSION_COOKIE, ""))


async def csrf_protect(request: Request, container: ContainerDep, user: OptionalUserDep) -> None:
    """Every state-changing request of a signed-in browser must carry the session's CSRF token,
    in the ``X-CSRF-Token`` header (console scripts) or the ``csrf_token`` form field (forms)."""
    if request.method not in _UNSAFE:
        return
    if user is None:
        raise HTTPException(401, "sign in first")
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    secret = container.settings.session_secret.get_secret_value()
    if not csrf_valid(secret, request.cookies.get(SESSION_COOKIE, ""), presented):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page")


def client_address(request: Request) -> str:
    """Who is asking, for sign-in limits and the audit log (http.trusted_proxies)."""
    peer = request.client.host if request.client else "unknown"
    trusted = get_container(request).settings.http.trusted_proxies
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), trusted)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def forwarded_client(peer: str, forwarded: Sequence[str], trusted: Sequence[Network]) -> str:
    """The direct ``peer``, unless it is a trusted proxy: then the last X-Forwarded-For hop that is
    not one of ours (the address our outermost proxy saw). Hops further left are whatever the
    client chose to write and are never believed."""
    if not _one_of(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded for hop in value.split(",")]
    for hop in reversed(hops):
        if not _one_of(hop, trusted):
            return hop if _address(hop) is not None else peer  # garbage from a proxy: keep the proxy
    return peer


def _one_of(text: str, networks: Sequence[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
