"""LTV:CAC and CAC payback from subscriptions, revenue, spend and won customers."""

from datetime import UTC, date, datetime, timedelta

import pytest

from leads import services as lead_services
from metrics import selectors, services
from metrics.compute import Filters, compute_facts, snapshot_replace
from metrics.models import Account, RevenueTransaction
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

JANUARY = (date(2026, 1, 1), date(2026, 1, 31))
WIN_PATH = ["mql", "sql", "accepted", "opportunity", "won"]
SUBSCRIPTION_MEASURES = ["subscription_revenue", "subscriber_days", "accounts_lost"]


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
        # The snapshot of the year to January: churn is measured over the trailing year.
        snapshot_replace(date(2025, 2, 1), JANUARY[1])

    def test_ltv_cac_and_payback(self):
        services.gross_margin_set(percent="80")
        figures = selectors.unit_economics(*JANUARY)
        # ARPA: January's subscription revenue per month subscribed in January (eight all
        # month, two until the 20th).
        arpa = 1000 / ((8 * 31 + 2 * 19) / (365.25 / 12))
        # Churn over the year ending 31 January: 2 lost over the accounts' months subscribed
        # (all ten since June 2025; two left on 20 January).
        start = date(2025, 6, 1)
        subscribed_days = 8 * (date(2026, 2, 1) - start).days + 2 * (date(2026, 1, 20) - start).days
        churn = 2 / (subscribed_days / (365.25 / 12))
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
        snapshot_replace(date(2025, 2, 1), JANUARY[1])
        figures = selectors.unit_economics(*JANUARY)
        assert figures.churn_monthly == 0
        assert (figures.ltv, figures.ltv_to_cac) == (None, None)
        assert figures.cac_payback_months is not None

    def test_churn_is_measured_over_the_trailing_year_per_month_subscribed(self):
        # A quiet month (no one left in March) still has the year's churn: the two who left in
        # January, over every account's months subscribed from April 2025 to March 2026.
        Account.objects.create(name="Joined in February", subscribed_on=date(2026, 2, 10), mrr=50)
        Account.objects.create(name="Left before the year", subscribed_on=date(2024, 1, 1),
                               churned_on=date(2025, 3, 31), mrr=50)  # fmt: skip
        Account.objects.create(name="Left on the year's first day", subscribed_on=date(2025, 1, 1),
                               churned_on=date(2025, 4, 1), mrr=50)  # fmt: skip
        march = (date(2026, 3, 1), date(2026, 3, 31))
        snapshot_replace(date(2024, 1, 1), march[1])
        year_first, end = date(2025, 4, 1), date(2026, 4, 1)
        # The one who left on the year's first day is lost in the year with no day inside it.
        subscribed_days = (
            8 * (end - date(2025, 6, 1)).days
            + 2 * (date(2026, 1, 20) - date(2025, 6, 1)).days
            + (end - date(2026, 2, 10)).days
        )
        assert year_first == march[1] - timedelta(days=364)
        expected = 3 / (subscribed_days / (365.25 / 12))
        assert selectors.monthly_churn(*march) == pytest.approx(expected)
        # A range longer than a year is its own window: January 2024 to March 2026.
        long = (date(2024, 1, 1), date(2026, 3, 31))
        long_days = (
            subscribed_days
            + (date(2025, 3, 31) - date(2024, 1, 1)).days
            + (year_first - date(2025, 1, 1)).days
        )
        assert selectors.monthly_churn(*long) == pytest.approx(4 / (long_days / (365.25 / 12)))
        # Before any subscription: no data.
        assert selectors.monthly_churn(date(2023, 1, 1), date(2023, 12, 31)) is None

    def test_subscriptions_are_daily_facts_of_the_whole_organization(self):
        facts = compute_facts(*JANUARY)
        subscribed = facts[facts["measure"].isin(SUBSCRIPTION_MEASURES)]
        assert set(subscribed["dimension"]) == {""}  # customers carry no lead members
        by_day = subscribed.pivot_table(index="day", columns="measure", values="value")
        assert by_day.loc["2026-01-05", "subscription_revenue"] == 1000
        assert by_day.loc["2026-01-19", "subscriber_days"] == 10
        assert by_day.loc["2026-01-20", "subscriber_days"] == 8  # the day they left: gone
        assert by_day.loc["2026-01-20", "accounts_lost"] == 2
        assert len(by_day) == 31
        # Under a lead filter there are none: customers are not broken down by lead members.
        filtered = compute_facts(*JANUARY, Filters(channel="email"))
        assert not filtered["measure"].isin(SUBSCRIPTION_MEASURES).any()

    def test_a_month_without_revenue_or_customers_is_no_data(self):
        figures = selectors.unit_economics(date(2026, 3, 1), date(2026, 3, 31))
        assert (figures.arpa_monthly, figures.cac) == (None, None)
