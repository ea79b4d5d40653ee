"""The minute sweep: every warning and breach that has fallen due, recorded exactly once.

The database is the schedule. Each pass reads the running timers whose next check has come,
through the partial index `slatimer_sweep`, locking them `FOR UPDATE SKIP LOCKED` so a second
sweep running at the same time takes other rows instead of waiting. Within that transaction the
claim is a conditional change of state, and only the claimant records the event, the in-app
notifications and the outbox rows. If the process dies before commit, nothing happened and the
next sweep does it all; after commit, the outbox holds what is still to be delivered.

A sweep that starts late (downtime, a broker restart) catches up on everything already due:
breaches are dated at their deadline, not when they were noticed, and a warning whose deadline
has also passed is skipped in favour of the breach.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization
from sla import notify
from sla.models import SlaPolicy, SlaTimer, TimerState
from sla.volume import volume_periods_check

logger = logging.getLogger(__name__)

BATCH = 1000
TIMER_FIELDS = [field.name for field in SlaTimer._meta.concrete_fields]
NAMED_FIELDS = ["lead__full_name", "lead__email", "lead__company_name", "owner__full_name",
                "owner__email"]  # fmt: skip
# A row whose evaluation raised is looked at again after this long, not on every tick.
QUARANTINE = timedelta(minutes=5)


@dataclass
class SweepReport:
    warnings: int = 0
    breaches: int = 0
    periods_checked: int = 0
    failed: list[int] = field(default_factory=list)
    # Seconds between now and the oldest check still due after the sweep (0: caught up).
    lag_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "warnings": self.warnings, "breaches": self.breaches,
            "periods_checked": self.periods_checked, "failed": self.failed,
            "lag_seconds": self.lag_seconds,
        }  # fmt: skip


def sweep(now: datetime | None = None, *, batch: int = BATCH) -> SweepReport:
    now = now or timezone.now()
    report = SweepReport()
    while True:
        claimed = _sweep_batch(now, batch, report)
        if claimed < batch:
            break
    # Closing a period opens the next, due at once; after downtime it may have ended too. Each
    # pass leaves its periods due later (or closed), so this stops at the current period.
    while checked := volume_periods_check(now=now, failed=report.failed):
        report.periods_checked += checked
    report.lag_seconds = sweep_lag(now)
    if report.failed:
        logger.error("SLA sweep could not evaluate timers %s", report.failed)
    return report


def sweep_lag(now: datetime) -> float:
    """How far behind the sweep is: the age of the oldest running timer check already due."""
    oldest = (
        SlaTimer.objects.unscoped()  # the sweep serves every organization
        .filter(state=TimerState.RUNNING, next_check_at__lte=now)
        .aggregate(oldest=Min("next_check_at"))["oldest"]
    )
    return 0.0 if oldest is None else (now - oldest).total_seconds()


def _sweep_batch(now: datetime, batch: int, report: SweepReport) -> int:
    with transaction.atomic():
        due = list(
            SlaTimer.objects.unscoped()  # the sweep serves every organization
            .filter(state=TimerState.RUNNING, next_check_at__lte=now)
            .order_by("next_check_at")
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("lead", "owner")
            # Only what the notifications say about the lead and its owner.
            .only(*TIMER_FIELDS, *NAMED_FIELDS)[:batch]
        )
        # The few policies (and calendars) are read once and shared, not joined to every row.
        policies = (
            SlaPolicy.objects.unscoped()
            .select_related("calendar")
            .in_bulk({timer.policy_id for timer in due})
        )
        by_organization = defaultdict(list)
        for timer in due:
            timer.policy = policies[timer.policy_id]
            by_organization[timer.organization_id].append(timer)
        organizations = Organization.objects.in_bulk(list(by_organization))
        for organization_id, timers in by_organization.items():
            with organization_scope(organizations[organization_id]):
                _evaluate(timers, now, report)
    return len(due)


def _evaluate(timers: list[SlaTimer], now: datetime, report: SweepReport) -> None:
    """Record one organization's claimed timers; if that fails, one by one, so a row that
    cannot be evaluated is set aside instead of blocking (or crash-looping) the others."""
    try:
        with transaction.atomic():
            _record(timers, now, report)
        return
    except Exception:
        logger.exception("SLA sweep batch failed; retrying its timers one by one")
    for timer in timers:
        try:
            with transaction.atomic():
                _record([timer], now, report)
        except Exception:
            logger.exception("SLA timer %s could not be evaluated", timer.pk)
            SlaTimer.objects.filter(pk=timer.pk, state=TimerState.RUNNING).update(
                next_check_at=now + QUARANTINE
            )
            report.failed.append(timer.pk)


def _record(timers: list[SlaTimer], now: datetime, report: SweepReport) -> None:
    # The rows are locked by this transaction; the conditions below are the claim.
    breached = [t for t in timers if t.due_at <= now]
    warned = [t for t in timers if t.due_at > now and t.warned_at is None and t.warn_at <= now]
    if breached:
        SlaTimer.objects.filter(
            pk__in=[t.pk for t in breached], state=TimerState.RUNNING, due_at__lte=now
        ).update(state=TimerState.BREACHED, breached_at=F("due_at"), next_check_at=None,
                 updated_at=now)  # fmt: skip
        notify.record_breaches(breached, now=now)
        report.breaches += len(breached)
    if warned:
        SlaTimer.objects.filter(
            pk__in=[t.pk for t in warned], state=TimerState.RUNNING, warned_at__isnull=True
        ).update(warned_at=now, next_check_at=F("due_at"), updated_at=now)
        notify.record_warnings(warned, now=now)
        report.warnings += len(warned)
    # Checked early (a re-based or resumed timer): look again at its real next moment.
    handled = {t.pk for t in breached} | {t.pk for t in warned}
    for timer in timers:
        if timer.pk not in handled:
            SlaTimer.objects.filter(pk=timer.pk, state=TimerState.RUNNING).update(
                next_check_at=timer.due_at if timer.warned_at else timer.warn_at
            )
