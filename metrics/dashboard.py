"""The unified dashboard at the organization's home, /o/<slug>/ (docs/architecture.md,
"Dashboard").

Everything on it reads the metrics snapshot through `metrics.scoreboard` and `metrics.selectors`
(never the leads themselves), so the page costs the same number of queries for ten leads and for a
million. The filters (a date range, channel, campaign, segment, team) live in the query string, so a
view can be shared and survives a reload; a bad value answers 400 with the reason beside its field
(`metrics.forms.RangeFilterForm`, shared with the journey map). Charts are plain plotly figure dicts
(building them with `plotly.graph_objects` validates every property and costs more than the rest of
the page), drawn by the plotly.js the app serves itself (static/js/dashboard.js); a click on a
funnel stage, a bar, a point or a tile opens the lead list with the same filters.

Who sees what first: a sales rep their queue and follow-up standing, marketing the quality and
cost of its campaigns, everyone else the whole board in its plain order. Every block is there
for every role; only the order changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

import pandas as pd
from django.db.models import Count, Max
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from leads import selectors as lead_selectors
from leads.models import SourceChannel, Stage
from metrics import selectors
from metrics.compute import Filters
from metrics.forms import CREATED, RangeFilterForm, filter_choices
from metrics.models import MetricFact
from metrics.scoreboard import KPI_BY_KEY, FunnelStep, Scoreboard, fold_edges, funnel, scoreboard
from revops import charts
from revops.dates import day_range
from revops.tenancy.access import organization_view
from revops.tenancy.models import Role
from sla import selectors as sla_selectors
from sla.models import TimerState, TimerTarget, VolumePeriodResult

TOP_MEMBERS = 12  # bars per breakdown chart; the largest members first

# Readable on a projector: 14 px at the least, dark ink on white, colours that differ in
# lightness too (so they survive a washed-out beamer and a black-and-white print).
FONT = charts.font(15)
GRID, BRAND, LIGHT, ORANGE, GREEN, RED = (
    "#e5e8eb",
    "#1f4e79",
    "#5499c7",
    "#b9770e",
    "#1e8449",
    "#b03a2e",
)
FUNNEL_COLOURS = ["#a9cce3", "#7fb3d5", "#5499c7", "#2e86c1", "#1f4e79", "#1e8449"]


# --- the drill-down ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Drill:
    """Links into the lead list with the dashboard's filters (leads/forms.py LeadFilterForm)."""

    base: str
    first_day: date
    last_day: date
    filters: Filters

    def url(
        self,
        *,
        reached: str = "",
        stage: str = "",
        first: date | None = None,
        last: date | None = None,
        dated: bool = True,
        **members: str,
    ) -> str:
        params = {
            "source": self.filters.channel,
            "campaign": self.filters.campaign,
            "segment": self.filters.segment,
            "team": self.filters.team,
        }
        params.update({"source" if k == "channel" else k: v for k, v in members.items()})
        if dated:
            params["since"] = (first or self.first_day).isoformat()
            params["until"] = (last or self.last_day).isoformat()
        params.update(reached=reached, stage=stage)
        return f"{self.base}?{urlencode({k: v for k, v in params.items() if v})}"

    def week(self, week_end: date, **kwargs) -> str:
        """The week ending `week_end`, clipped to the range (its first week may be partial)."""
        first = max(self.first_day, week_end - timedelta(days=6))
        return self.url(first=first, last=week_end, **kwargs)


# --- the tiles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TileSpec:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    hint: str  # why there may be no data, and what fixes it
    drill: Mapping[str, str]  # lead list parameters
    weekly: bool  # a column of Scoreboard.weekly: a sparkline


def _kpi(key: str, hint: str, drill: Mapping[str, str]) -> TileSpec:
    kpi = KPI_BY_KEY[key]
    return TileSpec(key, kpi.label, kpi.unit, kpi.higher_is_better, hint, drill, True)


WON = {"reached": Stage.WON}
TILES = [
    TileSpec(
        "velocity",
        "Pipeline velocity",
        "money_per_day",
        True,
        "Needs deals closed in the range (win rate, deal size and cycle).",
        {"stage": Stage.OPPORTUNITY},
        True,
    ),
    _kpi("cpa_fully_loaded", "No customer won in this range, or no spend and cost recorded.", WON),
    TileSpec(
        "clv",
        "CLV (simple)",
        "money",
        True,
        "Needs a gross margin, subscribers in the range and one lost in the past year"
        " (Spend & costs).",
        WON,
        False,
    ),
    TileSpec("ltv_to_cac", "LTV:CAC", "ratio", True, "Needs a CLV and a CPA.", WON, False),
    _kpi("mqls", "", {"reached": Stage.MQL}),
    _kpi("sqls", "", {"reached": Stage.SQL}),
    _kpi("mql_to_sql", "No MQL in this range.", {"reached": Stage.SQL}),
    _kpi("sql_acceptance", "No SQL handed to sales in this range.", {"reached": Stage.ACCEPTED}),
    _kpi("win_rate", "No deal closed in this range.", WON),
    _kpi("sales_cycle_days", "No deal won in this range.", WON),
    TileSpec(
        "response_p50_hours",
        "Lead response time (median)",
        "hours",
        False,
        "No follow-up was met in this range.",
        {"reached": Stage.SQL},
        False,
    ),
    _kpi("sla_compliance", "No follow-up deadline fell due in this range.", {"reached": Stage.SQL}),
    _kpi("quality_score", "No lead was rated in this range.", {}),
]
# Figures the snapshot cannot split by a lead filter (docs/metrics.md, "Scoreboard").
FILTERED_HINTS = {
    "cpa_fully_loaded": "Not split by filters: sales cost has no channel, campaign or segment.",
    "clv": "Not split by filters: customers and revenue are not tied to leads.",
    "ltv_to_cac": "Not split by filters: customers and revenue are not tied to leads.",
}


@dataclass
class Tile:
    spec: TileSpec
    value: float | None
    previous: float | None
    display: str
    url: str
    hint: str = ""
    change: str = ""
    direction: str = ""  # up, down, flat ("" without two values to compare)
    verdict: str = ""  # good, bad, neutral
    spark: str = ""  # an SVG path
    spark_end: tuple[float, float] | None = None


def display(value: float | None, unit: str, currency: str) -> str:
    if value is None:
        return "No data"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "money":
        return f"{value:,.0f} {currency}"
    if unit == "money_per_day":
        return f"{value:,.0f} {currency}/day"
    if unit == "days":
        return f"{value:.1f} days"
    if unit == "hours":
        if value < 1:
            return "under 1 min" if value < 1 / 60 else f"{value * 60:.0f} min"
        return f"{value:.1f} h"
    if unit == "score":
        return f"{value:.2f} / 5"
    if unit == "ratio":
        return f"{value:.1f} : 1"
    return f"{value:,.2f}"


def change(value: float | None, previous: float | None, spec: TileSpec) -> tuple[str, str, str]:
    """(text, direction, verdict) of the change against the previous period."""
    if value is None or previous is None:
        return "", "", ""
    delta = value - previous
    if abs(delta) < 1e-9:
        return "no change", "flat", "neutral"
    direction = "up" if delta > 0 else "down"
    verdict = "good" if (delta > 0) == spec.higher_is_better else "bad"
    if spec.unit == "percent":
        text = f"{delta * 100:+.1f} pts"
    elif previous:
        text = f"{delta / abs(previous) * 100:+.0f}%"
    else:
        text = "up from 0" if delta > 0 else "down from 0"
    return text, direction, verdict


SPARK_W, SPARK_H = 120.0, 32.0


def sparkline(values: list[float | None]) -> tuple[str, tuple[float, float] | None]:
    """An SVG path through the weekly values (gaps where a week has no data) and its last
    point; nothing with fewer than two values."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return "", None
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = SPARK_W / (len(values) - 1)
    path, pen_down, end = [], False, None
    for index, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        end = (round(index * step, 1), round(SPARK_H - 3 - (value - low) / span * (SPARK_H - 6), 1))
        path.append(f"{'L' if pen_down else 'M'}{end[0]},{end[1]}")
        pen_down = True
    return " ".join(path), end


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _column(weekly: pd.DataFrame, key: str) -> list[float | None]:
    return [_num(v) for v in weekly[key]] if key in weekly.columns else []


def tiles(board: Scoreboard, drill: Drill, currency: str) -> list[Tile]:
    filtered = bool(board.filters.active())
    result = []
    for spec in TILES:
        value, previous = board.values.get(spec.key), board.previous.get(spec.key)
        # A current stage (open opportunities) has no dates; entries into a stage do.
        url = drill.url(dated="stage" not in spec.drill, **spec.drill)
        tile = Tile(spec, value, previous, display(value, spec.unit, currency), url)
        if value is None:
            tile.hint = FILTERED_HINTS.get(spec.key, spec.hint) if filtered else spec.hint
        tile.change, tile.direction, tile.verdict = change(value, previous, spec)
        if spec.weekly:
            tile.spark, tile.spark_end = sparkline(_column(board.weekly, spec.key))
        result.append(tile)
    return result


# --- charts -----------------------------------------------------------------------------------


@dataclass
class Chart:
    key: str
    title: str
    figure: dict | None = None
    caption: str = ""
    empty: str = "No data in this range."
    rows: list = field(default_factory=list)  # a table beside the chart, where useful

    @property
    def element_id(self) -> str:
        return f"figure-{self.key}"


def _axis(**extra) -> dict:
    return {
        "automargin": True,
        "gridcolor": GRID,
        "linecolor": "#5d6d7e",
        "zerolinecolor": GRID,
        "tickfont": FONT,
        "title": {"font": FONT},
        **extra,
    }


def _layout(xaxis: dict | None = None, yaxis: dict | None = None, **extra) -> dict:
    return charts.layout(15, {
        "height": 340, "margin": {"l": 16, "r": 16, "t": 12, "b": 16}, "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "font": FONT},
        "hoverlabel": {"font": {**FONT, "color": "#ffffff"}, "bgcolor": charts.INK},
        "xaxis": _axis(**(xaxis or {})), "yaxis": _axis(**(yaxis or {})), **extra,
    })  # fmt: skip


def _trace(kind: str, name: str, x: list, y: list, colour: str, links: list, hover: str,
           **extra) -> dict:  # fmt: skip
    """A bar or line trace whose points carry their drill-down link (customdata, or its first
    item) for static/js/dashboard.js."""
    trace = {"type": "bar", "marker": {"color": colour}} if kind == "bar" else {
        "type": "scatter", "mode": "lines+markers", "connectgaps": False,
        "line": {"color": colour, "width": 3}, "marker": {"color": colour, "size": 9},
    }  # fmt: skip
    return {**trace, "name": name, "x": x, "y": y, "customdata": links,
            "hovertemplate": f"{hover}<extra></extra>", **extra}  # fmt: skip


def _weeks(board: Scoreboard) -> list[date]:
    return list(board.weekly.index)


def _rounded(values: list[float | None], factor: float = 1.0) -> list[float | None]:
    return [None if v is None else round(v * factor, 2) for v in values]


WEEK_AXIS = {"type": "date", "tickformat": "%-d %b"}
WEEK = "Week to %{x|%-d %b}"
PERCENT_AXIS = {"range": [-3, 103], "ticksuffix": "%", "tickvals": [0, 25, 50, 75, 100]}


def _titled(text: str, **axis) -> dict:
    return {"rangemode": "tozero", "title": {"text": text, "font": FONT}, **axis}


def funnel_chart(steps: list[FunnelStep], drill: Drill) -> Chart:
    chart = Chart("funnel", "Funnel: stage conversion and drop-off",
                  caption="Leads entering each stage in the range, the share going on to the "
                  "next stage and the share lost there. Click a stage for its leads.")  # fmt: skip
    labels = dict(Stage.choices)
    for step in steps:
        exits = ", ".join(f"{labels[to].lower()} {n:,.0f}" for to, n in step.exits.items())
        chart.rows.append({"step": step, "url": drill.url(reached=step.stage), "exits": exits,
                           "next_label": labels.get(step.next_stage, "")})  # fmt: skip
    if not any(step.entered for step in steps):
        chart.empty = "No lead entered the funnel in this range."
        return chart
    texts, links = [], []
    for row in chart.rows:
        step, text, hover = row["step"], f"{row['step'].entered:,.0f}", ""
        if step.conversion is not None:
            text += f" | {step.conversion:.0%} to {row['next_label']}"
            hover = (f"{step.conversion:.1%} went on to {row['next_label']}, "
                     f"{step.drop_off:.1%} drop-off")  # fmt: skip
        if row["exits"]:
            hover += f"<br>Left: {row['exits']}"
        texts.append(text)
        links.append([row["url"], hover])
    trace = {
        "type": "funnel", "y": [step.label for step in steps], "x": [s.entered for s in steps],
        "text": texts, "textinfo": "text", "textposition": "auto", "textfont": FONT,
        "marker": {"color": FUNNEL_COLOURS[: len(steps)]}, "connector": {"fillcolor": "#eef1f4"},
        "customdata": links,
        "hovertemplate": "<b>%{y}</b>: %{x:,} entered<br>%{customdata[1]}<extra></extra>",
    }  # fmt: skip
    chart.figure = {"data": [trace], "layout": _layout(
        showlegend=False, height=380, xaxis={"visible": False},
        yaxis={"tickfont": {**FONT, "size": 16}})}  # fmt: skip
    return chart


def sql_targets(board: Scoreboard) -> list[float | None] | None:
    """Marketing's SQL target per week of the board (the SQL-volume commitment, sla/models.py):
    each period's target spread evenly over its days, summed per week. None when no period
    covers the range, or a filter cuts across the commitment (a campaign, a team, or a channel
    or segment the commitment is not split by)."""
    active = board.filters.active()
    split_by = {"channel": "source", "segment": "industry"}
    if len(active) > 1 or (active and next(iter(active)) not in split_by):
        return None
    start, end = day_range(board.first_day, board.last_day, timezone.get_current_timezone())
    periods = VolumePeriodResult.objects.filter(starts_at__lt=end, ends_at__gt=start).values_list(
        "starts_at", "ends_at", "target", "segment", "policy__segment_field"
    )
    days = pd.date_range(board.first_day, board.last_day, freq="D")
    daily = pd.Series(float("nan"), index=days)
    for starts_at, ends_at, target, segment, segment_field in periods:
        for name, member in active.items():  # at most one
            if segment_field != split_by[name] or segment.lower() != member.lower():
                break
        else:
            first = timezone.localtime(starts_at).date()
            last = timezone.localtime(ends_at - timedelta(microseconds=1)).date()
            span = slice(pd.Timestamp(max(first, board.first_day)),
                         pd.Timestamp(min(last, board.last_day)))  # fmt: skip
            daily.loc[span] = daily.loc[span].fillna(0.0) + target / ((last - first).days + 1)
    if daily.isna().all():
        return None
    anchor = days[-1].day_name()[:3].upper()  # the scoreboard's weeks (Scoreboard.weekly)
    weekly = daily.resample(f"W-{anchor}").sum(min_count=1)
    return [_num(weekly.get(pd.Timestamp(week))) for week in _weeks(board)]


def mql_sql_chart(board: Scoreboard, drill: Drill, targets: list[float | None] | None) -> Chart:
    chart = Chart("mql-sql", "MQLs and SQLs per week against the SQL target")
    weeks = _weeks(board)
    mqls, sqls = _column(board.weekly, "mqls"), _column(board.weekly, "sqls")
    if not any(mqls) and not any(sqls):
        chart.empty = "No MQL or SQL in this range."
        return chart
    x = [week.isoformat() for week in weeks]
    data = [
        _trace("bar", "MQLs", x, mqls, LIGHT, [drill.week(w, reached=Stage.MQL) for w in weeks],
               f"{WEEK}: %{{y:,}} MQLs"),
        _trace("bar", "SQLs", x, sqls, BRAND, [drill.week(w, reached=Stage.SQL) for w in weeks],
               f"{WEEK}: %{{y:,}} SQLs"),
    ]  # fmt: skip
    if targets is None:
        chart.caption = "No SQL target for this view (none set, or the filter cuts across it)."
    else:
        dashed = {"color": RED, "width": 3, "dash": "dash", "shape": "hvh"}
        data.append(_trace("line", "SQL target", x, _rounded(targets), RED, [],
                           "Target: %{y:.1f} SQLs", line=dashed))  # fmt: skip
        chart.caption = ("The target is marketing's SQL-volume commitment, each period's target "
                         "spread over its days.")  # fmt: skip
    chart.caption += " Click a bar for the leads of that week."
    chart.figure = {"data": data, "layout": _layout(barmode="group", xaxis=WEEK_AXIS,
                                                    yaxis=_titled("Leads"))}  # fmt: skip
    return chart


def sla_chart(board: Scoreboard, drill: Drill) -> Chart:
    chart = Chart("sla", "Follow-up SLA compliance per week",
                  caption="Follow-ups due that week met on time, of those with a known "
                  "outcome. Click a point for the SQLs of that week.")  # fmt: skip
    values = _column(board.weekly, "sla_compliance")
    if all(v is None for v in values):
        chart.empty = "No follow-up deadline fell due in this range."
        return chart
    weeks = _weeks(board)
    trace = _trace("line", "On time", [w.isoformat() for w in weeks], _rounded(values, 100),
                   GREEN, [drill.week(w, reached=Stage.SQL) for w in weeks],
                   f"{WEEK}: %{{y:.1f}}% on time")  # fmt: skip
    chart.figure = {"data": [trace], "layout": _layout(showlegend=False, xaxis=WEEK_AXIS,
                                                       yaxis=PERCENT_AXIS)}  # fmt: skip
    return chart


def velocity_chart(board: Scoreboard, drill: Drill, currency: str) -> Chart:
    chart = Chart("velocity", "Pipeline velocity per week",
                  caption="Open opportunities times win rate times average won deal, over the "
                  "average cycle; each week from its own closed deals. Click a point for the "
                  "deals won that week.")  # fmt: skip
    values = _column(board.weekly, "velocity")
    if all(v is None for v in values):
        chart.empty = "No deal closed in this range: velocity needs won deals."
        return chart
    weeks = _weeks(board)
    trace = _trace("line", "Velocity", [w.isoformat() for w in weeks], _rounded(values), BRAND,
                   [drill.week(w, reached=Stage.WON) for w in weeks],
                   f"{WEEK}: %{{y:,.0f}} {currency}/day")  # fmt: skip
    chart.figure = {"data": [trace], "layout": _layout(
        showlegend=False, xaxis=WEEK_AXIS, yaxis=_titled(f"{currency} per day"))}  # fmt: skip
    return chart


class Breakdowns:
    """Sums per member of a dimension (channel, campaign, segment) for the board's leads.

    Unfiltered, or filtered by that same dimension, they are the stored facts of the dimension
    (keeping only the chosen member); filtered by one other dimension, the stored facts of the
    pair (`selectors.by_member(within=...)`). With two filters or more the snapshot cannot
    answer: they are the range's days of the facts the scoreboard computed for the request."""

    def __init__(self, board: Scoreboard):
        self.board = board
        self._live: pd.Series | None = None

    def get(self, dimension: str, measures: list[str]) -> dict[str, dict[str, float]]:
        board, active = self.board, self.board.filters.active()
        if set(active) <= {dimension}:
            rows = selectors.by_member(board.first_day, board.last_day, measures, dimension)
            return {m: v for m, v in rows.items() if m == active.get(dimension, m)}
        if len(active) == 1:
            return selectors.by_member(board.first_day, board.last_day, measures, dimension,
                                       within=next(iter(active.items())))  # fmt: skip
        if self._live is None:
            facts = board.live_facts.astype({"day": str, "measure": str, "member": str})
            self._live = (
                facts[facts["day"] >= board.first_day.isoformat()]
                .groupby(["dimension", "member", "measure"])["value"]
                .sum()
            )
        mine = self._live[self._live.index.get_level_values("dimension") == dimension]
        result: dict[str, dict[str, float]] = {}
        for member, sums in mine.droplevel("dimension").groupby(level="member"):
            folded = fold_edges(sums.droplevel("member").to_dict())
            result[member] = {measure: folded.get(measure, 0.0) for measure in measures}
        return result


def _top(rows: dict[str, dict[str, float]], key: Callable[[dict], float]) -> list:
    ordered = sorted(rows.items(), key=lambda item: (-key(item[1]), item[0]))
    return [item for item in ordered if key(item[1])][:TOP_MEMBERS]


def _categories(labels: list[str]) -> dict:
    """A category axis whose long names are shortened on the ticks (in full on hover), tilted
    when there are many."""
    short = [label if len(label) <= 20 else label[:18].rstrip() + "..." for label in labels]
    return {"tickangle": -30 if len(labels) > 4 else 0, "tickmode": "array", "tickvals": labels,
            "ticktext": short}  # fmt: skip


def quality_chart(key: str, title: str, dimension: str, breakdowns: Breakdowns, drill: Drill,
                  names: Mapping[str, str]) -> Chart:  # fmt: skip
    chart = Chart(key, title, caption="Bars: MQLs (left axis). Diamonds: sales' average rating "
                  "of the leads, 1 to 5 (right axis). Click a bar for its MQLs.")  # fmt: skip
    rows = breakdowns.get(dimension, ["entered_mql", "feedback_ratings", "feedback_rating_sum"])
    top = _top(rows, lambda sums: sums["entered_mql"] + sums["feedback_ratings"])
    if not top:
        chart.empty = "No MQL and no rating in this range."
        return chart
    labels = [names.get(member, member) for member, _sums in top]
    scores = [selectors.ratio(s["feedback_rating_sum"], s["feedback_ratings"]) for _m, s in top]
    links = [drill.url(reached=Stage.MQL, **{dimension: member}) for member, _sums in top]
    ratings = [[link, f"{s['feedback_ratings']:,.0f}"] for link, (_m, s) in
               zip(links, top, strict=True)]  # fmt: skip
    data = [
        _trace("bar", "MQLs", labels, [s["entered_mql"] for _m, s in top], LIGHT, links,
               "%{x}: %{y:,} MQLs"),
        _trace("line", "Average rating", labels, _rounded(scores), ORANGE, ratings,
               "%{x}: rated %{y:.2f} / 5 (%{customdata[1]} ratings)", mode="markers", yaxis="y2",
               marker={"color": ORANGE, "size": 15, "symbol": "diamond",
                       "line": {"color": charts.INK, "width": 1}}),
    ]  # fmt: skip
    rating_axis = _axis(
        overlaying="y",
        side="right",
        range=[0, 5.2],
        showgrid=False,
        tickvals=[1, 2, 3, 4, 5],
        title={"text": "Rating", "font": FONT},
    )
    chart.figure = {"data": data, "layout": _layout(
        xaxis=_categories(labels), yaxis=_titled("MQLs"), yaxis2=rating_axis)}  # fmt: skip
    return chart


def cpa_chart(first_day: date, last_day: date, filters: Filters, drill: Drill, currency: str,
              campaigns: Mapping[str, str]) -> Chart:  # fmt: skip
    chart = Chart("cpa", "CPA by channel",
                  caption="Cost per customer won: the marketing spend booked to the channel, "
                  "and fully loaded with its share of the sales cost (by customers). Click a bar "
                  "for the customers.")  # fmt: skip
    active = filters.active()
    if set(active) - {"channel", "campaign"} or len(active) > 1:
        chart.empty = ("Not available with this filter: spend is booked to a channel and a "
                       "campaign, not to a segment or a team.")  # fmt: skip
        return chart
    # Filtered by a campaign: that campaign's own CPA (its spend, its customers).
    dimension = "campaign" if "campaign" in active else "channel"
    names = campaigns if dimension == "campaign" else dict(SourceChannel.choices)
    if dimension == "campaign":
        chart.title = "CPA of the campaign"
    rows = [row for row in selectors.cpa(first_day, last_day, dimension=dimension)
            if row.label == active.get(dimension, row.label)]  # fmt: skip
    no_customer = [names.get(row.label, row.label) for row in rows if row.fully_loaded is None]
    if no_customer:
        chart.caption += f" With spend but no customer yet: {', '.join(no_customer)}."
    rows = [row for row in rows if row.fully_loaded is not None]
    if not rows:
        chart.empty = "No customer won in this range: a CPA needs customers."
        return chart
    labels = [names.get(row.label, row.label) for row in rows]
    links = [drill.url(reached=Stage.WON, **{dimension: row.label}) for row in rows]
    customers = [[link, f"{row.customers:,.0f}"] for link, row in zip(links, rows, strict=True)]
    money = f"%{{x}}: %{{y:,.0f}} {currency}"
    data = [
        _trace("bar", "Marketing spend only", labels, _rounded([r.marketing_only for r in rows]),
               LIGHT, customers, f"{money} marketing only, %{{customdata[1]}} customers"),
        _trace("bar", "Fully loaded", labels, _rounded([r.fully_loaded for r in rows]), BRAND,
               customers, f"{money} fully loaded, %{{customdata[1]}} customers"),
    ]  # fmt: skip
    chart.figure = {"data": data, "layout": _layout(
        barmode="group", xaxis=_categories(labels), yaxis=_titled(currency))}  # fmt: skip
    return chart


def win_rate_chart(breakdowns: Breakdowns, drill: Drill) -> Chart:
    chart = Chart("win-rate", "Win rate by segment",
                  caption="Deals won of those closed in the range, per segment (the lead's "
                  "industry). Click a bar for the deals won.")  # fmt: skip
    rows = breakdowns.get("segment", ["won_deals", "lost_deals"])
    top = _top(rows, lambda sums: sums["won_deals"] + sums["lost_deals"])
    if not top:
        chart.empty = "No deal closed in this range."
        return chart
    closed = [s["won_deals"] + s["lost_deals"] for _m, s in top]
    rates = [s["won_deals"] / n for (_m, s), n in zip(top, closed, strict=True)]
    links = [[drill.url(reached=Stage.WON, segment=m), f"{s['won_deals']:,.0f} won of {n:,.0f}"]
             for (m, s), n in zip(top, closed, strict=True)]  # fmt: skip
    labels = [member for member, _s in top]
    trace = _trace("bar", "Win rate", labels, _rounded(rates, 100), GREEN, links,
                   "%{x}: %{y:.0f}%, %{customdata[1]} closed", text=[f"{r:.0%}" for r in rates],
                   textposition="outside", textfont=FONT, cliponaxis=False,
                   constraintext="none")  # fmt: skip
    chart.figure = {"data": [trace], "layout": _layout(
        showlegend=False, xaxis=_categories(labels),
        yaxis={**PERCENT_AXIS, "range": [0, 112]})}  # fmt: skip
    return chart


# --- the sales rep's standing -----------------------------------------------------------------


def rep_standing(user, first_day: date, last_day: date) -> dict:
    """A rep's queue and follow-up SLA standing: open SQLs, their compliance in the range and
    the breached follow-ups still open (three small queries)."""
    start, end = day_range(first_day, last_day, timezone.get_current_timezone())
    mine = (
        sla_selectors.counted_timers(start, end)
        .filter(owner=user, target=TimerTarget.FOLLOW_UP)
        .aggregate(on_time=Count("id", filter=sla_selectors.ON_TIME),
                   breached=Count("id", filter=sla_selectors.BREACHED))
    )  # fmt: skip
    return {
        "open_sqls": lead_selectors.rep_queue(rep=user).count(),
        "compliance": sla_selectors.Compliance(user.email, mine["on_time"], mine["breached"]),
        "breached_open": sla_selectors.timers(
            state=TimerState.BREACHED, target=TimerTarget.FOLLOW_UP, owner_id=user.pk
        ).count(),
    }


# --- the page ---------------------------------------------------------------------------------

# The blocks in each role's order: their own work first, then the rest of the board.
EVERYTHING = "tiles funnel mql-sql sla velocity cpa quality-channel quality-campaign win-rate"
ORDER = {
    Role.SALES: "rep tiles sla win-rate velocity funnel mql-sql cpa quality-channel "
    "quality-campaign",
    Role.MARKETING: "quality-campaign quality-channel cpa mql-sql tiles funnel sla velocity "
    "win-rate",
}


def _snapshot_day() -> date | None:
    """The last day with computed facts (the organization's leads created that day or before)."""
    return MetricFact.objects.filter(measure__in=CREATED, dimension="").aggregate(day=Max("day"))[
        "day"
    ]


def board_context(
    request, first_day: date, last_day: date, filters: Filters, choices: dict
) -> dict:
    currency = request.organization.currency
    drill = Drill(
        reverse("lead_list", args=[request.organization.slug]), first_day, last_day, filters
    )
    board = scoreboard(first_day, last_day, filters)
    breakdowns = Breakdowns(board)
    channel_names = dict(SourceChannel.choices)
    board_charts = [
        funnel_chart(funnel(first_day, last_day, filters, sums=board.sums), drill),
        mql_sql_chart(board, drill, sql_targets(board)),
        sla_chart(board, drill),
        velocity_chart(board, drill, currency),
        cpa_chart(first_day, last_day, filters, drill, currency, choices["campaigns"]),
        quality_chart(
            "quality-channel", "Lead quality by source", "channel", breakdowns, drill, channel_names
        ),
        quality_chart(
            "quality-campaign",
            "Lead quality by campaign",
            "campaign",
            breakdowns,
            drill,
            choices["campaigns"],
        ),
        win_rate_chart(breakdowns, drill),
    ]
    blocks = {
        chart.key: {
            "kind": "funnel" if chart.key == "funnel" else "chart",
            "key": chart.key,
            "chart": chart,
        }
        for chart in board_charts
    }
    blocks["tiles"] = {"kind": "tiles", "key": "tiles"}
    role = request.membership.role
    if role == Role.SALES:
        blocks["rep"] = {
            "kind": "rep",
            "key": "rep",
            "rep": rep_standing(request.user, first_day, last_day),
        }
    return {
        "board": board,
        "tiles": tiles(board, drill, currency),
        "blocks": [blocks[key] for key in ORDER.get(role, EVERYTHING).split()],
        "previous_first": board.previous_range[0],
        "previous_last": board.previous_range[1],
        "org_compliance": board.values.get("sla_compliance"),
    }


@require_safe
@organization_view
def dashboard(request):
    today = timezone.localdate()  # the organization's (organization_view sets its time zone)
    choices = filter_choices()  # the campaigns' names label the charts too
    form = RangeFilterForm(request.GET, today=today, **choices)
    context = {
        "form": form,
        "has_facts": MetricFact.objects.exists(),
        "is_admin": request.membership.is_admin,
        "may_import": request.membership.role in (Role.ADMIN, Role.MARKETING),
    }
    if not form.is_valid():
        return render(request, "metrics/dashboard.html", context, status=400)
    first_day, last_day = form.window()
    filters = form.filters()
    context.update(
        first_day=first_day,
        last_day=last_day,
        filters=filters,
        days=(last_day - first_day).days + 1,
    )
    if context["has_facts"]:
        context["snapshot_day"] = _snapshot_day()
        context.update(board_context(request, first_day, last_day, filters, choices))
    elif request.membership.role == Role.SALES:
        context["rep"] = rep_standing(request.user, first_day, last_day)
    return render(request, "metrics/dashboard.html", context)
