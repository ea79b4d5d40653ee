"""CSV import (presets, bad rows by line, re-import, resumable chunks) and safe CSV export."""

import csv
import io
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from leads import csv_io, imports
from leads.models import ImportStatus, Lead, LeadImport, SalesRep
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

HUBSPOT = """Record ID,First Name,Last Name,Email,Job Title,Company Name,Number of Employees,Original Source,Industry
101,Ada,Lovelace,ada@engines.test,CTO,Analytical Engines,51-200,Organic Search,Software
102,Grace,Hopper,grace@navy.test,Rear Admiral,US Navy,"10,000+",Paid Search,Government
103,Bad,Email,not-an-email,,Nowhere,5,Direct Traffic,
104,"Multi
Line",Name,multi@line.test,,Quoted Inc,abc,Offline Sources,Retail
"""  # noqa: E501

SALESFORCE = """Lead ID,First Name,Last Name,Email,Title,Company / Account,No. of Employees,Lead Source
00Q1,Alan,Turing,alan@bletchley.test,Cryptanalyst,Bletchley Park,200,Partner Referral
"""  # noqa: E501


class CsvImportTests(TwoOrganizationsTestCase):
    def setUp(self):
        scope = organization_scope(self.org_a)
        scope.__enter__()
        self.addCleanup(scope.__exit__, None, None, None)
        SalesRep.objects.create(user=self.bob)

    def run_import(self, content: str, preset: str, chunk_rows: int = 500) -> LeadImport:
        headers, _ = csv_io.read_csv(content)
        lead_import = imports.lead_import_create(
            actor=self.alice, filename="x.csv", content=content,
            mapping=csv_io.guess_mapping(headers, preset), in_background=False,
        )  # fmt: skip
        return imports.lead_import_process(lead_import_id=lead_import.pk, chunk_rows=chunk_rows)

    def test_hubspot_export_imports_good_rows_and_reports_bad_ones_by_line(self):
        result = self.run_import(HUBSPOT, "hubspot")
        assert result.status == ImportStatus.DONE
        assert (result.total_rows, result.created_count, result.updated_count) == (4, 2, 0)
        assert [e["line"] for e in result.errors] == [4, 6]  # the quoted newline spans 5-6
        assert "email" in result.errors[0]["reason"]
        assert "company_size" in result.errors[1]["reason"]
        ada = Lead.objects.get(external_id="101")
        assert (ada.full_name, ada.title, ada.company_size, ada.source) == (
            "Ada Lovelace", "CTO", 51, "organic_search",
        )  # fmt: skip
        assert Lead.objects.get(email="grace@navy.test").company_size == 10000

    def test_reimporting_updates_instead_of_duplicating(self):
        self.run_import(HUBSPOT, "hubspot")
        changed = HUBSPOT.replace("CTO", "Chief Engines Officer")
        again = self.run_import(changed, "hubspot")
        assert (again.created_count, again.updated_count) == (0, 2)
        assert Lead.objects.count() == 2
        assert Lead.objects.get(external_id="101").title == "Chief Engines Officer"

    def test_salesforce_report_preset(self):
        result = self.run_import(SALESFORCE, "salesforce")
        alan = Lead.objects.get(external_id="00Q1")
        assert result.created_count == 1
        assert (alan.full_name, alan.company_name, alan.source) == (
            "Alan Turing", "Bletchley Park", "partner",
        )  # fmt: skip

    def test_processing_resumes_where_a_crashed_run_stopped_and_runs_twice_harmlessly(self):
        rows = "\n".join(f"{i},P{i},Q,p{i}@x.test" for i in range(25))
        content = "Record ID,First Name,Last Name,Email\n" + rows + "\n"
        headers, _ = csv_io.read_csv(content)
        lead_import = imports.lead_import_create(
            actor=self.alice, filename="x.csv", content=content,
            mapping=csv_io.guess_mapping(headers, "hubspot"), in_background=False,
        )  # fmt: skip
        # A first runner got 10 rows in before dying: its committed position says so.
        services_rows = [
            csv_io.row_to_lead_values(row, lead_import.mapping)
            for _, row in list(csv_io.read_csv(content)[1])[:10]
        ]
        from leads import services

        services.leads_bulk_upsert(actor=self.alice, rows=services_rows)
        LeadImport.objects.filter(pk=lead_import.pk).update(
            processed_rows=10, created_count=10, status=ImportStatus.RUNNING
        )
        done = imports.lead_import_process(lead_import_id=lead_import.pk, chunk_rows=4)
        assert (done.status, done.processed_rows, done.created_count) == ("done", 25, 25)
        again = imports.lead_import_process(lead_import_id=lead_import.pk)
        assert again.created_count == 25 and Lead.objects.count() == 25

    def test_a_mapping_without_a_key_column_is_refused(self):
        with pytest.raises(ValidationError, match="email or external id"):
            imports.lead_import_create(
                actor=self.alice, filename="x.csv", content="Name\nA\n",
                mapping={"Name": "full_name"}, in_background=False,
            )  # fmt: skip

    def test_imports_stay_in_their_organization(self):
        self.run_import(SALESFORCE, "salesforce")
        with organization_scope(self.org_b):
            assert not Lead.objects.exists()
            assert not LeadImport.objects.exists()


class CsvCommandTests(TwoOrganizationsTestCase):
    def test_the_command_reports_lines_and_a_summary(self):
        path = self.tmp_csv(HUBSPOT)
        out, err = StringIO(), StringIO()
        call_command(
            "import_leads", "--org", "acme-test", "--file", str(path), "--preset", "hubspot",
            stdout=out, stderr=err,
        )  # fmt: skip
        assert "4 rows: 2 created, 0 updated, 2 rejected" in out.getvalue()
        assert "line 4: email" in err.getvalue()

    def test_an_unknown_column_in_a_manual_map_is_an_error(self):
        path = self.tmp_csv(SALESFORCE)
        with pytest.raises(CommandError, match="no column 'Nope'"):
            call_command("import_leads", "--org", "acme-test", "--file", str(path),
                         "--map", "Nope=email")  # fmt: skip

    def tmp_csv(self, content: str):
        import tempfile
        from pathlib import Path

        directory = Path(tempfile.mkdtemp())
        path = directory / "leads.csv"
        path.write_text(content)
        return path


class CsvExportTests(TwoOrganizationsTestCase):
    def test_formula_like_cells_are_neutralised(self):
        assert csv_io.spreadsheet_safe('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
        for dangerous in ["+1", "-2", "@SUM(A1)", "\tx", "\rx"]:
            assert csv_io.spreadsheet_safe(dangerous).startswith("'")
        assert csv_io.spreadsheet_safe("Ada") == "Ada"
        assert csv_io.spreadsheet_safe(None) == ""

    def test_export_lines_are_valid_csv_with_every_lead(self):
        from leads import services

        with organization_scope(self.org_a):
            services.lead_create(
                actor=self.alice,
                full_name="=cmd|' /C calc'!A0",
                email="evil@x.test",
                needs=["Reporting", "Forecasting"],
            )
            text = "".join(csv_io.export_lines(Lead.objects.select_related("campaign", "owner")))
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 1
        assert rows[0]["full_name"].startswith("'=")
        assert rows[0]["needs"] == "Reporting; Forecasting"
        assert rows[0]["email"] == "evil@x.test"


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_csv_is_imported_by_a_real_worker_after_commit(celery_worker):
    import time

    from revops.tenancy import services as tenancy_services

    organization = tenancy_services.organization_create(name="Worker Org", slug="worker-org")
    with organization_scope(organization):
        headers, _ = csv_io.read_csv(SALESFORCE)
        lead_import = imports.lead_import_create(
            actor=None, filename="sf.csv", content=SALESFORCE,
            mapping=csv_io.guess_mapping(headers, "salesforce"),
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lead_import.refresh_from_db()
            if lead_import.status == ImportStatus.DONE:
                break
            time.sleep(0.1)
        assert (lead_import.status, lead_import.created_count) == (ImportStatus.DONE, 1)
        assert Lead.objects.get().full_name == "Alan Turing"
