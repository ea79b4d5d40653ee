"""The demo organization's metric inputs and snapshot: what finance would have entered over the
demo's 180 days (daily campaign spend, monthly team salaries and commissions, a gross margin,
customers with monthly invoices), then the snapshot and the standard windows computed, so the
dashboard and the huddle open on real numbers.

Deterministic (`random.Random(slug)`), idempotent (an organization that has spend is left
alone), and run after `leads.demo`, whose won deals become the customers.
"""

from __future__ import annotations

import random
import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction

from leads.demo import DAYS
from leads.models import (
    Campaign,
    Lead,
    LeadFeedback,
    LeadTransition,
    Opportunity,
    OpportunityStatus,
    SalesRep,
    SourceChannel,
)
from metrics import services
from metrics.compute import snapshot_replace
from metrics.models import (
    Account,
    MarketingSpend,
    RevenueTransaction,
    SalesCost,
    SalesCostCategory,
)
from metrics.windows import windows_replace, with_comparison_days
from revops.tenancy.context import organization_scope
from revops.tenancy.copy import planner_statistics_refresh
from revops.tenancy.models import Organization
from sla.models import SlaTimer

# A campaign's typical day of spend, by channel (the organization's currency).
DAILY_SPEND = {SourceChannel.PAID_SEARCH: 420, SourceChannel.SOCIAL: 260, SourceChannel.EVENTS: 900,
               SourceChannel.EMAIL: 60, SourceChannel.PARTNER: 150}  # fmt: skip
MONTHLY_SALARY_PER_TEAM = 38_000
GROSS_MARGIN_PERCENT = 72
CHURN_CHANCE = 0.12  # of a customer having left by now
TREND_WEEKS = 13


def _months(first: date, last: date) -> list[tuple[date, date]]:
    months, start = [], first.replace(day=1)
    while start <= last:
        following = (start + timedelta(days=32)).replace(day=1)
        months.append((max(start, first), min(following - timedelta(days=1), last)))
        start = following
    return months


def seed_metrics_demo(organization: Organization, now: datetime) -> int:
    """Enter the demo inputs and compute the snapshot; returns the facts written (0: done
    before)."""
    rng = random.Random(f"metrics:{organization.slug}")  # noqa: S311 (demo data, not secrets)
    today = now.astimezone(zoneinfo.ZoneInfo(organization.timezone)).date()
    first, yesterday = today - timedelta(days=DAYS), today - timedelta(days=1)
    with organization_scope(organization):
        with transaction.atomic():
            if MarketingSpend.objects.exists():
                return 0
            _spend(organization, rng, first, yesterday)
            _sales_cost(rng, first, yesterday)
            services.gross_margin_set(percent=GROSS_MARGIN_PERCENT)
            _customers(organization, rng, today)
        # The demo's rows were all written moments ago, in one transaction: autovacuum has not
        # sampled them yet, and the planner would take the tables for nearly empty.
        planner_statistics_refresh(Lead, LeadTransition, Opportunity, LeadFeedback, SalesRep,
                                   SlaTimer, MarketingSpend, SalesCost, Account,
                                   RevenueTransaction)  # fmt: skip
        written = snapshot_replace(first, yesterday)
        # A quarter of weekly points for the trends of medians and percentiles, ending yesterday.
        as_of = [yesterday - timedelta(weeks=weeks) for weeks in range(TREND_WEEKS)]
        windows_replace(with_comparison_days(as_of))
        return written


def _spend(organization, rng: random.Random, first: date, last: date) -> None:
    rows = []
    for campaign in Campaign.objects.all():
        base = DAILY_SPEND.get(campaign.channel)
        if base is None:
            continue
        start, end = max(first, campaign.starts_on or first), min(last, campaign.ends_on or last)
        for offset in range((end - start).days + 1):
            rows.append(MarketingSpend(
                organization=organization, spent_on=start + timedelta(days=offset),
                channel=campaign.channel, campaign=campaign, currency=organization.currency,
                amount=Decimal(round(base * rng.uniform(0.6, 1.4), 2)).quantize(Decimal("0.01")),
            ))  # fmt: skip
    MarketingSpend.objects.bulk_create(rows, batch_size=2000)


def _sales_cost(rng: random.Random, first: date, last: date) -> None:
    teams = sorted(set(SalesRep.objects.exclude(team="").values_list("team", flat=True))) or [""]
    for start, end in _months(first, last):
        for team in teams:
            services.sales_cost_record(period_start=start, period_end=end, team=team,
                                       category=SalesCostCategory.SALARY,
                                       amount=MONTHLY_SALARY_PER_TEAM)  # fmt: skip
            services.sales_cost_record(period_start=start, period_end=end, team=team,
                                       category=SalesCostCategory.COMMISSION,
                                       amount=round(rng.uniform(4_000, 9_000)))  # fmt: skip


def _customers(organization, rng: random.Random, today: date) -> None:
    """Each won deal becomes a subscription customer invoiced monthly; some have left."""
    zone = zoneinfo.ZoneInfo(organization.timezone)
    won = Opportunity.objects.filter(status=OpportunityStatus.WON).select_related("lead")
    accounts, invoices = [], []
    for opportunity in won:
        subscribed_on = opportunity.closed_at.astimezone(zone).date()
        mrr = (Decimal(opportunity.won_value or opportunity.amount) / 12).quantize(Decimal("0.01"))
        churned_on = None
        if rng.random() < CHURN_CHANCE and (today - subscribed_on).days > 45:
            churned_on = subscribed_on + timedelta(
                days=rng.randint(31, (today - subscribed_on).days)
            )
        account = Account(organization=organization, lead=opportunity.lead, mrr=mrr,
                          name=opportunity.lead.company_name or str(opportunity.lead),
                          industry=opportunity.lead.industry, subscribed_on=subscribed_on,
                          churned_on=churned_on)  # fmt: skip
        accounts.append(account)
        invoice_day, until = subscribed_on, churned_on or today
        while invoice_day <= until:
            invoices.append((account, invoice_day, mrr))
            invoice_day += timedelta(days=30)
    Account.objects.bulk_create(accounts, batch_size=1000)
    RevenueTransaction.objects.bulk_create(
        [RevenueTransaction(organization=organization, account=account, occurred_on=day,
                            amount=amount) for account, day, amount in invoices],
        batch_size=2000,
    )  # fmt: skip
