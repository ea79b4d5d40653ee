"""The SLA's periodic jobs. Both serve every organization and are safe to run concurrently and
twice: the work is claimed in the database, row by row."""

import logging
from datetime import datetime

from celery import shared_task

from sla import outbox
from sla.sweep import sweep

logger = logging.getLogger(__name__)
# A sweep more than this far behind is logged as an error for alerting.
LAG_ALERT_SECONDS = 180


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sla_sweep(now: str | None = None) -> dict:
    """Every minute: record due warnings and breaches. `now` (ISO 8601) replays a moment."""
    report = sweep(datetime.fromisoformat(now) if now else None)
    if report.lag_seconds > LAG_ALERT_SECONDS:
        logger.error("The SLA sweep is %.0f s behind", report.lag_seconds)
    return report.as_dict()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sla_outbox_deliver(now: str | None = None) -> dict:
    """Send what the outbox holds: right after an event commits, and every minute for retries."""
    report = outbox.deliver_due(datetime.fromisoformat(now) if now else None)
    return {"sent": report.sent, "retrying": report.retrying, "failed": report.failed}
