"""The customer journey map, /o/<slug>/journey/: where leads enter, how they move through the
stages, where they drop off and the reasons given, and how long each step takes, for a date range
and filters (docs/metrics.md, "Customer journey map").

- `journey()` is the read: it assembles the figures from the snapshot through `metrics.scoreboard`
  (the range's `moved_<from>_<to>` sums, the exit reasons, the step durations) and counts the
  range's new leads by channel, campaign and landing page (`entries`).
- `journey_figure()` draws it as a plotly Sankey, built here and drawn by static/js/journey.js.
- `metrics.forms.RangeFilterForm` (the dashboard's too) parses the query string (range, dates,
  channel, campaign, segment, team), so a view can be shared as a link; the view only translates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import plotly.graph_objects as go
from django.db.models import CharField, Count, F, Func, Sum, Value
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from leads.models import Campaign, LeadTransition, SourceChannel, Stage
from leads.selectors import members_q
from metrics.compute import EXIT_STAGES, NO_FILTERS, Filters
from metrics.forms import FILTER_NAMES, RangeFilterForm, filter_choices
from metrics.models import MetricFact
from metrics.scoreboard import (
    FUNNEL_PATH,
    exit_reasons,
    last_computed_day,
    range_sums,
    window_stats,
)
from metrics.selectors import ratio
from revops import charts
from revops.dates import day_range
from revops.tenancy.access import organization_view
from revops.tenancy.context import current_organization

TOP_ENTRIES = 8  # campaigns and landing pages listed; the rest add up to one row
TOP_REASONS = 3  # reasons shown per exit in the steps table; the full list is below it
STAGE_LABELS = dict(Stage.choices)
CHANNEL_LABELS = dict(SourceChannel.choices)
NEW_MEASURE = "moved_start_new"  # a lead's creation: its entry into the journey


# --- the read ---------------------------------------------------------------------------------


def _percent(share: float | None) -> float | None:
    """A share as a percentage, for templates (which cannot multiply)."""
    return None if share is None else 100 * share


@dataclass(frozen=True)
class Entry:
    """New leads of one channel, campaign or landing page."""

    key: str
    label: str
    count: float
    share: float | None  # of the range's new leads

    @property
    def share_percent(self) -> float | None:
        return _percent(self.share)


@dataclass(frozen=True)
class Exit:
    """Moves from a stage into an exit stage, and the reasons given for them."""

    stage: str
    label: str
    count: float
    share: float | None  # of the stage's entries
    reasons: list[tuple[str, float]]  # largest first; "" = no reason recorded

    @property
    def share_percent(self) -> float | None:
        # Over 100%: leads that entered before the range left in it; not a share to show.
        return _percent(self.share) if self.share is not None and self.share <= 1 else None

    @property
    def top_reasons(self) -> list[tuple[str, float]]:
        return self.reasons[:TOP_REASONS]

    @property
    def more_reasons(self) -> float:
        return sum(count for _, count in self.reasons[TOP_REASONS:])


@dataclass(frozen=True)
class Step:
    """One stage of the main path and its step to the next stage."""

    stage: str
    label: str
    entered: float  # entries into the stage (every edge into it) in the range
    next_stage: str | None
    # Entries into the next stage (None for won): the dashboard's stage-to-stage conversion. Into
    # MQL they include leads re-engaged from an exit, which the map draws as their own flow.
    converted: float | None
    conversion: float | None  # converted / entered
    exits: list[Exit]
    days_count: int  # moves to the next stage with a known time in the stage
    days_p50: float | None
    days_p90: float | None

    @property
    def next_label(self) -> str:
        return STAGE_LABELS[self.next_stage] if self.next_stage else ""

    @property
    def drop_off(self) -> float | None:
        """Share of the entries that did not move on to the next stage within the range (they
        left by an exit or are still in the stage). No data when more leads moved on than
        entered: leads that entered before the range moved on in it."""
        if self.conversion is None or self.conversion > 1:
            return None
        return 1 - self.conversion

    @property
    def conversion_percent(self) -> float | None:
        return _percent(self.conversion)

    @property
    def drop_off_percent(self) -> float | None:
        return _percent(self.drop_off)


@dataclass
class Journey:
    first_day: date
    last_day: date
    filters: Filters
    edges: dict[tuple[str, str], float]  # (from, to) -> moves in the range; from "start": creation
    steps: list[Step]
    channels: list[Entry]
    campaigns: list[Entry]
    landing_pages: list[Entry]
    exits: list[Exit] = field(default_factory=list)  # per exit stage, from every main-path stage

    @property
    def new_leads(self) -> float:
        return self.edges.get(("start", Stage.NEW), 0.0)

    @property
    def reengaged(self) -> float:
        """Moves back into MQL from an exit (nurture, rejected...): re-entries, not new leads."""
        return sum(self.edges.get((exit, Stage.MQL), 0.0) for exit in EXIT_STAGES)

    @property
    def has_data(self) -> bool:
        return any(self.edges.values())


def _edges(sums: dict[str, float]) -> dict[tuple[str, str], float]:
    """moved_<from>_<to> sums as (from, to) pairs; stage names hold no underscore."""
    edges = {}
    for measure, value in sums.items():
        if measure.startswith("moved_") and value:
            source, target = measure.removeprefix("moved_").split("_", 1)
            edges[(source, target)] = float(value)
    return edges


def _reasons(first_day: date, last_day: date, filters: Filters) -> dict[tuple[str, str], dict]:
    """(from stage, exit stage) -> reason -> count."""
    found: dict[tuple[str, str], dict[str, float]] = {}
    for row in exit_reasons(first_day, last_day, filters).itertuples(index=False):
        found.setdefault((row.from_stage, row.to_stage), {})[row.reason] = float(row.count)
    return found


def _exit(stage: str, count: float, entered: float, reasons: dict[str, float]) -> Exit:
    # Reasons are counted only where one was given; the rest of the moves had none recorded.
    given = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    missing = count - sum(reasons.values())
    if missing > 0:
        given.append(("", missing))
    return Exit(stage, STAGE_LABELS[stage], count, ratio(count, entered), given)


def _stat(stats, figure: str, column: str) -> float | None:
    if figure not in stats.index:
        return None
    value = stats.at[figure, column]
    return None if value is None or value != value else float(value)  # NaN: no data


def journey(first_day: date, last_day: date, filters: Filters = NO_FILTERS) -> Journey:
    """The journey of the range: every edge's moves, each main-path step with its conversion,
    exits, reasons and durations, and where the range's new leads came from."""
    sums = range_sums(first_day, last_day, filters)
    edges = _edges(sums)
    reasons = _reasons(first_day, last_day, filters)
    stats = window_stats(first_day, last_day, filters)
    steps = []
    for index, stage in enumerate(FUNNEL_PATH):
        following = FUNNEL_PATH[index + 1] if index + 1 < len(FUNNEL_PATH) else None
        entered = sums.get(f"entered_{stage}", 0.0)
        converted = sums.get(f"entered_{following}", 0.0) if following else None
        exits = [
            _exit(exit, edges[(stage, exit)], entered, reasons.get((stage, exit), {}))
            for exit in EXIT_STAGES
            if edges.get((stage, exit))
        ]
        figure = f"step_days_{stage}_{following}"
        count = _stat(stats, figure, "count") if following else None
        steps.append(Step(
            stage=stage, label=STAGE_LABELS[stage], entered=entered, next_stage=following,
            converted=converted, conversion=ratio(converted, entered) if following else None,
            exits=exits, days_count=int(count or 0),
            days_p50=_stat(stats, figure, "p50") if following else None,
            days_p90=_stat(stats, figure, "p90") if following else None,
        ))  # fmt: skip
    # Why leads left: the steps' exits summed per exit stage. Moves between exits (a lost deal
    # put back into nurture) are recycling, not leaving, and are not counted.
    by_exit = []
    for exit in EXIT_STAGES:
        moves = [e for step in steps for e in step.exits if e.stage == exit]
        if moves:
            merged: dict[str, float] = {}
            for move in moves:
                for reason, count in move.reasons:
                    merged[reason] = merged.get(reason, 0.0) + count
            total = sum(move.count for move in moves)
            given = {reason: count for reason, count in merged.items() if reason}
            by_exit.append(_exit(exit, total, 0.0, given))  # over several stages: no share
    channels, campaigns, pages = entries(first_day, last_day, filters,
                                         new_leads=sums.get(NEW_MEASURE, 0.0))  # fmt: skip
    return Journey(first_day, last_day, filters, edges, steps, channels, campaigns, pages,
                   by_exit)  # fmt: skip


def _split_off(path):
    # The page's path without its query string or fragment: utm_* parameters would otherwise
    # make every visit a landing page of its own.
    stripped = Func(path, Value("?"), Value(1), function="split_part", output_field=CharField())
    return Func(stripped, Value("#"), Value(1), function="split_part", output_field=CharField())


def entries(
    first_day: date, last_day: date, filters: Filters = NO_FILTERS, *,
    new_leads: float | None = None,
) -> tuple[list[Entry], list[Entry], list[Entry]]:  # fmt: skip
    """The range's new leads (their creation) by channel, campaign and landing page.

    Unfiltered, channel and campaign come from the snapshot's per-member facts (the same
    `moved_start_new` the map starts from). The snapshot holds one dimension at a time and has
    no landing page, so landing pages, and every breakdown under a filter, are a live grouped
    count of the creations in the range, read through the (organization, to_stage, at)
    transition index. `new_leads`: the range's `moved_start_new` total, when already read."""
    start, end = day_range(first_day, last_day, current_organization().timezone)
    created = LeadTransition.objects.filter(from_stage="", to_stage=Stage.NEW, at__gte=start,
                                            at__lt=end)  # fmt: skip
    active = filters.active()
    created = created.filter(members_q(**active, path="lead__"))
    rows = list(
        created.values(channel=F("lead__source"), campaign=F("lead__campaign_id"),
                       page=_split_off(F("lead__landing_page")))
        .annotate(count=Count("id"))
        .order_by()
    )  # fmt: skip
    by_channel: dict[str, float] = {}
    by_campaign: dict[str, float] = {}
    by_page: dict[str, float] = {}
    for row in rows:
        by_channel[row["channel"]] = by_channel.get(row["channel"], 0.0) + row["count"]
        campaign = str(row["campaign"]) if row["campaign"] is not None else ""
        by_campaign[campaign] = by_campaign.get(campaign, 0.0) + row["count"]
        by_page[row["page"]] = by_page.get(row["page"], 0.0) + row["count"]
    total = sum(by_channel.values())
    if not active:
        stored = (
            MetricFact.objects.filter(day__gte=first_day, day__lte=last_day, measure=NEW_MEASURE,
                                      dimension__in=["channel", "campaign"])
            .values_list("dimension", "member")
            .annotate(total=Sum("value"))
        )  # fmt: skip
        by_channel, by_campaign = {}, {}
        for dimension, member, value in stored:
            (by_channel if dimension == "channel" else by_campaign)[member] = value
        if new_leads is None:
            new_leads = range_sums(first_day, last_day).get(NEW_MEASURE, 0.0)
        total = new_leads
        # A lead without a campaign counts in the total only (docs/metrics.md).
        without = total - sum(by_campaign.values())
        if without > 0:
            by_campaign[""] = without
    names = dict(
        Campaign.objects.filter(pk__in=[int(key) for key in by_campaign if key]).values_list(
            "pk", "name"
        )
    )
    channels = _ranked(by_channel, total, lambda key: CHANNEL_LABELS.get(key, key), limit=None)
    campaigns = _ranked(
        by_campaign, total,
        lambda key: names.get(int(key), f"Campaign #{key} (deleted)") if key else "No campaign",
    )  # fmt: skip
    pages = _ranked(by_page, sum(by_page.values()), lambda key: key or "No landing page")
    return channels, campaigns, pages


def _ranked(counts: dict[str, float], total: float, label, limit: int | None = TOP_ENTRIES):
    """Largest first, at most `limit` rows and one adding up the rest; the leads without a
    member (key "": no campaign, no landing page) last."""
    ordered = sorted(
        ((key, count) for key, count in counts.items() if count and key),
        key=lambda item: (-item[1], label(item[0])),
    )
    shown = ordered if limit is None else ordered[:limit]
    ranked = [Entry(key, label(key), count, ratio(count, total)) for key, count in shown]
    rest = sum(count for _, count in ordered[len(shown) :])
    if rest:
        others = len(ordered) - len(shown)
        ranked.append(Entry("", f"{others} more", rest, ratio(rest, total)))
    if counts.get(""):
        ranked.append(Entry("", label(""), counts[""], ratio(counts[""], total)))
    return ranked


# --- the Sankey -------------------------------------------------------------------------------

PATH_COLOUR = "#1f4e79"
WON_COLOUR = "#1e8449"
EXIT_COLOURS = {Stage.REJECTED: "#c0392b", Stage.LOST: "#922b21", Stage.NURTURE: "#b9770e",
                Stage.DISQUALIFIED: "#6c3483"}  # fmt: skip
REENGAGED_COLOUR = "#5d6d7e"
# Colour-blind-safe categorical colours (Tableau 10) for the entry channels.
CHANNEL_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                   "#9c755f", "#bab0ac"]  # fmt: skip
COLUMNS = len(FUNNEL_PATH)  # entry channels, then one column per main-path stage
HEIGHT, MARGIN, PAD = 560, 12, 18  # px: the chart, its top and bottom margins, between nodes
GAP = PAD / (HEIGHT - 2 * MARGIN)  # the same space between nodes, as a share of the plot
# Node labels in the chart, where the stage's own name is too long to sit beside a band.
CHART_LABELS = {**STAGE_LABELS, Stage.REJECTED: "Rejected"}


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def journey_figure(data: Journey) -> dict | None:
    """The journey as a Sankey: entry channels → New → MQL → SQL → Accepted → Opportunity → Won,
    each stage's exits in the next column below the stage it leads to, and leads re-engaged from
    an exit flowing back into MQL. Nodes are placed by column so exits sit where they happen."""
    if not data.has_data:
        return None
    nodes: list[dict] = []  # label, colour, column, rank in the column, flows in and out
    links: list[dict] = []  # source, target, value, colour, note
    index: dict[str, int] = {}

    def node(key: str, label: str, colour: str, column: int, rank: int) -> int:
        if key not in index:
            index[key] = len(nodes)
            nodes.append({"label": label, "colour": colour, "column": column, "rank": rank,
                          "in": 0.0, "out": 0.0})  # fmt: skip
        return index[key]

    def link(source: tuple, target: tuple, value: float, colour: str, note: str) -> None:
        # Nodes are made only for flows that happened: no empty stage in the chart.
        if value <= 0:
            return
        first, second = node(*source), node(*target)
        links.append({"source": first, "target": second, "value": value, "colour": colour,
                      "note": note})  # fmt: skip
        nodes[first]["out"] += value
        nodes[second]["in"] += value

    def stage(name: str, column: int) -> tuple:
        colour = WON_COLOUR if name == Stage.WON else PATH_COLOUR
        return (name, STAGE_LABELS[name], colour, column, 0)

    for number, entry in enumerate(data.channels):
        colour = CHANNEL_COLOURS[number % len(CHANNEL_COLOURS)]
        share = f"{entry.share:.0%} of new leads" if entry.share is not None else ""
        link((f"channel:{entry.key}", entry.label, colour, 0, number), stage(Stage.NEW, 1),
             entry.count, _rgba(colour, 0.45), share)  # fmt: skip
    for column, step in enumerate(data.steps, start=1):
        if step.next_stage:
            moved = data.edges.get((step.stage, step.next_stage), 0.0)
            share = ratio(moved, step.entered)
            note = f"{share:.0%} of {step.label}" if share is not None else ""
            colour = WON_COLOUR if step.next_stage == Stage.WON else PATH_COLOUR
            link(stage(step.stage, column), stage(step.next_stage, column + 1), moved,
                 _rgba(colour, 0.35), note)  # fmt: skip
        for exit in step.exits:
            colour = EXIT_COLOURS[exit.stage]
            note = f"{exit.share:.0%} of {step.label}" if exit.share is not None else ""
            target = (f"{step.stage}:{exit.stage}", CHART_LABELS[exit.stage], colour, column + 1,
                      1 + EXIT_STAGES.index(exit.stage))  # fmt: skip
            link(stage(step.stage, column), target, exit.count, _rgba(colour, 0.4), note)
    link(
        ("reengaged", "Re-engaged", REENGAGED_COLOUR, 1, 9),
        stage(Stage.MQL, 2),
        data.reengaged,
        _rgba(REENGAGED_COLOUR, 0.35),
        "back from an exit (nurture, rejected)",
    )

    for item in nodes:
        item["value"] = max(item["in"], item["out"])
    _place(nodes)
    fig = go.Figure(
        go.Sankey(
            arrangement="fixed",
            valueformat=",.0f",
            node={
                "label": [f"{n['label']} {_count(n['value'])}" for n in nodes],
                "color": [n["colour"] for n in nodes],
                "x": [n["x"] for n in nodes],
                "y": [n["y"] for n in nodes],
                "pad": PAD,
                "thickness": 22,
                "line": {"width": 0},
                "hovertemplate": "%{label}<extra></extra>",
            },
            link={
                "source": [item["source"] for item in links],
                "target": [item["target"] for item in links],
                "value": [item["value"] for item in links],
                "color": [item["colour"] for item in links],
                "customdata": [item["note"] for item in links],
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,.0f} leads"
                "<br>%{customdata}<extra></extra>",
            },
            textfont=charts.font(15),
        )
    )
    margin = {"l": 8, "r": 8, "t": MARGIN, "b": MARGIN}
    fig.update_layout(**charts.layout(15, {"height": HEIGHT, "margin": margin}))
    return json.loads(fig.to_json())


def _place(nodes: list[dict]) -> None:
    """x by column; y stacked top-down in each column (the main-path stage first, its exits
    below), scaled so the fullest column fills the height. plotly reads y as a node's centre."""
    columns: dict[int, list[dict]] = {}
    for item in nodes:
        columns.setdefault(item["column"], []).append(item)
    # The scale plotly itself draws with: the tightest column, its gaps taken out, fills the height.
    scale = min(
        (1 - GAP * (len(items) - 1)) / (sum(item["value"] for item in items) or 1.0)
        for items in columns.values()
    )
    for column, items in columns.items():
        top = 0.0
        for item in sorted(items, key=lambda item: item["rank"]):
            height = item["value"] * scale
            item["x"] = 0.001 + 0.998 * column / COLUMNS
            item["y"] = min(max(top + height / 2, 0.001), 0.999)
            top += height + GAP


# --- the page ---------------------------------------------------------------------------------


def _filter_labels(form: RangeFilterForm) -> list[tuple[str, str]]:
    """(filter, chosen member) for the active filters, as people read them."""
    shown = []
    for name in FILTER_NAMES:
        value = form.cleaned_data.get(name)
        if value:
            shown.append((form.fields[name].label, dict(form.fields[name].choices)[value]))
    return shown


@require_safe
@organization_view
def journey_page(request):
    # The organization's today: organization_view activates its time zone.
    form = RangeFilterForm(request.GET, today=timezone.localdate(), **filter_choices())
    context = {"form": form, "is_admin": request.membership.is_admin}
    if not form.is_valid():
        return render(request, "metrics/journey.html", context, status=400)
    first_day, last_day = form.window()
    form.show_window(first_day, last_day)
    data = journey(first_day, last_day, form.filters())
    computed_through = last_computed_day()
    context.update(
        journey=data,
        figure=journey_figure(data),
        first_day=first_day,
        last_day=last_day,
        filter_labels=_filter_labels(form),
        # No fact at all: the organization has no data yet, or the snapshot never ran.
        has_snapshot=data.has_data or MetricFact.objects.exists(),
        computed_through=computed_through,
        beyond_snapshot=computed_through is not None and last_day > computed_through,
    )
    return render(request, "metrics/journey.html", context)
