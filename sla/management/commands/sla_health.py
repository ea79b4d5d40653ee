import json

from django.core.management.base import BaseCommand

from sla.health import sla_health


class Command(BaseCommand):
    help = (
        "Print the SLA sweep's and the outbox's lag as JSON; exit 1 when either is over "
        "--max-lag seconds (for a monitoring check)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-lag", type=float, default=180.0)

    def handle(self, *args, max_lag, **options):
        health = sla_health()
        self.stdout.write(json.dumps(health.as_dict()))
        if max(health.sweep_lag_seconds, health.outbox_lag_seconds) > max_lag:
            raise SystemExit(1)
