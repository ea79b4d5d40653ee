"""CSV import and export in the browser: upload, map, progress; another tenant sees nothing."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from leads import services
from leads.models import ImportStatus, Lead, LeadImport
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

CSV = b"Email,First Name,Last Name,Job Title\nada@x.test,Ada,L,CTO\nbroken,Bad,Row,\n"


class ImportPageTests(TwoOrganizationsTestCase):
    def upload(self, client, preset="hubspot"):
        return client.post(
            "/o/acme-test/leads/import/",
            {"file": SimpleUploadedFile("contacts.csv", CSV, "text/csv"), "preset": preset},
        )

    def test_upload_map_and_import_with_rejects_listed_by_line(self):
        client = self.browser_as(self.alice)
        response = self.upload(client)
        assert response.status_code == 302
        lead_import = LeadImport.objects.for_organization(self.org_a).get()
        assert lead_import.status == ImportStatus.DRAFT
        page = client.get(response["Location"]).content.decode()
        assert "Ada L" in page  # the preview joins the name halves
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            started = client.post(
                response["Location"],
                {"map-0": "email", "map-1": "first_name", "map-2": "last_name", "map-3": "title"},
            )
        assert started.status_code == 302 and len(callbacks) == 1  # queued for a worker
        from leads.imports import lead_import_process

        with organization_scope(self.org_a):
            lead_import_process(lead_import_id=lead_import.pk)
            assert Lead.objects.get(email="ada@x.test").title == "CTO"
        status = client.get(started["Location"], HTTP_HX_REQUEST="true").content.decode()
        assert "Done" in status and "<td>3</td>" in status and "email" in status

    def test_a_mapping_without_email_or_id_is_explained(self):
        client = self.browser_as(self.alice)
        location = self.upload(client, preset="")["Location"]
        response = client.post(location, {"map-0": "", "map-1": "first_name"})
        assert response.status_code == 200
        assert "email or external id" in response.content.decode()

    def test_roles_and_tenants(self):
        assert self.upload(self.browser_as(self.bob)).status_code == 403  # sales do not import
        assert self.upload(self.browser_as(self.vera)).status_code == 403
        self.upload(self.browser_as(self.alice))
        lead_import = LeadImport.objects.for_organization(self.org_a).get()
        outsider = Client()
        outsider.force_login(self.charlie)
        for url in [
            "/o/acme-test/leads/import/",
            f"/o/acme-test/leads/imports/{lead_import.pk}/",
            f"/o/acme-test/leads/imports/{lead_import.pk}/map/",
            "/o/acme-test/leads/export.csv",
        ]:
            assert outsider.get(url).status_code == 404, url
        # Even through their own organization's URL, charlie cannot reach A's import.
        assert outsider.get(f"/o/globex-test/leads/imports/{lead_import.pk}/").status_code == 404
        assert Client().get("/o/acme-test/leads/export.csv").status_code == 302


class ExportPageTests(TwoOrganizationsTestCase):
    def test_export_follows_the_list_filters_and_is_spreadsheet_safe(self):
        with organization_scope(self.org_a):
            services.lead_create(
                actor=self.alice, email="a@x.test", full_name="@evil", source="social"
            )
            services.lead_create(actor=self.alice, email="b@x.test", source="email")
        with organization_scope(self.org_b):
            services.lead_create(actor=self.charlie, email="b-org@x.test", source="social")
        response = self.browser_as(self.vera).get("/o/acme-test/leads/export.csv?source=social")
        assert response["Content-Type"] == "text/csv"
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert [r["email"] for r in rows] == ["a@x.test"]
        assert rows[0]["full_name"] == "'@evil"
