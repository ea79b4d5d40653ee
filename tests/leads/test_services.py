"""The leads domain through its services: lifecycle, assignment, hand-off, feedback, opportunities,
and the tenant boundary. Time is passed as `now=` so every timestamp is exact."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction

from leads import selectors, services
from leads.models import (
    ALLOWED_TRANSITIONS,
    AssignmentRule,
    Campaign,
    EngagementEvent,
    FeedbackStatus,
    Lead,
    LeadFeedback,
    LeadTransition,
    Opportunity,
    OpportunityStatus,
    Reason,
    ReasonKind,
    SalesRep,
    Stage,
    Touch,
)
from revops.tenancy.context import TenantScopeError, organization_scope
from revops.tenancy.models import Membership, Role
from tests.base import TwoOrganizationsTestCase, make_member

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

QUALIFYING = {
    "budget_amount": Decimal("50000"),
    "authority_role": "decision_maker",
    "needs": ["Forecasting"],
    "timeline_days": 30,
}


def make_lead(stage: str = Stage.NEW, **values) -> Lead:
    """A lead put straight into a stage: reaching most stages through services takes a dozen
    calls, and these tests are about the next move, not the path."""
    return Lead.objects.create(stage=stage, stage_changed_at=NOW - timedelta(days=1), **values)


def reason(kind: str, label: str) -> Reason:
    return Reason.objects.get(kind=kind, label=label)


class LeadsTestCase(TwoOrganizationsTestCase):
    """Runs each test inside organization A's scope, with the default reasons and policy."""

    def setUp(self):
        scope = organization_scope(self.org_a)
        scope.__enter__()
        self.addCleanup(scope.__exit__, None, None, None)
        services.reasons_ensure_defaults()
        self.policy = services.policy_ensure()

    def sql_lead(self, email: str, now=NOW, **values) -> Lead:
        """A lead that meets the default policy, marked MQL by alice: an SQL, assigned."""
        lead = services.lead_create(actor=self.alice, email=email, now=now, **QUALIFYING | values)
        services.lead_mark_mql(lead=lead, actor=self.alice, now=now)
        lead.refresh_from_db()
        assert lead.stage == Stage.SQL
        return lead


class LifecycleTests(LeadsTestCase):
    def test_every_allowed_transition_succeeds_and_is_recorded(self):
        pairs = [(f, t) for f, targets in ALLOWED_TRANSITIONS.items() for t in sorted(targets)]
        assert len(pairs) == 22  # the state machine as documented; a change here is deliberate
        for from_stage, to_stage in pairs:
            with self.subTest(f"{from_stage} → {to_stage}"):
                lead = make_lead(from_stage)
                services.lead_transition(
                    lead=lead, to_stage=to_stage, actor=self.alice, reason="Why not", now=NOW
                )
                lead.refresh_from_db()
                assert (lead.stage, lead.stage_changed_at) == (to_stage, NOW)
                transition = lead.transitions.get()
                assert (
                    transition.from_stage,
                    transition.to_stage,
                    transition.actor,
                    transition.at,
                    transition.reason,
                ) == (from_stage, to_stage, self.alice, NOW, "Why not")

    def test_every_disallowed_transition_is_refused_on_the_stage_field(self):
        refused = [
            (f, t) for f in Stage.values for t in Stage.values if t not in ALLOWED_TRANSITIONS[f]
        ]
        assert len(refused) == len(Stage.values) ** 2 - 22
        for from_stage, to_stage in refused:
            with self.subTest(f"{from_stage} → {to_stage}"):
                lead = make_lead(from_stage)
                with pytest.raises(ValidationError) as error:
                    services.lead_transition(
                        lead=lead, to_stage=to_stage, actor=self.alice, now=NOW
                    )
                assert "stage" in error.value.message_dict
                lead.refresh_from_db()
                assert lead.stage == from_stage
                assert not lead.transitions.exists()

    def test_an_unknown_target_stage_is_a_validation_error_not_a_crash(self):
        # A stage name typed by a client ("archived") must come back as a 400, not a 500.
        lead = make_lead(Stage.NEW)
        with pytest.raises(ValidationError) as error:
            services.lead_transition(lead=lead, to_stage="archived", actor=self.alice, now=NOW)
        assert "stage" in error.value.message_dict

    def test_the_second_of_two_concurrent_moves_from_the_same_stage_fails_cleanly(self):
        lead = make_lead(Stage.SQL)
        other_tab = Lead.objects.get(pk=lead.pk)
        services.lead_transition(lead=other_tab, to_stage=Stage.ACCEPTED, actor=self.bob, now=NOW)
        # `lead` still believes it is an SQL; rejecting it now must not overwrite the acceptance.
        with pytest.raises(ValidationError, match="changed stage meanwhile") as error:
            services.lead_transition(lead=lead, to_stage=Stage.REJECTED, actor=self.bob, now=NOW)
        assert "stage" in error.value.message_dict
        lead.refresh_from_db()
        assert lead.stage == Stage.ACCEPTED
        assert list(lead.transitions.values_list("from_stage", "to_stage")) == [
            (Stage.SQL, Stage.ACCEPTED)
        ]

    def test_a_move_is_refused_when_the_row_changed_behind_the_objects_back(self):
        lead = make_lead(Stage.NEW)
        Lead.objects.filter(pk=lead.pk).update(stage=Stage.MQL)
        with pytest.raises(ValidationError, match="changed stage meanwhile"):
            services.lead_transition(lead=lead, to_stage=Stage.MQL, actor=self.alice, now=NOW)
        assert not LeadTransition.objects.exists()

    def test_creating_a_lead_records_the_created_transition(self):
        lead = services.lead_create(actor=self.alice, email=" Ada@X.test ", now=NOW)
        assert (lead.email, lead.stage, lead.stage_changed_at) == ("ada@x.test", Stage.NEW, NOW)
        assert list(lead.transitions.values_list("from_stage", "to_stage", "actor", "at")) == [
            ("", Stage.NEW, self.alice.pk, NOW)
        ]

    def test_unknown_fields_and_duplicate_emails_are_field_errors(self):
        services.lead_create(actor=self.alice, email="ada@x.test", external_id="crm-1", now=NOW)
        with pytest.raises(ValidationError) as error:
            services.lead_create(actor=self.alice, stage=Stage.WON, now=NOW)
        assert "stage" in error.value.message_dict
        with pytest.raises(ValidationError) as error:
            services.lead_create(actor=self.alice, email="ADA@x.test", now=NOW)
        assert "email" in error.value.message_dict
        with pytest.raises(ValidationError) as error:
            services.lead_create(actor=self.alice, external_id="crm-1", now=NOW)
        assert "external_id" in error.value.message_dict
        assert Lead.objects.count() == 1

    def test_updating_a_stale_lead_object_does_not_undo_a_stage_change(self):
        lead = services.lead_create(actor=self.alice, email="ada@x.test", now=NOW)
        form_copy = Lead.objects.get(pk=lead.pk)  # e.g. an edit form loaded a moment earlier
        services.lead_transition(
            lead=lead, to_stage=Stage.DISQUALIFIED, actor=self.alice, now=NOW, reason="Spam"
        )
        services.lead_update(lead=form_copy, actor=self.alice, title="CTO", now=NOW)
        lead.refresh_from_db()
        assert lead.title == "CTO"
        # The log says disqualified; the row must agree.
        assert lead.stage == lead.transitions.last().to_stage == Stage.DISQUALIFIED

    def test_upsert_finds_the_lead_by_external_id_then_by_email(self):
        first, created = services.lead_upsert(
            actor=self.alice, email="ada@x.test", external_id="crm-1", now=NOW
        )
        assert created
        same, created = services.lead_upsert(actor=self.alice, external_id="crm-1", title="CEO")
        assert (same.pk, created, same.title) == (first.pk, False, "CEO")
        same, created = services.lead_upsert(actor=self.alice, email="ADA@x.test", phone="1")
        assert (same.pk, created, same.phone) == (first.pk, False, "1")

    def test_an_email_that_is_not_text_is_a_field_error(self):
        # The inbound webhook passes its JSON through; {"email": 5} must be a 400, not a 500.
        for call in (services.lead_create, services.lead_upsert):
            with self.subTest(call.__name__):
                with pytest.raises(ValidationError) as error:
                    call(actor=None, email=5, now=NOW)
                assert "email" in error.value.message_dict

    def test_json_nulls_are_blanks_or_field_errors_never_a_crash(self):
        # The inbound webhook passes its JSON through: {"title": null} must not reach the
        # database as NULL (an IntegrityError, a 500) for a column that holds "" when empty.
        for field in ("full_name", "title", "email", "industry", "needs", "source"):
            with self.subTest(field), transaction.atomic():
                try:
                    lead = services.lead_create(actor=None, now=NOW, **{field: None})
                except ValidationError as error:
                    assert field in error.message_dict
                else:
                    assert getattr(lead, field) in ("", [])
                transaction.set_rollback(True)

    def test_upsert_matches_an_email_given_with_surrounding_spaces(self):
        # lead_create strips and lower-cases the email; the lookup must do the same, or a form
        # export with padded cells turns every update into a "duplicate email" error.
        first = services.lead_create(actor=self.alice, email="ada@x.test", now=NOW)
        same, created = services.lead_upsert(actor=self.alice, email=" ada@x.test ", title="CEO")
        assert (same.pk, created) == (first.pk, False)


class AssignmentTests(LeadsTestCase):
    def setUp(self):
        super().setUp()
        self.dana = make_member(self.org_a, "dana@a.test", "Dana Sales", Role.SALES)
        self.bob_rep = SalesRep.objects.create(user=self.bob)
        self.dana_rep = SalesRep.objects.create(user=self.dana)

    def owners(self, count: int, start=NOW, **values) -> list:
        """Qualify `count` new leads a minute apart; their owners in order."""
        owners = []
        for i in range(count):
            email = f"lead{Lead.objects.count()}@x.test"
            lead = self.sql_lead(email, now=start + timedelta(minutes=i), **values)
            owners.append(lead.owner)
        return owners

    def test_round_robin_alternates_by_last_assigned_at(self):
        SalesRep.objects.filter(pk=self.bob_rep.pk).update(
            last_assigned_at=NOW - timedelta(hours=1)
        )
        SalesRep.objects.filter(pk=self.dana_rep.pk).update(
            last_assigned_at=NOW - timedelta(days=1)
        )
        assert self.owners(4) == [self.dana, self.bob, self.dana, self.bob]
        self.bob_rep.refresh_from_db()
        assert self.bob_rep.last_assigned_at == NOW + timedelta(minutes=3)
        last = Lead.objects.order_by("stage_changed_at").last().transitions.last()
        assert (last.from_stage, last.to_stage, last.reason) == (
            Stage.SQL,
            Stage.SQL,
            "Assigned to Bob Sales: Round-robin.",
        )

    def test_a_rep_at_capacity_is_skipped(self):
        SalesRep.objects.filter(pk=self.bob_rep.pk).update(capacity=1)
        assert self.owners(3) == [self.bob, self.dana, self.dana]

    def test_a_rep_with_capacity_again_after_accepting_is_back_in_turn(self):
        SalesRep.objects.filter(pk=self.bob_rep.pk).update(capacity=1)
        first = self.sql_lead("first@x.test")
        services.lead_accept(lead=first, actor=self.bob, now=NOW)
        assert self.owners(2, start=NOW + timedelta(hours=1)) == [self.dana, self.bob]

    def test_a_rep_not_accepting_leads_is_skipped(self):
        SalesRep.objects.filter(pk=self.bob_rep.pk).update(accepting_leads=False)
        assert self.owners(2) == [self.dana, self.dana]

    def test_a_member_who_is_not_in_sales_is_skipped_despite_a_rep_row(self):
        # Vera (viewer) was never assigned, so round-robin would pick her first.
        SalesRep.objects.create(user=self.vera)
        assert self.vera not in self.owners(3)

    def test_a_former_sales_member_demoted_to_viewer_gets_no_more_leads(self):
        Membership.objects.filter(user=self.dana).update(role=Role.VIEWER)
        assert self.owners(2) == [self.bob, self.bob]

    def test_rules_by_industry_size_and_territory_come_before_round_robin(self):
        AssignmentRule.objects.create(priority=10, industry="retail", rep=self.dana_rep)
        AssignmentRule.objects.create(priority=20, company_size_min=1000, rep=self.dana_rep)
        AssignmentRule.objects.create(priority=30, territory="EMEA", rep=self.dana_rep)
        assert self.owners(1, industry="Retail") == [self.dana]
        assert self.owners(1, company_size=5000) == [self.dana]
        assert self.owners(1, territory="emea") == [self.dana]
        # None matches: round-robin, and bob's turn came long ago.
        assert self.owners(1, company_size=10, territory="APAC") == [self.bob]
        retail_rule = AssignmentRule.objects.get(industry="retail")
        last = Lead.objects.get(industry="Retail").transitions.last()
        assert last.reason == f"Assigned to Dana Sales: Assignment rule #{retail_rule.pk}."

    def test_the_rule_with_the_lowest_priority_number_wins(self):
        AssignmentRule.objects.create(priority=50, industry="Retail", rep=self.dana_rep)
        AssignmentRule.objects.create(priority=5, territory="EMEA", rep=self.bob_rep)
        SalesRep.objects.filter(pk=self.bob_rep.pk).update(last_assigned_at=NOW)  # dana's turn
        assert self.owners(1, industry="Retail", territory="EMEA") == [self.bob]

    def test_a_size_range_rule_needs_a_known_size_inside_the_range(self):
        AssignmentRule.objects.create(company_size_min=50, company_size_max=200, rep=self.dana_rep)
        SalesRep.objects.filter(pk=self.dana_rep.pk).update(last_assigned_at=NOW)  # bob's turn
        assert self.owners(1, company_size=100) == [self.dana]
        SalesRep.objects.filter(pk=self.dana_rep.pk).update(last_assigned_at=NOW + timedelta(1))
        assert self.owners(1, start=NOW + timedelta(2), company_size=500) == [self.bob]

    def test_a_rule_whose_rep_is_at_capacity_falls_back_to_round_robin(self):
        AssignmentRule.objects.create(industry="Retail", rep=self.dana_rep)
        SalesRep.objects.filter(pk=self.dana_rep.pk).update(capacity=0)
        assert self.owners(2, industry="Retail") == [self.bob, self.bob]

    def test_without_an_available_rep_the_lead_stays_unassigned_and_the_log_says_why(self):
        SalesRep.objects.update(accepting_leads=False)
        lead = self.sql_lead("ada@x.test")
        assert lead.owner is None and lead.handed_off_at == NOW
        assert lead.transitions.last().reason == "Not assigned: No sales rep is accepting leads."
        SalesRep.objects.update(accepting_leads=True, capacity=0)
        lead = self.sql_lead("bea@x.test")
        assert lead.owner is None
        assert lead.transitions.last().reason == "Not assigned: Every sales rep is at capacity."

    def test_reassignment_keeps_the_hand_off_time_and_records_the_change(self):
        lead = self.sql_lead("ada@x.test")
        assert lead.owner == self.bob
        later = NOW + timedelta(hours=3)
        services.lead_reassign(lead=lead, owner=self.dana, actor=self.alice, now=later)
        lead.refresh_from_db()
        assert (lead.owner, lead.handed_off_at, lead.stage) == (self.dana, NOW, Stage.SQL)
        last = lead.transitions.last()
        assert (last.actor, last.at, last.reason) == (
            self.alice,
            later,
            "Reassigned from Bob Sales to Dana Sales.",
        )

    def test_reassignment_only_to_a_sales_member_of_this_organization(self):
        lead = self.sql_lead("ada@x.test")
        for stranger in (self.vera, self.charlie):
            with self.subTest(stranger.email):
                with pytest.raises(ValidationError) as error:
                    services.lead_reassign(lead=lead, owner=stranger, actor=self.alice, now=NOW)
                assert "owner" in error.value.message_dict
        lead.refresh_from_db()
        assert lead.owner == self.bob


class HandOffTests(LeadsTestCase):
    def setUp(self):
        super().setUp()
        self.dana = make_member(self.org_a, "dana@a.test", "Dana Sales", Role.SALES)
        SalesRep.objects.create(user=self.bob)
        self.lead = self.sql_lead("ada@x.test")
        assert self.lead.owner == self.bob

    def test_the_owner_accepts(self):
        services.lead_accept(lead=self.lead, actor=self.bob, now=NOW + timedelta(hours=1))
        self.lead.refresh_from_db()
        assert self.lead.stage == Stage.ACCEPTED
        last = self.lead.transitions.last()
        assert (last.actor, last.reason) == (self.bob, "Accepted by sales.")

    def test_an_admin_may_accept_for_the_owner(self):
        services.lead_accept(lead=self.lead, actor=self.alice, now=NOW)
        assert Lead.objects.get(pk=self.lead.pk).stage == Stage.ACCEPTED

    def test_nobody_else_may_accept_or_reject(self):
        duplicate = reason(ReasonKind.REJECTION, "Duplicate")
        # Charlie is an admin, but of organization B.
        for someone in (self.dana, self.vera, self.charlie):
            with self.subTest(someone.email):
                with pytest.raises(PermissionDenied):
                    services.lead_accept(lead=self.lead, actor=someone, now=NOW)
                with pytest.raises(PermissionDenied):
                    services.lead_reject(
                        lead=self.lead, actor=someone, reason_id=duplicate.pk, now=NOW
                    )
        self.lead.refresh_from_db()
        assert self.lead.stage == Stage.SQL
        assert not LeadFeedback.objects.exists()

    def test_rejection_needs_a_rejection_reason_of_this_organization(self):
        with organization_scope(self.org_b):
            services.reasons_ensure_defaults()
            elsewhere = reason(ReasonKind.REJECTION, "Duplicate")
        loss = reason(ReasonKind.LOSS, "Price")
        inactive = reason(ReasonKind.REJECTION, "Bad data")
        Reason.objects.filter(pk=inactive.pk).update(active=False)
        for reason_id in (None, elsewhere.pk, loss.pk, inactive.pk, 10**9):
            with self.subTest(reason_id):
                with pytest.raises(ValidationError) as error:
                    services.lead_reject(
                        lead=self.lead, actor=self.bob, reason_id=reason_id, now=NOW
                    )
                assert "reason_id" in error.value.message_dict
        self.lead.refresh_from_db()
        assert self.lead.stage == Stage.SQL
        assert not LeadFeedback.objects.exists()

    def test_a_rejection_is_logged_with_its_reason_and_opens_an_inbox_item(self):
        duplicate = reason(ReasonKind.REJECTION, "Duplicate")
        services.lead_reject(lead=self.lead, actor=self.bob, reason_id=duplicate.pk,
                             comment="Same as #12", now=NOW)  # fmt: skip
        self.lead.refresh_from_db()
        assert self.lead.stage == Stage.REJECTED
        assert self.lead.transitions.last().reason == "Duplicate. Same as #12"
        item = LeadFeedback.objects.get()
        assert (item.rater, item.rating, item.tags, item.from_rejection, item.status) == (
            self.bob, 1, ["Duplicate"], True, FeedbackStatus.OPEN,
        )  # fmt: skip

    def test_only_the_owners_touch_sets_first_touch_time(self):
        services.touch_log(lead=self.lead, actor=self.dana, kind="call",
                           at=NOW + timedelta(minutes=5))  # fmt: skip
        self.lead.refresh_from_db()
        assert self.lead.first_touch_at is None
        at = NOW + timedelta(minutes=30)
        touch = services.touch_log(lead=self.lead, actor=self.bob, kind="email", at=at)
        assert self.lead.first_touch_at == at
        assert Lead.objects.get(pk=self.lead.pk).first_touch_at == at
        assert Touch.objects.count() == 2 and touch.rep == self.bob

    def test_a_back_dated_earlier_touch_replaces_a_later_first_touch(self):
        services.touch_log(lead=self.lead, actor=self.bob, kind="call",
                           at=NOW + timedelta(hours=2))  # fmt: skip
        services.touch_log(lead=self.lead, actor=self.bob, kind="email",
                           at=NOW + timedelta(minutes=10), note="Logged late")  # fmt: skip
        services.touch_log(lead=self.lead, actor=self.bob, kind="meeting",
                           at=NOW + timedelta(days=1))  # fmt: skip
        self.lead.refresh_from_db()
        assert self.lead.first_touch_at == NOW + timedelta(minutes=10)

    def test_a_second_hand_off_starts_a_new_first_touch_clock(self):
        # Rejected, nurtured and qualified again: the new hand-off waits for a new first touch,
        # or the follow-up SLA would see it as touched weeks before it was handed off.
        services.touch_log(lead=self.lead, actor=self.bob, kind="call", at=NOW)
        duplicate = reason(ReasonKind.REJECTION, "Not interested")
        services.lead_reject(lead=self.lead, actor=self.bob, reason_id=duplicate.pk, now=NOW)
        services.lead_transition(lead=self.lead, to_stage=Stage.NURTURE, actor=self.alice, now=NOW)
        again = NOW + timedelta(days=30)
        services.lead_mark_mql(lead=self.lead, actor=self.alice, now=again)
        self.lead.refresh_from_db()
        assert (self.lead.stage, self.lead.handed_off_at) == (Stage.SQL, again)
        assert self.lead.first_touch_at is None
        services.touch_log(lead=self.lead, actor=self.bob, kind="call", at=again + timedelta(1))
        assert self.lead.first_touch_at == again + timedelta(1)

    def test_a_touch_of_an_unknown_kind_is_refused(self):
        with pytest.raises(ValidationError) as error:
            services.touch_log(lead=self.lead, actor=self.bob, kind="fax", at=NOW)
        assert "kind" in error.value.message_dict
        assert not Touch.objects.exists()


class FeedbackTests(LeadsTestCase):
    def setUp(self):
        super().setUp()
        self.marketing = make_member(self.org_a, "mia@a.test", "Mia Marketing", Role.MARKETING)
        self.lead = services.lead_create(actor=self.alice, email="ada@x.test", now=NOW)
        self.wrong_persona = reason(ReasonKind.FEEDBACK, "Wrong persona")
        self.too_small = reason(ReasonKind.FEEDBACK, "Too small")

    def rate(self, **kwargs) -> LeadFeedback:
        return services.feedback_rate(lead=self.lead, actor=self.bob, **{"rating": 2} | kwargs)

    def test_a_rating_outside_one_to_five_is_refused(self):
        for rating in (0, 6, -1, "5", 2.5, None):
            with self.subTest(rating):
                with pytest.raises(ValidationError) as error:
                    self.rate(rating=rating)
                assert "rating" in error.value.message_dict
        assert not LeadFeedback.objects.exists()

    def test_tags_are_this_organizations_feedback_reasons(self):
        with organization_scope(self.org_b):
            services.reasons_ensure_defaults()
            elsewhere = reason(ReasonKind.FEEDBACK, "Wrong persona")
        rejection = reason(ReasonKind.REJECTION, "Duplicate")
        for tag_ids in ([elsewhere.pk], [self.too_small.pk, rejection.pk], [10**9]):
            with self.subTest(tag_ids):
                with pytest.raises(ValidationError) as error:
                    self.rate(tag_ids=tag_ids)
                assert "tag_ids" in error.value.message_dict
        item = self.rate(rating=5, tag_ids=[self.wrong_persona.pk, self.too_small.pk])
        assert sorted(item.tags) == ["Too small", "Wrong persona"]
        assert (item.rater, item.rating, item.status, item.from_rejection) == (
            self.bob, 5, FeedbackStatus.OPEN, False,
        )  # fmt: skip

    def test_acknowledge_then_resolve(self):
        item = self.rate(tag_ids=[self.wrong_persona.pk])
        acked = NOW + timedelta(hours=1)
        services.feedback_acknowledge(item=item, actor=self.marketing, now=acked)
        assert (item.status, item.acknowledged_at, item.acknowledged_by) == (
            FeedbackStatus.ACKNOWLEDGED, acked, self.marketing,
        )  # fmt: skip
        for blank in ("", "   "):
            with pytest.raises(ValidationError) as error:
                services.feedback_resolve(item=item, actor=self.marketing, response=blank)
            assert "response" in error.value.message_dict
        resolved = NOW + timedelta(days=2)
        services.feedback_resolve(item=item, actor=self.marketing, now=resolved,
                                  response="Excluded students from the webinar list.")  # fmt: skip
        item = LeadFeedback.objects.get(pk=item.pk)
        assert (item.status, item.resolved_at, item.resolved_by, item.response) == (
            FeedbackStatus.RESOLVED, resolved, self.marketing,
            "Excluded students from the webinar list.",
        )  # fmt: skip
        assert (item.acknowledged_at, item.acknowledged_by) == (acked, self.marketing)
        with pytest.raises(ValidationError) as error:
            services.feedback_resolve(item=item, actor=self.marketing, response="Again")
        assert "status" in error.value.message_dict

    def test_acknowledging_twice_is_refused(self):
        item = self.rate()
        services.feedback_acknowledge(item=item, actor=self.marketing, now=NOW)
        with pytest.raises(ValidationError) as error:
            services.feedback_acknowledge(item=item, actor=self.alice, now=NOW + timedelta(1))
        assert "status" in error.value.message_dict
        item.refresh_from_db()
        assert (item.acknowledged_by, item.acknowledged_at) == (self.marketing, NOW)

    def test_resolving_an_open_item_acknowledges_it_at_the_same_moment(self):
        item = self.rate()
        services.feedback_resolve(item=item, actor=self.alice, response="Fixed", now=NOW)
        assert (item.status, item.acknowledged_at, item.acknowledged_by) == (
            FeedbackStatus.RESOLVED, NOW, self.alice,
        )  # fmt: skip

    def test_resolving_through_a_stale_object_keeps_who_acknowledged_it(self):
        item = self.rate()
        inbox_copy = LeadFeedback.objects.get(pk=item.pk)  # the inbox page, loaded before the ack
        services.feedback_acknowledge(item=item, actor=self.marketing, now=NOW)
        services.feedback_resolve(item=inbox_copy, actor=self.alice, response="Fixed",
                                  now=NOW + timedelta(days=1))  # fmt: skip
        item.refresh_from_db()
        assert (item.acknowledged_by, item.acknowledged_at) == (self.marketing, NOW)


class OpportunityTests(LeadsTestCase):
    def setUp(self):
        super().setUp()
        self.org_a.currency = "EUR"  # the scope holds this very object
        self.org_a.save()
        SalesRep.objects.create(user=self.bob)
        self.lead = self.sql_lead("ada@x.test", company_name="Initech")
        services.lead_accept(lead=self.lead, actor=self.bob, now=NOW)

    def convert(self, amount="12000.00") -> Opportunity:
        return services.lead_convert(lead=self.lead, actor=self.bob, amount=Decimal(amount),
                                     probability=40, now=NOW + timedelta(days=1))  # fmt: skip

    def test_convert_then_win_at_the_amount_by_default(self):
        opportunity = self.convert()
        assert (opportunity.name, opportunity.currency, opportunity.status) == (
            "Initech opportunity", "EUR", OpportunityStatus.OPEN,
        )  # fmt: skip
        assert Lead.objects.get(pk=self.lead.pk).stage == Stage.OPPORTUNITY
        won = NOW + timedelta(days=20)
        services.opportunity_win(opportunity=opportunity, actor=self.bob, now=won)
        opportunity.refresh_from_db()
        assert (opportunity.status, opportunity.won_value, opportunity.probability) == (
            OpportunityStatus.WON, Decimal("12000.00"), 100,
        )  # fmt: skip
        assert opportunity.closed_at == won
        assert Lead.objects.get(pk=self.lead.pk).stage == Stage.WON

    def test_a_win_may_record_a_different_value(self):
        opportunity = self.convert()
        services.opportunity_win(opportunity=opportunity, actor=self.bob, value=Decimal("9000"))
        assert Opportunity.objects.get().won_value == Decimal("9000.00")

    def test_convert_then_lose_with_a_loss_reason(self):
        opportunity = self.convert()
        duplicate = reason(ReasonKind.REJECTION, "Duplicate")
        with pytest.raises(ValidationError) as error:
            services.opportunity_lose(opportunity=opportunity, actor=self.bob,
                                      reason_id=duplicate.pk)  # fmt: skip
        assert "reason_id" in error.value.message_dict
        price = reason(ReasonKind.LOSS, "Price")
        services.opportunity_lose(opportunity=opportunity, actor=self.bob, reason_id=price.pk,
                                  now=NOW + timedelta(days=9))  # fmt: skip
        opportunity.refresh_from_db()
        assert (opportunity.status, opportunity.loss_reason, opportunity.probability) == (
            OpportunityStatus.LOST, price, 0,
        )  # fmt: skip
        assert opportunity.won_value is None
        lead = Lead.objects.get(pk=self.lead.pk)
        assert lead.stage == Stage.LOST
        assert lead.transitions.last().reason == "Deal lost: Price."

    def test_only_an_accepted_lead_converts_and_a_bad_amount_leaves_no_trace(self):
        with pytest.raises(ValidationError) as error:
            self.convert(amount="-1")
        assert "amount" in str(error.value) or "__all__" in error.value.message_dict
        assert Lead.objects.get(pk=self.lead.pk).stage == Stage.ACCEPTED
        other = self.sql_lead("bea@x.test")
        with pytest.raises(ValidationError) as error:
            services.lead_convert(lead=other, actor=self.bob, amount=Decimal(1), now=NOW)
        assert "stage" in error.value.message_dict
        assert not Opportunity.objects.exists()

    def test_a_closed_deal_cannot_be_closed_again(self):
        opportunity = self.convert()
        services.opportunity_win(opportunity=opportunity, actor=self.bob, now=NOW)
        price = reason(ReasonKind.LOSS, "Price")
        with pytest.raises(ValidationError):
            services.opportunity_lose(opportunity=opportunity, actor=self.bob, reason_id=price.pk)
        assert Opportunity.objects.get().status == OpportunityStatus.WON

    def test_a_lost_lead_recycled_through_nurture_can_be_converted_again(self):
        # The lifecycle allows lost → nurture → MQL → SQL → accepted → opportunity.
        opportunity = self.convert()
        price = reason(ReasonKind.LOSS, "Price")
        services.opportunity_lose(opportunity=opportunity, actor=self.bob, reason_id=price.pk)
        lead = Lead.objects.get(pk=self.lead.pk)
        services.lead_transition(lead=lead, to_stage=Stage.NURTURE, actor=self.alice)
        services.lead_mark_mql(lead=lead, actor=self.alice)
        services.lead_accept(lead=lead, actor=self.bob)
        with transaction.atomic():  # keep the test's transaction usable if the INSERT fails
            second = services.lead_convert(lead=lead, actor=self.bob, amount=Decimal(30000))
        assert second.status == OpportunityStatus.OPEN
        assert second.amount == Decimal(30000)
        assert Lead.objects.get(pk=lead.pk).stage == Stage.OPPORTUNITY


class TenantBoundaryTests(LeadsTestCase):
    def setUp(self):
        super().setUp()
        SalesRep.objects.create(user=self.bob)
        self.a_lead = self.sql_lead("ada@x.test", external_id="crm-1")

    def in_b(self):
        return organization_scope(self.org_b)

    def test_upsert_in_b_never_finds_as_lead(self):
        with self.in_b():
            by_email, created = services.lead_upsert(actor=self.charlie, email="ADA@x.test",
                                                     title="B's Ada", now=NOW)  # fmt: skip
            assert created and by_email.organization_id == self.org_b.pk
            by_external, created = services.lead_upsert(
                actor=self.charlie, external_id="crm-1", title="B's crm-1", now=NOW
            )
            assert created and by_external.pk != by_email.pk
            # Unique email and external id are per organization: B has its own now.
            assert Lead.objects.count() == 2
        a_lead = Lead.objects.get(pk=self.a_lead.pk)
        assert (a_lead.title, a_lead.stage, a_lead.owner) == ("", Stage.SQL, self.bob)

    def test_the_same_email_and_external_id_may_exist_in_both_organizations(self):
        with self.in_b():
            services.lead_create(actor=self.charlie, email="ada@x.test", external_id="crm-1")
            with pytest.raises(ValidationError):
                services.lead_create(actor=self.charlie, email="ada@x.test")
        assert Lead.objects.for_organization(self.org_b).count() == 1

    def test_as_leads_are_invisible_to_bs_selectors(self):
        with self.in_b():
            services.policy_ensure()
            assert selectors.lead_detail(self.a_lead.pk) is None
            assert not selectors.leads_list().exists()
            assert not selectors.rep_queue(rep=self.bob).exists()
            assert not selectors.feedback_inbox().exists()
            assert selectors.policy_would_qualify(selectors.policy_current()) == 0

    def test_bs_scope_refuses_every_write_to_as_lead_object(self):
        """An A lead object handed to a service in B's scope (a bug upstream, a mixed-up id)
        must be refused, and leave no row behind in either organization."""
        with self.in_b():
            services.reasons_ensure_defaults()
            sally = make_member(self.org_b, "sally@b.test", "Sally Sales", Role.SALES)
            SalesRep.objects.create(user=sally)
            tag = reason(ReasonKind.FEEDBACK, "Great fit")
            rejection = reason(ReasonKind.REJECTION, "Duplicate")
        a_lead = self.a_lead
        calls = {
            "lead_transition": lambda: services.lead_transition(
                lead=a_lead, to_stage=Stage.NURTURE, actor=self.charlie, now=NOW),
            "lead_update": lambda: services.lead_update(
                lead=a_lead, actor=self.charlie, title="Hijacked", now=NOW),
            "lead_accept": lambda: services.lead_accept(lead=a_lead, actor=self.charlie, now=NOW),
            "lead_reject": lambda: services.lead_reject(
                lead=a_lead, actor=self.charlie, reason_id=rejection.pk, now=NOW),
            "lead_assign": lambda: services.lead_assign(lead=a_lead, actor=self.charlie, now=NOW),
            "lead_reassign": lambda: services.lead_reassign(
                lead=a_lead, owner=sally, actor=self.charlie, now=NOW),
            "touch_log": lambda: services.touch_log(
                lead=a_lead, actor=self.charlie, kind="call", at=NOW),
            "feedback_rate": lambda: services.feedback_rate(
                lead=a_lead, actor=self.charlie, rating=1, tag_ids=[tag.pk]),
            "engagement_record": lambda: services.engagement_record(
                lead=a_lead, kind="pricing_visit", now=NOW),
        }  # fmt: skip
        written = []
        for name, call in calls.items():
            with self.subTest(name), self.in_b(), transaction.atomic():
                refused = False
                try:
                    with transaction.atomic():
                        call()
                except (ValidationError, PermissionDenied, TenantScopeError, ObjectDoesNotExist):
                    refused = True
                leftovers = [
                    model.__name__
                    for model in (LeadTransition, Touch, LeadFeedback, EngagementEvent)
                    if model.objects.filter(lead=a_lead).exists()
                ]
                if not refused or leftovers:
                    written.append(f"{name} (rows in B: {leftovers or 'none'})")
                transaction.set_rollback(True)  # each call on its own
        a_lead = Lead.objects.get(pk=self.a_lead.pk)
        assert (a_lead.stage, a_lead.owner, a_lead.title) == (Stage.SQL, self.bob, "")
        assert written == [], "accepted A's lead in B's scope: " + ", ".join(written)

    def test_a_lead_in_b_cannot_point_at_as_campaign(self):
        campaign = Campaign.objects.create(name="Spring webinar", channel="events")
        with self.in_b():
            with pytest.raises((ValidationError, TenantScopeError)), transaction.atomic():
                services.lead_create(actor=self.charlie, email="x@x.test", campaign=campaign)
            assert not Lead.objects.exists()
