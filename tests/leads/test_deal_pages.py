"""The lead page's deal and exit actions: convert, win, lose, nurture, disqualify."""

from decimal import Decimal

from leads import services
from leads.models import Opportunity, Reason, ReasonKind, SalesRep, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from tests.base import TwoOrganizationsTestCase, make_member

QUALIFYING = {
    "budget_amount": Decimal("50000"),
    "authority_role": "decision_maker",
    "needs": ["Forecasting"],
    "timeline_days": 30,
}


class DealPageTests(TwoOrganizationsTestCase):
    def setUp(self):
        with organization_scope(self.org_a):
            services.reasons_ensure_defaults()
            SalesRep.objects.create(user=self.bob)
            self.lead = services.lead_create(actor=self.alice, email="d@x.test", **QUALIFYING)
            services.lead_mark_mql(lead=self.lead, actor=self.alice)
            self.lead.refresh_from_db()
            services.lead_accept(lead=self.lead, actor=self.bob)
        self.url = f"/o/acme-test/leads/{self.lead.pk}/"

    def stage(self):
        self.lead.refresh_from_db()
        return self.lead.stage

    def test_the_owner_converts_and_wins_at_a_chosen_value(self):
        client = self.browser_as(self.bob)
        assert "Convert to opportunity" in client.get(self.url).content.decode()
        client.post(self.url + "convert/", {"amount": "12000", "probability": "40"})
        assert self.stage() == Stage.OPPORTUNITY
        assert "Mark won" in client.get(self.url).content.decode()
        client.post(self.url + "win/", {"value": "11500"})
        assert self.stage() == Stage.WON
        with organization_scope(self.org_a):
            opportunity = Opportunity.objects.get(lead=self.lead)
        assert (opportunity.status, opportunity.won_value) == ("won", Decimal("11500"))

    def test_losing_needs_one_of_the_organizations_loss_reasons(self):
        client = self.browser_as(self.bob)
        client.post(self.url + "convert/", {"amount": "5000", "probability": "20"})
        client.post(self.url + "lose/", {"reason_id": ""})
        assert self.stage() == Stage.OPPORTUNITY
        with organization_scope(self.org_a):
            price = Reason.objects.get(kind=ReasonKind.LOSS, label="Price")
        client.post(self.url + "lose/", {"reason_id": str(price.pk)})
        assert self.stage() == Stage.LOST

    def test_bad_amounts_change_nothing(self):
        self.browser_as(self.bob).post(self.url + "convert/", {"amount": "-5", "probability": "2"})
        assert self.stage() == Stage.ACCEPTED

    def test_exits_need_a_reason(self):
        client = self.browser_as(self.alice)
        client.post(self.url + "exit/", {"to_stage": "nurture", "reason": ""})
        assert self.stage() == Stage.ACCEPTED
        client.post(self.url + "exit/", {"to_stage": "nurture", "reason": "Not this quarter"})
        assert self.stage() == Stage.NURTURE
        with organization_scope(self.org_a):
            assert self.lead.transitions.last().reason == "Not this quarter"

    def test_who_may_act(self):
        assert (
            self.browser_as(self.vera)
            .post(self.url + "exit/", {"to_stage": "disqualified", "reason": "x"})
            .status_code
            == 403
        )
        outsider = self.browser_as(self.charlie)
        for action in ("convert/", "win/", "lose/", "exit/"):
            assert outsider.post(self.url + action, {"amount": "1"}).status_code == 404
        # Nobody but the owner or an admin converts: not even marketing.
        mia = make_member(self.org_a, "mia@a.test", "Mia Marketing", Role.MARKETING)
        response = self.browser_as(mia).post(self.url + "convert/", {"amount": "1"})
        assert response.status_code == 403
        assert self.stage() == Stage.ACCEPTED
