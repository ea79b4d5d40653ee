"""The hand-off end to end through services: MQL → auto-SQL → assigned → touched → rated."""

from decimal import Decimal

from leads import selectors, services
from leads.models import FeedbackStatus, LeadFeedback, Reason, ReasonKind, SalesRep, Stage
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

QUALIFYING = {
    "budget_amount": Decimal("50000"),
    "authority_role": "decision_maker",
    "needs": ["Forecasting"],
    "timeline_days": 30,
}


class HandOffFlowTests(TwoOrganizationsTestCase):
    def setUp(self):
        self.scope = organization_scope(self.org_a)
        self.scope.__enter__()
        self.addCleanup(self.scope.__exit__, None, None, None)
        services.reasons_ensure_defaults()
        SalesRep.objects.create(user=self.bob)

    def test_a_marked_mql_that_meets_bant_becomes_an_assigned_sql(self):
        lead = services.lead_create(actor=self.alice, full_name="Ada", email="ada@x.test",
                                    **QUALIFYING)  # fmt: skip
        assert lead.stage == Stage.NEW
        services.lead_mark_mql(lead=lead, actor=self.alice)
        lead.refresh_from_db()
        assert lead.stage == Stage.SQL
        assert lead.owner == self.bob
        assert lead.qualified_by_policy.version == 1
        assert [(t.from_stage, t.to_stage) for t in lead.transitions.all()] == [
            ("", "new"), ("new", "mql"), ("mql", "sql"), ("sql", "sql"),
        ]  # fmt: skip
        assert list(selectors.rep_queue(rep=self.bob)) == [lead]

        touch = services.touch_log(lead=lead, actor=self.bob, kind="call", note="Left voicemail")
        lead.refresh_from_db()
        assert lead.first_touch_at == touch.at
        tag = Reason.objects.get(kind=ReasonKind.FEEDBACK, label="Wrong persona")
        item = services.feedback_rate(lead=lead, actor=self.bob, rating=2, tag_ids=[tag.pk])
        assert list(selectors.feedback_inbox(status=FeedbackStatus.OPEN)) == [item]
        assert item.tags == ["Wrong persona"]

    def test_a_lead_missing_bant_stays_an_mql(self):
        lead = services.lead_create(actor=self.alice, email="b@x.test", budget_amount=5)
        services.lead_mark_mql(lead=lead, actor=self.alice)
        lead.refresh_from_db()
        assert lead.stage == Stage.MQL and lead.owner is None

    def test_rejection_reaches_marketings_inbox(self):
        lead = services.lead_create(actor=self.alice, email="c@x.test", **QUALIFYING)
        services.lead_mark_mql(lead=lead, actor=self.alice)
        lead.refresh_from_db()
        reason = Reason.objects.get(kind=ReasonKind.REJECTION, label="Duplicate")
        services.lead_reject(lead=lead, actor=self.bob, reason_id=reason.pk)
        item = LeadFeedback.objects.get()
        assert (item.from_rejection, item.tags, item.rating) == (True, ["Duplicate"], 1)
