"""Every periodic job, in one place. Each entry expires so a backlog never runs stale copies."""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # The metric snapshots: one task per organization, its last week recomputed.
    "metrics-nightly": {
        "task": "metrics.tasks.metrics_nightly",
        "schedule": crontab(hour=3, minute=20),
        "options": {"expires": 6 * 3600},
    },
    # The SLA clock: due warnings and breaches, recorded once each; a tick expires unrun rather
    # than pile up behind a stalled worker (the next tick catches up on everything due).
    "sla-sweep": {
        "task": "sla.tasks.sla_sweep",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Retries of email and webhook deliveries (fresh events are sent right after commit).
    "sla-outbox": {
        "task": "sla.tasks.sla_outbox_deliver",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Engagement points decay daily; one task per organization recomputes its open leads.
    "leads-rescore": {
        "task": "leads.tasks.leads_rescore_every_organization",
        "schedule": crontab(hour=2, minute=10),
        "options": {"expires": 6 * 3600},
    },
}
