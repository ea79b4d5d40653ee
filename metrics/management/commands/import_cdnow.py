import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from metrics.cdnow import CdnowFormatError, import_cdnow
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization


class Command(BaseCommand):
    help = "Import CDNOW purchases (customers and their transactions) into an organization."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument(
            "--file", required=True, type=Path, help="CDNOW_master.txt or CDNOW_sample.txt"
        )
        parser.add_argument(
            "--sample", action="store_true",
            help="The 5-column 1/10 sample (master id, sample id, date, CDs, dollars).",
        )  # fmt: skip

    def handle(self, *args, org, file, sample, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization has the slug '{org}'.")
        if not file.is_file():
            raise CommandError(f"{file} does not exist.")
        try:
            with organization_scope(organization):
                report = import_cdnow(path=file, sample=sample)
        except CdnowFormatError as error:
            raise CommandError(str(error)) from None
        for line in report.rejected:
            self.stderr.write(f"rejected: {line}")
        self.stdout.write(
            f"{report.transactions_created} purchases imported for {report.accounts_created} new "
            f"customers, {report.skipped_existing} already there, {len(report.rejected)} "
            f"rejected, {len(report.warnings)} warnings"
        )
        # Thousands of warnings are a handful of kinds: one line per kind, with its first case.
        kinds: dict[str, list[str]] = {}
        for warning in report.warnings:
            kinds.setdefault(re.sub(r"\d+(\.\d+)?", "N", warning.split(": ", 1)[-1]), []).append(
                warning
            )
        for cases in kinds.values():
            self.stdout.write(f"{len(cases)} warning(s) like: {cases[0]}")
