"""Every periodic job, in one place. Each entry expires so a backlog never runs stale copies."""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # Engagement points decay daily; one task per organization recomputes its open leads.
    "leads-rescore": {
        "task": "leads.tasks.leads_rescore_every_organization",
        "schedule": crontab(hour=2, minute=10),
        "options": {"expires": 6 * 3600},
    },
}
