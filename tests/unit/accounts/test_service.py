"""AccountService over the in-memory store: sign-in, sessions, limits and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcenter.accounts.memory import InMemoryAccounts
from callcenter.accounts.ratelimit import LoginRateLimiter
from callcenter.accounts.roles import AccountError, AccountRole
from callcenter.accounts.service import AccountService, LoginFailed, LoginRefused
from tests.unit.factories import SteppingClock

PASSWORD = "correct-horse-995"


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def service(clock: SteppingClock) -> AccountService:
    accounts = AccountService(InMemoryAccounts(), clock, LoginRateLimiter(free_failures=3),
                              session_ttl=timedelta(hours=8))
    accounts.add_user("operator", "operator", PASSWORD)
    accounts.add_user("liu", "grid_worker", PASSWORD, grid_id=3, phone="+8613800000003")
    return accounts


def store(service: AccountService) -> InMemoryAccounts:
    assert isinstance(service.store, InMemoryAccounts)
    return service.store


def test_sign_in_opens_a_session_that_expires(service: AccountService, clock: SteppingClock) -> None:
    login = service.login("liu", PASSWORD, "10.0.0.1")
    assert login.user.role is AccountRole.GRID_WORKER and login.user.grid_id == 3
    assert service.user_for_session(login.token) == login.user
    clock.advance(8 * 3600 + 1)
    assert service.user_for_session(login.token) is None


def test_wrong_password_or_name_fails_the_same_way_and_is_audited(service: AccountService) -> None:
    with pytest.raises(LoginFailed):
        service.login("operator", "wrong-password", "10.0.0.1")
    with pytest.raises(LoginFailed):
        service.login("nobody", PASSWORD, "10.0.0.1")
    assert [r.action for r in store(service).audit] == ["login_failed", "login_failed"]
    assert store(service).audit[0].target == "user:operator"


def test_repeated_failures_slow_that_address_but_not_the_operator_elsewhere(service: AccountService) -> None:
    for _ in range(3):
        with pytest.raises(LoginFailed):
            service.login("operator", "wrong-password", "10.0.0.1")
    with pytest.raises(LoginRefused) as refused:
        service.login("operator", PASSWORD, "10.0.0.1")
    assert refused.value.retry_after > timedelta(0)
    assert service.login("operator", PASSWORD, "10.0.0.2").user.name == "operator"


def test_sign_out_ends_the_session(service: AccountService) -> None:
    login = service.login("operator", PASSWORD, "10.0.0.1")
    service.logout(login.token, login.user)
    assert service.user_for_session(login.token) is None
    assert [r.action for r in store(service).audit][-1] == "logout"


def test_disabling_an_account_ends_its_sessions_and_is_audited(service: AccountService) -> None:
    admin = service.add_user("root", "admin", PASSWORD)
    login = service.login("operator", PASSWORD, "10.0.0.1")
    service.update(admin, login.user.id, "10.0.0.5", active=False)
    assert service.user_for_session(login.token) is None
    with pytest.raises(LoginFailed):
        service.login("operator", PASSWORD, "10.0.0.1")
    change = next(r for r in store(service).audit if r.action == "account_changed")
    assert (change.user_name, change.before["active"], change.after["active"]) == ("root", True, False)


def test_a_change_that_breaks_the_account_is_refused(service: AccountService) -> None:
    admin = service.add_user("root", "admin", PASSWORD)
    operator = store(service).by_name("operator")
    assert operator is not None
    with pytest.raises(AccountError, match="needs --grid"):
        service.update(admin, operator.user.id, role=AccountRole.GRID_WORKER)


def test_duplicate_names_and_short_passwords_are_refused(service: AccountService) -> None:
    with pytest.raises(AccountError, match="taken"):
        service.add_user("operator", "operator", PASSWORD)
    with pytest.raises(AccountError, match="at least"):
        service.add_user("new", "operator", "short")
