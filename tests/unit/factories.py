"""Builders for domain tests, named like the directory they stand for.

One grid of 张家口村 (Yiling district, Yichang): a joint-defense group of ten households, each with
one or two contacts, and above it the grid worker, the grid centre household, two volunteers, the
village station, the township duty officer and the police station. Phones are canonical E.164
(mobiles ``+86139…``, Yichang landlines ``+86717…``), as the directory stores them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from callcenter.domain.incident import AlertLeg, Incident, IncidentEvent
from callcenter.domain.messages import MessageTemplates
from callcenter.domain.plan import plan_fan_out
from callcenter.domain.policy import EscalationPolicy
from callcenter.domain.types import CallerTrust, Channel, LegPurpose, LegStatus
from callcenter.policies import load_policy, load_templates
from contacts.model import CallerLookup, HouseholdProfile, Place, Responder, Role, ScopeLevel

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
POLICY_FILE = CONFIG / "escalation.yaml"
MESSAGES_FILE = CONFIG / "messages.yaml"

# 09:30 in Yichang (UTC+8).
PRESS_AT = datetime(2026, 3, 14, 1, 30, tzinfo=UTC)

PLACE = Place(town_id=1, town="小溪塔街道", village_id=11, village="张家口村", grid_id=111,
              grid="张家口村第一网格", group_id=1111, group="三组联防组")

_HEADS = ("张建国", "李秀英", "王德福", "刘桂兰", "陈志明", "杨淑珍", "赵国强", "黄玉梅", "周长林", "吴春花")
_KIN = ("张伟", "张丽", "李强", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周娟", "吴斌", "郑霞",
        "孙涛", "马琳")


class SteppingClock:
    """A clock the test moves by hand; always UTC-aware."""

    def __init__(self, start: datetime = PRESS_AT) -> None:
        self.start = start
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def at(self, seconds: float) -> datetime:
        """Move to ``seconds`` after the start (never backwards) and return the time."""
        target = self.start + timedelta(seconds=seconds)
        if target < self._now:
            raise ValueError(f"the clock is already past {seconds} s")
        self._now = target
        return self._now


def mobile(n: int) -> str:
    return f"+86139{n:08d}"


def landline(n: int) -> str:
    return f"+867176{n:06d}"


@dataclass(frozen=True)
class JointDefenseGroup:
    """Ten households of one group and the responders of the levels above it."""

    households: tuple[HouseholdProfile, ...]
    contacts: dict[int, tuple[Responder, ...]]  # by household id
    upper_levels: tuple[Responder, ...]
    place: Place = PLACE

    def household(self, index: int = 0) -> HouseholdProfile:
        return self.households[index]

    def line(self, index: int = 0) -> str:
        """The emergency line of household ``index``: the number its key dials from."""
        return self.households[index].emergency_lines[0]

    def contact(self, household_index: int, n: int = 0) -> Responder:
        return self.contacts[self.households[household_index].id][n]

    def role(self, role: Role) -> tuple[Responder, ...]:
        return tuple(r for r in self.upper_levels if r.role is role)

    @property
    def grid_worker(self) -> Responder:
        return self.role(Role.GRID_WORKER)[0]

    def lookup(self, index: int = 0) -> CallerLookup:
        """What the directory returns for a press from household ``index``."""
        household = self.households[index]
        neighbours = tuple(r for h in self.households if h.id != household.id for r in self.contacts[h.id])
        return CallerLookup(household=household, place=self.place, own_contacts=self.contacts[household.id],
                            neighbours=neighbours, upper_levels=self.upper_levels)

    def neighbours_of(self, index: int = 0) -> tuple[Responder, ...]:
        return self.lookup(index).neighbours


def build_group(households: int = 10, extra_upper: Iterable[Responder] = ()) -> JointDefenseGroup:
    """Households 101…; every third one (the first included) has two contacts, the others one."""
    profiles: list[HouseholdProfile] = []
    contacts: dict[int, tuple[Responder, ...]] = {}
    kin = iter(_KIN * 2)
    for i in range(households):
        hid = 101 + i
        head = _HEADS[i % len(_HEADS)]
        profiles.append(HouseholdProfile(
            id=hid, code=f"ZJK-03-{i + 1:02d}", label=f"三组 {head}家", head=head,
            address=f"湖北省宜昌市夷陵区小溪塔街道张家口村三组{i + 1}号",
            emergency_lines=(landline(100 + i),),
        ))
        count = 2 if i % 3 == 0 else 1
        contacts[hid] = tuple(
            Responder(id=1000 + hid * 10 + n, name=next(kin), phone=mobile(hid * 10 + n),
                      role=Role.HOUSEHOLD_CONTACT, scope=ScopeLevel.GROUP, scope_id=PLACE.group_id,
                      household_id=hid)
            for n in range(count)
        )
    grid, village, town = PLACE.grid_id, PLACE.village_id, PLACE.town_id
    upper = (
        _upper(1, "刘晓红", mobile(9001), Role.GRID_WORKER, ScopeLevel.GRID, grid),
        _upper(2, "陈德明", mobile(9002), Role.GRID_CENTRE_HOUSEHOLD, ScopeLevel.GRID, grid),
        _upper(3, "赵志强", mobile(9003), Role.VOLUNTEER, ScopeLevel.GRID, grid),
        _upper(4, "孙丽", mobile(9004), Role.VOLUNTEER, ScopeLevel.VILLAGE, village),
        _upper(5, "张家口村网格站", landline(500), Role.VILLAGE_STATION, ScopeLevel.VILLAGE, village),
        _upper(6, "小溪塔街道值班室", landline(600), Role.TOWNSHIP_DUTY_OFFICER, ScopeLevel.TOWN, town),
        _upper(7, "小溪塔派出所", landline(110), Role.POLICE_STATION, ScopeLevel.TOWN, town),
        *extra_upper,
    )
    return JointDefenseGroup(tuple(profiles), contacts, upper)


def _upper(n: int, name: str, phone: str, role: Role, scope: ScopeLevel, scope_id: int) -> Responder:
    return Responder(id=n, name=name, phone=phone, role=role, scope=scope, scope_id=scope_id)


def with_grid_worker_as_neighbour(group: JointDefenseGroup, household_index: int = 4) -> JointDefenseGroup:
    """The grid worker also answers for a household of the group (common in a village)."""
    household = group.households[household_index]
    as_contact = Responder(id=9999, name=group.grid_worker.name, phone=group.grid_worker.phone,
                           role=Role.HOUSEHOLD_CONTACT, scope=ScopeLevel.GROUP, scope_id=PLACE.group_id,
                           household_id=household.id)
    contacts = {**group.contacts, household.id: (*group.contacts[household.id], as_contact)}
    return replace(group, contacts=contacts)


@cache
def shipped_policy() -> EscalationPolicy:
    """The escalation policy the service ships (config/escalation.yaml)."""
    return load_policy(POLICY_FILE)


@cache
def shipped_templates() -> MessageTemplates:
    return load_templates(MESSAGES_FILE)


@dataclass
class Scene:
    """An incident opened by a press from one household of the group, with a clock to drive it."""

    group: JointDefenseGroup
    policy: EscalationPolicy
    clock: SteppingClock
    incident: Incident
    caller_index: int = 0
    seen_events: int = field(default=0)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def at(self, seconds: float) -> datetime:
        return self.clock.at(seconds)

    # -- looking at the incident ---------------------------------------------------------

    def legs(self, purpose: LegPurpose | None = LegPurpose.ALERT, *, level: int | None = None,
             status: LegStatus | None = None, channel: Channel | None = None,
             phone: str | None = None) -> list[AlertLeg]:
        return [leg for leg in self.incident.legs.values()
                if (purpose is None or leg.purpose is purpose) and (level is None or leg.level == level)
                and (status is None or leg.status is status) and (channel is None or leg.channel is channel)
                and (phone is None or leg.recipient.phone == phone)]

    def leg(self, phone: str, channel: Channel, attempt: int = 1,
            purpose: LegPurpose = LegPurpose.ALERT) -> AlertLeg:
        found = [leg for leg in self.legs(purpose, phone=phone, channel=channel) if leg.attempt == attempt]
        assert len(found) == 1, f"no single {purpose} {channel} leg #{attempt} to {phone}: {found}"
        return found[0]

    def events(self, kind: str | None = None) -> list[IncidentEvent]:
        return [e for e in self.incident.new_events if kind is None or e.kind == kind]

    def events_since_mark(self, kind: str | None = None) -> list[IncidentEvent]:
        return [e for e in self.incident.new_events[self.seen_events:] if kind is None or e.kind == kind]

    def mark(self) -> None:
        """Remember how many events there are, for events_since_mark."""
        self.seen_events = len(self.incident.new_events)

    # -- driving it ------------------------------------------------------------------------

    def report(self, leg: AlertLeg, *outcomes: LegStatus) -> list[bool]:
        return [self.incident.record_outcome(leg.id, o, self.now, self.policy) for o in outcomes]

    def place_all_due(self) -> None:
        """Hand every due pending leg to its channel, as the dispatcher would."""
        for leg in self.incident.pending_legs():
            if leg.due_at <= self.now:
                first = LegStatus.DIALING if leg.channel is Channel.CALL else LegStatus.SUBMITTED
                self.incident.record_outcome(leg.id, first, self.now, self.policy)

    def escalate(self, level: int, token: int | None = None) -> bool:
        token = self.incident.escalation_token if token is None else token
        return self.incident.escalation_due(level, token, self.now, self.policy)


def open_scene(group: JointDefenseGroup | None = None, policy: EscalationPolicy | None = None,
               caller_index: int = 0, incident_id: str = "inc-0001",
               clock: SteppingClock | None = None, trust: CallerTrust = CallerTrust.REGISTERED,
               hold: bool = True) -> Scene:
    """A press from household ``caller_index``: the incident as the engine opens it."""
    group = group or build_group()
    policy = policy or shipped_policy()
    clock = clock or SteppingClock()
    household = group.household(caller_index)
    caller = group.line(caller_index)
    plan = plan_fan_out(group.lookup(caller_index), policy, caller)
    incident = Incident.open(incident_id, caller, household.id, household.label, household.address, plan,
                             policy, clock.now(), trust=trust, hold=hold)
    return Scene(group, policy, clock, incident, caller_index)


def open_unknown_caller(number: str = "+8615900000000", policy: EscalationPolicy | None = None,
                        clock: SteppingClock | None = None) -> Scene:
    policy = policy or shipped_policy()
    clock = clock or SteppingClock()
    plan = plan_fan_out(None, policy, number)
    incident = Incident.open("inc-unknown", number, None, "未登记号码", "", plan, policy, clock.now(),
                             trust=CallerTrust.REGISTERED)
    return Scene(build_group(), policy, clock, incident)
