"""Bulk intake: up to 1,000 leads in one pass, qualified and assigned like single creates."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from leads import services
from leads.models import Lead, LeadTransition, SalesRep, ScoringRule, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from tests.base import TwoOrganizationsTestCase, make_member

QUALIFYING = {
    "budget_amount": "50000",
    "authority_role": "decision_maker",
    "needs": ["Forecasting"],
    "timeline_days": 30,
}


class BulkUpsertTests(TwoOrganizationsTestCase):
    def setUp(self):
        scope = organization_scope(self.org_a)
        scope.__enter__()
        self.addCleanup(scope.__exit__, None, None, None)
        self.dana = make_member(self.org_a, "dana@a.test", "Dana Sales", Role.SALES)
        SalesRep.objects.create(user=self.bob)
        SalesRep.objects.create(user=self.dana)
        ScoringRule.objects.create(kind="fit", attribute="industry", value="Retail", points=60)

    def test_items_are_created_updated_or_reported_each_on_its_own(self):
        services.lead_create(actor=self.alice, email="old@x.test", external_id="crm-1")
        rows = [
            {"email": "new@x.test", "full_name": "New"},
            {"external_id": "crm-1", "title": "CEO"},
            {"email": "broken"},
            {"email": "new@x.test"},
            "not an object",
            {"colour": "red"},
        ]
        results = services.leads_bulk_upsert(actor=self.alice, rows=rows)
        assert [r.status for r in results] == [
            "created", "updated", "error", "error", "error", "error",
        ]  # fmt: skip
        assert "email" in results[2].errors
        assert "twice" in results[3].errors["non_field_errors"][0]
        assert "colour" in results[5].errors
        assert Lead.objects.get(external_id="crm-1").title == "CEO"
        assert Lead.objects.count() == 2

    def test_new_leads_are_scored_qualified_and_assigned_round_robin(self):
        rows = [{"email": f"r{i}@x.test", "industry": "Retail", **QUALIFYING} for i in range(4)] + [
            {"email": "cold@x.test", "industry": "Other"}
        ]
        results = services.leads_bulk_upsert(actor=self.alice, rows=rows)
        assert {r.status for r in results} == {"created"}
        sqls = Lead.objects.filter(stage=Stage.SQL).order_by("email")
        assert sqls.count() == 4
        owners = [lead.owner_id for lead in sqls]
        assert sorted(owners) == sorted([self.bob.pk, self.dana.pk] * 2)
        assert all(lead.qualified_by_policy.version == 1 for lead in sqls)
        assert Lead.objects.get(email="cold@x.test").stage == Stage.NEW
        path = list(
            LeadTransition.objects.filter(lead=sqls[0])
            .order_by("id")
            .values_list("from_stage", "to_stage")
        )
        assert path == [("", "new"), ("new", "mql"), ("mql", "sql"), ("sql", "sql")]
        assert sqls[0].score == 60 and sqls[0].budget_amount == Decimal("50000")

    def test_more_than_the_limit_is_refused_whole(self):
        with pytest.raises(ValidationError):
            services.leads_bulk_upsert(actor=self.alice, rows=[{}] * 1001)

    def test_bulk_intake_stays_in_its_organization(self):
        with organization_scope(self.org_b):
            services.leads_bulk_upsert(actor=self.charlie, rows=[{"email": "same@x.test"}])
        services.leads_bulk_upsert(actor=self.alice, rows=[{"email": "same@x.test"}])
        assert Lead.objects.count() == 1
        assert Lead.objects.for_organization(self.org_b).count() == 1
