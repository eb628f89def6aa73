"""What production mode refuses to start with.

The settings already refuse demo secrets (``session_secret``, ``twilio.auth_token``) when they are
loaded. These checks need more than one setting or the database, and run when ``callcenter serve``
starts in production: every problem found is named with its fix, and the service does not start.
The other commands still run, so that ``callcenter user password`` can fix what is found.
"""

from __future__ import annotations

from callcenter.accounts.demo import DEMO_ACCOUNTS, demo_password
from callcenter.accounts.passwords import verify_password
from callcenter.accounts.service import AccountStore
from callcenter.settings import Settings

__all__ = ["account_refusals", "cloud_sms_refusals", "settings_refusals"]

MIN_METRICS_TOKEN = 32
DEMO_PHONES = frozenset(phone for *_, phone in DEMO_ACCOUNTS)


def settings_refusals(settings: Settings) -> list[str]:
    """Problems of the settings alone."""
    problems = []
    if not settings.http.public_base_url.startswith("https://"):
        problems.append(f"http.public_base_url is {settings.http.public_base_url!r}: serve the console over "
                        "https behind a proxy and set CALLCENTER_HTTP__PUBLIC_BASE_URL=https://… (session "
                        "cookies are Secure only then)")
    demo_phones = sorted(DEMO_PHONES.intersection(settings.guard.operator_phones))
    if demo_phones:
        problems.append(f"guard.operator_phones still lists the demo phones {', '.join(demo_phones)}: list the "
                        "call centre's own phones (CALLCENTER_GUARD__OPERATOR_PHONES='[\"+86…\"]')")
    problems += cloud_sms_refusals(settings)
    if len(settings.metrics.token.get_secret_value()) < MIN_METRICS_TOKEN:
        problems.append(f"metrics.token is not set: give /metrics a bearer token of at least {MIN_METRICS_TOKEN} "
                        "random characters (CALLCENTER_METRICS__TOKEN) and the same to Prometheus")
    problems.extend(smpp_refusals(settings))
    return problems


def smpp_refusals(settings: Settings) -> list[str]:
    """An SMPP bind in production: to a real SMSC, with our source address, paced below its contract."""
    smpp = settings.smpp
    if not (smpp.enabled or settings.engine.sms_channel == "smpp"):
        return []
    problems = []
    if not smpp.enabled:
        problems.append("engine.sms_channel is \"smpp\" but smpp.enabled is false: set CALLCENTER_SMPP__ENABLED=true "
                        "with the SMSC's host, port, system_id and password")
    if smpp.host in ("127.0.0.1", "localhost", "::1"):
        problems.append(f"smpp.host is {smpp.host!r}: set the carrier's SMSC (CALLCENTER_SMPP__HOST, "
                        "CALLCENTER_SMPP__PORT); a loopback SMSC is a test rig")
    if smpp.source_addr == "995":
        problems.append("smpp.source_addr is the placeholder \"995\": set the service code or number the carrier "
                        "assigned (CALLCENTER_SMPP__SOURCE_ADDR, with SOURCE_TON/SOURCE_NPI as it says)")
    return problems


def cloud_sms_refusals(settings: Settings) -> list[str]:
    """An enabled Aliyun or Tencent SMS pointed away from the provider, or over plain http (tests' emulators
    only). Their secrets and push tokens are refused when the settings load (callcenter.settings)."""
    problems = []
    for name, section in (("aliyun_sms", settings.aliyun_sms), ("tencent_sms", settings.tencent_sms)):
        if section.enabled and (section.endpoint or section.protocol != "https"):
            problems.append(f"{name}.endpoint/protocol point at {section.protocol}://{section.endpoint or 'default'}: "
                            f"leave {name}.endpoint empty and protocol https in production (the overrides are for "
                            "the test emulators)")
    return problems


def account_refusals(store: AccountStore) -> list[str]:
    """Demo accounts (left from a demo run on the same database) that still open with their
    published passwords."""
    problems = []
    for name, *_ in DEMO_ACCOUNTS:
        stored = store.by_name(name)
        if stored is not None and stored.user.active and verify_password(stored.password_hash, demo_password(name)):
            problems.append(f"the demo account {name!r} still accepts its published password: run "
                            f"`callcenter user password {name}` or `callcenter user disable {name}`")
    return problems
