"""Reads for the weekly revenue huddle: the figures record (computed from the metrics snapshot
and a few indexed live reads, then frozen on the huddle by `services.huddle_open`), the action
items with their carry-over, the notes, and the history.

Every read here is bounded whatever the organization's size (the page is held to p95 < 150 ms
of server time at 1,000,000 leads): additive figures are sums of `MetricFact` rows read through
the (organization, measure, dimension, day) index, lists are LIMITed and ordered by an index,
counts stop at COUNT_CAP. docs/architecture.md, "Weekly revenue huddle", defines each figure.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate

from huddle.models import ActionItem, Huddle, HuddleNote, HuddleSettings, ItemStatus, Section
from leads.models import (
    Campaign,
    FeedbackStatus,
    Lead,
    LeadFeedback,
    Opportunity,
    OpportunityStatus,
    Stage,
    Touch,
)
from leads.selectors import feedback_inbox
from metrics.models import MetricFact
from metrics.scoreboard import kpi_values, velocity
from metrics.selectors import EDGE_SOURCES, by_member, open_opportunities_at, ratio
from revops.dates import day_range
from revops.tenancy.context import current_organization
from revops.tenancy.models import Membership, User
from sla.models import SlaTimer, TimerState, TimerTarget
from sla.selectors import BREACHED, ON_TIME, breach_log, counted_timers, volume_current

FIGURES_SCHEMA = 1  # bumped if the record's shape changes; old records keep theirs
TREND_WEEKS = 8  # weekly points on the charts
WIN_RATE_WEEKS = 13  # the forecast's win rate: a quarter of closes, steadier than one week's
LIST_LIMIT = 10  # rows per list on a screen
COUNT_CAP = 1000  # counts stop here ("1,000+"): a backlog does not slow the page down
BREACH_LOOKBACK_DAYS = 91  # "since the last huddle", at most a quarter back
DEFAULT_STALLED_DAYS = 14

# Which team keeps which commitment (the compliance trend "for both teams").
TEAM_OF_TARGET = {
    TimerTarget.FOLLOW_UP: "Sales",
    TimerTarget.ACKNOWLEDGE: "Marketing",
    TimerTarget.RESOLVE: "Marketing",
}
TEAMS = ["Sales", "Marketing"]

# The snapshot measures the huddle reads (docs/metrics.md): stage entries fold from their edges.
MEASURES = [
    "entered_mql", "entered_sql", "entered_accepted", "entered_opportunity", "entered_won",
    "entered_lost", "entered_rejected", "won_deals", "lost_deals", "won_value",
    "won_cycle_days_sum", "feedback_ratings", "feedback_rating_sum", "follow_up_on_time",
    "follow_up_breached",
]  # fmt: skip


# --- weeks ------------------------------------------------------------------------------------


def local_date(now: datetime) -> date:
    """The calendar day `now` falls on in the organization's time zone."""
    return now.astimezone(ZoneInfo(current_organization().timezone)).date()


def week_start_of(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


def week_bounds(week_start: date, zone: str) -> tuple[datetime, datetime]:
    """The instants [start, end) of the week in the organization's time zone."""
    return day_range(week_start, week_start + timedelta(days=6), zone)


def review_window(week_start: date, today: date) -> tuple[date, date]:
    """The seven days a huddle reviews: those ending on the last complete day (yesterday, the
    snapshot's last day), but not after the huddle's own Sunday. A Monday huddle reviews the
    whole previous week; one held on a Thursday, Thursday to Wednesday."""
    last_day = min(today - timedelta(days=1), week_start + timedelta(days=6))
    return last_day - timedelta(days=6), last_day


# --- the figures record -----------------------------------------------------------------------


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _number(value) -> float | None:
    return None if value is None else float(value)


def _capped_count(queryset: QuerySet) -> int:
    """How many rows, counting at most COUNT_CAP + 1 (the page says "1,000+")."""
    return queryset.order_by()[: COUNT_CAP + 1].count()


@functools.cache
def _stored_names() -> dict[str, str]:
    """Stored measure name → the measure it adds to (entered_<stage> is the sum of its edges,
    moved_<from>_<stage>: docs/metrics.md)."""
    names = {}
    for measure in MEASURES:
        if measure.startswith("entered_"):
            stage = measure.removeprefix("entered_")
            names.update({f"moved_{source}_{stage}": measure for source in EDGE_SOURCES})
        else:
            names[measure] = measure
    return names


def weekly_sums(first_day: date, weeks: int) -> list[dict[str, float]]:
    """The organization's measures summed per seven days from first_day, one dict per week.

    One read of the snapshot through the (organization, measure, dimension, day) index: the
    measures are named, so PostgreSQL walks only their rows of the organization's total."""
    last_day = first_day + timedelta(days=7 * weeks - 1)
    names = _stored_names()
    rows = MetricFact.objects.filter(
        day__gte=first_day, day__lte=last_day, dimension="", member="", measure__in=list(names),
    ).values_list("day", "measure", "value")  # fmt: skip
    buckets: list[dict[str, float]] = [defaultdict(float) for _ in range(weeks)]
    for day, name, value in rows:
        # Each edge adds to its stage's entries as it is read (what scoreboard.fold_edges does).
        buckets[(day - first_day).days // 7][names[name]] += value
    return buckets


def _pipeline(weeks: list[dict[str, float]], last_day: date, now: datetime, settings) -> dict:
    """Velocity and its trend, open pipeline, coverage, forecast, SQL targets, stalled deals.
    `weeks`: the WIN_RATE_WEEKS weekly sums ending on the review window's last day."""
    weeks_first = last_day - timedelta(days=7 * WIN_RATE_WEEKS - 1)
    # Open opportunities at the end of each week: open before the first, plus entries less closes.
    open_at_end, running = [], open_opportunities_at(weeks_first - timedelta(days=1))
    for sums in weeks:
        running += (
            sums.get("entered_opportunity", 0.0)
            - sums.get("entered_won", 0.0)
            - sums.get("entered_lost", 0.0)
        )
        open_at_end.append(running)
    trend = []
    for index in range(WIN_RATE_WEEKS - TREND_WEEKS, WIN_RATE_WEEKS):
        sums, values = weeks[index], kpi_values(weeks[index])
        week_end = weeks_first + timedelta(days=7 * index + 6)
        trend.append({
            "week_end": week_end.isoformat(),
            "velocity": velocity(sums, open_at_end[index]),
            "open_opportunities": open_at_end[index],
            "win_rate": values["win_rate"],
            "mqls": values["mqls"],
            "sqls": values["sqls"],
            "won_value": sums.get("won_value", 0.0),
        })  # fmt: skip
    current, previous = trend[-1], trend[-2]

    quarter = defaultdict(float)
    for sums in weeks:
        for measure in ("won_deals", "lost_deals"):
            quarter[measure] += sums.get(measure, 0.0)
    win_rate = ratio(quarter["won_deals"], quarter["won_deals"] + quarter["lost_deals"])

    # Live: today's open deals and their value, from the covering partial index
    # huddle_open_pipeline (huddle/migrations/0003): open deals' amounts, no table read.
    pipeline = Opportunity.objects.filter(status=OpportunityStatus.OPEN).aggregate(
        deals=Count("id"), value=Sum("amount")
    )
    open_value = float(pipeline["value"] or 0)
    target = _number(settings.monthly_revenue_target)
    forecast = None if win_rate is None else open_value * win_rate
    return {
        "velocity": current["velocity"],
        "velocity_previous": previous["velocity"],
        "open_opportunities": current["open_opportunities"],
        "sqls": current["sqls"],
        "sqls_previous": previous["sqls"],
        "win_rate_week": current["win_rate"],
        "win_rate": win_rate,
        "win_rate_weeks": WIN_RATE_WEEKS,
        "open_deals": pipeline["deals"],
        "open_value": open_value,
        "revenue_target": target,
        "coverage": ratio(open_value, target),
        "forecast": forecast,
        "forecast_share": ratio(forecast, target),
        "sql_targets": _sql_targets(),
        "stalled": _stalled(now, settings.stalled_after_days),
        "weekly": trend,
    }


def _sql_targets() -> list[dict]:
    """The running SQL-volume periods (marketing's SQL target, kept by the SLA sweep): delivered
    so far, expected by now, and the projection delivered ÷ elapsed share of the period."""
    rows = []
    for period in volume_current():
        elapsed_share = ratio(period.expected, period.target)
        rows.append({
            "segment": period.segment,
            "period": period.policy.volume_period,
            "starts_at": _iso(period.starts_at),
            "ends_at": _iso(period.ends_at),
            "target": period.target,
            "delivered": period.delivered,
            "expected": period.expected,
            "projected": None if not elapsed_share else period.delivered / elapsed_share,
            "state": period.state,
        })  # fmt: skip
    return rows


def stalled_deals(now: datetime, days: int) -> QuerySet[Lead]:
    """Open deals whose lead has not changed stage, nor been touched, for `days` days; quiet
    longest first. Read through the partial index huddle_stalled_deals (leads in the opportunity
    stage by stage_changed_at, huddle/migrations/0002), each probed for a recent touch by the
    touch_by_lead index. A lead in the opportunity stage is an open deal (lead_convert opens it,
    a win or a loss moves the lead on), so no join to the deal is needed to find or count them."""
    cutoff = now - timedelta(days=days)
    touched = Touch.objects.filter(lead=OuterRef("pk"), at__gte=cutoff)
    return (
        Lead.objects.filter(stage=Stage.OPPORTUNITY, stage_changed_at__lt=cutoff)
        .filter(~Exists(touched))
        .order_by("stage_changed_at", "id")
    )


def _stalled(now: datetime, days: int) -> dict:
    deals = stalled_deals(now, days)
    last_touch = Touch.objects.filter(lead=OuterRef("pk")).order_by("-at").values("at")[:1]
    rows = []
    listed = deals.annotate(last_touch_at=Subquery(last_touch))
    for lead in listed.select_related("opportunity", "owner")[:LIST_LIMIT]:
        last = max(filter(None, [lead.stage_changed_at, lead.last_touch_at]))
        deal = getattr(lead, "opportunity", None)
        rows.append({
            "lead_id": lead.pk,
            "name": deal.name if deal else str(lead),
            "company": lead.company_name,
            "owner": lead.owner.display_name if lead.owner else "",
            "amount": float(deal.amount) if deal else None,
            "last_activity": _iso(last),
            "days": (now - last).days,
        })  # fmt: skip
    return {"days": days, "count": _capped_count(deals), "rows": rows}


def _feedback(first_day: date, last_day: date, week: dict[str, float]) -> dict:
    measures = ["feedback_ratings", "feedback_rating_sum", "entered_rejected"]
    members = by_member(first_day, last_day, measures, "campaign")
    names = dict(
        Campaign.objects.filter(pk__in=[int(m) for m in members if m.isdigit()]).values_list(
            "pk", "name"
        )
    )
    rows = []
    for member, sums in members.items():
        name = names.get(int(member)) if member.isdigit() else None
        rows.append((name or f"Campaign {member}", sums))
    # Leads without a campaign count in the total only (docs/metrics.md): shown as their own row.
    rest = {m: week.get(m, 0.0) - sum(s[m] for _name, s in rows) for m in measures}
    if any(value > 0.5 for value in rest.values()):
        rows.append(("No campaign", rest))
    by_campaign = [
        {
            "campaign": name,
            "ratings": sums["feedback_ratings"],
            "average": ratio(sums["feedback_rating_sum"], sums["feedback_ratings"]),
            "rejections": sums["entered_rejected"],
        }
        for name, sums in rows
    ]
    by_campaign.sort(key=lambda r: (-(r["ratings"] + r["rejections"]), r["campaign"]))

    # The stored facts `scoreboard.exit_reasons` reads (dimension "reason"), for the rejection
    # edges only: named measures go through the measure index, where exit_reasons reads every
    # measure of the days and builds DataFrames (the same counts; tests/huddle compares them).
    reasons = sorted(
        ((reason, sums["entered_rejected"])
         for reason, sums in by_member(first_day, last_day, ["entered_rejected"], "reason").items()
         if sums["entered_rejected"]),
        key=lambda pair: (-pair[1], pair[0]),
    )  # fmt: skip
    return {
        "ratings": week.get("feedback_ratings", 0.0),
        "average": ratio(week.get("feedback_rating_sum"), week.get("feedback_ratings")),
        "rejections": week.get("entered_rejected", 0.0),
        "by_campaign": by_campaign,
        "reasons": [
            {"reason": reason or "No reason given", "count": float(count)}
            for reason, count in reasons
        ],
        **_inbox(),
    }


def _timer_status(timer: dict | None) -> str:
    if timer is None:
        return "none"
    if timer["breached_at"] is not None or timer["state"] == TimerState.BREACHED:
        return "breached"
    if timer["state"] == TimerState.PAUSED:
        return "paused"
    if timer["state"] == TimerState.RUNNING and timer["warned_at"] is not None:
        return "at_risk"
    return "on_track" if timer["state"] == TimerState.RUNNING else timer["state"]


def _inbox() -> dict:
    """Marketing's open feedback items, oldest first (the feedback_inbox index, read backwards),
    with their acknowledgement clock."""
    items = list(
        feedback_inbox(status=FeedbackStatus.OPEN)
        .select_related(None)
        .select_related("lead__campaign", "rater")  # what the rows show
        .order_by("created_at", "id")[:LIST_LIMIT]
    )
    timers = {
        row["feedback_id"]: row
        for row in SlaTimer.objects.filter(
            feedback_id__in=[item.pk for item in items], target=TimerTarget.ACKNOWLEDGE
        ).values("feedback_id", "state", "due_at", "warned_at", "breached_at")
    }
    rows = []
    for item in items:
        timer = timers.get(item.pk)
        rows.append({
            "lead_id": item.lead_id,
            "lead": str(item.lead),
            "campaign": item.lead.campaign.name if item.lead.campaign else "",
            "rating": item.rating,
            "from_rejection": item.from_rejection,
            "tags": item.tags,
            "rater": item.rater.display_name if item.rater else "",
            "created_at": _iso(item.created_at),
            "sla": _timer_status(timer),
            "due_at": _iso(timer["due_at"]) if timer else None,
        })  # fmt: skip
    return {
        "inbox_open": _capped_count(LeadFeedback.objects.filter(status=FeedbackStatus.OPEN)),
        "inbox_acknowledged": _capped_count(
            LeadFeedback.objects.filter(status=FeedbackStatus.ACKNOWLEDGED)
        ),
        "inbox": rows,
    }


def _compliance(on_time: float, breached: float) -> float | None:
    counted = on_time + breached
    return None if not counted else round(100 * on_time / counted, 1)


def feedback_clock_outcomes(first_day: date, last_day: date) -> dict[date, tuple[int, int]]:
    """Marketing's feedback clocks (acknowledge, resolve) whose deadline fell on each day, on
    time and breached, counted as `sla.selectors.compliance` counts them. Read through the
    partial index huddle_feedback_clocks (huddle/migrations/0003): feedback clocks only, not the
    far more numerous follow-ups."""
    zone = ZoneInfo(current_organization().timezone)
    start, end = day_range(first_day, last_day, zone)
    rows = (
        counted_timers(start, end)
        .filter(target__in=[TimerTarget.ACKNOWLEDGE, TimerTarget.RESOLVE])
        .annotate(day=TruncDate("due_at", tzinfo=zone))
        .values("day")
        .annotate(on_time=Count("id", filter=ON_TIME), breached=Count("id", filter=BREACHED))
        .order_by()
    )
    return {row["day"]: (row["on_time"], row["breached"]) for row in rows}


def _sla(trend_weeks: list[dict[str, float]], last_day: date, now: datetime,
         since: datetime) -> dict:  # fmt: skip
    """Breaches since the last huddle, and both teams' compliance per week (the same seven-day
    weeks as the pipeline's trend, the last one the review window): Sales from the snapshot's
    follow-up outcomes (by the day the deadline fell, as `sla.selectors.compliance` counts),
    Marketing from its feedback clocks, live."""
    # The list shows the lead and the owner: the other joins of breach_log are not needed.
    breaches = (
        breach_log(start=since, end=now)
        .select_related(None)
        .select_related("timer__lead", "timer__owner")
    )
    by_target = dict(breaches.order_by().values_list("timer__target").annotate(count=Count("id")))
    rows = []
    for event in breaches[:LIST_LIMIT]:
        timer = event.timer
        rows.append({
            "at": _iso(event.at),
            "commitment": timer.get_target_display() if timer else "SQL volume",
            "team": TEAM_OF_TARGET.get(timer.target, "Marketing") if timer else "Marketing",
            "lead_id": timer.lead_id if timer else None,
            "lead": str(timer.lead) if timer and timer.lead else "",
            "owner": timer.owner.display_name if timer and timer.owner else "",
            "detail": event.detail,
        })  # fmt: skip
    breach_teams = dict.fromkeys(TEAMS, 0)
    for target, count in by_target.items():
        # A volume period's breach has no timer: it is marketing's.
        breach_teams[TEAM_OF_TARGET.get(target, "Marketing")] += count

    first_day = last_day - timedelta(days=7 * len(trend_weeks) - 1)
    marketing = [[0, 0] for _ in trend_weeks]
    for day, (on_time, breached) in feedback_clock_outcomes(first_day, last_day).items():
        counts = marketing[(day - first_day).days // 7]
        counts[0] += on_time
        counts[1] += breached
    trend = []
    for index, sums in enumerate(trend_weeks):
        week_end = (first_day + timedelta(days=7 * index + 6)).isoformat()
        sales = (sums.get("follow_up_on_time", 0.0), sums.get("follow_up_breached", 0.0))
        for team, (on_time, breached) in (("Sales", sales), ("Marketing", marketing[index])):
            trend.append({"week_end": week_end, "team": team, "on_time": int(on_time),
                          "breached": int(breached),
                          "percent": _compliance(on_time, breached)})  # fmt: skip
    latest = last_day.isoformat()
    return {
        "latest": {row["team"]: row for row in trend if row["week_end"] == latest},
        "since": _iso(since),
        "until": _iso(now),
        "breach_count": sum(by_target.values()),
        "breach_teams": breach_teams,
        "breaches": rows,
        "trend": trend,
    }


def previous_huddle(week_start: date) -> Huddle | None:
    """The last huddle before this week's that recorded figures."""
    return (
        Huddle.objects.filter(week_start__lt=week_start, figures_at__isnull=False)
        .order_by("-week_start")
        .first()
    )


def huddle_settings() -> HuddleSettings:
    """The organization's settings, or the defaults (unsaved) when none were saved."""
    return HuddleSettings.objects.first() or HuddleSettings(stalled_after_days=DEFAULT_STALLED_DAYS)


def huddle_figures(*, week_start: date, now: datetime) -> dict:
    """The figures record of the week's huddle as of `now` (JSON-ready): what the page shows
    and what is frozen on the huddle."""
    organization = current_organization()
    zone = ZoneInfo(organization.timezone)
    first_day, last_day = review_window(week_start, local_date(now))
    settings = huddle_settings()
    previous = previous_huddle(week_start)
    review_start = day_range(first_day, first_day, zone)[0]
    since = previous.figures_at if previous else review_start
    since = max(since, now - timedelta(days=BREACH_LOOKBACK_DAYS))

    # One read of the snapshot serves every section: the last week is the review window.
    weeks = weekly_sums(last_day - timedelta(days=7 * WIN_RATE_WEEKS - 1), WIN_RATE_WEEKS)
    return {
        "schema": FIGURES_SCHEMA,
        "computed_at": _iso(now),
        "currency": organization.currency,
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "pipeline": _pipeline(weeks, last_day, now, settings),
        "feedback": _feedback(first_day, last_day, weeks[-1]),
        "sla": _sla(weeks[-TREND_WEEKS:], last_day, now, since),
    }


# --- action items and notes -------------------------------------------------------------------


@dataclass
class ShownItem:
    """An action item as one huddle shows it."""

    item: ActionItem
    carried: bool  # created in an earlier huddle
    status: str  # its status as of that huddle (open if it closed after the week ended)
    closed_later: bool  # done or dropped after that huddle's week

    @property
    def status_label(self) -> str:
        return ItemStatus(self.status).label


def action_items(*, week_start: date, now: datetime) -> list[ShownItem]:
    """The items a huddle shows: the ones created in it, and every item of an earlier huddle
    that was still open when its week began (still open now, or closed since). One query."""
    week_began, week_end = week_bounds(week_start, current_organization().timezone)
    rows = (
        ActionItem.objects.filter(huddle__week_start__lte=week_start)
        .filter(
            Q(huddle__week_start=week_start)
            | Q(closed_at__isnull=True)
            | Q(closed_at__gte=week_began)
        )
        .select_related("huddle", "owner")
        .order_by("status", "due_on", "created_at", "id")
    )
    shown = []
    for item in rows:
        # Seen from a week that is over, an item closed after it ended was open at the time.
        closed_later = week_end <= now and item.closed_at is not None and item.closed_at >= week_end
        status = ItemStatus.OPEN if closed_later else item.status
        shown.append(ShownItem(item, item.huddle.week_start < week_start, status, closed_later))
    # Open first, then done, then dropped; within each by due date.
    order = {ItemStatus.OPEN: 0, ItemStatus.DONE: 1, ItemStatus.DROPPED: 2}
    shown.sort(key=lambda s: (order[s.status], s.item.due_on or date.max, s.item.pk))
    return shown


def notes_by_section(huddle: Huddle | None) -> dict[str, list[HuddleNote]]:
    notes: dict[str, list[HuddleNote]] = {section: [] for section in Section.values}
    if huddle is None or huddle.pk is None:
        return notes
    for note in HuddleNote.objects.filter(huddle=huddle).select_related("author"):
        notes[note.section].append(note)
    return notes


def members() -> QuerySet[User]:
    """The organization's people, for an item's owner."""
    organization = current_organization()
    return User.objects.filter(
        pk__in=Membership.objects.filter(organization=organization).values("user_id")
    ).order_by("full_name", "email")


def history() -> QuerySet[Huddle]:
    """Every huddle, newest first, with how many items it started and notes it holds."""
    return Huddle.objects.annotate(
        items=Count("action_items", distinct=True), note_count=Count("notes", distinct=True)
    ).order_by("-week_start")
