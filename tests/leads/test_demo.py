"""The demo data: a believable funnel in both demo organizations, made through the services."""

from collections import Counter, defaultdict
from datetime import timedelta
from itertools import pairwise

from django.db.models import Count
from django.test import TestCase
from django.utils import timezone

from leads.models import (
    ALLOWED_TRANSITIONS,
    Campaign,
    EngagementEvent,
    Lead,
    LeadFeedback,
    LeadTransition,
    Opportunity,
    OpportunityStatus,
    SalesRep,
    ScoringRule,
    Stage,
    Touch,
)
from revops.tenancy.demo import seed_demo
from revops.tenancy.models import Organization

TENANT_MODELS = [
    Lead, LeadTransition, Touch, EngagementEvent, LeadFeedback, Opportunity, Campaign, SalesRep,
    ScoringRule,
]  # fmt: skip


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.unscoped().count() for model in TENANT_MODELS}


class SeedDemoLeadsTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.before = timezone.now()
        seed_demo()
        cls.after = timezone.now()
        cls.first_run = row_counts()
        seed_demo()
        cls.second_run = row_counts()
        cls.organizations = list(Organization.objects.filter(slug__in=["acme", "globex"]))

    def test_the_second_run_adds_nothing(self):
        assert self.second_run == self.first_run
        assert self.first_run["Lead"] > 0

    def test_both_organizations_have_leads_across_the_funnel(self):
        for organization in self.organizations:
            with self.subTest(organization.slug):
                leads = Lead.objects.for_organization(organization)
                stages = dict(leads.values_list("stage").annotate(n=Count("id")))
                assert 350 <= sum(stages.values()) <= 450
                must_have = {
                    Stage.NEW, Stage.MQL, Stage.ACCEPTED, Stage.WON, Stage.LOST, Stage.NURTURE,
                    Stage.REJECTED, Stage.DISQUALIFIED,
                }  # fmt: skip
                assert must_have <= stages.keys(), stages
                assert leads.filter(owner__isnull=False).values("owner").distinct().count() == 2
                assert Campaign.objects.for_organization(organization).count() >= 6
                opportunities = Opportunity.objects.for_organization(organization)
                assert {o.currency for o in opportunities} == {organization.currency}
                feedback = LeadFeedback.objects.for_organization(organization)
                statuses = set(feedback.values_list("status", flat=True))
                assert statuses == {"open", "acknowledged", "resolved"}
                assert feedback.filter(from_rejection=False).exclude(tags=[]).exists()

    def test_every_leads_history_is_consistent(self):
        history = defaultdict(list)
        transitions = LeadTransition.objects.unscoped().order_by("lead_id", "at", "id")
        for t in transitions.values("lead_id", "from_stage", "to_stage", "at", "organization"):
            history[t["lead_id"]].append(t)
        leads = Lead.objects.unscoped().all()
        assert len(history) == len(leads)
        for lead in leads:
            moves = history[lead.pk]
            assert (moves[0]["from_stage"], moves[0]["to_stage"]) == ("", Stage.NEW), lead.pk
            for before, move in pairwise(moves):
                assert move["from_stage"] == before["to_stage"], (lead.pk, moves)
                assert (
                    move["from_stage"] == move["to_stage"]  # assignment lines
                    or move["to_stage"] in ALLOWED_TRANSITIONS[move["from_stage"]]
                ), (lead.pk, moves)
            assert moves[-1]["to_stage"] == lead.stage, (lead.pk, moves)
            assert {m["organization"] for m in moves} == {lead.organization_id}
            # Backdated to the story: created when its first transition says, nothing later than
            # the seeding itself.
            assert lead.created_at == moves[0]["at"]
            assert moves[-1]["at"] <= self.after

    def test_timestamps_follow_the_lifecycle(self):
        leads = Lead.objects.unscoped().filter(handed_off_at__isnull=False)
        hand_offs = Counter(
            LeadTransition.objects.unscoped()
            .filter(to_stage=Stage.SQL, from_stage=Stage.MQL)
            .values_list("lead_id", flat=True)
        )
        for lead in leads:
            assert lead.qualified_by_policy_id is not None
            # Once handed off: touched after it. (A lead handed off twice keeps the first touch
            # of its first round: test_a_second_hand_off_starts_a_new_first_touch_clock.)
            if lead.first_touch_at is not None and hand_offs[lead.pk] == 1:
                assert lead.first_touch_at > lead.handed_off_at, lead.pk
        touched = Lead.objects.unscoped().filter(first_touch_at__isnull=False)
        assert touched.count() > 100
        for opportunity in Opportunity.objects.unscoped():
            if opportunity.status == OpportunityStatus.WON:
                assert opportunity.won_value is not None and opportunity.loss_reason is None
                assert opportunity.created_at <= opportunity.closed_at
            elif opportunity.status == OpportunityStatus.LOST:
                assert opportunity.loss_reason is not None and opportunity.won_value is None
        for item in LeadFeedback.objects.unscoped().exclude(status="open"):
            assert item.created_at <= item.acknowledged_at
            assert item.resolved_at is None or item.acknowledged_at <= item.resolved_at
        # Spread over the last 180 days, not bunched at "now".
        created = Counter(
            (self.before - lead.created_at).days // 30 for lead in Lead.objects.unscoped()
        )
        assert set(created) == {0, 1, 2, 3, 4, 5}, created

    def test_the_sla_record_is_what_the_minute_sweep_would_have_written(self):
        from revops.tenancy.context import organization_scope
        from sla import selectors as sla_selectors
        from sla.models import (
            EventKind,
            Notification,
            OutboxMessage,
            SlaEvent,
            SlaTimer,
            TimerState,
            VolumePeriodResult,
        )

        for organization in self.organizations:
            with self.subTest(organization.slug), organization_scope(organization):
                timers = SlaTimer.objects.all()
                states = set(timers.values_list("state", flat=True))
                assert {TimerState.MET, TimerState.BREACHED} <= states, states
                targets = set(timers.values_list("target", flat=True))
                assert targets == {"follow_up", "acknowledge", "resolve"}
                # Caught up: nothing running is past its deadline or its warning.
                assert not timers.filter(state=TimerState.RUNNING, due_at__lte=self.before)
                assert not timers.filter(
                    state=TimerState.RUNNING, warn_at__lte=self.before, warned_at__isnull=True
                )
                breaches = SlaEvent.objects.filter(kind=EventKind.BREACH, timer__isnull=False)
                assert breaches.exists()
                for event in breaches.select_related("timer"):
                    assert event.at == event.timer.due_at == event.timer.breached_at
                met_late = timers.filter(state=TimerState.MET, breached_at__isnull=False)
                assert met_late.exists()
                on_time = timers.filter(state=TimerState.MET, breached_at__isnull=True)
                assert all(t.met_at <= t.due_at for t in on_time)
                rows = sla_selectors.compliance(start=self.before - timedelta(days=200),
                                                end=self.after)  # fmt: skip
                follow_up = next(r for r in rows if r.label == "First follow-up")
                assert 30 <= follow_up.percent <= 98, follow_up
                periods = VolumePeriodResult.objects.all()
                assert periods.filter(state__in=["met", "breached"]).count() >= 5
                assert periods.filter(state__in=["on_track", "at_risk"]).count() == 1
                assert Notification.objects.filter(read_at__isnull=True).exists()
                assert not OutboxMessage.objects.filter(channel="email").exists()
