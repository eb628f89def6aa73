"""The incident engine: commands in, durable state, then act.

Every command runs in one unit of work on the stored incident, commits, and only then publishes
events, (re)schedules timers and hands due legs to the channels. A crash at any point leaves the
database describing what still has to happen; ``recover`` picks it up.

The engine holds the commands. Beside it: lock stripes (``locks.py``), hand-over batching
(``handover.py``), degraded mode at the writes (``degraded.py`` over ``outage.py``), the auditor's
bookkeeping (``auditor.py``), the writes' turns under a flood (``write_turns.py``).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from callcenter.domain.delivery import DELIVERY_WINDOW_HOURS, DeliveryFailure, delivery_detail
from callcenter.domain.incident import AlertLeg, Incident, IncidentError
from callcenter.domain.messages import (
    MessageFacts,
    MessageTemplates,
    message_values,
    render,
    render_summary,
    summary_values,
)
from callcenter.domain.plan import plan_fan_out
from callcenter.domain.policy import EscalationPolicy
from callcenter.domain.sources import SourceVerdict
from callcenter.domain.types import (
    EMERGENCY_TYPE_LABELS,
    Actor,
    CallerTrust,
    Channel,
    EmergencyType,
    IncidentStatus,
    LegPurpose,
    LegStatus,
    Recipient,
)
from callcenter.service.auditor import LateFlags, audit_events, by_incident
from callcenter.service.degraded import OutageSeam, SpoolOnOutage, WithoutDegradedMode
from callcenter.service.handover import HandoverBatches
from callcenter.service.locks import INCIDENT_STRIPES, PRESS_STRIPES, Stripes
from callcenter.service.mass_event import MassEventBoard
from callcenter.service.outage import DegradedMode, ReplayHooks, Report
from callcenter.service.ports import (
    AlertChannel,
    Clock,
    ConcurrentUpdateError,
    DirectoryReader,
    EventPublisher,
    IncidentStore,
    LegClaims,
    LegOrder,
    LegRef,
    Overdue,
    Timer,
    Timers,
    close_sends,
    handed_over_status,
)
from callcenter.service.press_ledger import PressLedger
from callcenter.service.write_turns import Turn, WriteTurns
from contacts.model import CallerLookup
from contacts.phones import PhonePolicy, display_phone, mask_phone, try_normalise

__all__ = ["EnginePorts", "EngineRules", "IncidentEngine", "KeyPress", "UnknownIncidentError"]

log = logging.getLogger(__name__)
_RETRIES = 8
_Result = TypeVar("_Result")


class UnknownIncidentError(LookupError):
    pass


def _add_summary(recipient: Recipient, incident: Incident, now: datetime) -> None:
    incident.add_summary(recipient, now)


def default_incident_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class _Immediate(Executor):
    """Runs submitted work in the caller's thread (tests, benchmarks of the engine alone)."""

    def submit(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> Any:
        fn(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class EnginePorts:
    """What the engine talks to (callcenter/service/ports.py): fakes in unit tests, real adapters in
    production (callcenter/bootstrap.py)."""

    store: IncidentStore
    directory: DirectoryReader
    channels: dict[Channel, AlertChannel]
    timers: Timers
    clock: Clock
    events: EventPublisher


@dataclass(frozen=True, slots=True)
class EngineRules:
    """The data the engine decides by, loaded from config/: escalation policy, message templates and
    how phone numbers are read."""

    policy: EscalationPolicy
    templates: MessageTemplates
    phone_policy: PhonePolicy


class IncidentEngine:
    """``holder``: this process in leg claims (instance name and boot id). The rest is optional:
    ``executor`` runs the sends (default: in the caller's thread); ``presses``: press limits and source
    bans; ``outage``: degraded mode (default: none, a store failure fails the command); ``write_turns``:
    the writes' turns under a flood; ``orphans``: told of the legs a dead instance left in flight;
    ``mass_events``: summaries for upper levels in a mass event."""

    def __init__(
        self, ports: EnginePorts, rules: EngineRules, *, holder: str,
        executor: Executor | None = None, new_id: Callable[[datetime], str] = default_incident_id,
        presses: PressLedger | None = None, outage: DegradedMode | None = None,
        write_turns: WriteTurns | None = None, orphans: Callable[[Sequence[LegRef]], None] | None = None,
        mass_events: MassEventBoard | None = None,
    ) -> None:
        self.store, self.directory, self.channels = ports.store, ports.directory, ports.channels
        self.timers, self.clock, self.events = ports.timers, ports.clock, ports.events
        self.policy, self.templates, self.phone_policy = rules.policy, rules.templates, rules.phone_policy
        self.holder = holder
        self.executor: Executor = executor or _Immediate()
        self._dispatch_stopped = False
        self._new_id = new_id
        self.presses = presses if presses is not None else PressLedger()  # an empty ledger is falsy
        self._locks = Stripes(INCIDENT_STRIPES)  # incident commands, by incident id
        self._press_locks = Stripes(PRESS_STRIPES)  # key presses, by open key (callcenter/service/locks.py)
        self.write_turns = write_turns or WriteTurns()
        self._handovers = HandoverBatches(self._record_handovers)  # callcenter/service/handover.py
        self._late = LateFlags()  # what the auditor has flagged and still finds late (callcenter/service/auditor.py)
        # Degraded mode at the writes (callcenter/service/degraded.py). Without one, a press or report
        # the store cannot take fails (tests of the engine alone).
        self.outage: OutageSeam = WithoutDegradedMode() if outage is None else SpoolOnOutage(
            outage, ReplayHooks(self._survives_restart, self.stored_after_outage))
        # Told of the legs a dead instance left in flight, before their next attempts are placed: its
        # calls may still ring (callcenter/sip/orphans.py).
        self.orphans = orphans
        # Upper levels in a mass event get one summary instead of a call per incident.
        self.mass_events = mass_events or MassEventBoard(rules.policy)

    # -- entry points ----------------------------------------------------------------------

    def key_press(self, caller: str, trust: CallerTrust, *, source: str = "") -> Incident:
        """A household's key dialled in. The incident and its first legs are stored before anything rings.
        ``trust``: what the edge could verify of ``caller`` (an unverified press rings nobody until an
        operator releases it or its hold ends; docs/security.md). ``source``: the network address the
        call came from, as the edge saw it ("" if the channel has none): a source making too many
        unverified presses is banned, and its incidents stay held until an operator releases them."""
        now = self.clock.now()
        number = try_normalise(caller, self.phone_policy) or (caller.strip() or "anonymous")
        found = self._lookup(number)
        key = _open_key_of(found.household.id if found else None, number)
        press = KeyPress(number, found, key, now, trust)
        verdict = None
        if not trust.is_verified and source:
            verdict = self.presses.judge_source(source, number, now, self.policy.source_limit)
        banned = f"source {source} banned for forged presses" if verdict is not None and verdict.banned else ""
        with self._press_locks.of(key):
            # Only presses the edge verified use up the line's counted presses: forged ones climb
            # nothing anyway, and must not leave the household's own press uncounted (its release).
            counted = trust.is_verified and self.presses.count(number, now, self.policy.press_limit)
            stored = self.outage.store_press(key, lambda: self._retry(lambda: self._press(press, counted, banned)))
            if stored is None:  # the database is away
                return self._press_during_outage(press, counted)
        incident, claimed, taken = stored
        self._after_commit(incident, now, Turn.PRESS, claimed=claimed, taken=taken)
        log.info("incident %s: press from %s (press %d, %s%s)", incident.id, mask_phone(number), incident.press_count,
                 trust, f", source {source}" if source else "")
        if verdict is not None:
            self._after_unverified_press(source, incident, verdict)
        return incident

    def _after_unverified_press(self, source: str, incident: Incident, verdict: SourceVerdict) -> None:
        """Remember the held incident the source opened; if this press got it banned, keep the held
        incidents it opened before held too (none of them is released by its timer any more)."""
        if incident.is_held:
            self.presses.opened_held(source, incident.id, incident.last_press_at or incident.opened_at)
        if not verdict.banned_now:
            return
        reason = f"source {source} banned for forged presses"
        for incident_id in verdict.record.incidents:
            if incident_id == incident.id:
                continue
            try:
                self._command(incident_id, lambda i, now: i.keep_held(reason, now))
            except UnknownIncidentError:
                continue

    def release(self, incident_id: str, actor: Actor) -> Incident:
        """An operator releases a held incident (unverified caller): its neighbours are alerted now."""
        return self._command(incident_id, lambda i, now: i.release(actor, now, self.policy))

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        report = Report(leg_id, status, detail, provider_ref)
        incident_id = leg_id.split("/", 1)[0]
        self._store_reports(incident_id, [report], lambda i, now: self._record(i, report, now))

    def leg_outcomes(self, incident_id: str, reports: list[Report]) -> None:
        """Several reports on one incident's legs in one write, in order (``LegReports`` batches). A
        report the incident refuses (no such leg, an outcome its channel cannot have) is logged and
        the others still count."""
        def record_all(incident: Incident, now: datetime) -> None:
            for report in reports:
                try:
                    self._record(incident, report, now)
                except IncidentError as exc:
                    log.error("report %s on leg %s refused: %s", report.status, report.leg_id, exc)

        self._store_reports(incident_id, reports, record_all)

    def _record(self, incident: Incident, report: Report, now: datetime) -> None:
        if not incident.record_outcome(report.leg_id, report.status, now, self.policy, report.detail, report.ref):
            # A channel repeating itself (Twilio's "completed" after a key, a second "dialing"): the log
            # keeps it; the operators' timeline does not.
            leg = incident.legs[report.leg_id]
            log.info("leg %s: report %s ignored, the leg is %s", report.leg_id, report.status, leg.status)

    def _store_reports(self, incident_id: str, reports: list[Report],
                       change: Callable[[Incident, datetime], object]) -> None:
        self.outage.store_reports(incident_id, reports, lambda: self._command(incident_id, change))

    def escalation_timer(self, incident_id: str, level: int, token: int, turn: Turn = Turn.COMMAND) -> None:
        if self.outage.holds_timers(incident_id):
            return  # spooled reports come first; the sweep fires it after the replay
        self._command(incident_id, lambda i, now: i.escalation_due(
            level, token, now, self.policy, self.mass_events.summarised(i)), turn)

    def leg_timer(self, incident_id: str) -> None:
        """The incident's earliest waiting leg fell due: place what is due, arm the timer for the rest."""
        incident, taken = self._load_claimed(incident_id)
        now = self.clock.now()
        self._schedule(incident, now)
        self._dispatch(incident, now, taken=taken)

    def cancel(self, incident_id: str, actor: Actor) -> Incident:
        return self._command(incident_id, lambda i, now: i.cancel(actor, now))

    def mark_false_alarm(self, incident_id: str, actor: Actor) -> Incident:
        return self._command(incident_id, lambda i, now: i.mark_false_alarm(actor, now))

    def resolve(self, incident_id: str, actor: Actor, note: str = "") -> Incident:
        return self._command(incident_id, lambda i, now: i.resolve(actor, now, note))

    def set_type(self, incident_id: str, emergency_type: EmergencyType, actor: Actor) -> Incident:
        return self._command(incident_id, lambda i, now: i.set_type(emergency_type, actor, now))

    def add_note(self, incident_id: str, text: str, actor: Actor) -> Incident:
        return self._command(incident_id, lambda i, now: i.add_note(text, actor, now))

    def attach_voice_message(self, incident_id: str, path: str, seconds: float, actor: Actor) -> Incident:
        """Record a "voice_message" timeline event (path of the recording and its duration)."""
        return self._command(incident_id, lambda i, now: i.attach_voice_message(path, seconds, actor, now))

    def acknowledge_on_behalf(self, incident_id: str, recipient_key: str, actor: Actor) -> Incident:
        return self._command(incident_id, lambda i, now: i.acknowledge_on_behalf(
            recipient_key, actor, now, self.policy))

    def record_dispatch(self, incident_id: str, agency: str, at: datetime, reference: str, actor: Actor) -> Incident:
        """Record that the incident went to 110/119/120 at ``at`` under the agency's ``reference``."""
        return self._command(incident_id, lambda i, now: i.record_dispatch(agency, at, reference, actor, now))

    def record_call_back(self, incident_id: str, operator_phone: str, household_line: str, reference: str,
                         actor: Actor) -> Incident:
        return self._command(incident_id, lambda i, now: i.record_call_back(
            operator_phone, household_line, reference, actor, now))

    # -- recovery and audit ----------------------------------------------------------------

    def recover(self, dead_holders: Callable[[str | None], bool]) -> int:
        """After a restart or a takeover: close legs lost with their instance, re-arm every timer,
        fire what is overdue and dispatch what is due. Returns the number of interrupted legs."""
        interrupted = self.interrupt_dead(dead_holders)
        for incident_id in self.store.open_incident_ids():
            self.resume(incident_id)
        return interrupted

    def interrupt_dead(self, dead_holders: Callable[[str | None], bool]) -> int:
        """Close legs in flight on dead instances; their next attempts follow. Run at a takeover and
        by the leader's sweep: an instance can die while another leads, or its heartbeat can outlive
        the scheduler lease by a renewal when it dies between the two renewals."""
        dead = sorted(holder for holder in self.store.in_flight_holders() if dead_holders(holder))
        if not dead:
            return 0
        refs = [ref for ref in self.store.in_flight(dead)
                if not ((channel := self._channel_named(ref.provider)) and channel.survives_restart)]
        self._release_orphans(refs)
        lost: dict[str, list[str]] = {}
        for ref in refs:
            lost.setdefault(ref.incident_id, []).append(ref.leg_id)
        for incident_id, leg_ids in lost.items():
            self._interrupt(incident_id, leg_ids)
        return sum(map(len, lost.values()))

    def _release_orphans(self, refs: Sequence[LegRef]) -> None:
        if self.orphans is None or not refs:
            return
        try:
            self.orphans(refs)
        except Exception:  # the next attempts matter more than the old calls' clean-up
            log.exception("could not release %d legs left in flight", len(refs))

    def _interrupt(self, incident_id: str, leg_ids: list[str]) -> None:
        """One command per incident: a crash leaves ~20 legs of each in flight, and recovery must not
        queue twenty writes per incident behind the reports of the calls it is placing."""
        reason = "interrupted: the instance placing it stopped"

        def close(incident: Incident, now: datetime) -> None:
            for leg_id in leg_ids:
                incident.leg_interrupted(leg_id, now, self.policy, reason)
        self._command(incident_id, close, Turn.RECOVERY)

    def resume(self, incident_id: str) -> None:
        """Re-arm an incident's timers and place what is due; its writes are recovery's turns."""
        incident, taken = self._load_claimed(incident_id)
        now = self.clock.now()
        if incident.next_escalation_at is not None and incident.next_escalation_at <= now:
            self.escalation_timer(incident.id, incident.level + 1, incident.escalation_token, Turn.RECOVERY)
            return
        self._schedule(incident, now)
        self._dispatch(incident, now, Turn.RECOVERY, taken=taken)

    def dispatch_due(self) -> int:
        """Hand every due, unclaimed leg to its channel (legs whose timer was lost included)."""
        refs = self.store.due_legs(self.clock.now())
        for incident_id in dict.fromkeys(r.incident_id for r in refs):
            self.leg_timer(incident_id)
        return len(refs)

    def send_summaries(self) -> int:
        """Mass events: one summary SMS to each upper-level recipient whose turn has come (the leader's
        sweep runs this). Each goes out as a leg of one of their incidents. Returns how many."""
        sent = 0
        for due in self.mass_events.due(self.clock.now()):
            try:
                self._command(due.incident_id, functools.partial(_add_summary, due.recipient))
                sent += 1
            except (UnknownIncidentError, IncidentError) as exc:  # it closed meanwhile: the next round picks another
                log.info("mass-event summary to %s not sent with incident %s: %s",
                         mask_phone(due.recipient.phone), due.incident_id, exc)
        return sent

    def escalate_due(self) -> int:
        """Fire every escalation whose time has passed (a timer on another instance, or lost)."""
        due = self.store.due_escalations(self.clock.now())
        for incident_id, level, token in due:
            self.escalation_timer(incident_id, level, token)
        return len(due)

    def audit(self, grace: timedelta = timedelta(seconds=10)) -> list[Overdue]:
        """Escalations and legs late by more than ``grace``, all of them (the health metric counts
        them). Each is logged and put on its incident's timeline once, when first found late: in a
        flood thousands of legs wait for a trunk channel, and flagging them again at every audit
        wrote a thousand timeline events every 5 s."""
        overdue = self.store.overdue(self.clock.now(), grace)
        news = self._late.newly_late(overdue)
        for item in news:
            log.warning("overdue: incident %s %s late by %s", item.incident_id, item.what, item.late_by)
        for incident_id, items in by_incident(news).items():
            self._record_audit(incident_id, items)
        return overdue

    def expire_unreported_sms(self, window: timedelta = timedelta(hours=DELIVERY_WINDOW_HOURS)) -> int:
        """SMS legs whose delivery report did not come within the providers' window are closed as
        undelivered, reason unknown: no report will come any more, and the console should not show
        them "submitted" for ever. Returns how many were closed (at most 500 a round)."""
        stale = self.store.unreported_sms(self.clock.now() - window)
        detail = delivery_detail(DeliveryFailure.UNKNOWN, f"no report within {window.total_seconds() / 3600:g} h")
        for ref in stale:
            self.leg_outcome(ref.leg_id, LegStatus.UNDELIVERED, detail)
        return len(stale)

    # -- internals -------------------------------------------------------------------------

    def _press(self, press: KeyPress, counted: bool, banned: str = ""
               ) -> tuple[Incident, frozenset[str], frozenset[str]]:
        """Store the press; a new incident's due legs are stored already claimed by this instance
        (returned, then the legs claimed before), so the press is one write: a second one to claim
        them doubled its time in a flood. ``banned``: why its incident stays held ("" if it need not)."""
        now, key = press.at, press.open_key
        with self.write_turns.turn(Turn.PRESS), self.store.unit_of_work() as uow:
            existing = uow.incidents.find_open(key)
            if existing is not None and _joins(existing, now, self.policy):
                existing.press_again(now, self.policy, counted, trust=press.trust,
                                     summarised=self.mass_events.summarised(existing))
                if banned:
                    existing.keep_held(banned, now)
                uow.incidents.save(existing, now)
                uow.commit()
                return existing, frozenset(), uow.incidents.claimed_legs(existing.id)
            if existing is not None:
                uow.incidents.release_open_key(existing.id)
            incident = self._open(press, hold=True)
            if banned:
                incident.keep_held(banned, now)
            previous = self.presses.recent_close(key, now, self.policy.press_limit)
            if previous is not None:
                incident.flag_press_after_close(*previous, now)
            providers = {leg.id: self._channel(leg.channel).name for leg in self._due(incident, now)}
            uow.incidents.add(incident, key, LegClaims(self.holder, now, providers))
            uow.commit()
            return incident, frozenset(providers), frozenset()

    def _open(self, press: KeyPress, hold: bool) -> Incident:
        found, number = press.found, press.number
        plan = plan_fan_out(found, self.policy, number)
        if found is None:
            label, address, hid = f"{self.templates.unknown_caller_label} {display_phone(number)}", "", None
        else:
            label, address, hid = found.household.label, found.household.address, found.household.id
        return Incident.open(self._new_id(press.at), number, hid, label, address, plan, self.policy, press.at,
                             trust=press.trust, hold=hold)

    def _lookup(self, number: str) -> CallerLookup | None:
        try:
            return self.directory.household_by_caller(number)
        except Exception:
            # The press must still be alerted: it goes to the operators as an unknown caller.
            log.exception("directory lookup failed for %s; treating as unknown caller", mask_phone(number))
            return None

    def _command(self, incident_id: str, change: Callable[[Incident, datetime], object],
                 turn: Turn = Turn.COMMAND) -> Incident:
        # The write turn before the incident's lock: a writer waiting for its turn holds no lock, so
        # a recovery write never waits behind an unrelated incident's report still queued for one
        # (the locks are striped).
        with self.write_turns.turn(turn), self._locks.of(incident_id):
            def run() -> tuple[Incident, frozenset[str]]:
                with self.store.unit_of_work() as uow:
                    now = self.clock.now()
                    incident = uow.incidents.get(incident_id)
                    if incident is None:
                        raise UnknownIncidentError(incident_id)
                    change(incident, now)
                    if incident.new_events or incident.changed_legs:
                        uow.incidents.save(incident, now)
                        uow.commit()
                    return incident, uow.incidents.claimed_legs(incident_id)
            incident, taken = self._retry(run)
        self._after_commit(incident, self.clock.now(), turn, taken=taken)
        return incident

    def _retry(self, run: Callable[[], _Result]) -> _Result:
        for _ in range(_RETRIES - 1):
            try:
                return run()
            except ConcurrentUpdateError:
                continue
        return run()

    def _after_commit(self, incident: Incident, now: datetime, turn: Turn = Turn.COMMAND,
                      claimed: frozenset[str] = frozenset(), taken: frozenset[str] = frozenset()) -> None:
        if incident.closed_at is not None and not incident.status.is_open:
            self.presses.closed(_open_key(incident), incident.id, incident.closed_at)
        events, incident.new_events = incident.new_events, []
        incident.changed_legs = set()
        self.mass_events.observe(incident)
        if events:
            self.events.publish(incident.id, events)
        self._schedule(incident, now)
        self._dispatch(incident, now, turn, claimed, taken)

    def _schedule(self, incident: Incident, now: datetime) -> None:
        escalate_id = f"escalate:{incident.id}"
        if incident.status is IncidentStatus.ALERTING and incident.next_escalation_at is not None:
            self.timers.schedule(Timer(escalate_id, incident.next_escalation_at, "escalate", incident.id,
                                       incident.level + 1, incident.escalation_token))
        else:
            self.timers.cancel(escalate_id)
        # One leg timer per incident, at its earliest leg due later: a timer per leg fired twenty
        # times for twenty redials due together, and each firing read the whole incident again.
        later = [leg.due_at for leg in incident.pending_legs() if leg.due_at > now]
        if later:
            self.timers.schedule(Timer(f"leg:{incident.id}", min(later), "leg_due", incident.id))

    def _dispatch(self, incident: Incident, now: datetime, turn: Turn = Turn.COMMAND,
                  claimed: frozenset[str] = frozenset(), taken: frozenset[str] = frozenset()) -> None:
        """Hand the due legs to their channels. ``claimed``: legs stored already claimed by this
        instance, to send; ``taken``: legs found claimed when the incident was read, to leave alone
        (in a flood most due legs wait in a channel's queue, and every report on the incident used
        to try to claim them all again)."""
        due = [leg for leg in self._due(incident, now) if leg.id not in taken]
        if not due:
            return
        to_claim = {leg.id: self._channel(leg.channel).name for leg in due if leg.id not in claimed}
        won = set(claimed)
        if to_claim:
            with self.write_turns.turn(turn):
                won.update(self.store.claim(list(to_claim), self.holder, to_claim, now))
        facts = self._facts(incident)
        for leg in due:
            if leg.id in won:
                self._submit(self._order(incident, leg, facts))

    def _submit(self, order: LegOrder) -> None:
        try:
            self.executor.submit(self._send, order)
        except RuntimeError:  # stop_dispatching ran: the leg stays claimed, the next leader replaces it
            log.warning("leg %s not handed to its channel: the engine is stopping", order.leg_id)

    def stop_dispatching(self) -> None:
        """The service is stopping: legs still queued for the channels stay claimed and are replaced by
        the next leader's recovery, rather than sent through channels that are shutting down. Sends
        already waiting in a channel for a slot (Twilio's pacer) give up too, unsent and unreported:
        sent after the lease is given back, they would be placed twice."""
        self._dispatch_stopped = True
        shutdown = getattr(self.executor, "shutdown", None)
        if shutdown is not None:
            shutdown(wait=False, cancel_futures=True)
        for channel in self.channels.values():
            close_sends(channel)

    @staticmethod
    def _due(incident: Incident, now: datetime) -> list[AlertLeg]:
        return [leg for leg in incident.pending_legs() if leg.due_at <= now]

    def _send(self, order: LegOrder) -> None:
        channel = self._channel(order.channel)
        try:
            ref = channel.send(order)
        except Exception as exc:  # every failure of a channel is an outcome, never a lost leg
            if self._dispatch_stopped:  # the leg stays claimed: the next leader's recovery replaces it
                log.info("leg %s not sent, the engine is stopping: %s", order.leg_id, exc)
                return
            log.warning("leg %s failed to send: %s", order.leg_id, exc)
            self._handovers.handed_over(order.incident_id, Report(order.leg_id, LegStatus.FAILED,
                                                                  f"{type(exc).__name__}: {exc}", ""))
            return
        self._handovers.handed_over(order.incident_id,
                                    Report(order.leg_id, handed_over_status(channel, order, ref), "", ref))

    def _record_handovers(self, incident_id: str, batch: list[Report]) -> None:
        """A batch of one incident's hand-overs (callcenter/service/handover.py), in one command."""
        self.outage.store_reports(incident_id, batch, lambda: self._store_handovers(incident_id, batch))

    def _store_handovers(self, incident_id: str, batch: list[Report]) -> None:
        def apply(incident: Incident, now: datetime) -> None:
            for item in batch:
                try:
                    self._record(incident, item, now)
                except IncidentError:
                    log.exception("outcome %s for leg %s not recorded", item.status, item.leg_id)
        try:
            self._command(incident_id, apply)
        except UnknownIncidentError:
            log.exception("hand-over of %d legs of unknown incident %s not recorded", len(batch), incident_id)

    def _order(self, incident: Incident, leg: AlertLeg, facts: MessageFacts) -> LegOrder:
        if leg.purpose is LegPurpose.SUMMARY:
            alerting, never_called = self.mass_events.counts(leg.recipient.key)
            text = render_summary(self.templates, alerting, never_called, self.mass_events.link)
            return LegOrder(leg.id, incident.id, leg.channel, leg.purpose, leg.attempt, leg.recipient, text, facts,
                            incident.level, leg_level=leg.level,
                            params=summary_values(alerting, never_called, self.mass_events.link))
        template = {
            LegPurpose.ALERT: self.templates.alert_sms,
            LegPurpose.HELP_COMING: self.templates.help_coming_sms,
            LegPurpose.CANCELLATION: self.templates.cancellation_sms,
        }[leg.purpose]
        return LegOrder(leg.id, incident.id, leg.channel, leg.purpose, leg.attempt, leg.recipient,
                        render(template, facts, self.templates), facts, incident.level, leg_level=leg.level,
                        calls_wanted=self.policy.calls_wanted(len(incident.acks)),
                        params=message_values(facts, self.templates))

    def _facts(self, incident: Incident) -> MessageFacts:
        return MessageFacts(
            label=incident.label, address=incident.address or "地址未登记", caller=display_phone(incident.caller),
            pressed_at=incident.opened_at, emergency_type=EMERGENCY_TYPE_LABELS[incident.emergency_type],
            acknowledged_by="、".join(a.recipient.name for a in incident.acks),
        )

    def _channel(self, channel: Channel) -> AlertChannel:
        return self.channels[channel]

    def _channel_named(self, name: str) -> AlertChannel | None:
        return next((c for c in self.channels.values() if c.name == name), None)

    def _survives_restart(self, provider: str) -> bool:
        """Whether the calls of the channel named ``provider`` outlive a restart of this process."""
        return bool((channel := self._channel_named(provider)) and channel.survives_restart)

    def _load(self, incident_id: str) -> Incident:
        return self._load_claimed(incident_id)[0]

    def _load_claimed(self, incident_id: str) -> tuple[Incident, frozenset[str]]:
        """The incident and its legs claimed when it was read."""
        with self.store.unit_of_work() as uow:
            incident = uow.incidents.get(incident_id)
            taken = uow.incidents.claimed_legs(incident_id)
        if incident is None:
            raise UnknownIncidentError(incident_id)
        return incident, taken

    def _record_audit(self, incident_id: str, items: list[Overdue]) -> None:
        """One write per incident, taking its turn: in a flood thousands of legs wait for a trunk channel."""
        events = audit_events(items, self.clock.now())
        with self.write_turns.turn():
            self.store.append_events(incident_id, events)
        self.events.publish(incident_id, events)

    # -- database outage: what the engine does when the seam spools (callcenter/service/degraded.py) --

    def _press_during_outage(self, press: KeyPress, counted: bool) -> Incident:
        """The store cannot take the press: spool it (fsynced), then hand its legs to the channels.
        An unverified caller's press is alerted at once too: with the database down, the console
        that could release it is down with it."""
        incident, legs = self.outage.spool_press(press.open_key, press.at, counted, press.trust,
                                                 lambda: self._open(press, hold=False),
                                                 lambda leg: self._channel(leg.channel).name)
        log.error("incident %s: press from %s spooled while the database is unreachable; %d legs placed",
                  incident.id, mask_phone(press.number), len(legs))
        facts = self._facts(incident)
        for leg in legs:
            self._submit(self._order(incident, leg, facts))
        return incident

    def stored_after_outage(self, incident: Incident) -> None:
        """A spooled incident (or spooled reports) reached the store: operators see it, timers resume."""
        events, incident.new_events = incident.new_events, []
        if events:
            self.events.publish(incident.id, events)
        self.resume(incident.id)


def _open_key_of(household_id: int | None, caller: str) -> str:
    """At most one open incident per household (per caller ID when no household has the line)."""
    return f"h:{household_id}" if household_id is not None else f"c:{caller}"


def _open_key(incident: Incident) -> str:
    return _open_key_of(incident.household_id, incident.caller)


@dataclass(frozen=True, slots=True)
class KeyPress:
    """One key press as it came in: the caller's number, what the directory says of it, when, how trusted."""

    number: str
    found: CallerLookup | None
    open_key: str
    at: datetime
    trust: CallerTrust


def _joins(existing: Incident, now: datetime, policy: EscalationPolicy) -> bool:
    last = existing.last_press_at or existing.opened_at
    return existing.status.is_open and now - last <= policy.repeat_press_window
