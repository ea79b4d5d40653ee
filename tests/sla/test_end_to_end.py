"""From "a lead becomes an SQL" to "the breach notification was delivered", through the real
Celery worker and Redis, with the sweep's clock given as its `now` argument.

The sweep records the breach and, after its commit, enqueues the outbox delivery; the worker
runs that too, sending the email (the test email backend) and the webhook (a real HTTP server).
Delivery runs on the real clock, so these scenarios happen in 2025: already due when delivered.
"""

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from revops.tenancy.context import organization_scope
from sla.models import (
    Channel,
    DeliveryState,
    EventKind,
    OutboxMessage,
    SlaEvent,
    SlaTimer,
    TimerState,
)
from sla.tasks import sla_outbox_deliver, sla_sweep
from tests.sla.test_sweep import SECRET, WebhookReceiver, hand_off, team_create, verify_signature

CHICAGO, BERLIN = ZoneInfo("America/Chicago"), ZoneInfo("Europe/Berlin")
TIMEOUT = 30


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll until `check()` holds, rather than sleeping a guessed time."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def undelivered() -> int:
    return (
        OutboxMessage.objects.unscoped()
        .filter(state__in=[DeliveryState.PENDING, DeliveryState.SENDING])
        .count()
    )


def test_a_breach_is_recorded_by_the_worker_and_its_notifications_delivered_once(
    transactional_db, celery_worker, receiver
):
    team = team_create("e2e", webhook_url=receiver.url("/hook"))
    # Tuesday 18 November 2025, 10:00 in Chicago: due at 11:00.
    handed_off = datetime(2025, 11, 18, 10, 0, tzinfo=CHICAGO)
    lead = hand_off(team, at=handed_off, name="Grace")
    with organization_scope(team.organization):
        timer = SlaTimer.objects.get(lead=lead)
    assert (timer.state, timer.due_at) == (TimerState.RUNNING, handed_off + timedelta(hours=1))

    report = sla_sweep.delay(now=(handed_off + timedelta(hours=2)).isoformat()).get(TIMEOUT)
    assert (report["breaches"], report["failed"], report["lag_seconds"]) == (1, [], 0)
    timer.refresh_from_db()
    assert (timer.state, timer.breached_at) == (TimerState.BREACHED, timer.due_at)
    breach = SlaEvent.objects.unscoped().get(kind=EventKind.BREACH)
    assert breach.at == timer.due_at

    # Nobody here delivers: the task the sweep enqueued after its commit does, on the worker.
    eventually(lambda: undelivered() == 0 and len(mail.outbox) == 3, "the delivery")
    [webhook] = receiver.received("/hook")
    assert webhook.headers["X-RevOps-Event"] == f"evt_{breach.pk}"
    verify_signature(webhook, SECRET)
    assert webhook.json["type"] == "sla.breach"
    assert webhook.json["timer"]["lead_id"] == lead.pk
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [team.admin.email, team.rep.email, team.manager.email]
    )
    assert all("Follow-up SLA breached: Grace" in m.subject for m in mail.outbox)
    assert {m.extra_headers["X-RevOps-Event"] for m in mail.outbox} == {f"evt_{breach.pk}"}
    assert set(OutboxMessage.objects.unscoped().values_list("channel", "state")) == {
        (Channel.EMAIL, DeliveryState.SENT),
        (Channel.WEBHOOK, DeliveryState.SENT),
    }

    # Sweeping and delivering again (a second beat, a redelivered task) sends nothing more.
    again = sla_sweep.delay(now=(handed_off + timedelta(hours=3)).isoformat()).get(TIMEOUT)
    assert again["breaches"] == 0
    assert sla_outbox_deliver.delay().get(TIMEOUT)["sent"] == 0
    assert len(receiver.received()) == 1 and len(mail.outbox) == 3
    assert SlaEvent.objects.unscoped().filter(kind=EventKind.BREACH).count() == 1


@pytest.mark.parametrize(
    ("zone", "handed_off", "due"),
    [
        # Chicago falls back on Sunday 2 November 2025 (CDT, UTC-5 → CST, UTC-6).
        ("America/Chicago", datetime(2025, 10, 31, 16, 30, tzinfo=CHICAGO),
         datetime(2025, 11, 3, 9, 30, tzinfo=CHICAGO)),
        # Berlin springs forward on Sunday 30 March 2025 (CET, UTC+1 → CEST, UTC+2).
        ("Europe/Berlin", datetime(2025, 3, 28, 16, 30, tzinfo=BERLIN),
         datetime(2025, 3, 31, 9, 30, tzinfo=BERLIN)),
    ],
    ids=["chicago-fall-back", "berlin-spring-forward"],
)  # fmt: skip
def test_a_friday_hand_off_before_a_dst_weekend_is_due_at_the_right_monday_instant(
    transactional_db, celery_worker, zone, handed_off, due
):
    # Half an hour on Friday (16:30-17:00), half an hour on Monday (09:00-09:30), local time.
    assert handed_off.utcoffset() != due.utcoffset()
    team = team_create(f"dst-{zone.split('/')[1].lower()}", timezone_name=zone)
    lead = hand_off(team, at=handed_off, name="Linus")
    with organization_scope(team.organization):
        timer = SlaTimer.objects.get(lead=lead)
    assert timer.due_at == due
    assert timer.warn_at == due - timedelta(minutes=15)

    # A microsecond before the deadline: the warning, no breach.
    before = sla_sweep.delay(now=(due - timedelta(microseconds=1)).isoformat()).get(TIMEOUT)
    assert (before["warnings"], before["breaches"]) == (1, 0)
    timer.refresh_from_db()
    assert timer.state == TimerState.RUNNING
    # At the deadline: the breach, dated at it.
    at_due = sla_sweep.delay(now=due.isoformat()).get(TIMEOUT)
    assert (at_due["warnings"], at_due["breaches"]) == (0, 1)
    timer.refresh_from_db()
    assert (timer.state, timer.breached_at) == (TimerState.BREACHED, due)
    events = SlaEvent.objects.unscoped().filter(timer=timer)
    assert events.get(kind=EventKind.WARNING).at == due - timedelta(minutes=15)
    assert events.get(kind=EventKind.BREACH).at == due
    # Both notifications reach the owner (and the breach the manager and the admin).
    eventually(lambda: undelivered() == 0, "the delivery")
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [team.rep.email, team.rep.email, team.manager.email, team.admin.email]
    )
