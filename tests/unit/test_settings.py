"""Settings: shipped defaults, a --config file over them, the environment over both."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from callcenter.settings import DEFAULT_CONFIG_FILE, DEMO_SECRET, Settings, load_settings
from contacts.phones import PhonePolicy

REAL_SECRET = "k3y-" + "x7" * 20  # 44 characters


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's own CALLCENTER_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("CALLCENTER_"):
            monkeypatch.delenv(name)


def write_config(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_shipped_file() -> None:
    shipped = tomllib.loads(DEFAULT_CONFIG_FILE.read_text(encoding="utf-8"))
    settings = load_settings()
    assert settings.mode == shipped["mode"] == "demo"
    assert settings.data_dir == Path(shipped["data_dir"])  # the file's relative "var", not the code's default
    assert settings.log_level == shipped["log_level"]
    assert settings.http.port == shipped["http"]["port"]
    assert settings.http.host == shipped["http"]["host"]
    assert settings.directory.region == shipped["directory"]["region"]
    assert settings.directory.max_group_responders == shipped["directory"]["max_group_responders"]


def test_empty_database_url_means_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'callcenter.db'}"
    assert settings.is_sqlite


def test_demo_mode_gets_the_demo_secret() -> None:
    assert load_settings().session_secret.get_secret_value() == DEMO_SECRET


def test_a_config_file_overrides_only_the_keys_it_names(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, 'log_level = "DEBUG"\n[http]\nport = 9001\n[directory]\nallow_extensions = false\n'
    )
    settings = load_settings(config)
    assert settings.log_level == "DEBUG"
    assert settings.http.port == 9001
    assert settings.http.host == "127.0.0.1"  # the rest of [http] still comes from the shipped file
    assert settings.directory.allow_extensions is False
    assert settings.directory.extension_max_digits == 6


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a file"):
        load_settings(tmp_path)


def test_a_broken_config_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line 1"):
        load_settings(write_config(tmp_path, "mode = \n"))


def test_environment_sets_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://callcenter:pw@db.example:5432/callcenter"
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", url)
    settings = load_settings()
    assert settings.database_url == url
    assert not settings.is_sqlite


def test_environment_sets_nested_keys_with_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_HTTP__PORT", "9100")
    settings = load_settings()
    assert settings.http.port == 9100
    assert settings.http.host == "127.0.0.1"


def test_environment_beats_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, "[http]\nport = 9001\n")
    monkeypatch.setenv("CALLCENTER_HTTP__PORT", "9100")
    assert load_settings(config).http.port == 9100


def test_keyword_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", "sqlite:////elsewhere.db")
    assert load_settings(database_url=f"sqlite:///{tmp_path}/x.db").database_url == f"sqlite:///{tmp_path}/x.db"


@pytest.mark.parametrize("secret", [None, "", "short-secret", DEMO_SECRET])
def test_production_refuses_a_missing_short_or_demo_secret(tmp_path: Path, secret: str | None) -> None:
    config = write_config(tmp_path, 'mode = "production"\n')
    overrides = {} if secret is None else {"session_secret": secret}
    with pytest.raises(ValidationError, match="session_secret"):
        load_settings(config, **overrides)


def test_production_accepts_a_real_secret_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCENTER_MODE", "production")
    monkeypatch.setenv("CALLCENTER_SESSION_SECRET", REAL_SECRET)
    settings = load_settings()
    assert settings.mode == "production"
    assert settings.session_secret.get_secret_value() == REAL_SECRET
    assert REAL_SECRET not in repr(settings)


def test_production_needs_the_twilio_token_with_the_account(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'mode = "production"\n[twilio]\naccount_sid = "AC123"\n')
    with pytest.raises(ValidationError, match="auth_token"):
        load_settings(config, session_secret=REAL_SECRET)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="mode"):
        load_settings(mode="staging")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 1\n", "colour"),
        ("[http]\nprot = 9000\n", "http.prot"),
        ("[directory]\nallow_extension = false\n", "directory.allow_extension"),  # typo of allow_extensions
        ("[sms]\nprovider = 'x'\n", "sms"),
    ],
)
def test_unknown_keys_are_refused(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted") as caught:
        load_settings(write_config(tmp_path, text))
    assert key in str(caught.value)


def test_unknown_nested_key_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_HTTP__PROT", "9000")
    with pytest.raises(ValidationError, match=r"http\.prot"):
        load_settings()


@pytest.mark.parametrize(
    "text",
    [
        "[http]\nport = 70000\n",
        "[http]\nport = 'eighty'\n",
        "[directory]\nextension_min_digits = 0\n",
        "[directory]\nextension_min_digits = 6\nextension_max_digits = 4\n",
        "[directory]\nmax_group_responders = 0\n",
    ],
)
def test_bad_values_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValidationError):
        load_settings(write_config(tmp_path, text))


def test_phone_policy_follows_the_directory_settings(tmp_path: Path) -> None:
    text = "[directory]\nallow_extensions = false\nextension_min_digits = 4\nextension_max_digits = 5\n"
    policy = load_settings(write_config(tmp_path, text)).directory.phone_policy()
    assert policy == PhonePolicy("CN", allow_extensions=False, extension_min_digits=4, extension_max_digits=5)


def test_settings_is_one_typed_object() -> None:
    assert isinstance(load_settings(), Settings)


def test_a_recording_channel_needs_a_placement_log(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="placement_log is required"):
        load_settings(write_config(tmp_path, '[engine]\ncall_channel = "recording"\n'))
    log = tmp_path / "placements.jsonl"
    settings = load_settings(write_config(tmp_path, f'[engine]\nsms_channel = "recording"\nplacement_log = "{log}"\n'))
    assert (settings.engine.call_channel, settings.engine.sms_channel, settings.engine.placement_log) == (
        "simulated", "recording", log)


def test_the_scheduler_lease_defaults_to_six_seconds_and_refuses_nonsense(tmp_path: Path) -> None:
    assert load_settings().engine.lease_seconds == 6.0
    with pytest.raises(ValidationError, match="lease_seconds"):
        load_settings(write_config(tmp_path, "[engine]\nlease_seconds = 0.1\n"))
