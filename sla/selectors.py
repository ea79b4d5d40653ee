"""SLA reads: compliance figures, response times, the breach log, timers and volume pacing.

Compliance counts a timer in the week or month its deadline fell in, once its outcome is
known: met on time (met, never breached), or breached (breached_at set: still open, met late,
or cancelled late). Timers still running before their deadline, paused timers and timers
cancelled before their deadline are not counted. Compliance = on time ÷ (on time + breached);
with nothing counted it is None ("no data"), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from leads.models import LeadTransition, SalesRep, Stage
from revops.tenancy.context import current_organization
from sla.models import (
    OPEN_PERIOD_STATES,
    EventKind,
    Notification,
    SlaEvent,
    SlaPolicy,
    SlaTimer,
    TimerState,
    TimerTarget,
    VolumePeriodResult,
    compiled_calendar,
)

ON_TIME = Q(state=TimerState.MET, breached_at__isnull=True)
BREACHED = Q(breached_at__isnull=False)
PERIODS = {"week": TruncWeek, "month": TruncMonth}


def timers(*, state: str = "", target: str = "", owner_id: int | None = None,
           lead_id: int | None = None) -> QuerySet[SlaTimer]:  # fmt: skip
    rows = SlaTimer.objects.select_related("policy", "owner", "lead", "feedback")
    if state:
        rows = rows.filter(state=state)
    if target:
        rows = rows.filter(target=target)
    if owner_id:
        rows = rows.filter(owner_id=owner_id)
    if lead_id:
        rows = rows.filter(lead_id=lead_id)
    return rows.order_by("due_at", "id")


def open_follow_ups(lead_ids) -> dict[int, SlaTimer]:
    """The open follow-up timer of each of these leads (for countdowns on lists)."""
    rows = SlaTimer.objects.filter(
        lead_id__in=list(lead_ids),
        target=TimerTarget.FOLLOW_UP,
        state__in=[TimerState.RUNNING, TimerState.PAUSED, TimerState.BREACHED],
    )
    return {timer.lead_id: timer for timer in rows}


def lead_timers(lead_id: int) -> list[SlaTimer]:
    return list(
        SlaTimer.objects.filter(lead_id=lead_id)
        .select_related("policy", "owner")
        .order_by("-started_at")
    )


def counted_timers(start: datetime, end: datetime) -> QuerySet[SlaTimer]:
    """Timers whose deadline fell in [start, end) and whose outcome is known."""
    return SlaTimer.objects.filter(due_at__gte=start, due_at__lt=end).filter(ON_TIME | BREACHED)


@dataclass(frozen=True)
class Compliance:
    label: str
    on_time: int
    breached: int

    @property
    def counted(self) -> int:
        return self.on_time + self.breached

    @property
    def percent(self) -> float | None:
        return None if not self.counted else round(100 * self.on_time / self.counted, 1)


def compliance(*, start: datetime, end: datetime, by: str = "target") -> list[Compliance]:
    """Compliance over [start, end), grouped by `target` (policy), `owner` (rep) or `team`."""
    rows = counted_timers(start, end)
    if by == "owner":
        key, rows = "owner__email", rows.filter(target=TimerTarget.FOLLOW_UP)
    elif by == "team":
        teams = dict(SalesRep.objects.values_list("user_id", "team"))
        result: dict[str, list[int]] = {}
        grouped = (
            rows.filter(target=TimerTarget.FOLLOW_UP)
            .values("owner_id")
            .annotate(on_time=Count("id", filter=ON_TIME), breached=Count("id", filter=BREACHED))
        )
        for row in grouped:
            team = teams.get(row["owner_id"]) or "No team"
            counts = result.setdefault(team, [0, 0])
            counts[0] += row["on_time"]
            counts[1] += row["breached"]
        return [Compliance(team, *counts) for team, counts in sorted(result.items())]
    else:
        key = "target"
    grouped = (
        rows.values(key)
        .annotate(on_time=Count("id", filter=ON_TIME), breached=Count("id", filter=BREACHED))
        .order_by(key)
    )
    labels = dict(TimerTarget.choices)
    return [
        Compliance(labels.get(row[key], row[key] or "Unassigned"), row["on_time"], row["breached"])
        for row in grouped
    ]


def compliance_trend(*, start: datetime, end: datetime, period: str = "week") -> list[dict]:
    """Per week or month (in the organization's time zone) and target: on time and breached."""
    trunc = PERIODS[period]("due_at", tzinfo=_tz())
    rows = (
        counted_timers(start, end)
        .annotate(period=trunc)
        .values("period", "target")
        .annotate(on_time=Count("id", filter=ON_TIME), breached=Count("id", filter=BREACHED))
        .order_by("period", "target")
    )
    return [
        {**row, "percent": Compliance("", row["on_time"], row["breached"]).percent} for row in rows
    ]


@dataclass(frozen=True)
class ResponseTimes:
    count: int
    business_p50: timedelta | None
    business_p95: timedelta | None
    wall_p50: timedelta | None
    wall_p95: timedelta | None


def first_touch_times(*, start: datetime, end: datetime) -> ResponseTimes:
    """Time to first touch of follow-ups met in [start, end): business time (what the SLA
    measures, pauses excluded) and wall-clock time, median and 95th percentile."""
    organization = current_organization()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY elapsed_us),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY elapsed_us),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY met_at - started_at),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY met_at - started_at)
            FROM sla_slatimer
            WHERE organization_id = %s AND target = %s AND state = %s
              AND met_at >= %s AND met_at < %s
            """,
            [organization.pk, TimerTarget.FOLLOW_UP, TimerState.MET, start, end],
        )
        count, b50, b95, w50, w95 = cursor.fetchone()

    def micro(value):
        return None if value is None else timedelta(microseconds=round(value))

    return ResponseTimes(count, micro(b50), micro(b95), w50, w95)


def breach_log(*, start: datetime | None = None, end: datetime | None = None,
               target: str = "") -> QuerySet[SlaEvent]:  # fmt: skip
    rows = SlaEvent.objects.filter(kind=EventKind.BREACH).select_related(
        "timer__lead", "timer__owner", "timer__policy", "period__policy", "explained_by"
    )
    if start:
        rows = rows.filter(at__gte=start)
    if end:
        rows = rows.filter(at__lt=end)
    if target:
        rows = rows.filter(timer__target=target)
    return rows.order_by("-at", "-id")


def volume_periods(limit: int = 12) -> list[VolumePeriodResult]:
    return list(VolumePeriodResult.objects.select_related("policy").order_by("-starts_at")[:limit])


def volume_current() -> list[VolumePeriodResult]:
    return list(
        VolumePeriodResult.objects.filter(state__in=OPEN_PERIOD_STATES)
        .select_related("policy__calendar")
        .order_by("segment")
    )


def volume_pacing_series(period: VolumePeriodResult, now: datetime | None = None) -> dict:
    """Cumulative SQLs delivered per day of the period against the expected pace."""
    now = now or timezone.now()
    tz = _tz()
    calendar = compiled_calendar(period.policy.calendar)
    total = calendar.business_us(period.starts_at, period.ends_at) or 1
    transitions = LeadTransition.objects.filter(
        to_stage=Stage.SQL, from_stage=Stage.MQL, at__gte=period.starts_at,
        at__lt=min(now, period.ends_at),
    )  # fmt: skip
    if period.policy.segment_field:
        transitions = transitions.filter(
            **{f"lead__{period.policy.segment_field}__iexact": period.segment}
        )
    first_at = dict(
        transitions.values("lead_id").annotate(first=Min("at")).values_list("lead_id", "first")
    )
    days, delivered, expected = [], [], []
    day_end = period.starts_at
    while day_end < period.ends_at:
        day_start, day_end = day_end, min(day_end + timedelta(days=1), period.ends_at)
        label = (day_end - timedelta(seconds=1)).astimezone(tz).date().isoformat()
        days.append(label)
        expected.append(round(period.target * calendar.business_us(period.starts_at, day_end)
                              / total, 2))  # fmt: skip
        delivered.append(
            # Today's point counts what is delivered so far; days not begun have none yet.
            sum(1 for at in first_at.values() if at < day_end) if day_start < now else None
        )
    return {"days": days, "delivered": delivered, "expected": expected, "target": period.target}


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_for(user, limit: int = 50) -> list[Notification]:
    return list(
        Notification.objects.filter(user=user)
        .select_related("event")
        .order_by("-created_at", "-id")[:limit]
    )


def policy_history(kind: str) -> QuerySet[SlaPolicy]:
    return (
        SlaPolicy.objects.filter(kind=kind)
        .select_related("calendar", "created_by")
        .order_by("-version")
    )


def _tz():
    return ZoneInfo(current_organization().timezone)
