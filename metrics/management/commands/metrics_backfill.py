from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from metrics.compute import snapshot_replace
from metrics.windows import windows_replace, with_comparison_days
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization

BAR = 30
WINDOW_BATCH = 8  # weeks of windows computed from one load of observations


class Command(BaseCommand):
    help = "Recompute an organization's metric snapshot for a date range, a month at a time."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--from", dest="first", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="last", required=True, help="Last day, YYYY-MM-DD.")
        parser.add_argument("--chunk-days", type=int, default=31)

    def handle(self, *args, org, first, last, chunk_days, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization has the slug '{org}'.")
        try:
            first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError as error:
            raise CommandError(f"Dates are YYYY-MM-DD: {error}") from error
        if last_day < first_day or chunk_days < 1:
            raise CommandError("--to must not be before --from; --chunk-days at least 1.")
        total_days = (last_day - first_day).days + 1
        done, facts = 0, 0
        with organization_scope(organization):
            chunk_start = first_day
            while chunk_start <= last_day:
                chunk_end = min(chunk_start + timedelta(days=chunk_days - 1), last_day)
                facts += snapshot_replace(chunk_start, chunk_end)
                done += (chunk_end - chunk_start).days + 1
                filled = BAR * done // total_days
                self.stdout.write(
                    f"[{'#' * filled}{' ' * (BAR - filled)}] {done}/{total_days} days, "
                    f"through {chunk_end}"
                )
                chunk_start = chunk_end + timedelta(days=1)
            # Medians and percentiles for each week's end and the last day (their trends), and the
            # days the last day's windows are compared with.
            as_of = [last_day - timedelta(weeks=weeks) for weeks in range(total_days // 7, -1, -1)]
            as_of = with_comparison_days([day for day in as_of if day >= first_day])
            windows = 0
            for start in range(0, len(as_of), WINDOW_BATCH):
                batch = as_of[start : start + WINDOW_BATCH]
                windows += windows_replace(batch)
                self.stdout.write(f"windows: {start + len(batch)}/{len(as_of)} weeks, "
                                  f"through {batch[-1]}")  # fmt: skip
        self.stdout.write(
            f"{facts} facts and {windows} window figures written for {organization.slug}."
        )
