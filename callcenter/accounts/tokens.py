"""Session and CSRF tokens.

The session cookie carries a random token; only its SHA-256 is stored, so a leaked table opens
no session. The CSRF token is an HMAC of the session token under the service's secret: a page can
only know it if it was served to the session holder, and it needs no storage.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["csrf_token", "csrf_valid", "new_session_token", "token_digest"]


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(secret: str, bound_to: str) -> str:
    """The CSRF token for a session (or a pre-login nonce)."""
    return hmac.new(secret.encode(), f"csrf:{bound_to}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: str, bound_to: str, presented: str | None) -> bool:
    if not presented or not bound_to:
        return False
    return hmac.compare_digest(csrf_token(secret, bound_to), presented)
