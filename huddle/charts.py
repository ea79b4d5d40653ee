"""The huddle's charts and their CSV, both drawn from the huddle's figures record, so the chart on
the screen, its PNG and its CSV always show the same numbers (the frozen ones for a past week).

Figures are plain plotly JSON dicts rather than `plotly.graph_objects` (which validates every
property and costs tens of milliseconds per figure): plotly.js reads the same dicts.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, timedelta

from huddle.models import Section
from huddle.selectors import TEAMS
from revops import charts

COLOURS = {"Sales": "#1f4e79", "Marketing": "#b9770e", "ratings": "#1f4e79",
           "rejections": "#b03a2e", "velocity": "#1f4e79", "open": "#7f8c8d"}  # fmt: skip
TOP_ROWS = 10  # bars per category chart; the CSV has them all


def _count_axis(values, **extra) -> dict:
    """An axis of counts: whole-number ticks, about five of them."""
    top = max([v for v in values if v is not None] or [0])
    return {"rangemode": "tozero", "dtick": max(1, math.ceil(top / 5)), "tickformat": ",d",
            **extra}  # fmt: skip


# name → (section, title, CSV header)
CHARTS = {
    "pipeline": (Section.PIPELINE, "Pipeline velocity per week",
                 ["week_end", "velocity_per_day", "open_opportunities", "win_rate", "mqls",
                  "sqls", "won_value"]),
    "feedback": (Section.FEEDBACK, "Ratings and rejections by campaign",
                 ["campaign", "ratings", "average_score", "rejections"]),
    "rejections": (Section.FEEDBACK, "Rejection reasons",
                   ["reason", "rejections"]),
    "sla": (Section.SLA, "SLA compliance per week",
            ["week_end", "team", "on_time", "breached", "compliance_percent"]),
}  # fmt: skip


def _layout(**extra) -> dict:
    # Transparent paper: the chart sits on the slide's own background.
    return charts.layout(16, {"height": 380, "margin": {"l": 64, "r": 64, "t": 16, "b": 48},
                              "legend": {"orientation": "h", "y": -0.2},
                              "paper_bgcolor": "rgba(0,0,0,0)", **extra})  # fmt: skip


def chart_rows(figures: dict, chart: str) -> list[list]:
    """The chart's data as CSV rows (without the header)."""
    if chart == "pipeline":
        return [
            [w["week_end"], w["velocity"], w["open_opportunities"], w["win_rate"], w["mqls"],
             w["sqls"], w["won_value"]]
            for w in figures["pipeline"]["weekly"]
        ]  # fmt: skip
    if chart == "feedback":
        return [
            [r["campaign"], r["ratings"], r["average"], r["rejections"]]
            for r in figures["feedback"]["by_campaign"]
        ]
    if chart == "rejections":
        return [[r["reason"], r["count"]] for r in figures["feedback"]["reasons"]]
    if chart == "sla":
        return [
            [r["week_end"], r["team"], r["on_time"], r["breached"], r["percent"]]
            for r in figures["sla"]["trend"]
        ]
    raise KeyError(chart)


def _safe_cell(value):
    """Spreadsheets run a cell starting with = + - @ as a formula: a campaign named
    "=HYPERLINK(...)" must stay text (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def chart_csv(figures: dict, chart: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CHARTS[chart][2])
    for row in chart_rows(figures, chart):
        writer.writerow([_safe_cell(value) for value in row])
    return out.getvalue()


def chart_figure(figures: dict, chart: str) -> dict | None:
    """The plotly figure of a chart; None when it has nothing to draw."""
    return {"pipeline": _pipeline, "feedback": _feedback, "rejections": _rejections,
            "sla": _sla}[chart](figures)  # fmt: skip


def _pipeline(figures: dict) -> dict | None:
    weeks = figures["pipeline"]["weekly"]
    if not weeks:
        return None
    x = [w["week_end"] for w in weeks]
    currency = figures.get("currency", "")
    return {
        "data": [
            {"type": "bar", "name": f"Velocity ({currency}/day)", "x": x,
             "y": [w["velocity"] for w in weeks], "marker": {"color": COLOURS["velocity"]},
             "hovertemplate": "%{y:,.0f} " + currency + " a day<extra>week to %{x}</extra>"},
            {"type": "scatter", "mode": "lines+markers", "name": "Open opportunities", "x": x,
             "y": [w["open_opportunities"] for w in weeks], "yaxis": "y2",
             "line": {"width": 3, "color": COLOURS["open"]}, "marker": {"size": 8},
             "hovertemplate": "%{y:,.0f} open<extra>end of week to %{x}</extra>"},
        ],
        "layout": _layout(
            xaxis={"type": "date", "tickformat": "%-d %b", "tickvals": x, "title": None},
            yaxis={"title": {"text": f"{currency} per day"}, "rangemode": "tozero"},
            yaxis2=_count_axis([w["open_opportunities"] for w in weeks],
                               title={"text": "Open opportunities"}, overlaying="y",
                               side="right", showgrid=False),
        ),
    }  # fmt: skip


def _feedback(figures: dict) -> dict | None:
    rows = figures["feedback"]["by_campaign"][:TOP_ROWS]
    if not rows:
        return None
    names = [r["campaign"] for r in rows][::-1]  # largest at the top
    averages = [
        "no ratings" if r["average"] is None else f"average {r['average']:.1f}/5" for r in rows
    ][::-1]
    return {
        "data": [
            {"type": "bar", "orientation": "h", "name": "Ratings", "y": names,
             "x": [r["ratings"] for r in rows][::-1], "customdata": averages,
             "marker": {"color": COLOURS["ratings"]},
             "hovertemplate": "%{x} ratings, %{customdata}<extra>%{y}</extra>"},
            {"type": "bar", "orientation": "h", "name": "Rejections", "y": names,
             "x": [r["rejections"] for r in rows][::-1],
             "marker": {"color": COLOURS["rejections"]},
             "hovertemplate": "%{x} rejected<extra>%{y}</extra>"},
        ],
        "layout": _layout(barmode="group", bargap=0.35,
                          margin={"l": 180, "r": 24, "t": 16, "b": 48}, yaxis={"automargin": True},
                          xaxis=_count_axis([r["ratings"] for r in rows]
                                            + [r["rejections"] for r in rows])),
    }  # fmt: skip


def _rejections(figures: dict) -> dict | None:
    rows = figures["feedback"]["reasons"][:TOP_ROWS]
    if not rows:
        return None
    return {
        "data": [
            {"type": "bar", "orientation": "h", "name": "Rejections",
             "y": [r["reason"] for r in rows][::-1], "x": [r["count"] for r in rows][::-1],
             "marker": {"color": COLOURS["rejections"]},
             "hovertemplate": "%{x} rejected<extra>%{y}</extra>"},
        ],
        "layout": _layout(showlegend=False, bargap=0.35,
                          margin={"l": 180, "r": 24, "t": 16, "b": 48}, yaxis={"automargin": True},
                          xaxis=_count_axis([r["count"] for r in rows])),
    }  # fmt: skip


def _sla(figures: dict) -> dict | None:
    trend = figures["sla"]["trend"]
    if not any(r["on_time"] or r["breached"] for r in trend):
        return None
    weeks = sorted({r["week_end"] for r in trend})
    data = []
    for team in TEAMS:
        mine = [r for r in trend if r["team"] == team]
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": team,
            "x": [r["week_end"] for r in mine], "y": [r["percent"] for r in mine],
            "customdata": [[r["on_time"], r["breached"]] for r in mine],
            "line": {"width": 4, "color": COLOURS[team]}, "marker": {"size": 10},
            "hovertemplate": "%{y:.1f}% on time<br>%{customdata[0]} on time, "
                             "%{customdata[1]} breached<extra>" + team + ", week to %{x}</extra>",
        })  # fmt: skip
    pad = timedelta(days=3)
    return {
        "data": data,
        "layout": _layout(
            xaxis={"type": "date", "tickformat": "%-d %b", "title": None, "tickvals": weeks,
                   "range": [(date.fromisoformat(weeks[0]) - pad).isoformat(),
                             (date.fromisoformat(weeks[-1]) + pad).isoformat()]},
            yaxis={"range": [-4, 104], "tickvals": [0, 25, 50, 75, 100],
                   "ticktext": ["0%", "25%", "50%", "75%", "100%"], "title": None},
        ),
    }  # fmt: skip
