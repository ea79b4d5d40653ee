"""Nightly snapshots: one task per organization, each recomputing its last days atomically,
then the standard windows (medians, percentiles, fitted CLV) ending on the last day."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from celery import shared_task
from django.utils import timezone

from metrics.compute import snapshot_replace
from metrics.models import MetricRun, RunStatus
from metrics.windows import windows_replace
from revops.tenancy.jobs import tenant_task
from revops.tenancy.models import Organization

# Late data (a back-dated touch, an import of last week) lands in days already computed; the
# nightly run recomputes this many days ending yesterday.
NIGHTLY_DAYS = 7


@tenant_task(idempotent=True)
def metrics_snapshot(organization, first_day: str, last_day: str, run_id: int | None = None):
    run = MetricRun.objects.filter(pk=run_id).first() if run_id else None
    try:
        written = snapshot_replace(
            date.fromisoformat(first_day), date.fromisoformat(last_day), run=run
        )
        windows_replace([date.fromisoformat(last_day)])
        return written
    except Exception as error:
        if run is not None:  # the admin's status page says what went wrong
            MetricRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, finished_at=timezone.now(), error=str(error)[:2000]
            )
        raise


@shared_task
def metrics_nightly() -> int:
    """Fan out: each organization's yesterday (and the days before it) in its own time zone."""
    organizations = list(Organization.objects.values_list("pk", "timezone"))
    now = timezone.now()
    for organization_id, tz in organizations:
        yesterday = timezone.localtime(now, timezone=ZoneInfo(tz)).date() - timedelta(days=1)
        first = yesterday - timedelta(days=NIGHTLY_DAYS - 1)
        metrics_snapshot.delay(organization_id, first.isoformat(), yesterday.isoformat())
    return len(organizations)
