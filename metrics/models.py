"""Metrics: the inputs only finance knows (spend, sales cost, customers and their revenue), and
the nightly snapshots every dashboard figure is read from.

Money is stored in the organization's currency: inputs in another currency are refused, never
converted silently.
"""

from django.conf import settings
from django.db import models

from leads.models import Campaign, Lead, SourceChannel
from revops.tenancy.models import CURRENCY_CHOICES, Organization, TenantModel


class MetricsSettings(TenantModel):
    """Per-organization figures the metrics need and no record holds."""

    # Gross margin on revenue, for CLV. Null: CLV shows "no data" until it is set.
    gross_margin_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True,
                                               blank=True)  # fmt: skip

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="metricssettings_one_per_org"),
            models.CheckConstraint(
                condition=models.Q(gross_margin_percent__gte=0, gross_margin_percent__lte=100),
                name="metricssettings_margin_percent",
            ),
        ]


class MarketingSpend(TenantModel):
    """Money marketing spent on a day, by channel and (optionally) campaign."""

    spent_on = models.DateField()
    channel = models.CharField(max_length=20, choices=SourceChannel.choices)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, null=True, blank=True, related_name="spend"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-spent_on", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="spend_not_negative"),
        ]
        indexes = [
            models.Index(fields=["organization", "spent_on"], name="spend_by_day"),
            models.Index(fields=["organization", "campaign", "spent_on"], name="spend_by_campaign"),
        ]


class SalesCostCategory(models.TextChoices):
    SALARY = "salary", "Salary"
    COMMISSION = "commission", "Commission"
    TOOLS = "tools", "Tools"
    OTHER = "other", "Other"


class SalesCost(TenantModel):
    """What selling cost over a period, for a team or a rep: spread evenly over the period's
    days when the metrics add it up."""

    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive")
    team = models.CharField(max_length=100, blank=True)
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    category = models.CharField(max_length=12, choices=SalesCostCategory.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-period_start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="salescost_period_order",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="salescost_positive"),
        ]
        indexes = [
            models.Index(fields=["organization", "period_start"], name="salescost_by_start"),
        ]


class Account(TenantModel):
    """A customer: the company that buys, its origin lead, and its subscription if it has one."""

    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="accounts"
    )
    # Subscription customers: monthly recurring revenue, and when they left (null: still a
    # customer).
    mrr = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    subscribed_on = models.DateField(null=True, blank=True)
    churned_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organization", "external_id",
                condition=~models.Q(external_id=""),
                name="account_unique_external_id",
            ),
            models.CheckConstraint(
                condition=models.Q(churned_on__isnull=True)
                | models.Q(subscribed_on__isnull=True)
                | models.Q(churned_on__gte=models.F("subscribed_on")),
                name="account_churn_after_start",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.name


class RevenueTransaction(TenantModel):
    """A purchase (or a subscription invoice) by a customer."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="transactions")
    occurred_on = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    quantity = models.PositiveIntegerField(default=1)
    external_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["occurred_on", "id"]
        constraints = [
            models.UniqueConstraint(
                "organization", "external_id",
                condition=~models.Q(external_id=""),
                name="transaction_unique_external_id",
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(
                fields=["organization", "account", "occurred_on"], name="transaction_by_account"
            ),
            models.Index(fields=["organization", "occurred_on"], name="transaction_by_day"),
        ]


class MetricFact(TenantModel):
    """One additive number of one day: a count, a sum, a numerator or a denominator, overall
    (dimension "") or for one member of a dimension (a channel, a campaign id, a rep id...).

    Any date range and filter the dashboard asks for is a SUM over these rows, so a rate over a
    quarter is the quarter's numerator over its denominator, never a mean of daily rates. The
    measures and dimensions are defined in docs/metrics.md.
    """

    # Derived rows, rewritten in bulk by COPY: no foreign-key check per row at commit (about 3 s
    # per 1.3 million facts) and no index of its own (the unique constraint starts with it).
    # Deleting an organization still deletes its facts: Django cascades, not the database.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     db_index=False, db_constraint=False)  # fmt: skip
    day = models.DateField()
    measure = models.CharField(max_length=40)
    dimension = models.CharField(max_length=20, blank=True)
    member = models.CharField(max_length=200, blank=True)
    value = models.FloatField()

    class Meta:
        constraints = [
            # Also the read of one scope's days (the dashboard's daily sums, overall or for one
            # member): its rows sit together. Keyed by day first, it walked every dimension's
            # rows of the range instead (58 ms for 90 days at 1,000,000 leads).
            models.UniqueConstraint(
                fields=["organization", "dimension", "member", "day", "measure"],
                name="metricfact_unique",
            ),
        ]
        indexes = [
            # Named measures of a dimension, every member (breakdowns, the funnel's edges).
            models.Index(
                fields=["organization", "measure", "dimension", "day"], name="metricfact_read"
            ),
            # A range of days, every scope: the snapshot's delete before it rewrites a range.
            models.Index(fields=["organization", "day"], name="metricfact_by_day"),
        ]


class MetricWindow(TenantModel):
    """A non-additive figure (a distribution's count, mean, median and tail percentiles) over a
    standard window of days ending `as_of`, overall or for one member of a dimension.

    Medians and percentiles do not add up across days, so the nightly run stores them for the
    standard windows (30, 90 and 365 days); any other range computes them on demand with the same
    code (`metrics/windows.py`). The figures are defined in docs/metrics.md.
    """

    as_of = models.DateField()
    window_days = models.PositiveSmallIntegerField()
    figure = models.CharField(max_length=40)
    dimension = models.CharField(max_length=20, blank=True)
    member = models.CharField(max_length=200, blank=True)
    count = models.PositiveIntegerField()
    mean = models.FloatField(null=True)
    p50 = models.FloatField(null=True)
    p90 = models.FloatField(null=True)
    p95 = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "as_of", "window_days", "figure", "dimension", "member"],
                name="metricwindow_unique",
            ),
        ]
        indexes = [
            # A figure's trend: its value for one window and member, day after day.
            models.Index(
                fields=["organization", "figure", "window_days", "dimension", "member", "as_of"],
                name="metricwindow_trend",
            ),
        ]


class RunStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Computing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class MetricRun(TenantModel):
    """One computation of a date range's snapshot: nightly, a backfill, or an admin's recompute."""

    first_day = models.DateField()
    last_day = models.DateField()
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    facts_written = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
