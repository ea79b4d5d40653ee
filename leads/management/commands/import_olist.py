from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leads.olist import import_olist
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization


class Command(BaseCommand):
    help = "Import the Olist marketing funnel (MQLs and closed deals) into an organization."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument(
            "--dir", required=True, type=Path,
            help="Folder holding olist_marketing_qualified_leads_dataset.csv and "
            "olist_closed_deals_dataset.csv",
        )  # fmt: skip

    def handle(self, *args, org, dir, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization has the slug '{org}'.")
        mql_csv = dir / "olist_marketing_qualified_leads_dataset.csv"
        deals_csv = dir / "olist_closed_deals_dataset.csv"
        for path in (mql_csv, deals_csv):
            if not path.is_file():
                raise CommandError(f"{path} does not exist.")
        with organization_scope(organization):
            report = import_olist(mql_csv=mql_csv, deals_csv=deals_csv)
        for line in report.rejected:
            self.stderr.write(f"rejected: {line}")
        self.stdout.write(
            f"{report.created} leads imported ({report.won} won), "
            f"{report.skipped_existing} already there, {len(report.rejected)} rejected, "
            f"{len(report.warnings)} warnings"
        )
        for line in report.warnings[:20]:
            self.stdout.write(f"warning: {line}")
        if len(report.warnings) > 20:
            self.stdout.write(f"... and {len(report.warnings) - 20} more warnings")
