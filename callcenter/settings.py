"""One typed settings object.

Sources, strongest first: keyword arguments, environment (``CALLCENTER_*``, nested with ``__``,
e.g. ``CALLCENTER_TWILIO__AUTH_TOKEN``), the file given by ``--config``, then
``config/callcenter.toml`` shipped with the project.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from contacts.phones import PhonePolicy

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_CONFIG_FILE",
    "DEMO_SECRET",
    "AliyunSmsSettings",
    "CloudSmsSettings",
    "EngineSettings",
    "Settings",
    "SipSettings",
    "SmppSettings",
    "TencentSmsSettings",
    "TwilioSettings",
    "load_settings",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("CALLCENTER_CONFIG_DIR", PROJECT_ROOT / "config"))
DEFAULT_CONFIG_FILE = CONFIG_DIR / "callcenter.toml"
DEMO_SECRET = "demo-only-not-a-secret"  # refused outside demo mode


class _Section(BaseModel):
    """A ``[section]`` of the settings: a misspelt key is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DirectorySettings(_Section):
    region: str = "CN"
    allow_extensions: bool = True
    extension_min_digits: int = Field(3, ge=1, le=8)
    extension_max_digits: int = Field(6, ge=1, le=8)
    max_group_responders: int = Field(20, ge=1)
    # A roster file bigger than this is refused before it is read (a district's CSV is 28 MB).
    max_roster_bytes: int = Field(64 * 1024 * 1024, ge=1024)

    @model_validator(mode="after")
    def _extension_range(self) -> DirectorySettings:
        if self.extension_min_digits > self.extension_max_digits:
            raise ValueError("directory.extension_min_digits is larger than directory.extension_max_digits")
        return self

    def phone_policy(self) -> PhonePolicy:
        return PhonePolicy(
            region=self.region,
            allow_extensions=self.allow_extensions,
            extension_min_digits=self.extension_min_digits,
            extension_max_digits=self.extension_max_digits,
        )


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8995, ge=0, le=65535)
    public_base_url: str = "http://127.0.0.1:8995"
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client. From any other
    # peer the header is ignored: anybody can write it, and sign-in limits go by client address.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # Request bodies above this are answered 413 before they are read (JSON, forms, Twilio webhooks).
    max_request_bytes: int = Field(1024 * 1024, ge=1024)


class MetricsSettings(_Section):
    """``/metrics``: with a token, Prometheus must send ``Authorization: Bearer <token>``."""

    token: SecretStr = SecretStr("")  # empty: open (demo); production refuses to start without one


class TwilioSettings(_Section):
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    api_base_url: str = ""  # empty: Twilio's own hosts; tests point it at the local emulator
    enabled: bool = False
    call_from: list[str] = []  # our Twilio numbers placing alert calls (E.164)
    sms_from: list[str] = []  # our Twilio numbers sending texts (E.164)
    # Twilio's defaults are 1 call/s per account and 1 SMS/s per number; raise only what the account has.
    calls_per_second_per_number: float = Field(1.0, gt=0, le=100)
    calls_per_second_per_account: float = Field(1.0, gt=0, le=100)
    sms_per_second_per_number: float = Field(1.0, gt=0, le=100)
    sms_per_second_per_account: float = Field(1.0, gt=0, le=100)
    request_timeout_seconds: float = Field(3.0, gt=0, le=30)
    ring_seconds: int = Field(30, ge=5, le=600)
    down_retries: int = Field(1, ge=0, le=10)  # tries after a 5xx/timeout before failing over
    rate_limited_retries: int = Field(6, ge=0, le=50)
    backoff_seconds: float = Field(0.5, gt=0, le=30)
    recheck_seconds: float = Field(30.0, gt=0)  # a failed path gets new legs again after this long
    routes_file: Path = CONFIG_DIR / "channels.yaml"  # which path carries which leg (failover policy)
    # Public URL of recorded prompts (<prompt id>.wav) Twilio plays instead of speaking; empty: <Say>.
    prompt_base_url: str = ""

    def check_secrets(self, mode: str) -> None:
        """Enabled Twilio needs an account and a real token; demo mode gets the demo token."""
        if not self.enabled:
            return
        if not self.account_sid or not (self.call_from or self.sms_from):
            raise ValueError("twilio.enabled needs twilio.account_sid and twilio.call_from or twilio.sms_from")
        token = self.auth_token.get_secret_value()
        if mode == "demo" and not token:
            self.auth_token = SecretStr(DEMO_SECRET)
        elif mode != "demo" and (len(token) < 32 or token == DEMO_SECRET):
            raise ValueError("twilio.auth_token must be the account's 32-character auth token in production "
                             "(CALLCENTER_TWILIO__AUTH_TOKEN)")


class CloudSmsSettings(_Section):
    """What the template SMS providers (Aliyun SMS, Tencent Cloud SMS) share: their approved templates,
    our push endpoints, retries, delivery-report waiting and sending limits (docs/sms.md)."""

    enabled: bool = False
    # Empty: the provider's own API host. Tests point it at a local emulator ("127.0.0.1:port").
    endpoint: str = ""
    protocol: Literal["https", "http"] = "https"  # http only for a local emulator
    templates_file: Path = CONFIG_DIR / "sms.yaml"  # approved signature and templates (the book by provider name)
    # The secret path segment of our push endpoints (/sms/<provider>/<token>/…): the providers sign no push,
    # so the URL given in their console is the credential (docs/security.md). Refused when short outside demo.
    callback_token: SecretStr = SecretStr("")
    # Addresses the pushes may come from (the provider's callback egress); empty: any (demo, tests).
    push_sources: list[IPvAnyNetwork] = Field(default_factory=list)
    request_timeout_seconds: float = Field(3.0, gt=0, le=30)
    down_retries: int = Field(1, ge=0, le=10)  # tries after a 5xx or refused connection before failing over
    backoff_seconds: float = Field(0.3, gt=0, le=30)
    recheck_seconds: float = Field(30.0, gt=0)  # a path given up (errors, throttling) is tried again after this
    throttles_before_down: int = Field(3, ge=1, le=1000)  # throttled answers within recheck_seconds that mark it down
    # A message without a delivery report after report_wait_seconds is asked for (the fallback poll)…
    report_wait_seconds: float = Field(30.0, gt=0, le=86400)
    poll_seconds: float = Field(10.0, gt=0, le=3600)
    # …and while messages wait, no report at all for report_silence_seconds marks the path down.
    report_silence_seconds: float = Field(120.0, gt=0, le=86400)
    # Our side of the provider's limits (callcenter.channels.limits): per number per day, per account per second.
    per_number_per_day: int = Field(50, ge=1)
    per_account_per_second: int = Field(100, ge=1)

    def _check_token(self, mode: str, section: str) -> None:
        token = self.callback_token.get_secret_value()
        if mode == "demo" and not token:
            self.callback_token = SecretStr(DEMO_SECRET)
        elif mode != "demo" and (len(token) < 32 or token == DEMO_SECRET):
            raise ValueError(f"{section}.callback_token must be at least 32 random characters in production "
                             f"(CALLCENTER_{section.upper()}__CALLBACK_TOKEN)")

    @staticmethod
    def _check_secret(mode: str, section: str, name: str, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value()
        if mode == "demo" and not value:
            return SecretStr(DEMO_SECRET)
        if mode != "demo" and (not value or value == DEMO_SECRET):
            raise ValueError(f"{section}.{name} must be the account's own secret in production "
                             f"(CALLCENTER_{section.upper()}__{name.upper()})")
        return secret


class AliyunSmsSettings(CloudSmsSettings):
    """Aliyun SMS (dysmsapi 2017-05-25) through a RAM user's AccessKey (docs/sms.md)."""

    access_key_id: str = ""
    access_key_secret: SecretStr = SecretStr("")
    region: str = "cn-hangzhou"

    def check_secrets(self, mode: str) -> None:
        if not self.enabled:
            return
        if not self.access_key_id:
            raise ValueError("aliyun_sms.enabled needs aliyun_sms.access_key_id")
        self.access_key_secret = self._check_secret(mode, "aliyun_sms", "access_key_secret", self.access_key_secret)
        self._check_token(mode, "aliyun_sms")


class TencentSmsSettings(CloudSmsSettings):
    """Tencent Cloud SMS (API 2021-01-11) through a CAM sub-user's SecretId/SecretKey (docs/sms.md)."""

    secret_id: str = ""
    secret_key: SecretStr = SecretStr("")
    sdk_app_id: str = ""  # the SMS application (SdkAppId) in the SMS console
    region: str = "ap-guangzhou"

    def check_secrets(self, mode: str) -> None:
        if not self.enabled:
            return
        if not self.secret_id or not self.sdk_app_id:
            raise ValueError("tencent_sms.enabled needs tencent_sms.secret_id and tencent_sms.sdk_app_id")
        self.secret_key = self._check_secret(mode, "tencent_sms", "secret_key", self.secret_key)
        self._check_token(mode, "tencent_sms")


class SmppSettings(_Section):
    """SMPP 3.4 to a carrier's SMSC or an SMS gateway (engine.sms_channel = "smpp", or a path named
    "smpp" in config/channels.yaml when ``enabled``); docs/sms.md, "SMPP"."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = Field("", max_length=15)  # SMPP 3.4: at most 15 characters
    password: SecretStr = SecretStr("")  # at most 8 characters in SMPP 3.4
    system_type: str = Field("", max_length=12)
    source_addr: str = Field("995", min_length=1, max_length=20)  # our number or 106… service code
    source_ton: int = Field(0, ge=0, le=6)  # 0 unknown, 1 international, 2 national, 3 network specific…
    source_npi: int = Field(1, ge=0, le=18)  # 1 ISDN (E.164)
    window: int = Field(10, ge=1, le=1000)  # submit_sm without a response at once
    throughput: float = Field(100.0, gt=0, le=10000)  # submits per second at most (the contract's rate)
    enquire_link_seconds: float = Field(30.0, ge=1, le=600)
    reconnect_seconds: float = Field(1.0, gt=0, le=60)  # first back-off after a failed bind; doubles
    reconnect_max_seconds: float = Field(60.0, gt=0, le=3600)
    bind_wait_seconds: float = Field(5.0, ge=0, le=60)  # a send waits this long for a bind, then fails over
    submit_timeout_seconds: float = Field(30.0, gt=0, le=600)  # written, unanswered: left submitted
    report_seconds: float = Field(600.0, gt=0)  # a message without receipt this long: path unhealthy
    recheck_seconds: float = Field(30.0, gt=0)  # after a throttle or system error
    outbox_size: int = Field(20000, ge=1)
    per_number_per_hour: int = Field(0, ge=0)  # 0: no limit of our own to one number
    per_account_per_second: int = Field(0, ge=0)  # 0: only the throughput pacing

    def check_secrets(self, mode: str) -> None:
        if not self.enabled:
            return
        if not self.system_id:
            raise ValueError("smpp.enabled needs smpp.system_id (the account the SMSC gave us)")
        password = self.password.get_secret_value()
        if mode != "demo" and (not password or password == DEMO_SECRET):
            raise ValueError("smpp.password must be set to the SMSC account's password in production "
                             "(CALLCENTER_SMPP__PASSWORD)")


class SipSettings(_Section):
    """The SIP channel (engine.call_channel = "sip"): our phone registers at a registrar/proxy (Kamailio)."""

    registrar_host: str = "127.0.0.1"
    registrar_port: int = Field(5060, ge=1, le=65535)
    extension: str = Field("995", min_length=1)
    password: SecretStr = SecretStr("")  # empty: the registrar does not challenge us
    local_ip: str = "127.0.0.1"  # the address put in Via, Contact and SDP
    sip_port: int = Field(5062, ge=0, le=65535)  # 0: any free port
    # Our alert calls' own socket (0: any free port), so that in a flood their responses never queue
    # ahead of a household's INVITE on sip_port. Open it to the registrar/proxy as sip_port is.
    alert_port: int = Field(0, ge=0, le=65535)
    rtp_port_low: int = Field(10000, ge=1024, le=65535)
    rtp_port_high: int = Field(10999, ge=1024, le=65535)
    # Binding lifetime asked of the registrar; refreshed at 80%. Short: a restarted registrar that
    # forgot us (in-memory location table) learns our binding again within that time.
    register_expires: int = Field(60, ge=10, le=3600)
    ring_timeout: float = Field(30.0, gt=0)  # an alert call ringing longer is CANCELled (no answer)
    max_channels: int = Field(30, ge=1)  # concurrent alert calls, like a trunk's channel count
    # Offered on alert calls and call-backs, in this order (then telephone-event); the answer's choice is
    # used. Inbound calls take the caller's first G.711 codec. A-law first: mainland China's network.
    codecs: list[Literal["PCMA", "PCMU"]] = Field(default_factory=lambda: ["PCMA", "PCMU"],  # type: ignore[arg-type]
                                                  min_length=1)
    # OPTIONS to the registrar every keepalive_seconds (0: off); keepalive_misses unanswered in a row
    # count the registration as lost at once instead of at the next re-REGISTER (docs/sip.md).
    keepalive_seconds: float = Field(3.0, ge=0, le=60)
    keepalive_misses: int = Field(2, ge=1, le=10)
    # Click-to-call back (docs/sip.md): how long the operator's and the household's phones ring, and
    # the longest bridged conversation.
    call_back_ring_timeout: float = Field(30.0, gt=0, le=300)
    call_back_max_seconds: float = Field(3600.0, gt=0, le=4 * 3600)
    # Besides the registrar: the addresses of proxies whose X-995-Caller-Trust header is believed (a
    # second Kamailio of a dispatcher pair). A 995 INVITE from anywhere else is unverified (docs/sip.md).
    trusted_proxies: list[str] = Field(default_factory=list)
    # Take SIP only from the registrar's and trusted_proxies' addresses (the edge); datagrams from
    # anywhere else are dropped unanswered and counted (docs/security.md). Off only for a lab phone
    # talking to the service directly.
    only_from_proxies: bool = True

    @model_validator(mode="before")
    @classmethod
    def _no_single_codec(cls, data: Any) -> Any:
        if isinstance(data, dict) and "codec" in data:
            raise ValueError('sip.codec was replaced by sip.codecs, a list in offer order, e.g. ["PCMA", "PCMU"]')
        return data

    @model_validator(mode="after")
    def _rtp_range(self) -> SipSettings:
        if self.rtp_port_low > self.rtp_port_high:
            raise ValueError("sip.rtp_port_low is larger than sip.rtp_port_high")
        if self.rtp_port_high - self.rtp_port_low < 1:
            raise ValueError("sip.rtp_port_low..rtp_port_high must hold at least one RTP/RTCP port pair")
        if self.alert_port and self.alert_port == self.sip_port:
            raise ValueError("sip.alert_port must differ from sip.sip_port (or be 0: any free port)")
        return self


class EngineSettings(_Section):
    # Names this instance in leg claims and leases; two instances on one database need two names.
    instance_name: str = Field(default_factory=lambda: os.uname().nodename, min_length=1, max_length=40)
    policy_file: Path = CONFIG_DIR / "escalation.yaml"
    messages_file: Path = CONFIG_DIR / "messages.yaml"
    call_channel: Literal["simulated", "recording", "sip", "twilio"] = "simulated"
    sms_channel: Literal["simulated", "recording", "twilio", "aliyun", "tencent", "smpp"] = "simulated"
    simulated_time_scale: float = Field(1.0, gt=0)
    dispatch_workers: int = Field(16, ge=1, le=256)
    # "recording" channels (tests and demos only): simulated phones that append every placement here.
    placement_log: Path | None = None
    # The scheduler lease: a dead leader is replaced within this plus a third of it.
    lease_seconds: float = Field(6.0, ge=0.5, le=300)

    @model_validator(mode="after")
    def _placement_log_for_recording(self) -> EngineSettings:
        if "recording" in (self.call_channel, self.sms_channel) and self.placement_log is None:
            raise ValueError("engine.placement_log is required when a channel is \"recording\"")
        return self


class IvrSettings(_Section):
    """Voice menus: flow files, prompt recordings and caches. Empty directories default under data_dir."""

    flows_dir: Path = PROJECT_ROOT / "ivr_flows"
    prompts_dir: Path | None = None  # an operator's recorded WAVs named <prompt id>.wav; default data_dir/prompts
    cache_dir: Path | None = None  # rendered 8 kHz prompts; default data_dir/prompt-cache
    recordings_dir: Path | None = None  # callers' voice messages; default data_dir/recordings
    # espeak-ng voice. Debian's espeak-ng 1.51 "cmn" reads many characters as pinyin spelt in English
    # ("hao two"); "cmn-latn-pinyin" speaks them as Mandarin (espeak-ng issues #1236, #1044).
    voice: str = Field("cmn-latn-pinyin", min_length=1)
    speech_rate: int = Field(150, ge=80, le=400)  # espeak-ng words per minute
    record_max_seconds: float = Field(20.0, gt=0, le=120)  # caps every record step of a flow

    def prompts_path(self, data_dir: Path) -> Path:
        return self.prompts_dir or data_dir / "prompts"

    def cache_path(self, data_dir: Path) -> Path:
        return self.cache_dir or data_dir / "prompt-cache"

    def recordings_path(self, data_dir: Path) -> Path:
        return self.recordings_dir or data_dir / "recordings"


class ConsoleSettings(_Section):
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    # Sign-in limits (docs/console.md): after this many failures of one account from one client
    # address, each further try waits 1 s, 2 s, 4 s, … up to max_login_delay_seconds. Never a lockout
    # of the account itself: an attacker elsewhere cannot keep the duty operator out.
    failed_logins_before_delay: int = Field(3, ge=1)
    max_login_delay_seconds: float = Field(60.0, ge=1, le=3600)
    max_failed_logins_per_address: int = Field(20, ge=1)
    failed_login_window_minutes: float = Field(15.0, gt=0)
    first_ack_target_seconds: int = Field(60, ge=1)
    # An open live stream (/api/events) checks its session this often and ends once it is gone.
    live_session_check_seconds: float = Field(10.0, gt=0, le=300)
    # The flood banner's counts (GET /api/flood) are read at most this often per process and grid,
    # however many consoles ask.
    flood_banner_fresh_seconds: float = Field(2.0, ge=0, le=60)


class GuardSettings(_Section):
    """Toll-fraud guard: only directory numbers and these operator phones are ever dialled or texted."""

    operator_phones: list[str] = []  # the call centre's own phones (call-back rings them first)
    known_number_cache_seconds: float = Field(60.0, ge=0, le=3600)


class OutageSettings(_Section):
    """Key presses while the database is unreachable (docs/architecture.md "Database outage")."""

    # Spool and directory snapshot; default <data_dir>/outage/<engine.instance_name>.
    directory: Path | None = None
    # How often the snapshot checks whether the directory changed (a roster import) and copies it again.
    snapshot_check_seconds: float = Field(30.0, ge=1, le=3600)
    # A copy older than this is refreshed even when the directory looks unchanged (edits in place).
    snapshot_max_age_seconds: float = Field(600.0, ge=10)

    def path(self, data_dir: Path, instance_name: str) -> Path:
        return self.directory or data_dir / "outage" / instance_name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLCENTER_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    mode: Literal["demo", "production"] = "demo"
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""  # empty: a SQLite file in data_dir
    log_level: str = "INFO"
    session_secret: SecretStr = SecretStr("")
    directory: DirectorySettings = DirectorySettings()
    http: HttpSettings = HttpSettings()
    twilio: TwilioSettings = TwilioSettings()
    aliyun_sms: AliyunSmsSettings = AliyunSmsSettings()
    tencent_sms: TencentSmsSettings = TencentSmsSettings()
    smpp: SmppSettings = SmppSettings()
    engine: EngineSettings = EngineSettings()
    sip: SipSettings = SipSettings()
    ivr: IvrSettings = IvrSettings()
    console: ConsoleSettings = ConsoleSettings()
    metrics: MetricsSettings = MetricsSettings()
    guard: GuardSettings = GuardSettings()
    outage: OutageSettings = OutageSettings()

    @model_validator(mode="after")
    def _secrets_and_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'callcenter.db'}"
        self.twilio.check_secrets(self.mode)
        self.aliyun_sms.check_secrets(self.mode)
        self.tencent_sms.check_secrets(self.mode)
        self.smpp.check_secrets(self.mode)
        if self.mode == "demo":
            if not self.session_secret.get_secret_value():
                self.session_secret = SecretStr(DEMO_SECRET)
            return self
        secret = self.session_secret.get_secret_value()
        if len(secret) < 32 or secret == DEMO_SECRET:
            raise ValueError(
                "session_secret must be set to at least 32 random characters in production "
                "(CALLCENTER_SESSION_SECRET)"
            )
        if self.twilio.account_sid and not self.twilio.auth_token.get_secret_value():
            raise ValueError("twilio.auth_token is required when twilio.account_sid is set")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; a given ``config_file`` overrides the shipped defaults."""
    if config_file is not None and not config_file.is_file():
        what = "is not a file" if config_file.exists() else "not found"
        raise FileNotFoundError(f"config file {what}: {config_file}")

    files = [f for f in (DEFAULT_CONFIG_FILE, config_file) if f is not None and f.is_file()]

    class _FromFiles(Settings):
        model_config = SettingsConfigDict(toml_file=files, title="settings")

    return _FromFiles(**overrides)
