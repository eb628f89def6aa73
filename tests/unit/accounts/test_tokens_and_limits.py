"""CSRF tokens, session tokens, password hashes and the login rate limiter (time is a parameter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcenter.accounts.passwords import hash_password, needs_rehash, verify_password
from callcenter.accounts.ratelimit import LoginRateLimiter
from callcenter.accounts.tokens import csrf_token, csrf_valid, new_session_token, token_digest

NOW = datetime(2026, 3, 14, 1, 30, tzinfo=UTC)
SECRET = "a-secret-of-the-service-0123456789"


def test_csrf_token_is_bound_to_the_session_and_the_secret() -> None:
    token = csrf_token(SECRET, "session-a")
    assert csrf_valid(SECRET, "session-a", token)
    assert not csrf_valid(SECRET, "session-b", token)
    assert not csrf_valid("another-secret", "session-a", token)
    assert not csrf_valid(SECRET, "session-a", None)
    assert not csrf_valid(SECRET, "session-a", "")
    assert not csrf_valid(SECRET, "", csrf_token(SECRET, ""))  # no session, no valid token


def test_session_tokens_are_random_and_stored_as_digests() -> None:
    a, b = new_session_token(), new_session_token()
    assert a != b and len(a) >= 40
    assert token_digest(a) != a and len(token_digest(a)) == 64
    assert token_digest(a) == token_digest(a)


def test_passwords_hash_with_argon2_and_verify() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong")
    assert not verify_password(None, "anything")  # unknown user: same work, never a match
    assert not verify_password("not-a-hash", "anything")
    assert not needs_rehash(stored)


def test_failures_of_one_account_from_one_address_slow_only_that_pair_progressively() -> None:
    limiter = LoginRateLimiter(free_failures=3, max_delay=timedelta(seconds=8), max_per_address=100)
    at = NOW
    for _ in range(3):
        assert limiter.retry_after("operator", "10.0.0.1", at) is None
        limiter.failed("operator", "10.0.0.1", at)
    waits = []
    for _ in range(5):
        wait = limiter.retry_after("OPERATOR", "10.0.0.1", at)  # the name's case changes nothing
        assert wait is not None
        waits.append(wait.total_seconds())
        at += wait
        assert limiter.retry_after("operator", "10.0.0.1", at) is None
        limiter.failed("operator", "10.0.0.1", at)
    assert waits == [1, 2, 4, 8, 8]  # doubling up to the cap
    # never a lockout: the account from elsewhere, and other accounts from here, go ahead at once
    assert limiter.retry_after("operator", "10.0.0.2", at) is None
    assert limiter.retry_after("supervisor", "10.0.0.1", at) is None
    # forgotten once the window has passed since the last failure
    assert limiter.retry_after("operator", "10.0.0.1", at + timedelta(minutes=15, seconds=1)) is None


def test_address_is_limited_across_accounts() -> None:
    limiter = LoginRateLimiter(free_failures=100, max_per_address=4)
    for n in range(4):
        limiter.failed(f"user{n}", "10.0.0.9", NOW)
    assert limiter.retry_after("someone-else", "10.0.0.9", NOW) is not None
    assert limiter.retry_after("someone-else", "10.0.0.8", NOW) is None


def test_success_clears_its_pair_but_not_the_address() -> None:
    limiter = LoginRateLimiter(free_failures=2, max_per_address=3)
    limiter.failed("operator", "10.0.0.1", NOW)
    limiter.failed("operator", "10.0.0.1", NOW)
    limiter.succeeded("operator", "10.0.0.1")
    assert limiter.retry_after("operator", "10.0.0.1", NOW) is None
    limiter.failed("operator", "10.0.0.1", NOW)
    assert limiter.retry_after("x", "10.0.0.1", NOW) is not None
