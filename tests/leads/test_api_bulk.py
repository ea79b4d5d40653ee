"""`POST /api/v1/leads/bulk/`: per-item results, tenant-scoped campaigns, role checks."""

from leads.models import Campaign, Lead, SalesRep, Stage
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

QUALIFYING = {
    "budget_amount": "50000",
    "authority_role": "decision_maker",
    "needs": ["Forecasting"],
    "timeline_days": 30,
}


class BulkEndpointTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_a):
            SalesRep.objects.create(user=cls.bob)
            cls.campaign = Campaign.objects.create(name="Spring", channel="email")
        with organization_scope(cls.org_b):
            cls.b_campaign = Campaign.objects.create(name="Theirs", channel="email")

    def test_each_item_is_reported_and_good_ones_are_kept(self):
        response = self.api_as(self.alice, self.org_a).post(
            "/api/v1/leads/bulk/",
            {
                "leads": [
                    {"email": "one@x.test", "campaign": self.campaign.pk},
                    {"email": "two@x.test", "campaign": self.b_campaign.pk},
                    {"email": "nope"},
                    {"email": "mql@x.test", **QUALIFYING},
                ]
            },
            format="json",
        )
        assert response.status_code == 200, response.content
        items = response.json()
        assert [i["status"] for i in items] == ["created", "error", "error", "created"]
        assert "campaign" in items[1]["errors"] and "email" in items[2]["errors"]
        with organization_scope(self.org_a):
            assert Lead.objects.get(email="one@x.test").campaign == self.campaign
            assert Lead.objects.count() == 2
        with organization_scope(self.org_b):
            assert not Lead.objects.exists()

    def test_limits_and_shapes_are_400s(self):
        client = self.api_as(self.alice, self.org_a)
        too_many = client.post("/api/v1/leads/bulk/", {"leads": [{}] * 1001}, format="json")
        assert too_many.status_code == 400 and "leads" in too_many.json()
        assert client.post("/api/v1/leads/bulk/", {"leads": []}, format="json").status_code == 400
        wrong = client.post("/api/v1/leads/bulk/", {"leads": [1, 2]}, format="json")
        assert wrong.status_code == 400 and "leads" in wrong.json()

    def test_only_marketing_and_admins_bulk_load(self):
        body = {"leads": [{"email": "x@x.test"}]}
        assert (
            self.api_as(self.bob, self.org_a)
            .post("/api/v1/leads/bulk/", body, format="json")
            .status_code
            == 403
        )
        assert (
            self.api_as(self.vera, self.org_a)
            .post("/api/v1/leads/bulk/", body, format="json")
            .status_code
            == 403
        )

    def test_bulk_items_follow_the_same_mql_rule_as_single_creates(self):
        self.api_as(self.alice, self.org_a).post(
            "/api/v1/leads/bulk/", {"leads": [{"email": "q@x.test", **QUALIFYING}]}, format="json"
        )
        with organization_scope(self.org_a):
            lead = Lead.objects.get()
        # No score rule reaches the MQL threshold, so bulk intake leaves it NEW like a create.
        assert lead.stage == Stage.NEW
