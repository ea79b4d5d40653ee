"""Marketing's SQL-volume commitment: N SQLs a week or month, overall or per segment.

Each period is a row. While it runs, the sweep refreshes its pacing every few minutes: delivered
(distinct leads that became SQL in the period) against expected to date (the target times the
share of the period's business time already past). Below the warning share of the expected
pace it is at risk (warned once). When the period ends its result is recorded once, dated at
the period's end, and the next period opens.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from leads.models import LeadTransition, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization
from sla import notify
from sla.models import (
    OPEN_PERIOD_STATES,
    EventKind,
    PeriodState,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    VolumePeriod,
    VolumePeriodResult,
    compiled_calendar,
)

logger = logging.getLogger(__name__)

CHECK_EVERY = timedelta(minutes=10)


def period_bounds(period: str, tz_name: str, instant: datetime) -> tuple[datetime, datetime]:
    """The week (from Monday) or month containing `instant`, midnight to midnight local time."""
    tz = ZoneInfo(tz_name)
    local = instant.astimezone(tz)
    if period == VolumePeriod.WEEK:
        first = local.date() - timedelta(days=local.weekday())
        after = first + timedelta(days=7)
    else:
        first = local.date().replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    end = datetime(after.year, after.month, after.day, tzinfo=tz)
    return start, end


def _targets(policy: SlaPolicy) -> dict[str, int]:
    if policy.segment_field:
        return {str(k): int(v) for k, v in policy.segment_targets.items()}
    return {"": policy.volume_target or 0}


def volume_period_open_current(*, policy: SlaPolicy, now: datetime, replace_open: bool = False):
    """Make sure the period containing `now` has its rows under this policy version. A new
    version takes over the open period (its targets and segments); closed periods keep theirs."""
    if policy.kind != SlaKind.SQL_VOLUME:
        return []
    starts_at, ends_at = period_bounds(policy.volume_period, policy.calendar.timezone, now)
    with transaction.atomic():
        if replace_open:
            VolumePeriodResult.objects.filter(state__in=OPEN_PERIOD_STATES).exclude(
                starts_at=starts_at, ends_at=ends_at
            ).delete()
            stale = VolumePeriodResult.objects.filter(
                state__in=OPEN_PERIOD_STATES, starts_at=starts_at
            ).exclude(segment__in=list(_targets(policy)))
            SlaEvent.objects.filter(period__in=stale).delete()
            stale.delete()
        if not policy.enabled:
            VolumePeriodResult.objects.filter(state__in=OPEN_PERIOD_STATES).delete()
            return []
        rows = []
        for segment, target in _targets(policy).items():
            row, created = VolumePeriodResult.objects.get_or_create(
                segment=segment, starts_at=starts_at,
                defaults={"policy": policy, "ends_at": ends_at, "target": target,
                          "next_check_at": now},
            )  # fmt: skip
            if not created and row.state in OPEN_PERIOD_STATES and replace_open:
                VolumePeriodResult.objects.filter(pk=row.pk).update(
                    policy=policy, target=target, ends_at=ends_at, next_check_at=now
                )
            rows.append(row)
    return rows


def sqls_delivered(policy: SlaPolicy, segment: str, starts_at: datetime, until: datetime) -> int:
    """Distinct leads that became SQL in [starts_at, until), in the segment if one is set."""
    transitions = LeadTransition.objects.filter(
        to_stage=Stage.SQL, from_stage=Stage.MQL, at__gte=starts_at, at__lt=until
    )
    if policy.segment_field:
        transitions = transitions.filter(**{f"lead__{policy.segment_field}__iexact": segment})
    return transitions.values("lead_id").distinct().count()


def volume_periods_check(*, now: datetime | None = None, failed: list | None = None) -> int:
    """The sweep's part for volume: refresh pacing of periods due a check, close ended ones."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            VolumePeriodResult.objects.unscoped()  # the sweep serves every organization
            .filter(state__in=OPEN_PERIOD_STATES, next_check_at__lte=now)
            .order_by("next_check_at")
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("policy__calendar")[:500]
        )
        by_organization = defaultdict(list)
        for period in due:
            by_organization[period.organization_id].append(period)
        organizations = Organization.objects.in_bulk(list(by_organization))
        for organization_id, periods in by_organization.items():
            with organization_scope(organizations[organization_id]):
                for period in periods:
                    try:
                        with transaction.atomic():
                            _check(period, now)
                    except Exception:
                        logger.exception("SQL-volume period %s could not be checked", period.pk)
                        VolumePeriodResult.objects.filter(pk=period.pk).update(
                            next_check_at=now + CHECK_EVERY
                        )
                        if failed is not None:
                            failed.append(f"period:{period.pk}")
    return len(due)


def _check(period: VolumePeriodResult, now: datetime) -> None:
    policy = period.policy
    until = min(now, period.ends_at)
    period.delivered = sqls_delivered(policy, period.segment, period.starts_at, until)
    calendar = compiled_calendar(policy.calendar)
    total = calendar.business_us(period.starts_at, period.ends_at)
    elapsed = calendar.business_us(period.starts_at, until)
    period.expected = period.target * elapsed / total if total else float(period.target)
    period.checked_at = now
    label = period.segment or "All segments"
    if now >= period.ends_at:
        period.state = (
            PeriodState.MET if period.delivered >= period.target else PeriodState.BREACHED
        )
        period.closed_at, period.next_check_at = now, None
        period.save()
        notify.record_period_event(
            period, kind=EventKind.MET if period.state == PeriodState.MET else EventKind.BREACH,
            at=period.ends_at, now=now,
            detail=f"{label}: {period.delivered} of {period.target} SQLs delivered.",
        )  # fmt: skip
        _open_next(period, now)
        return
    at_risk = period.expected >= 1 and period.delivered < period.expected * (
        policy.warn_percent / 100
    )
    period.state = PeriodState.AT_RISK if at_risk else PeriodState.ON_TRACK
    period.next_check_at = min(now + CHECK_EVERY, period.ends_at)
    period.save()
    if at_risk and not SlaEvent.objects.filter(period=period, kind=EventKind.WARNING).exists():
        notify.record_period_event(
            period, kind=EventKind.WARNING, at=now, now=now,
            detail=f"{label}: {period.delivered} SQLs delivered, {period.expected:.1f} expected "
            f"by now (target {period.target}).",
        )  # fmt: skip


def _open_next(period: VolumePeriodResult, now: datetime) -> None:
    """The following period, under the policy's current version (none if it is disabled)."""
    current = SlaPolicy.objects.filter(kind=SlaKind.SQL_VOLUME).order_by("-version").first()
    if current is None or not current.enabled:
        return
    # Starting at the end of this one: after downtime the sweep walks the missed periods too.
    volume_period_open_current(policy=current, now=period.ends_at)
