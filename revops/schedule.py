"""Every periodic job, in one place. Each entry expires so a backlog never runs stale copies.

Entries name their task by dotted path, e.g.
    "sla-sweep": {"task": "sla.tasks.sweep", "schedule": crontab(), "options": {"expires": 55}}
"""

BEAT_SCHEDULE: dict[str, dict] = {}
