"""The demo organization's SLAs: its policies, a sales team with a manager, and the record the
minute sweep would have written over the seeded history."""

from datetime import datetime, timedelta

from django.db.models import F

from leads.models import SalesRep
from revops.tenancy.models import User
from sla import services
from sla.calendar import Calendar
from sla.models import (
    BusinessCalendar,
    Notification,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    SlaTimer,
    VolumePeriod,
    compiled_calendar,
)
from sla.sweep import sweep
from sla.volume import volume_periods_check

SQL_TARGET_PER_MONTH = 35


def configure_sla_demo(*, start: datetime, manager: User | None) -> Calendar:
    """Before the history plays: the policies as a RevOps admin would set them, in force from
    the start. Email is off so that replaying six months does not mail anyone; the bell shows
    everything. Returns the follow-up SLA's business calendar, whose hours the demo's reps keep."""
    SalesRep.objects.update(team="Field sales", manager=manager)
    for kind in services.policies_ensure():
        values = {"email_notifications": False}
        if kind == SlaKind.SQL_VOLUME:
            values.update(enabled=True, volume_target=SQL_TARGET_PER_MONTH,
                          volume_period=VolumePeriod.MONTH)  # fmt: skip
        services.policy_create_version(kind=kind, actor=None, now=start,
                                       change_note="Demo settings", **values)  # fmt: skip
    return compiled_calendar(services.current_policies()[SlaKind.FOLLOW_UP].calendar)


def finish_sla_demo(*, now: datetime, setup: datetime) -> None:
    """After the history: sweep once at `now`, walk the volume periods up to now, and date the
    rows by the story rather than the real clock."""
    sweep(now)
    while volume_periods_check(now=now):
        pass
    SlaTimer.objects.update(created_at=F("started_at"), updated_at=F("started_at"))
    SlaEvent.objects.update(created_at=F("at"), updated_at=F("at"))
    for event in SlaEvent.objects.filter(notifications__isnull=False).distinct():
        Notification.objects.filter(event=event).update(created_at=event.at, updated_at=event.at)
    for model in (BusinessCalendar, SlaPolicy):
        model.objects.update(created_at=setup, updated_at=setup)
    # Old notifications have been seen; the last day's are new.
    Notification.objects.filter(created_at__lt=now - timedelta(days=1)).update(read_at=now)
