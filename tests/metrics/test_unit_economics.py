"""LTV:CAC and CAC payback from subscriptions, revenue, spend and won customers."""

from datetime import UTC, date, datetime, timedelta

import pytest

from leads import services as lead_services
from metrics import selectors, services
from metrics.compute import snapshot_replace
from metrics.models import Account, RevenueTransaction
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

JANUARY = (date(2026, 1, 1), date(2026, 1, 31))
MONTHS = 31 / (365.25 / 12)
WIN_PATH = ["mql", "sql", "accepted", "opportunity", "won"]


class UnitEconomicsTests(TwoOrganizationsTestCase):
    def setUp(self):
        self.enterContext(organization_scope(self.org_a))
        for number in range(10):
            account = Account.objects.create(
                name=f"Customer {number}", subscribed_on=date(2025, 6, 1),
                churned_on=date(2026, 1, 20) if number < 2 else None, mrr=100,
            )  # fmt: skip
            RevenueTransaction.objects.create(account=account, occurred_on=date(2026, 1, 5),
                                              amount=100)  # fmt: skip
        when = datetime(2026, 1, 10, 12, tzinfo=UTC)
        for number in range(4):
            lead = lead_services.lead_create(actor=None, full_name=f"Won {number}", now=when)
            for step, stage in enumerate(WIN_PATH):
                lead_services.lead_transition(lead=lead, to_stage=stage, actor=None,
                                              now=when + timedelta(hours=step))  # fmt: skip
        services.marketing_spend_record(spent_on="2026-01-02", channel="social", amount="1000")
        snapshot_replace(*JANUARY)

    def test_ltv_cac_and_payback(self):
        services.gross_margin_set(percent="80")
        figures = selectors.unit_economics(*JANUARY)
        arpa = 1000 / (10 * MONTHS)
        churn = (2 / MONTHS) / 10
        assert figures.arpa_monthly == pytest.approx(arpa)
        assert figures.churn_monthly == pytest.approx(churn)
        assert figures.cac == 250
        assert figures.ltv == pytest.approx(arpa * 0.8 / churn)
        assert figures.ltv_to_cac == pytest.approx(arpa * 0.8 / churn / 250)
        assert figures.cac_payback_months == pytest.approx(250 / (arpa * 0.8))

    def test_without_a_margin_or_churn_the_figures_are_no_data(self):
        figures = selectors.unit_economics(*JANUARY)
        assert (figures.ltv, figures.ltv_to_cac, figures.cac_payback_months) == (None,) * 3
        services.gross_margin_set(percent="80")
        Account.objects.update(churned_on=None)
        figures = selectors.unit_economics(*JANUARY)
        assert figures.churn_monthly == 0
        assert (figures.ltv, figures.ltv_to_cac) == (None, None)
        assert figures.cac_payback_months is not None

    def test_a_month_without_revenue_or_customers_is_no_data(self):
        figures = selectors.unit_economics(date(2026, 3, 1), date(2026, 3, 31))
        assert (figures.arpa_monthly, figures.cac) == (None, None)
