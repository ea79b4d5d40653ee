"""The scoreboard: every headline figure of a date range and filter, read from the snapshot
(docs/metrics.md, "Scoreboard"). The dashboard, the huddle and the API read figures here.

Where the numbers come from:
- no filter, or one (channel, campaign, segment or team): the stored daily facts of that
  member, summed over the range;
- two or more filters: the facts are computed on demand for the leads passing all of them
  (`compute_facts` with filters), as the snapshot holds one dimension at a time;
- medians and percentiles: the stored window when the range is a standard window ending on the
  last computed day, else computed on demand (`metrics.windows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from django.db.models import Max, Sum

from leads.models import Stage
from metrics.compute import EXIT_STAGES, NO_FILTERS, Filters, compute_facts, open_balance
from metrics.models import MetricFact, MetricWindow
from metrics.selectors import open_opportunities_at, ratio, unit_economics
from metrics.windows import STANDARD_WINDOWS, observations, summarize

# The lifecycle's main path, in order; a step's conversion is the next stage's entries over its.
FUNNEL_PATH = [Stage.NEW, Stage.MQL, Stage.SQL, Stage.ACCEPTED, Stage.OPPORTUNITY, Stage.WON]


def _entered(edge_measure: str) -> str:
    """moved_<from>_<to> → entered_<to>."""
    return "entered_" + next(s for s in Stage.values if edge_measure.endswith(f"_{s}"))


def fold_edges(sums: Mapping[str, float]) -> dict[str, float]:
    """Add entered_<stage> (the sum of the stage's moved_<from>_<stage> edges) to the sums."""
    folded = dict(sums)
    for measure, value in sums.items():
        if measure.startswith("moved_"):
            folded[_entered(measure)] = folded.get(_entered(measure), 0.0) + value
    return folded


def _stored_scope(filters: Filters) -> tuple[str, str] | None:
    """(dimension, member) of the stored facts answering these filters; None: compute live."""
    active = filters.active()
    if len(active) > 1:
        return None
    return next(iter(active.items()), ("", ""))


def daily_sums(first_day: date, last_day: date, filters: Filters = NO_FILTERS, *,
               live_facts: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """Each measure's sum per day (rows: every day of the range; columns: measures, entered_*
    folded in); days without facts hold 0. `live_facts`: the range's facts for these filters
    when the caller has computed them already (two filters or more)."""
    scope = _stored_scope(filters)
    if scope is None:
        facts = compute_facts(first_day, last_day, filters) if live_facts is None else live_facts
        facts = facts[facts["dimension"] == ""][["day", "measure", "value"]]
        facts = facts.assign(day=pd.to_datetime(facts["day"].astype(str)),
                             measure=facts["measure"].astype(str))  # fmt: skip
    else:
        dimension, member = scope
        rows = (
            MetricFact.objects.filter(
                day__gte=first_day, day__lte=last_day, dimension=dimension, member=member
            )
            .values_list("day", "measure")
            .annotate(total=Sum("value"))
        )
        facts = pd.DataFrame(list(rows), columns=["day", "measure", "value"])
        facts["day"] = pd.to_datetime(facts["day"])
    table = facts.pivot_table(index="day", columns="measure", values="value", aggfunc="sum")
    days = pd.date_range(first_day, last_day, freq="D", name="day")
    table = table.reindex(days, fill_value=0.0).fillna(0.0)
    table.columns.name = None
    for measure in [c for c in table.columns if c.startswith("moved_")]:
        entered = _entered(measure)
        table[entered] = table.get(entered, 0.0) + table[measure]
    return table


def range_sums(first_day: date, last_day: date, filters: Filters = NO_FILTERS) -> dict[str, float]:
    return daily_sums(first_day, last_day, filters).sum().to_dict()


def open_opportunities_before(first_day: date, filters: Filters = NO_FILTERS) -> float:
    """Opportunities open at the start of first_day: entries less closes over every day before."""
    scope = _stored_scope(filters)
    if scope is None:
        return _open_live(first_day, filters)
    dimension, member = scope
    return open_opportunities_at(first_day - timedelta(days=1), dimension=dimension, member=member)


def _open_from(sums: Mapping[str, float]) -> float:
    return (
        sums.get("entered_opportunity", 0.0)
        - sums.get("entered_won", 0.0)
        - sums.get("entered_lost", 0.0)
    )


def _open_live(first_day: date, filters: Filters) -> float:
    """Combined filters: the filtered leads' stage moves over the snapshot's earlier days (as
    the stored facts would sum them), counted on demand."""
    oldest = MetricFact.objects.order_by("day").values_list("day", flat=True).first()
    if oldest is None or oldest >= first_day:
        return 0.0
    return open_balance(oldest, first_day - timedelta(days=1), filters)


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: str  # count, percent, money, days, hours, score, money_per_day, ratio, months
    higher_is_better: bool
    formula: Callable[[Mapping[str, float]], float | None]


def _s(sums: Mapping[str, float], *measures: str) -> float:
    return sum(sums.get(measure, 0.0) for measure in measures)


# The additive KPIs: each a formula over a range's sums (docs/metrics.md, "Figures").
KPIS = [
    Kpi("mqls", "MQLs", "count", True, lambda s: _s(s, "entered_mql")),
    Kpi("sqls", "SQLs", "count", True, lambda s: _s(s, "entered_sql")),
    Kpi("mql_to_sql", "MQL→SQL rate", "percent", True,
        lambda s: ratio(_s(s, "entered_sql"), _s(s, "entered_mql"))),
    Kpi("sql_acceptance", "SQL acceptance", "percent", True,
        lambda s: ratio(_s(s, "entered_accepted"), _s(s, "entered_sql"))),
    Kpi("lead_to_customer", "Lead-to-customer", "percent", True,
        lambda s: ratio(_s(s, "entered_won"), _s(s, "entered_mql"))),
    Kpi("win_rate", "Win rate", "percent", True,
        lambda s: ratio(_s(s, "won_deals"), _s(s, "won_deals", "lost_deals"))),
    Kpi("average_won_deal", "Average won deal", "money", True,
        lambda s: ratio(_s(s, "won_value"), _s(s, "won_deals"))),
    Kpi("sales_cycle_days", "Sales cycle (won)", "days", False,
        lambda s: ratio(_s(s, "won_cycle_days_sum"), _s(s, "won_deals"))),
    Kpi("customers", "New customers", "count", True, lambda s: _s(s, "entered_won")),
    Kpi("cpa_fully_loaded", "CPA (fully loaded)", "money", False,
        lambda s: ratio(_s(s, "marketing_spend", "sales_cost"), _s(s, "entered_won"))),
    Kpi("cpa_marketing", "CPA (marketing spend)", "money", False,
        lambda s: ratio(_s(s, "marketing_spend"), _s(s, "entered_won"))),
    Kpi("cpa_sales", "CPA (sales cost)", "money", False,
        lambda s: ratio(_s(s, "sales_cost"), _s(s, "entered_won"))),
    Kpi("sla_compliance", "Follow-up SLA compliance", "percent", True,
        lambda s: ratio(_s(s, "follow_up_on_time"),
                        _s(s, "follow_up_on_time", "follow_up_breached"))),
    Kpi("quality_score", "Lead-quality score", "score", True,
        lambda s: ratio(_s(s, "feedback_rating_sum"), _s(s, "feedback_ratings"))),
    Kpi("feedback_volume", "Ratings given", "count", True, lambda s: _s(s, "feedback_ratings")),
]  # fmt: skip
KPI_BY_KEY = {kpi.key: kpi for kpi in KPIS}
# A CPA needs the cost of the filtered leads: spend is booked to a channel and a campaign, sales
# cost to a team. Filtered by any other member the cost is unknown, and so is the CPA (no data);
# the fully loaded CPA needs both, so it is known only unfiltered (per channel or campaign it is
# `selectors.cpa`, which shares sales cost out by customers).
CPA_FILTERABLE_BY = {"cpa_marketing": {"channel", "campaign"}, "cpa_sales": {"team"},
                     "cpa_fully_loaded": set()}  # fmt: skip


def kpi_values(sums: Mapping[str, float], filters: Filters = NO_FILTERS) -> dict[str, float | None]:
    active = set(filters.active())
    values = {kpi.key: kpi.formula(sums) for kpi in KPIS}
    for key, filterable_by in CPA_FILTERABLE_BY.items():
        if not active <= filterable_by:
            values[key] = None
    return values


def velocity(sums: Mapping[str, float], open_opportunities: float) -> float | None:
    """Open opportunities * win rate * average won deal / average won cycle, per day."""
    win_rate = KPI_BY_KEY["win_rate"].formula(sums)
    deal = KPI_BY_KEY["average_won_deal"].formula(sums)
    cycle = KPI_BY_KEY["sales_cycle_days"].formula(sums)
    if win_rate is None or deal is None or not cycle:
        return None
    return open_opportunities * win_rate * deal / cycle


# --- windowed figures -------------------------------------------------------------------------


def last_computed_day() -> date | None:
    """The last day whose windows were computed (the unique index starts with as_of)."""
    return MetricWindow.objects.aggregate(day=Max("as_of"))["day"]


def window_stats(first_day: date, last_day: date, filters: Filters = NO_FILTERS, *,
                 stored_only: bool = False) -> pd.DataFrame:  # fmt: skip
    """Count, mean and percentiles per figure over the range for the filtered leads (overall
    rows only): the stored window when the range is a standard window whose day was computed,
    else computed on demand (or, `stored_only`, nothing: no data)."""
    days = (last_day - first_day).days + 1
    scope = _stored_scope(filters)
    if days in STANDARD_WINDOWS and scope is not None:
        computed = MetricWindow.objects.filter(as_of=last_day, window_days=days)
        if computed.exists():  # a member without rows then had nothing to measure
            dimension, member = scope
            frame = pd.DataFrame(
                computed.filter(dimension=dimension, member=member).values(
                    "figure", "count", "mean", "p50", "p90", "p95"
                )
            )
            return frame.set_index("figure") if not frame.empty else _empty_stats()
    if stored_only:
        return _empty_stats()
    stats = summarize(observations(first_day, last_day, filters))
    stats = stats[stats["dimension"] == ""].drop(columns=["dimension", "member"])
    return stats.set_index("figure") if not stats.empty else _empty_stats()


def _empty_stats() -> pd.DataFrame:
    return pd.DataFrame(columns=["count", "mean", "p50", "p90", "p95"]).rename_axis("figure")


def _stat(stats: pd.DataFrame, figure: str, column: str) -> float | None:
    if figure not in stats.index:
        return None
    value = stats.at[figure, column]
    return None if pd.isna(value) else float(value)


# --- the scoreboard ---------------------------------------------------------------------------


@dataclass
class Scoreboard:
    first_day: date
    last_day: date
    filters: Filters
    values: dict[str, float | None]
    previous: dict[str, float | None]
    weekly: pd.DataFrame  # one row per week (its last day), one column per KPI
    sums: dict[str, float] = field(repr=False)
    # Two filters or more: the facts computed on demand for them, over the previous period and
    # the range (`compute_facts`), for the charts to break down; None when read from the snapshot.
    live_facts: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def previous_range(self) -> tuple[date, date]:
        return previous_range(self.first_day, self.last_day)


def previous_range(first_day: date, last_day: date) -> tuple[date, date]:
    """The range of the same length just before."""
    length = last_day - first_day + timedelta(days=1)
    return first_day - length, last_day - length


def _weekly(daily: pd.DataFrame, open_before: float, filters: Filters) -> pd.DataFrame:
    """The additive KPIs and velocity per week of the range (weeks end on the range's last day
    weekday, so the last point is the range's own last week)."""
    none = pd.Series(0.0, index=daily.index)
    opened = daily.get("entered_opportunity", none)
    closed = daily.get("entered_won", none) + daily.get("entered_lost", none)
    open_daily = open_before + (opened - closed).cumsum()
    anchor = daily.index[-1].day_name()[:3].upper()
    weeks = daily.resample(f"W-{anchor}").sum()
    rows = []
    for week_end, sums in weeks.iterrows():
        values = kpi_values(sums.to_dict(), filters)
        values["velocity"] = velocity(sums.to_dict(), float(open_daily.loc[:week_end].iloc[-1]))
        rows.append({"week_end": week_end.date(), **values})
    return pd.DataFrame(rows).set_index("week_end")


def scoreboard(first_day: date, last_day: date, filters: Filters = NO_FILTERS) -> Scoreboard:
    """The range's KPIs, the previous period's, and their weekly trend."""
    previous_first, previous_last = previous_range(first_day, last_day)
    live_facts = None
    if _stored_scope(filters) is None:
        live_facts = compute_facts(previous_first, last_day, filters)
    daily = daily_sums(previous_first, last_day, filters, live_facts=live_facts)
    current, before = daily.loc[pd.Timestamp(first_day) :], daily.loc[: pd.Timestamp(previous_last)]
    open_at_previous = open_opportunities_before(previous_first, filters)
    open_at_first = open_at_previous + _open_from(fold_edges(before.sum().to_dict()))
    open_at_last = open_at_first + _open_from(current.sum().to_dict())

    sums, previous_sums = current.sum().to_dict(), before.sum().to_dict()
    values, previous = kpi_values(sums, filters), kpi_values(previous_sums, filters)
    values["open_opportunities"], previous["open_opportunities"] = open_at_last, open_at_first
    values["velocity"] = velocity(sums, open_at_last)
    previous["velocity"] = velocity(previous_sums, open_at_first)

    windows = {
        "values": window_stats(first_day, last_day, filters),
        # The previous period's medians only when stored (the nightly run stores every day's):
        # computing them on demand would double the page's cost for a comparison.
        "previous": window_stats(previous_first, previous_last, filters, stored_only=True),
    }
    for target, stats in ((values, windows["values"]), (previous, windows["previous"])):
        target["response_p50_hours"] = _stat(stats, "response_hours", "p50")
        target["response_p95_hours"] = _stat(stats, "response_hours", "p95")
        target["days_to_win_p50"] = _stat(stats, "days_to_win", "p50")
        target["days_to_win_p90"] = _stat(stats, "days_to_win", "p90")
        target["median_won_deal"] = _stat(stats, "won_deal_value", "p50")

    if filters.active():  # customers and revenue are not broken down by lead members
        economics = {"clv": None, "ltv_to_cac": None, "cac_payback_months": None}
        values.update(economics)
        previous.update(economics)
    else:
        for target, (first, last) in ((values, (first_day, last_day)),
                                      (previous, (previous_first, previous_last))):  # fmt: skip
            economics = unit_economics(first, last)
            target["clv"] = economics.ltv
            target["ltv_to_cac"] = economics.ltv_to_cac
            target["cac_payback_months"] = economics.cac_payback_months
    return Scoreboard(first_day, last_day, filters, values, previous,
                      _weekly(current, open_at_first, filters), sums, live_facts)  # fmt: skip


# --- the funnel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    label: str
    entered: float
    next_stage: str | None
    converted: float | None  # entries of the next stage
    conversion: float | None  # converted ÷ entered
    exits: dict[str, float]  # exit stage → moves out of this stage into it

    @property
    def drop_off(self) -> float | None:
        return None if self.conversion is None else 1 - self.conversion


def funnel(first_day: date, last_day: date, filters: Filters = NO_FILTERS, *,
           sums: Mapping[str, float] | None = None) -> list[FunnelStep]:  # fmt: skip
    """Each main-path stage's entries in the range, the step conversion to the next stage, and
    the moves from it into each exit (rejected, lost, nurture, disqualified). `sums`: the
    range's sums when the caller has them already (`Scoreboard.sums`), saving a second read."""
    if sums is None:
        sums = range_sums(first_day, last_day, filters)
    labels = dict(Stage.choices)
    steps = []
    for index, stage in enumerate(FUNNEL_PATH):
        following = FUNNEL_PATH[index + 1] if index + 1 < len(FUNNEL_PATH) else None
        entered = sums.get(f"entered_{stage}", 0.0)
        converted = sums.get(f"entered_{following}", 0.0) if following else None
        exits = {exit: sums.get(f"moved_{stage}_{exit}", 0.0) for exit in EXIT_STAGES}
        conversion = ratio(converted, entered) if following else None
        exits = {exit: count for exit, count in exits.items() if count}
        steps.append(FunnelStep(stage, labels[stage], entered, following, converted, conversion,
                                exits))  # fmt: skip
    return steps


def exit_reasons(first_day: date, last_day: date, filters: Filters = NO_FILTERS) -> pd.DataFrame:
    """Moves into each exit stage by the reason given: columns from_stage, to_stage, reason,
    count, largest first. Stored (dimension "reason") unfiltered; computed on demand filtered."""
    if filters.active():
        facts = compute_facts(first_day, last_day, filters)
        facts = facts[facts["dimension"] == "reason"].astype({"measure": str})
        rows = facts.groupby(["measure", "member"], observed=True)["value"].sum().reset_index()
    else:
        rows = pd.DataFrame(
            list(
                MetricFact.objects.filter(day__gte=first_day, day__lte=last_day, dimension="reason")
                .values_list("measure", "member")
                .annotate(total=Sum("value"))
            ),
            columns=["measure", "member", "value"],
        )
    if rows.empty:
        return pd.DataFrame(columns=["from_stage", "to_stage", "reason", "count"])
    edges = rows["measure"].str.removeprefix("moved_")
    to_stage = edges.map(lambda edge: next(s for s in EXIT_STAGES if edge.endswith(f"_{s}")))
    result = pd.DataFrame({
        "from_stage": [edge[: -len(to) - 1] for edge, to in zip(edges, to_stage, strict=True)],
        "to_stage": to_stage.astype(str),
        "reason": rows["member"].astype(str),
        "count": rows["value"].astype(float),
    })  # fmt: skip
    return result.sort_values(["count", "reason"], ascending=[False, True], ignore_index=True)
