"""Metric inputs: spend, sales cost and gross margin, typed in or imported from CSV."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from leads import services as lead_services
from metrics import services
from metrics.models import MarketingSpend, MetricsSettings, SalesCost
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

SPEND_CSV = """date,channel,amount,currency,campaign,note
2026-11-02,paid_search,1200.50,USD,Winter webinar,Google Ads
2026-11-03,social,300,,,LinkedIn
"""


class InputTests(TwoOrganizationsTestCase):
    def setUp(self):
        self.enterContext(organization_scope(self.org_a))
        self.webinar = lead_services.campaign_create(
            actor=self.alice, name="Winter webinar", channel="events"
        )

    def test_spend_is_recorded_in_the_organizations_currency(self):
        spend = services.marketing_spend_record(
            spent_on="2026-11-02", channel="", amount="99.90", campaign=self.webinar
        )
        assert (spend.channel, spend.amount, spend.currency) == ("events", Decimal("99.90"), "USD")

    def test_bad_spend_is_refused_per_field(self):
        with pytest.raises(ValidationError) as error:
            services.marketing_spend_record(
                spent_on="2026-13-01", channel="tv", amount="-5", currency="EUR"
            )
        assert set(error.value.message_dict) == {"spent_on", "channel", "amount", "currency"}
        assert "convert EUR first" in error.value.message_dict["currency"][0]
        assert not MarketingSpend.objects.exists()

    def test_a_clean_spend_file_is_imported(self):
        result = services.marketing_spend_import_csv(SPEND_CSV)
        assert (result.saved, result.errors) == (2, [])
        rows = list(MarketingSpend.objects.order_by("spent_on"))
        assert [r.campaign for r in rows] == [self.webinar, None]
        assert sum(r.amount for r in rows) == Decimal("1500.50")

    def test_a_file_with_bad_rows_saves_nothing_and_reports_each_line(self):
        text = SPEND_CSV + "2026-11-04,email,abc,,,\n2026-11-05,email,10,,Nope,\n"
        result = services.marketing_spend_import_csv(text)
        assert result.saved == 0
        assert result.errors == [
            {"line": 4, "reason": "amount: 'abc' is not an amount."},
            {"line": 5, "reason": "campaign: No campaign is called 'Nope'."},
        ]
        assert not MarketingSpend.objects.exists()

    def test_a_file_without_the_needed_columns_is_refused(self):
        with pytest.raises(ValidationError) as error:
            services.marketing_spend_import_csv("day,amount\n2026-11-01,5\n")
        assert "Missing columns: channel, date." in error.value.message_dict["file"][0]

    def test_sales_cost_for_a_team_or_a_rep(self):
        text = (
            "period_start,period_end,category,amount,team,rep_email\n"
            "2026-11-01,2026-11-30,salary,42000,Field sales,\n"
            "2026-11-01,2026-11-30,commission,3100.25,,bob@a.test\n"
            "2026-11-01,2026-10-30,tools,10,,\n"
            "2026-11-01,2026-11-30,tools,10,,charlie@b.test\n"
        )
        result = services.sales_cost_import_csv(text)
        assert result.errors == [
            {"line": 4, "reason": "period_end: The period ends before it starts."},
            {"line": 5, "reason": "rep_email: No member has the email charlie@b.test."},
        ]
        assert not SalesCost.objects.exists()
        result = services.sales_cost_import_csv("\n".join(text.splitlines()[:3]))
        assert result.saved == 2
        commission = SalesCost.objects.get(category="commission")
        assert (commission.rep, commission.period_end) == (self.bob, date(2026, 11, 30))

    def test_gross_margin_is_a_percentage_or_unset(self):
        assert services.gross_margin_set(percent="72.5").gross_margin_percent == Decimal("72.5")
        with pytest.raises(ValidationError):
            services.gross_margin_set(percent="120")
        assert services.gross_margin_set(percent="").gross_margin_percent is None
        assert MetricsSettings.objects.count() == 1

    def test_another_organization_sees_none_of_it(self):
        services.marketing_spend_import_csv(SPEND_CSV)
        with organization_scope(self.org_b):
            assert not MarketingSpend.objects.exists()
