"""The shared definition of a qualified lead: versioned policies, BANT, the MQL rule, and the
agreement of its two implementations (Python for one lead, SQL for counting)."""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads import selectors, services
from leads.models import (
    AuthorityRole,
    Lead,
    LeadTransition,
    QualificationPolicy,
    SalesRep,
    ScoringRule,
    Stage,
)
from leads.qualification import bant_criteria_held, bant_evaluate
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

# Each criterion of the default policy (budget ≥ 10,000; decision maker, economic buyer or
# champion; Reporting/Forecasting/Lead routing/Attribution; within 90 days), met on its own.
MEETS = {
    "budget": {"budget_amount": Decimal("10000")},
    "authority": {"authority_role": "champion"},
    "need": {"needs": ["Attribution", "Coffee"]},
    "timeline": {"timeline_days": 90},
}
# ...and each one missed, just.
MISSES = {
    "budget_amount": Decimal("9999.99"),
    "authority_role": "influencer",
    "needs": ["Coffee"],
    "timeline_days": 91,
}


class QualificationTestCase(TwoOrganizationsTestCase):
    def setUp(self):
        scope = organization_scope(self.org_a)
        scope.__enter__()
        self.addCleanup(scope.__exit__, None, None, None)
        self.v1 = services.policy_ensure()
        SalesRep.objects.create(user=self.bob)
        self.emails = iter(f"lead{i}@x.test" for i in range(1000))

    def mql(self, **values) -> Lead:
        """Create a lead and have marketing mark it; returns it as the database has it."""
        lead = services.lead_create(actor=self.alice, email=next(self.emails), now=NOW, **values)
        services.lead_mark_mql(lead=lead, actor=self.alice, now=NOW)
        lead.refresh_from_db()
        return lead


class PolicyVersionTests(QualificationTestCase):
    def test_a_saved_version_is_immutable(self):
        self.v1.budget_minimum = Decimal("1")
        with pytest.raises(ValidationError, match="immutable"):
            self.v1.save()
        with pytest.raises(ValidationError, match="immutable"):
            QualificationPolicy.objects.get(pk=self.v1.pk).save(update_fields=["change_note"])
        assert QualificationPolicy.objects.get().budget_minimum == Decimal("10000")

    def test_policy_ensure_creates_version_one_once(self):
        assert services.policy_ensure() == self.v1
        assert (self.v1.version, self.v1.budget_currency, self.v1.criteria_required) == (
            1,
            self.org_a.currency,
            4,
        )
        assert QualificationPolicy.objects.count() == 1

    def test_a_change_creates_the_next_version_and_keeps_the_old_ones(self):
        v2 = services.policy_create_version(
            actor=self.alice, change_note="Smaller deals too", budget_minimum=Decimal("5000")
        )
        v3 = services.policy_create_version(actor=self.alice, criteria_required=3)
        assert (v2.version, v3.version) == (2, 3)
        assert (v2.created_by, v2.change_note) == (self.alice, "Smaller deals too")
        # Unchanged fields carry over from the version before.
        assert (v3.budget_minimum, v3.criteria_required, v3.needs) == (
            Decimal("5000"),
            3,
            self.v1.needs,
        )
        assert [p.version for p in selectors.policy_history()] == [3, 2, 1]
        assert selectors.policy_current() == v3
        assert QualificationPolicy.objects.get(version=1).budget_minimum == Decimal("10000")

    def test_an_unusable_change_is_refused_with_field_errors(self):
        cases = [
            ({"colour": "red"}, "colour"),
            ({"needs": []}, "needs"),
            ({"authority_roles": []}, "authority_roles"),
            ({"authority_roles": ["intern"]}, "authority_roles"),
            ({"criteria_required": 5}, None),  # a constraint: reported on the whole policy
            ({"mql_score_threshold": None, "mql_manual_marking": False}, "mql_score_threshold"),
        ]
        for fields, field in cases:
            with self.subTest(fields):
                with pytest.raises(ValidationError) as error:
                    services.policy_create_version(actor=self.alice, **fields)
                assert field is None or field in error.value.message_dict
                assert "organization" not in error.value.message_dict  # set by the service
        assert QualificationPolicy.objects.count() == 1

    def test_a_lead_keeps_the_version_that_qualified_it(self):
        first = self.mql(**MEETS["budget"], **MEETS["authority"], **MEETS["need"],
                         **MEETS["timeline"])  # fmt: skip
        assert (first.stage, first.qualified_by_policy) == (Stage.SQL, self.v1)
        v2 = services.policy_create_version(actor=self.alice, criteria_required=1)
        second = self.mql(**MEETS["need"])
        assert (second.stage, second.qualified_by_policy) == (Stage.SQL, v2)
        first.refresh_from_db()
        assert first.qualified_by_policy == self.v1
        sql_moves = LeadTransition.objects.filter(to_stage=Stage.SQL, from_stage=Stage.MQL)
        assert {(t.lead_id, t.policy.version) for t in sql_moves} == {
            (first.pk, 1),
            (second.pk, 2),
        }
        assert sql_moves.get(lead=second).reason == "Meets policy v2: Need."


class BantTests(QualificationTestCase):
    def test_all_four_are_needed_by_default(self):
        everything = MEETS["budget"] | MEETS["authority"] | MEETS["need"] | MEETS["timeline"]
        assert self.mql(**everything).stage == Stage.SQL
        for missing in MISSES:
            with self.subTest(missing):
                assert self.mql(**everything | {missing: MISSES[missing]}).stage == Stage.MQL

    def test_with_two_required_any_two_criteria_qualify_and_one_does_not(self):
        services.policy_create_version(actor=self.alice, criteria_required=2)
        for pair in combinations(MEETS, 2):
            with self.subTest(pair):
                values = MISSES | MEETS[pair[0]] | MEETS[pair[1]]
                lead = self.mql(**values)
                assert (lead.stage, lead.qualified_by_policy.version) == (Stage.SQL, 2)
                assert lead.owner == self.bob
        for single in MEETS:
            with self.subTest(single):
                assert self.mql(**MISSES | MEETS[single]).stage == Stage.MQL

    def test_the_checklist_explains_each_criterion(self):
        lead = Lead(budget_amount=Decimal("2500"), authority_role="user", needs=[])
        result = bant_evaluate(lead, self.v1)
        assert [(c.key, c.holds) for c in result.criteria] == [
            ("budget", False), ("authority", False), ("need", False), ("timeline", False),
        ]  # fmt: skip
        assert [c.explanation for c in result.criteria] == [
            "2,500 USD is below 10,000 USD.",
            "User is not one of: Decision maker, Economic buyer, Champion.",
            "No pain point named.",
            "No purchase timeline stated.",
        ]
        assert (result.held, result.required, result.qualifies) == (0, 4, False)


class ManualQualificationTests(QualificationTestCase):
    def test_force_qualify_needs_a_reason_and_records_it(self):
        lead = self.mql(**MISSES)
        assert lead.stage == Stage.MQL
        for blank in ("", "  \n"):
            with pytest.raises(ValidationError) as error:
                services.lead_force_qualify(lead=lead, actor=self.alice, reason=blank, now=NOW)
            assert "reason" in error.value.message_dict
        services.lead_force_qualify(lead=lead, actor=self.alice, now=NOW,
                                    reason="  CEO asked for a call  ")  # fmt: skip
        lead.refresh_from_db()
        assert (lead.stage, lead.owner, lead.qualified_by_policy, lead.handed_off_at) == (
            Stage.SQL, self.bob, self.v1, NOW,
        )  # fmt: skip
        move = lead.transitions.get(to_stage=Stage.SQL, from_stage=Stage.MQL)
        assert (move.actor, move.reason, move.policy) == (
            self.alice, "Force-qualified: CEO asked for a call", self.v1,
        )  # fmt: skip

    def test_only_an_mql_can_be_force_qualified(self):
        lead = services.lead_create(actor=self.alice, email="new@x.test", now=NOW)
        with pytest.raises(ValidationError) as error:
            services.lead_force_qualify(lead=lead, actor=self.alice, reason="Trust me")
        assert "stage" in error.value.message_dict
        assert Lead.objects.get(pk=lead.pk).stage == Stage.NEW

    def test_manual_mql_is_refused_when_the_policy_does_not_allow_it(self):
        services.policy_create_version(actor=self.alice, mql_manual_marking=False)
        lead = services.lead_create(actor=self.alice, email="new@x.test", now=NOW)
        with pytest.raises(ValidationError) as error:
            services.lead_mark_mql(lead=lead, actor=self.alice, now=NOW)
        assert "stage" in error.value.message_dict
        assert Lead.objects.get(pk=lead.pk).stage == Stage.NEW
        assert lead.transitions.count() == 1

    def test_marking_records_the_marketer_and_the_policy(self):
        lead = self.mql()
        move = lead.transitions.get(to_stage=Stage.MQL)
        assert (move.from_stage, move.actor, move.policy, move.reason) == (
            Stage.NEW, self.alice, self.v1, "Marked as MQL by marketing.",
        )  # fmt: skip


class ScoreThresholdTests(QualificationTestCase):
    def setUp(self):
        super().setUp()
        ScoringRule.objects.create(kind="fit", attribute="industry", value="Retail", points=50)

    def create(self, **values) -> Lead:
        return services.lead_create(actor=self.alice, email=next(self.emails), now=NOW, **values)

    def test_reaching_the_threshold_makes_an_mql_and_bant_makes_it_an_sql(self):
        everything = MEETS["budget"] | MEETS["authority"] | MEETS["need"] | MEETS["timeline"]
        lead = self.create(industry="Retail", **everything)
        assert (lead.score, lead.stage, lead.owner) == (50, Stage.SQL, self.bob)
        assert [(t.from_stage, t.to_stage, t.actor) for t in lead.transitions.all()] == [
            ("", Stage.NEW, self.alice),
            (Stage.NEW, Stage.MQL, None),
            (Stage.MQL, Stage.SQL, None),
            (Stage.SQL, Stage.SQL, None),  # the assignment
        ]
        mql = lead.transitions.get(to_stage=Stage.MQL)
        assert mql.reason == "Score 50 reached the MQL threshold 50."

    def test_without_bant_the_scored_lead_stops_at_mql(self):
        lead = self.create(industry="Retail")
        assert (lead.stage, lead.owner) == (Stage.MQL, None)

    def test_below_the_threshold_it_stays_new(self):
        assert self.create(industry="Hospitality").stage == Stage.NEW

    def test_an_update_that_raises_the_score_promotes_the_lead(self):
        lead = self.create(industry="Hospitality")
        services.lead_update(lead=lead, actor=self.alice, industry="retail", now=NOW)
        assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL

    def test_a_higher_threshold_in_a_new_version_applies_to_new_leads(self):
        services.policy_create_version(actor=self.alice, mql_score_threshold=51)
        assert self.create(industry="Retail").stage == Stage.NEW

    def test_without_a_threshold_nothing_is_promoted_automatically(self):
        services.policy_create_version(actor=self.alice, mql_score_threshold=None)
        assert self.create(industry="Retail").stage == Stage.NEW


# --- the two implementations agree ------------------------------------------------------------

NEEDS = ["Reporting", "Forecasting", "Lead routing", "Attribution", "forecasting", "Coffee"]
ROLES = list(AuthorityRole.values)
MONEY = st.decimals(min_value=0, max_value=200_000, places=2, allow_nan=False)
DAYS = st.integers(min_value=0, max_value=400)

policies = st.fixed_dictionaries(
    {
        "budget_minimum": MONEY,
        "authority_roles": st.lists(st.sampled_from(ROLES), unique=True, max_size=len(ROLES)),
        "needs": st.lists(st.sampled_from(NEEDS), unique=True, max_size=4),
        "timeline_max_days": DAYS,
        "criteria_required": st.integers(min_value=1, max_value=4),
    }
)


@st.composite
def leads_for(draw, policy: dict) -> dict:
    """A lead, often right at the policy's edges (equal budget, equal timeline)."""
    minimum, days = policy["budget_minimum"], policy["timeline_max_days"]
    near_budget = st.sampled_from([minimum, minimum + Decimal("0.01"), minimum - Decimal("0.01")])
    budget = draw(st.none() | near_budget.filter(lambda b: b >= 0) | MONEY)
    return {
        "stage": draw(st.sampled_from([Stage.MQL, Stage.MQL, Stage.NEW, Stage.SQL])),
        "budget_amount": budget,
        "authority_role": draw(st.sampled_from(["", *ROLES])),
        "needs": draw(st.lists(st.sampled_from(NEEDS), unique=True, max_size=3)),
        "timeline_days": draw(st.none() | st.sampled_from([days, days + 1]) | DAYS),
    }


@st.composite
def scenarios(draw) -> tuple[dict, list[dict]]:
    policy = draw(policies)
    return policy, draw(st.lists(leads_for(policy), min_size=1, max_size=6))


class BantImplementationsAgreeTests(TwoOrganizationsTestCase):
    def setUp(self):
        scope = organization_scope(self.org_a)
        scope.__enter__()
        self.addCleanup(scope.__exit__, None, None, None)

    def test_python_checklist_and_sql_count_agree(self):
        # @given on an inner function: Hypothesis refuses plain Django TestCase methods, and an
        # explicit savepoint per example is all the isolation this read-only check needs.
        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
        @given(scenarios())
        def check(scenario):
            policy_values, lead_values = scenario
            with transaction.atomic():
                policy = QualificationPolicy.objects.create(version=1, **policy_values)
                for values in lead_values:
                    Lead.objects.create(stage_changed_at=NOW, **values)
                qualifying_mqls = 0
                # Evaluated on the rows as saved, so Python sees the values the SQL sees.
                for lead in Lead.objects.annotate(held=bant_criteria_held(policy)):
                    result = bant_evaluate(lead, policy)
                    assert result.held == lead.held, (policy_values, lead_values)
                    qualifying_mqls += lead.stage == Stage.MQL and result.qualifies
                assert selectors.policy_would_qualify(policy) == qualifying_mqls
                transaction.set_rollback(True)  # the next example starts from nothing

        check()
