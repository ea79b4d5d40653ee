"""Reading the snapshot: sums of facts over any date range and filter, and the ratios built from
those sums (docs/metrics.md). A ratio with a zero or missing denominator is None: "no data"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from django.db.models import Sum

from leads.models import Stage
from metrics import clv
from metrics.compute import CROSS_TOTALS, PAIR_SEPARATOR, is_cross_measure, pair_dimension
from metrics.models import MetricFact, MetricsSettings, RevenueTransaction

# A stage's entries are stored per edge of the journey (moved_<from>_<to>, docs/metrics.md);
# "entered_<stage>" reads as the sum of its edges.
EDGE_SOURCES = ["start", *Stage.values]


def _stored(measure: str) -> list[str]:
    if measure.startswith("entered_"):
        stage = measure.removeprefix("entered_")
        return [f"moved_{source}_{stage}" for source in EDGE_SOURCES]
    return [measure]


def _sums(facts, measures: list[str], *, by: tuple[str, ...] = ()) -> dict:
    """(by values..., measure) → sum over the facts, with entered_<stage> folded from its edges."""
    stored = {name: measure for measure in measures for name in _stored(measure)}
    rows = (
        facts.filter(measure__in=list(stored)).values(*by, "measure").annotate(total=Sum("value"))
    )
    found: dict = {}
    for row in rows:
        key = (*(row[field] for field in by), stored[row["measure"]])
        found[key] = found.get(key, 0.0) + row["total"]
    return found


def totals(first_day: date, last_day: date, measures: list[str], *, dimension: str = "",
           member: str = "") -> dict[str, float]:  # fmt: skip
    """Each measure summed over the days, overall or for one member of one dimension."""
    facts = MetricFact.objects.filter(
        day__gte=first_day, day__lte=last_day, dimension=dimension, member=member
    )
    found = _sums(facts, measures)
    return {measure: found.get((measure,), 0.0) for measure in measures}


def by_member(first_day: date, last_day: date, measures: list[str], dimension: str, *,
              within: tuple[str, str] | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """member → measure → sum, for every member of a dimension with any of the measures.

    `within` (another dimension, one of its members): only the leads of that member, from the
    facts stored per pair of dimensions, which hold the cross measures only
    (`metrics.compute.PAIRS`)."""
    facts = MetricFact.objects.filter(day__gte=first_day, day__lte=last_day)
    position = 0
    if within is None:
        facts = facts.filter(dimension=dimension)
    else:
        if not all(is_cross_measure(name) for m in measures for name in _stored(m)):
            raise ValueError(f"Only {sorted(CROSS_TOTALS)} and MQL entries are paired.")
        other, value = within
        pair, other_first = pair_dimension(other, dimension)
        facts = facts.filter(dimension=pair)
        if other_first:
            position, facts = 1, facts.filter(member__startswith=value + PAIR_SEPARATOR)
        else:
            facts = facts.filter(member__endswith=PAIR_SEPARATOR + value)
    result: dict[str, dict[str, float]] = {}
    for (member, measure), total in _sums(facts, measures, by=("member",)).items():
        if within is not None:
            member = member.split(PAIR_SEPARATOR)[position]
        result.setdefault(member, dict.fromkeys(measures, 0.0))[measure] = total
    return result


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not denominator or numerator is None:
        return None
    return numerator / denominator


def open_opportunities_at(last_day: date, *, dimension: str = "", member: str = "") -> float:
    """Opportunities open at the end of `last_day`: every entry into the opportunity stage up
    to then, less every close (won or lost). Open = in the opportunity stage, not yet closed."""
    measures = ["entered_opportunity", "entered_won", "entered_lost"]
    facts = MetricFact.objects.filter(day__lte=last_day, dimension=dimension, member=member)
    found = _sums(facts, measures)
    opened, won, lost = (found.get((measure,), 0.0) for measure in measures)
    return opened - won - lost


@dataclass(frozen=True)
class Velocity:
    open_opportunities: float
    win_rate: float | None
    average_won_deal: float | None
    average_cycle_days: float | None

    @property
    def per_day(self) -> float | None:
        """(open opportunities * win rate * average won deal) / average won cycle, in the
        organization's currency per day."""
        parts = (self.win_rate, self.average_won_deal, self.average_cycle_days)
        if any(part is None for part in parts) or not self.average_cycle_days:
            return None
        return (
            self.open_opportunities
            * self.win_rate
            * self.average_won_deal
            / (self.average_cycle_days)
        )


def pipeline_velocity(first_day: date, last_day: date) -> Velocity:
    """Win rate, average won deal and cycle over the range; open opportunities at its end."""
    sums = totals(first_day, last_day, ["won_deals", "lost_deals", "won_value",
                                        "won_cycle_days_sum"])  # fmt: skip
    return Velocity(
        open_opportunities=open_opportunities_at(last_day),
        win_rate=ratio(sums["won_deals"], sums["won_deals"] + sums["lost_deals"]),
        average_won_deal=ratio(sums["won_value"], sums["won_deals"]),
        average_cycle_days=ratio(sums["won_cycle_days_sum"], sums["won_deals"]),
    )


@dataclass(frozen=True)
class Cpa:
    """Cost per acquisition (a customer = a won lead) three ways."""

    label: str
    customers: float
    marketing_spend: float
    sales_cost: float

    @property
    def marketing_only(self) -> float | None:
        return ratio(self.marketing_spend, self.customers)

    @property
    def sales_only(self) -> float | None:
        return ratio(self.sales_cost, self.customers)

    @property
    def fully_loaded(self) -> float | None:
        return ratio(self.marketing_spend + self.sales_cost, self.customers)


def cpa(first_day: date, last_day: date, *, dimension: str = "") -> list[Cpa]:
    """CPA overall (dimension "") or per channel or campaign. Spend is attributed to the channel
    and campaign it was booked to; sales cost has no channel, so each channel or campaign carries
    the range's sales cost in proportion to its share of the range's customers."""
    measures = ["entered_won", "marketing_spend", "sales_cost"]
    overall = totals(first_day, last_day, measures)
    if not dimension:
        return [Cpa("All", overall["entered_won"], overall["marketing_spend"],
                    overall["sales_cost"])]  # fmt: skip
    if dimension not in ("channel", "campaign"):
        raise ValueError("CPA is broken down by channel or campaign.")
    rows = []
    for member, sums in sorted(by_member(first_day, last_day, measures[:2], dimension).items()):
        share = ratio(sums["entered_won"], overall["entered_won"]) or 0.0
        rows.append(Cpa(member, sums["entered_won"], sums["marketing_spend"],
                        overall["sales_cost"] * share))  # fmt: skip
    return rows


@dataclass(frozen=True)
class ClvEstimate:
    """Repeat-purchase CLV of the organization's customers, fitted on their transactions up to
    `calibration_end` (BG/NBD for purchases, Gamma-Gamma for spend; docs/metrics.md)."""

    calibration_end: date
    customers: int
    bgnbd: clv.BgNbdFit
    gamma_gamma: clv.GammaGammaFit
    per_customer: pd.Series  # expected discounted margin per account id

    @property
    def average(self) -> float:
        return float(self.per_customer.mean())


def transactions_frame(until: date, since: date | None = None) -> pd.DataFrame:
    """Every purchase up to `until` (and from `since`), as (customer, date, amount): one
    set-based query."""
    purchases = RevenueTransaction.objects.filter(occurred_on__lte=until)
    if since is not None:
        purchases = purchases.filter(occurred_on__gte=since)
    rows = purchases.values_list("account_id", "occurred_on", "amount")
    frame = pd.DataFrame(list(rows), columns=["customer", "date", "amount"])
    frame["amount"] = frame["amount"].astype(float)
    return frame


def clv_estimate(calibration_end: date, *, first_day: date | None = None, horizon_weeks: int = 52,
                 annual_discount_rate: float = 0.10) -> ClvEstimate | None:  # fmt: skip
    """Fit and value the customers on their purchases up to `calibration_end` (from `first_day`,
    else all history); None ("no data") without the gross margin or without enough repeat
    buyers to fit."""
    settings = MetricsSettings.objects.first()
    if settings is None or settings.gross_margin_percent is None:
        return None
    summary = clv.rfm_summary(transactions_frame(calibration_end, first_day), calibration_end)
    try:
        bgnbd = clv.fit_bgnbd(summary["x"], summary["t_x"], summary["T"])
        gamma_gamma = clv.fit_gamma_gamma(summary["x"], summary["zbar"])
    except clv.InsufficientData:
        return None
    weekly_rate = (1 + annual_discount_rate) ** (1 / 52) - 1
    values = clv.clv_probabilistic(
        bgnbd, gamma_gamma, summary, horizon_weeks,
        margin=float(settings.gross_margin_percent) / 100, discount_rate=weekly_rate,
    )  # fmt: skip
    return ClvEstimate(calibration_end, len(summary), bgnbd, gamma_gamma, values)


@dataclass(frozen=True)
class UnitEconomics:
    """Subscription unit economics over a range (docs/metrics.md, "LTV:CAC")."""

    arpa_monthly: float | None  # subscription revenue per account-month
    churn_monthly: float | None  # accounts lost per account-month, over the trailing year
    gross_margin: float | None  # fraction
    cac: float | None  # fully loaded CPA

    @property
    def ltv(self) -> float | None:
        return clv.clv_simple(self.arpa_monthly, self.gross_margin, self.churn_monthly)

    @property
    def ltv_to_cac(self) -> float | None:
        return None if self.ltv is None else ratio(self.ltv, self.cac)

    @property
    def cac_payback_months(self) -> float | None:
        if self.arpa_monthly is None or self.gross_margin is None:
            return None
        return ratio(self.cac, self.arpa_monthly * self.gross_margin)


MONTH_DAYS = 365.25 / 12
CHURN_WINDOW_DAYS = 365


def unit_economics(first_day: date, last_day: date) -> UnitEconomics:
    """Subscription ARPA, churn and margin with the range's fully loaded CAC, from the
    snapshot's subscription facts (docs/metrics.md, "Unit economics")."""
    subscribed = totals(first_day, last_day, ["subscription_revenue", "subscriber_days"])
    arpa = ratio(subscribed["subscription_revenue"], subscribed["subscriber_days"] / MONTH_DAYS)
    settings = MetricsSettings.objects.first()
    margin = (
        None
        if settings is None or settings.gross_margin_percent is None
        else float(settings.gross_margin_percent) / 100
    )
    (cost,) = cpa(first_day, last_day)
    return UnitEconomics(arpa, monthly_churn(first_day, last_day), margin, cost.fully_loaded)


def monthly_churn(first_day: date, last_day: date) -> float | None:
    """Accounts lost per account-month of subscription, over the range or, when shorter, the
    CHURN_WINDOW_DAYS ending on its last day: a month rarely holds enough cancellations to
    measure a customer's lifetime by. None: no subscriber then."""
    window_first = min(first_day, last_day - timedelta(days=CHURN_WINDOW_DAYS - 1))
    window = totals(window_first, last_day, ["accounts_lost", "subscriber_days"])
    if not window["subscriber_days"]:
        return None
    return window["accounts_lost"] / (window["subscriber_days"] / MONTH_DAYS)
