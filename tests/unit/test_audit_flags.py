"""The auditor flags each late item once, while it stays late (callcenter/service/auditor.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcenter.service.auditor import LateFlags, audit_events, by_incident
from callcenter.service.ports import Overdue

DUE = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def late(incident_id: str, what: str, seconds: float = 11) -> Overdue:
    return Overdue(incident_id, what, DUE, timedelta(seconds=seconds))


def test_an_item_is_news_once_while_it_stays_late_and_again_if_it_falls_late_again() -> None:
    flags = LateFlags()
    escalation, leg = late("a", "escalation to level 1"), late("a", "leg a/1")
    assert flags.newly_late([escalation]) == [escalation]
    assert flags.newly_late([escalation, leg]) == [leg]
    assert flags.newly_late([leg]) == []
    assert flags.newly_late([escalation, leg]) == [escalation]  # it was on time at the last audit


def test_late_items_are_grouped_by_incident_in_order_with_one_event_each() -> None:
    items = [late("a", "leg a/1"), late("b", "leg b/1"), late("a", "leg a/2", 30)]
    assert by_incident(items) == {"a": [items[0], items[2]], "b": [items[1]]}
    events = audit_events(by_incident(items)["a"], DUE)
    assert [(e.kind, e.actor, e.data["what"], e.data["late_seconds"]) for e in events] == [
        ("audit_overdue", "auditor", "leg a/1", 11.0), ("audit_overdue", "auditor", "leg a/2", 30.0)]
