"""Lead scoring: fit rules, engagement that halves every half-life, and the MQL rule it feeds."""

from datetime import UTC, datetime, timedelta

from leads import services
from leads.models import EngagementEvent, Lead, ScoringRule, Stage
from leads.scoring import score_compute
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def fit(attribute: str, value: str, points: int, **extra) -> ScoringRule:
    return ScoringRule.objects.create(
        kind="fit", attribute=attribute, value=value, points=points, **extra
    )


def engagement(event_kind: str, points: int, half_life_days: int = 30, **extra) -> ScoringRule:
    return ScoringRule.objects.create(
        kind="engagement",
        event_kind=event_kind,
        points=points,
        half_life_days=half_life_days,
        **extra,
    )


class ScoringTestCase(TwoOrganizationsTestCase):
    def setUp(self):
        scope = organization_scope(self.org_a)
        scope.__enter__()
        self.addCleanup(scope.__exit__, None, None, None)
        # A threshold no test reaches unless it means to, so scores are read on NEW leads.
        services.policy_ensure()

    def create(self, **values) -> Lead:
        return services.lead_create(actor=self.alice, now=NOW, **values)

    def record(self, lead: Lead, kind: str, age: timedelta, now=NOW) -> Lead:
        return services.engagement_record(lead=lead, kind=kind, occurred_at=now - age, now=now)


class FitTests(ScoringTestCase):
    def setUp(self):
        super().setUp()
        fit("industry", "Software", 10)
        fit("persona", "RevOps", 7)
        fit("title_contains", "VP", 5)
        fit("company_size_at_least", "200", 3)

    def test_each_fit_rule_adds_its_points(self):
        cases = [
            ({"industry": " software "}, 10),  # case and spaces do not matter
            ({"industry": "Software services"}, 0),  # industry is an exact match
            ({"persona": "revops"}, 7),
            ({"title": "SVP of Sales"}, 5),  # title is a substring match
            ({"title": "Director"}, 0),
            ({"company_size": 200}, 3),  # at least: the boundary counts
            ({"company_size": 199}, 0),
            ({}, 0),  # a blank lead matches nothing (no crash on None size)
            (
                {"industry": "Software", "persona": "RevOps", "title": "VP", "company_size": 9000},
                25,
            ),
        ]
        for values, score in cases:
            with self.subTest(values):
                lead = self.create(**values)
                assert lead.score == score
                assert sum(line["points"] for line in lead.score_breakdown) == score
                assert all(line["kind"] == "fit" for line in lead.score_breakdown)

    def test_the_breakdown_names_each_rule(self):
        lead = self.create(industry="Software", title="VP Marketing")
        assert lead.score_breakdown == [
            {"rule": "industry=Software: +10", "kind": "fit", "points": 10},
            {"rule": "title_contains=VP: +5", "kind": "fit", "points": 5},
        ]
        assert Lead.objects.get(pk=lead.pk).score_breakdown == lead.score_breakdown

    def test_a_size_rule_with_a_non_numeric_value_never_matches(self):
        fit("company_size_at_least", "lots", 50)
        assert self.create(company_size=10**6).score == 3

    def test_negative_points_subtract(self):
        fit("title_contains", "student", -20)
        assert self.create(title="Student", industry="Software").score == -10

    def test_inactive_rules_are_ignored(self):
        ScoringRule.objects.update(active=False)
        engagement("demo_request", 40, active=False)
        lead = self.create(industry="Software", persona="RevOps", title="VP", company_size=500)
        self.record(lead, "demo_request", timedelta(0))
        assert (lead.score, lead.score_breakdown) == (0, [])
        # score_compute ignores them too, when handed every rule rather than the active ones.
        assert score_compute(lead, ScoringRule.objects.all(), lead.events.all(), NOW) == (0, [])


class EngagementDecayTests(ScoringTestCase):
    def setUp(self):
        super().setUp()
        engagement("pricing_visit", 40, half_life_days=10)
        self.lead = self.create(email="ada@x.test")

    def test_an_event_one_half_life_old_gives_half_its_points(self):
        cases = [
            (timedelta(0), 40),
            (timedelta(days=10), 20),
            (timedelta(days=20), 10),
            (timedelta(days=30), 5),
            (timedelta(days=5), 28),  # 40 / √2 = 28.28
        ]
        for age, score in cases:
            with self.subTest(age):
                lead = self.create()
                self.record(lead, "pricing_visit", age)
                assert (lead.score, Lead.objects.get(pk=lead.pk).score) == (score, score)

    def test_the_same_event_is_worth_less_when_rescored_later(self):
        self.record(self.lead, "pricing_visit", timedelta(0))
        assert self.lead.score == 40
        # Any later rescoring (an update, another event) applies the decay up to that moment.
        services.lead_update(lead=self.lead, actor=self.alice, title="CFO",
                             now=NOW + timedelta(days=10))  # fmt: skip
        assert self.lead.score == 20

    def test_a_future_dated_event_counts_in_full_not_more(self):
        self.record(self.lead, "pricing_visit", -timedelta(days=10))
        assert self.lead.score == 40

    def test_events_without_a_rule_score_nothing_but_are_kept(self):
        self.record(self.lead, "webinar", timedelta(0))
        assert (self.lead.score, self.lead.score_breakdown) == (0, [])
        assert EngagementEvent.objects.get().kind == "webinar"

    def test_the_breakdown_lines_add_up_to_the_score(self):
        engagement("email_click", 3, half_life_days=7)
        fit("industry", "Retail", 11)
        services.lead_update(lead=self.lead, actor=self.alice, industry="Retail", now=NOW)
        ages = [timedelta(hours=h) for h in (1, 7, 30, 55, 101, 250, 333, 600, 1001)]
        for i, age in enumerate(ages):
            self.record(self.lead, "email_click" if i % 2 else "pricing_visit", age)
        lines = self.lead.score_breakdown
        assert len(lines) == 1 + len(ages)
        # Lines are rounded to 0.1 each and the total to a whole point.
        assert abs(sum(line["points"] for line in lines) - self.lead.score) <= 0.5 + 0.05 * len(
            lines
        )
        assert {line["event"] for line in lines if line["kind"] == "engagement"} == {
            "email_click",
            "pricing_visit",
        }


class ScoreToMqlTests(ScoringTestCase):
    def setUp(self):
        super().setUp()
        engagement("demo_request", 25)  # the default threshold is 50

    def test_recording_engagement_promotes_to_mql_exactly_at_the_threshold(self):
        lead = self.create(email="ada@x.test")
        self.record(lead, "demo_request", timedelta(0))
        assert (lead.score, Lead.objects.get(pk=lead.pk).stage) == (25, Stage.NEW)
        self.record(lead, "demo_request", timedelta(0), now=NOW + timedelta(minutes=5))
        lead.refresh_from_db()
        assert (lead.score, lead.stage, lead.stage_changed_at) == (
            50, Stage.MQL, NOW + timedelta(minutes=5),
        )  # fmt: skip
        move = lead.transitions.get(to_stage=Stage.MQL)
        assert (move.actor, move.reason, move.policy.version) == (
            None, "Score 50 reached the MQL threshold 50.", 1,
        )  # fmt: skip

    def test_decayed_engagement_below_the_threshold_does_not_promote(self):
        lead = self.create(email="ada@x.test")
        self.record(lead, "demo_request", timedelta(days=30))  # 12.5
        self.record(lead, "demo_request", timedelta(0))  # 25
        assert (lead.score, Lead.objects.get(pk=lead.pk).stage) == (38, Stage.NEW)

    def test_a_lead_past_new_is_rescored_but_not_moved(self):
        lead = self.create(email="ada@x.test")
        services.lead_transition(lead=lead, to_stage=Stage.NURTURE, actor=self.alice, now=NOW)
        for _ in range(3):
            self.record(lead, "demo_request", timedelta(0))
        lead.refresh_from_db()
        assert (lead.score, lead.stage) == (75, Stage.NURTURE)
