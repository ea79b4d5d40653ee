import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from metrics.maven import FILES, import_maven
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization


class Command(BaseCommand):
    help = "Import the Maven CRM sales pipeline (opportunities, accounts, products, teams)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument(
            "--dir", required=True, type=Path, help=f"Folder holding {', '.join(FILES)}"
        )

    def handle(self, *args, org, dir, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization has the slug '{org}'.")
        for name in FILES:
            if not (dir / name).is_file():
                raise CommandError(f"{dir / name} does not exist.")
        with organization_scope(organization):
            report = import_maven(folder=dir)
        for line in report.rejected:
            self.stderr.write(f"rejected: {line}")
        self.stdout.write(
            f"{report.created} opportunities imported ({report.won} won, {report.lost} lost, "
            f"{report.open} open), {report.skipped_existing} already there, "
            f"{report.users_created} people added, {len(report.rejected)} rejected, "
            f"{len(report.warnings)} warnings"
        )
        # Thousands of warnings are a handful of kinds: one line per kind, with its first case.
        kinds: dict[str, list[str]] = {}
        for warning in report.warnings:
            kinds.setdefault(re.sub(r"\d+(\.\d+)?", "N", warning.split(": ", 1)[-1]), []).append(
                warning
            )
        for cases in kinds.values():
            self.stdout.write(f"{len(cases)} warning(s) like: {cases[0]}")
