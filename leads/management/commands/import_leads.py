from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from leads import csv_io, imports
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, User


class Command(BaseCommand):
    help = (
        "Import leads from a CSV file into an organization. Bad rows are listed with their line "
        "number; good rows are imported; importing the same file again updates, never duplicates."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--file", required=True, type=Path)
        parser.add_argument("--preset", choices=sorted(csv_io.PRESETS), help="Column map.")
        parser.add_argument(
            "--map", action="append", default=[], metavar="HEADER=FIELD",
            help="Map a column to a lead field (repeatable; overrides the preset).",
        )  # fmt: skip
        parser.add_argument("--as", dest="email", help="Email of the member importing.")

    def handle(self, *args, org, file, preset, map, email, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization has the slug '{org}'.")
        if not file.is_file():
            raise CommandError(f"{file} does not exist.")
        content = file.read_text(encoding="utf-8-sig")
        headers, _rows = csv_io.read_csv(content)
        mapping = csv_io.guess_mapping(headers, preset)
        for item in map:
            header, _, field = item.partition("=")
            if header not in mapping:
                raise CommandError(f"--map {item}: the file has no column '{header}'.")
            mapping[header] = field
        actor = User.objects.filter(email__iexact=email).first() if email else None
        with organization_scope(organization):
            try:
                lead_import = imports.lead_import_create(
                    actor=actor, filename=file.name, content=content, mapping=mapping,
                    in_background=False,
                )  # fmt: skip
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
            lead_import = imports.lead_import_process(lead_import_id=lead_import.pk)
        for error in lead_import.errors:
            self.stderr.write(f"line {error['line']}: {error['reason']}")
        self.stdout.write(
            f"{lead_import.total_rows} rows: {lead_import.created_count} created, "
            f"{lead_import.updated_count} updated, {len(lead_import.errors)} rejected"
        )
