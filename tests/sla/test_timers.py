"""The follow-up and feedback clocks through the leads services, and the sweep's promises."""

from datetime import UTC, datetime, timedelta

from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads import services as lead_services
from leads.models import Reason, ReasonKind
from revops.tenancy.models import Role
from sla import outbox, services
from sla.models import (
    EventKind,
    Notification,
    OutboxMessage,
    Recipient,
    SlaEvent,
    SlaKind,
    SlaTimer,
    TimerState,
    TimerTarget,
)
from sla.sweep import sweep
from tests.base import make_member
from tests.sla.base import SlaTestCase

# Tuesday 24 November 2026, 10:00 in Chicago (16:00 UTC): inside business hours.
TUESDAY_10 = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


class FollowUpTestCase(SlaTestCase):
    """`hand_off` makes an assigned SQL, on Tuesday at 10:00 unless told otherwise."""

    def hand_off(self, at=TUESDAY_10, name="Ada"):
        return super().hand_off(at, name)


class FollowUpClockTests(FollowUpTestCase):
    def test_an_assigned_sql_starts_a_one_business_hour_clock(self):
        lead = self.hand_off()
        timer = SlaTimer.objects.get(lead=lead)
        assert timer.state == TimerState.RUNNING
        assert timer.owner == self.bob
        assert timer.started_at == TUESDAY_10
        assert timer.due_at == TUESDAY_10 + timedelta(hours=1)
        assert timer.warn_at == TUESDAY_10 + timedelta(minutes=45)
        assert timer.policy.kind == SlaKind.FOLLOW_UP

    def test_a_handoff_at_four_thirty_is_due_next_morning(self):
        lead = self.hand_off(at=datetime(2026, 11, 24, 22, 30, tzinfo=UTC))  # 16:30 Chicago
        timer = SlaTimer.objects.get(lead=lead)
        assert timer.due_at == datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # Wed 09:30 Chicago

    def test_the_owners_touch_before_the_deadline_meets_it_even_if_the_sweep_is_late(self):
        lead = self.hand_off()
        lead_services.touch_log(lead=lead, actor=self.bob, kind="call",
                                at=TUESDAY_10 + timedelta(minutes=50))  # fmt: skip
        report = sweep(TUESDAY_10 + timedelta(hours=3))
        timer = SlaTimer.objects.get(lead=lead)
        assert timer.state == TimerState.MET
        assert timer.breached_at is None
        assert timer.elapsed_us == 50 * 60 * 1_000_000
        assert report.breaches == 0
        assert not SlaEvent.objects.filter(kind=EventKind.BREACH).exists()

    def test_warning_then_breach_are_recorded_once_and_dated_at_their_thresholds(self):
        lead = self.hand_off()
        assert sweep(TUESDAY_10 + timedelta(minutes=44)).warnings == 0
        first = sweep(TUESDAY_10 + timedelta(minutes=46))
        again = sweep(TUESDAY_10 + timedelta(minutes=47))
        assert (first.warnings, again.warnings) == (1, 0)
        late = sweep(TUESDAY_10 + timedelta(hours=5))
        assert late.breaches == 1
        assert sweep(TUESDAY_10 + timedelta(hours=6)).breaches == 0
        timer = SlaTimer.objects.get(lead=lead)
        assert timer.state == TimerState.BREACHED
        assert timer.breached_at == timer.due_at
        breach = SlaEvent.objects.get(kind=EventKind.BREACH)
        assert breach.at == TUESDAY_10 + timedelta(hours=1)
        # Owner on warning; owner, the owner's manager and admins on breach.
        warned_users = set(
            Notification.objects.filter(event__kind=EventKind.WARNING).values_list(
                "user__email", flat=True
            )
        )
        breached_users = set(
            Notification.objects.filter(event=breach).values_list("user__email", flat=True)
        )
        assert warned_users == {"bob@a.test"}
        assert breached_users == {"bob@a.test", "mia@a.test", "alice@a.test"}

    def test_a_touch_after_a_recorded_breach_is_met_late_and_the_breach_stays(self):
        lead = self.hand_off()
        sweep(TUESDAY_10 + timedelta(hours=2))
        lead_services.touch_log(lead=lead, actor=self.bob, kind="call",
                                at=TUESDAY_10 + timedelta(hours=3))  # fmt: skip
        timer = SlaTimer.objects.get(lead=lead)
        assert timer.state == TimerState.MET and timer.met_late
        assert timer.breached_at == TUESDAY_10 + timedelta(hours=1)
        assert SlaEvent.objects.filter(timer=timer, kind=EventKind.BREACH).count() == 1

    def test_a_late_touch_before_any_sweep_still_records_the_breach_once(self):
        lead = self.hand_off()
        lead_services.touch_log(lead=lead, actor=self.bob, kind="call",
                                at=TUESDAY_10 + timedelta(hours=2))  # fmt: skip
        assert sweep(TUESDAY_10 + timedelta(hours=3)).breaches == 0
        timer = SlaTimer.objects.get(lead=lead)
        assert timer.met_late
        assert SlaEvent.objects.filter(timer=timer, kind=EventKind.BREACH).count() == 1

    def test_reassignment_keeps_the_clock_and_is_recorded(self):
        lead = self.hand_off()
        carol = make_member(self.org_a, "carol@a.test", "Carol Sales", Role.SALES)
        before = SlaTimer.objects.get(lead=lead)
        lead_services.lead_reassign(lead=lead, owner=carol, actor=self.alice,
                                    now=TUESDAY_10 + timedelta(minutes=20))  # fmt: skip
        after = SlaTimer.objects.get(lead=lead)
        assert (after.pk, after.due_at, after.owner) == (before.pk, before.due_at, carol)
        event = SlaEvent.objects.get(timer=after, kind=EventKind.REASSIGNED)
        assert "Carol" in event.detail

    def test_pause_moves_the_deadline_by_the_paused_business_time(self):
        lead = self.hand_off()
        timer = SlaTimer.objects.get(lead=lead)
        services.timer_pause(timer=timer, actor=self.alice, reason="Prospect at a fair",
                             now=TUESDAY_10 + timedelta(minutes=30))  # fmt: skip
        assert sweep(TUESDAY_10 + timedelta(hours=4)).breaches == 0
        # Resumed at Wednesday 10:00 Chicago: paused for 7.5 business hours (the rest of
        # Tuesday and Wednesday's first hour), so 30 minutes remain.
        resumed = services.timer_resume(
            timer=timer, actor=self.alice, now=TUESDAY_10 + timedelta(days=1)
        )
        assert resumed.due_at == TUESDAY_10 + timedelta(days=1, minutes=30)
        assert resumed.paused_us == int(7.5 * 3600 * 1_000_000)

    def test_rejection_cancels_the_clock_and_starts_marketings_feedback_clock(self):
        lead = self.hand_off()
        reason = Reason.objects.filter(kind=ReasonKind.REJECTION).first()
        lead_services.lead_reject(lead=lead, actor=self.bob, reason_id=reason.pk,
                                  now=TUESDAY_10 + timedelta(minutes=5))  # fmt: skip
        follow_up = SlaTimer.objects.get(lead=lead, target=TimerTarget.FOLLOW_UP)
        assert follow_up.state == TimerState.CANCELLED
        acknowledge = SlaTimer.objects.get(lead=lead, target=TimerTarget.ACKNOWLEDGE)
        # 48 hours around the clock.
        assert acknowledge.due_at == TUESDAY_10 + timedelta(minutes=5, hours=48)
        item = acknowledge.feedback
        lead_services.feedback_acknowledge(item=item, actor=self.alice,
                                           now=TUESDAY_10 + timedelta(hours=3))  # fmt: skip
        acknowledge.refresh_from_db()
        assert acknowledge.state == TimerState.MET
        resolve = SlaTimer.objects.get(lead=lead, target=TimerTarget.RESOLVE)
        assert resolve.state == TimerState.RUNNING

    def test_a_new_policy_version_rebases_running_timers_only_when_asked(self):
        lead = self.hand_off()
        policy = services.policy_create_version(
            kind=SlaKind.FOLLOW_UP, actor=self.alice, target_minutes=120,
            now=TUESDAY_10 + timedelta(minutes=10),
        )  # fmt: skip
        timer = SlaTimer.objects.get(lead=lead)
        assert timer.policy.version == 1 and policy.version == 2
        assert timer.due_at == TUESDAY_10 + timedelta(hours=1)
        rebased = services.policy_create_version(
            kind=SlaKind.FOLLOW_UP, actor=self.alice, target_minutes=180, rebase_running=True,
            now=TUESDAY_10 + timedelta(minutes=20),
        )  # fmt: skip
        timer.refresh_from_db()
        assert (timer.policy, timer.due_at) == (rebased, TUESDAY_10 + timedelta(hours=3))
        assert rebased.rebased_running and rebased.rebased_count == 1
        assert SlaEvent.objects.filter(timer=timer, kind=EventKind.REBASED).exists()

    def test_breach_emails_and_webhooks_are_queued_once_and_delivered(self):
        services.policy_create_version(
            kind=SlaKind.FOLLOW_UP, actor=self.alice,
            notify_on_breach=[Recipient.OWNER], escalation_emails=["vp@a.test"],
        )  # fmt: skip
        self.hand_off()
        sweep(TUESDAY_10 + timedelta(hours=2))
        sweep(TUESDAY_10 + timedelta(hours=2))
        recipients = sorted(
            OutboxMessage.objects.filter(channel="email").values_list("recipient", flat=True)
        )
        # The owner, the manager (escalation) and the escalation list; once each.
        assert recipients == ["bob@a.test", "mia@a.test", "vp@a.test"]
        later = TUESDAY_10 + timedelta(hours=2, minutes=1)
        report = outbox.deliver_due(later)
        assert report.sent == 3
        assert sorted(m.to[0] for m in mail.outbox) == recipients
        assert outbox.deliver_due(later + timedelta(hours=1)).sent == 0


class SweepQueryCountTests(FollowUpTestCase):
    def sweep_queries(self, leads: int, day: int) -> int:
        start = TUESDAY_10 + timedelta(days=7 * day)
        for number in range(leads):
            self.hand_off(at=start, name=f"Lead{day}x{number}")
        with CaptureQueriesContext(connection) as queries:
            report = sweep(start + timedelta(hours=2))
        assert report.breaches == leads
        return len(queries)

    def test_the_sweep_costs_the_same_queries_for_3_or_30_breaches(self):
        assert self.sweep_queries(3, day=1) == self.sweep_queries(30, day=2)
