"""The metric input pages: marketing spend, sales cost, gross margin and recompute. Who sees
and changes what, refused forms re-rendered with the error beside the field and nothing saved,
CSV uploads listing every bad line, and the tenant boundary (another organization's rows and
pages are 404)."""

import re
from datetime import date
from decimal import Decimal
from html import unescape

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads import services as lead_services
from metrics import services
from metrics.models import MarketingSpend, MetricRun, MetricsSettings, RunStatus, SalesCost
from metrics.tasks import metrics_snapshot
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from tests.base import TwoOrganizationsTestCase, make_member

A = "/o/acme-test/metrics/inputs/"
B = "/o/globex-test/metrics/inputs/"


def csv_file(text: str | bytes, name: str = "spend.csv") -> SimpleUploadedFile:
    body = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, body, content_type="text/csv")


def text_of(response) -> str:
    """The page's visible words, tags stripped and spaces collapsed."""
    words = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", unescape(words))


class InputPagesTestCase(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.mary = make_member(cls.org_a, "mary@a.test", "Mary Marketing", Role.MARKETING)
        with organization_scope(cls.org_a):
            cls.webinar = lead_services.campaign_create(
                actor=cls.alice, name="Winter webinar", channel="events"
            )
            cls.spend = services.marketing_spend_record(
                spent_on="2026-11-10", channel="", amount="1250.5", campaign=cls.webinar,
                note="Sponsorship",
            )  # fmt: skip
            cls.cost = services.sales_cost_record(
                period_start="2026-11-01", period_end="2026-11-30", category="salary",
                amount="42000", rep=cls.bob,
            )  # fmt: skip
        with organization_scope(cls.org_b):
            cls.b_campaign = lead_services.campaign_create(
                actor=cls.charlie, name="Globex fair", channel="events"
            )
            cls.b_spend = services.marketing_spend_record(
                spent_on="2026-11-05", channel="email", amount="999"
            )
            cls.b_cost = services.sales_cost_record(
                period_start="2026-11-01", period_end="2026-11-30", category="tools", amount="10"
            )

    def as_user(self, user):
        self.client.force_login(user)
        return self.client

    def a_spend(self) -> list:
        with organization_scope(self.org_a):
            return sorted(MarketingSpend.objects.values_list("spent_on", "channel", "amount"))

    def a_costs(self) -> list:
        with organization_scope(self.org_a):
            return sorted(SalesCost.objects.values_list("period_start", "category", "amount"))


# --- marketing spend --------------------------------------------------------------------------


class SpendPageTests(InputPagesTestCase):
    def test_every_member_reads_the_spend_and_writers_get_the_forms(self):
        for user, writes in ((self.mary, True), (self.alice, True), (self.bob, False),
                             (self.vera, False)):  # fmt: skip
            response = self.as_user(user).get(A)
            assert response.status_code == 200, user
            page = text_of(response)
            assert "Nov 10, 2026 Events Winter webinar 1,250.50 USD Sponsorship" in page
            assert ('data-testid="spend-form"' in response.content.decode()) is writes, user
            assert ('data-testid="csv-form"' in response.content.decode()) is writes, user
            assert "999" not in page  # organization B's spend

    def test_only_admins_see_the_admin_tabs(self):
        admin_tabs = ["Sales cost", "Gross margin", "Recompute metrics"]
        page = text_of(self.as_user(self.alice).get(A))
        assert all(tab in page for tab in admin_tabs)
        page = text_of(self.as_user(self.mary).get(A))
        assert not any(tab in page for tab in admin_tabs)

    def test_marketing_adds_spend_and_the_campaign_gives_the_channel(self):
        client = self.as_user(self.mary)
        response = client.post(f"{A}spend/add/", {
            "spent_on": "2026-11-12", "campaign": self.webinar.pk, "channel": "",
            "amount": "80", "note": "Booth",
        }, follow=True)  # fmt: skip
        assert response.redirect_chain == [(A, 302)]
        assert "Spend of 80.00 USD on 12 Nov 2026 (Events) added." in text_of(response)
        assert (date(2026, 11, 12), "events", Decimal("80.00")) in self.a_spend()

    def test_a_refused_spend_shows_the_error_beside_its_field_and_saves_nothing(self):
        client = self.as_user(self.mary)
        before = self.a_spend()
        cases = [
            ({"spent_on": "2026-11-31", "channel": "email", "amount": "5"}, "spent_on",
             "Enter a valid date."),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "-5"}, "amount",
             "greater than or equal to 0"),
            ({"spent_on": "2026-11-01", "channel": "", "amount": "5"}, "channel",
             "Choose a channel"),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "5",
              "campaign": self.b_campaign.pk}, "campaign", "Select a valid choice"),
        ]  # fmt: skip
        for data, field, message in cases:
            response = client.post(f"{A}spend/add/", data)
            assert response.status_code == 400, data
            html = response.content.decode()
            assert 'data-testid="not-saved"' in html
            error = re.search(rf'id="id_{field}_error">(.*?)</div></div>', html, re.S)
            assert error and message in error.group(1), (data, html[:200])
            assert re.search(rf'<[^>]*name="{field}"[^>]*aria-invalid="true"', html), field
        assert self.a_spend() == before

    def test_sales_and_viewers_cannot_change_spend(self):
        data = {"spent_on": "2026-11-01", "channel": "email", "amount": "5"}
        for user in (self.bob, self.vera):
            client = self.as_user(user)
            assert client.post(f"{A}spend/add/", data).status_code == 403
            upload = {"file": csv_file("date,channel,amount\n2026-11-01,email,5\n")}
            assert client.post(f"{A}spend/import/", upload).status_code == 403
            assert client.post(f"{A}spend/{self.spend.pk}/delete/").status_code == 403
        assert len(self.a_spend()) == 1

    def test_marketing_deletes_spend_but_not_another_organizations(self):
        client = self.as_user(self.mary)
        assert client.post(f"{A}spend/{self.b_spend.pk}/delete/").status_code == 404
        response = client.post(f"{A}spend/{self.spend.pk}/delete/", follow=True)
        assert "Spend of 1,250.50 USD on 10 Nov 2026 deleted." in text_of(response)
        assert self.a_spend() == []
        with organization_scope(self.org_b):
            assert MarketingSpend.objects.filter(pk=self.b_spend.pk).exists()
        assert client.get(f"{A}spend/{self.spend.pk}/delete/").status_code == 405


class SpendImportPageTests(InputPagesTestCase):
    GOOD = (
        "date,channel,amount,campaign,note\n"
        "2026-11-02,paid_search,1200.50,Winter webinar,Google Ads\n"
        "2026-11-03,social,300,,LinkedIn\n"
    )

    def test_a_file_with_bad_lines_lists_each_and_saves_nothing_then_the_fixed_file_imports(self):
        client = self.as_user(self.mary)
        bad = self.GOOD + "2026-11-04,email,abc,,\n2026-11-05,email,10,Globex fair,\n"
        response = client.post(f"{A}spend/import/", {"file": csv_file(bad)})
        assert response.status_code == 400
        page = text_of(response)
        assert "Nothing was imported from “spend.csv”: 2 lines to fix." in page
        assert "4 amount: 'abc' is not an amount. 2026-11-04,email,abc,," in page
        assert "5 campaign: No campaign is called 'Globex fair'. 2026-11-05,email,10,Globex" in page
        assert "Nothing was imported: see Import a CSV file below." in page
        assert re.search(r'<input type="file" name="file"[^>]*autofocus', response.content.decode())
        assert len(self.a_spend()) == 1

        response = client.post(f"{A}spend/import/", {"file": csv_file(self.GOOD)}, follow=True)
        assert response.redirect_chain == [(A, 302)]
        assert "2 rows of spend imported from “spend.csv”." in text_of(response)
        assert len(self.a_spend()) == 3

    def test_a_file_that_cannot_be_read_says_why(self):
        client = self.as_user(self.alice)
        cases = [
            (csv_file("day,amount\n2026-11-01,5\n"), "Missing columns: channel, date."),
            (csv_file("date,channel,amount\n".encode("utf-16")), "not UTF-8 text"),
            (csv_file(b""), "The submitted file is empty."),
            (None, "This field is required."),
        ]
        for upload, message in cases:
            response = client.post(f"{A}spend/import/", {"file": upload} if upload else {})
            assert response.status_code == 400, message
            html = response.content.decode()
            error = re.search(r'data-testid="file-error"[^>]*>(.*?)</div>', html, re.S)
            assert error and message in error.group(1), message
        assert len(self.a_spend()) == 1


# --- sales cost -------------------------------------------------------------------------------


class CostPageTests(InputPagesTestCase):
    def test_only_admins_see_sales_cost(self):
        response = self.as_user(self.alice).get(f"{A}sales-costs/")
        page = text_of(response)
        assert "Nov 1, 2026 \N{EN DASH} Nov 30, 2026 Salary — Bob Sales 42,000.00 USD" in page
        table = re.search(r'data-testid="cost-list".*?</table>', response.content.decode(), re.S)
        assert "Tools" not in table.group(0)  # organization B's row
        for user in (self.mary, self.bob, self.vera):
            client = self.as_user(user)
            assert client.get(f"{A}sales-costs/").status_code == 403
            data = {"period_start": "2026-11-01", "period_end": "2026-11-30",
                    "category": "tools", "amount": "1"}  # fmt: skip
            assert client.post(f"{A}sales-costs/add/", data).status_code == 403
            assert client.post(f"{A}sales-costs/{self.cost.pk}/delete/").status_code == 403

    def test_an_admin_adds_a_team_cost_and_a_refused_one_saves_nothing(self):
        client = self.as_user(self.alice)
        response = client.post(f"{A}sales-costs/add/", {
            "period_start": "2026-12-01", "period_end": "2026-11-30", "category": "tools",
            "team": "East", "amount": "99",
        })  # fmt: skip
        assert response.status_code == 400
        html = response.content.decode()
        assert "The period ends before it starts." in re.search(
            r'id="id_period_end_error">(.*?)</div></div>', html, re.S
        ).group(1)
        assert len(self.a_costs()) == 1
        response = client.post(f"{A}sales-costs/add/", {
            "period_start": "2026-12-01", "period_end": "2026-12-31", "category": "tools",
            "team": "East", "amount": "99", "rep": self.charlie.pk,
        })  # fmt: skip
        assert response.status_code == 400  # charlie is not a member of A
        response = client.post(f"{A}sales-costs/add/", {
            "period_start": "2026-12-01", "period_end": "2026-12-31", "category": "tools",
            "team": "East", "amount": "99",
        }, follow=True)  # fmt: skip
        assert "Tools of 99.00 USD for 1 Dec 2026 to 31 Dec 2026 added." in text_of(response)
        assert (date(2026, 12, 1), "tools", Decimal("99.00")) in self.a_costs()

    def test_the_rep_choices_are_this_organizations_members(self):
        html = self.as_user(self.alice).get(f"{A}sales-costs/").content.decode()
        select = re.search(r'<select name="rep".*?</select>', html, re.S).group(0)
        assert "Bob Sales" in select and "Alice Admin" in select
        assert "Charlie" not in select

    def test_cost_import_and_delete(self):
        client = self.as_user(self.alice)
        text = ("period_start,period_end,category,amount,team,rep_email\n"
                "2026-12-01,2026-12-31,commission,3100.25,,bob@a.test\n"
                "2026-12-01,2026-12-31,tools,10,,charlie@b.test\n")  # fmt: skip
        response = client.post(f"{A}sales-costs/import/", {"file": csv_file(text, "c.csv")})
        assert response.status_code == 400
        assert "3 rep_email: No member has the email charlie@b.test." in text_of(response)
        assert len(self.a_costs()) == 1
        fixed = text.rsplit("2026-12-01,2026-12-31,tools", 1)[0]
        response = client.post(f"{A}sales-costs/import/", {"file": csv_file(fixed, "c.csv")},
                               follow=True)  # fmt: skip
        assert "1 row of sales cost imported from “c.csv”." in text_of(response)
        assert len(self.a_costs()) == 2
        assert client.post(f"{A}sales-costs/{self.b_cost.pk}/delete/").status_code == 404
        response = client.post(f"{A}sales-costs/{self.cost.pk}/delete/", follow=True)
        assert "Salary of 42,000.00 USD for 1 Nov 2026 to 30 Nov 2026 deleted." in text_of(response)
        assert self.a_costs() == [(date(2026, 12, 1), "commission", Decimal("3100.25"))]


# --- gross margin -----------------------------------------------------------------------------


class GrossMarginPageTests(InputPagesTestCase):
    def test_an_admin_sets_and_clears_the_margin(self):
        client = self.as_user(self.alice)
        assert "Not set: CLV shows no data." in text_of(client.get(f"{A}gross-margin/"))
        response = client.post(f"{A}gross-margin/", {"gross_margin_percent": "72.5"}, follow=True)
        page = text_of(response)
        assert "Gross margin set to 72.5%." in page and "Currently 72.5%" in page
        response = client.post(f"{A}gross-margin/", {"gross_margin_percent": ""}, follow=True)
        assert "Gross margin cleared" in text_of(response)
        with organization_scope(self.org_a):
            assert MetricsSettings.objects.get().gross_margin_percent is None

    def test_a_refused_margin_says_why(self):
        client = self.as_user(self.alice)
        for value, message in (("120", "less than or equal to 100"), ("abc", "Enter a number")):
            response = client.post(f"{A}gross-margin/", {"gross_margin_percent": value})
            assert response.status_code == 400
            assert message in text_of(response)
        with organization_scope(self.org_a):
            assert not MetricsSettings.objects.exists()

    def test_only_admins(self):
        for user in (self.mary, self.bob, self.vera):
            client = self.as_user(user)
            assert client.get(f"{A}gross-margin/").status_code == 403
            response = client.post(f"{A}gross-margin/", {"gross_margin_percent": "5"})
            assert response.status_code == 403


# --- recompute --------------------------------------------------------------------------------


class RecomputePageTests(InputPagesTestCase):
    def test_an_admin_requests_a_recompute_and_the_page_polls_until_it_is_done(self):
        client = self.as_user(self.alice)
        runs_url = 'hx-get="/o/acme-test/metrics/inputs/recompute/runs/"'
        page = client.get(f"{A}recompute/")
        assert "No recomputes yet." in text_of(page)
        assert runs_url not in page.content.decode()  # nothing to wait for
        november = {"first_day": "2026-11-01", "last_day": "2026-11-30"}
        response = client.post(f"{A}recompute/", november, follow=True)
        assert "Recomputing 1 Nov 2026 to 30 Nov 2026: its status shows below." in text_of(response)
        with organization_scope(self.org_a):
            run = MetricRun.objects.get()
        assert (run.requested_by, run.status) == (self.alice, RunStatus.PENDING)
        assert runs_url in response.content.decode()
        assert "Alice Admin Waiting" in text_of(response)

        # The task the request queued, run here in the test's transaction.
        metrics_snapshot(self.org_a.pk, "2026-11-01", "2026-11-30", run.pk)
        run.refresh_from_db()
        assert run.status == RunStatus.DONE
        runs = client.get(f"{A}recompute/runs/")
        assert runs.status_code == 200
        assert "hx-get" not in runs.content.decode()  # done: the polling stops
        row = text_of(runs)
        assert re.search(r"Done \d+\.\d s " + f"{run.facts_written:,}", row), row

    def test_a_failed_run_shows_its_error(self):
        with organization_scope(self.org_a):
            run = services.metric_run_request(actor=self.alice, first_day="2026-11-01",
                                              last_day="2026-11-02")  # fmt: skip
            MetricRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, started_at=timezone.now(), finished_at=timezone.now(),
                error="division by zero",
            )  # fmt: skip
        page = text_of(self.as_user(self.alice).get(f"{A}recompute/runs/"))
        assert "Failed" in page and "division by zero" in page

    def test_a_bad_range_is_refused_beside_its_field(self):
        client = self.as_user(self.alice)
        response = client.post(f"{A}recompute/", {"first_day": "2026-11-05",
                                                  "last_day": "2026-11-01"})  # fmt: skip
        assert response.status_code == 400
        assert "The range ends before it starts." in re.search(
            r'id="id_last_day_error">(.*?)</div></div>', response.content.decode(), re.S
        ).group(1)
        response = client.post(f"{A}recompute/", {"first_day": "2020-01-01",
                                                  "last_day": "2026-01-01"})  # fmt: skip
        assert "at most three years" in text_of(response)
        with organization_scope(self.org_a):
            assert not MetricRun.objects.exists()

    def test_only_admins_and_only_their_organizations_runs(self):
        with organization_scope(self.org_b):
            services.metric_run_request(actor=self.charlie, first_day="2026-11-01",
                                        last_day="2026-11-02")  # fmt: skip
        assert "No recomputes yet." in text_of(self.as_user(self.alice).get(f"{A}recompute/"))
        for user in (self.mary, self.bob, self.vera):
            client = self.as_user(user)
            assert client.get(f"{A}recompute/").status_code == 403
            assert client.get(f"{A}recompute/runs/").status_code == 403
            data = {"first_day": "2026-11-01", "last_day": "2026-11-02"}
            assert client.post(f"{A}recompute/", data).status_code == 403


# --- the tenant boundary, links, and cheap pages ----------------------------------------------


class BoundaryTests(InputPagesTestCase):
    def test_another_organizations_pages_are_not_found(self):
        client = self.as_user(self.alice)
        for path in ("", "sales-costs/", "gross-margin/", "recompute/", "recompute/runs/"):
            assert client.get(f"{B}{path}").status_code == 404, path
        assert client.post(f"{B}spend/{self.b_spend.pk}/delete/").status_code == 404
        assert client.post(f"{B}sales-costs/{self.b_cost.pk}/delete/").status_code == 404
        with organization_scope(self.org_b):
            assert MarketingSpend.objects.count() == 1 and SalesCost.objects.count() == 1

    def test_anonymous_people_are_sent_to_log_in(self):
        response = self.client.get(A)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_marketing_and_admins_find_the_pages_from_the_nav_and_settings(self):
        link = f'href="{A}">Spend &amp; costs</a>'
        assert link in self.as_user(self.mary).get("/o/acme-test/").content.decode()
        assert link in self.as_user(self.alice).get("/o/acme-test/").content.decode()
        assert link not in self.as_user(self.bob).get("/o/acme-test/").content.decode()
        settings = self.as_user(self.alice).get("/o/acme-test/settings/").content.decode()
        assert f'<a href="{A}">Metric inputs</a>' in settings

    def test_list_pages_do_not_grow_with_rows(self):
        client = self.as_user(self.alice)
        urls = [A, f"{A}sales-costs/", f"{A}recompute/"]

        def counts() -> list[int]:
            result = []
            for url in urls:
                with CaptureQueriesContext(connection) as captured:
                    assert client.get(url).status_code == 200
                result.append(len(captured))
            return result

        with organization_scope(self.org_a):
            services.metric_run_request(actor=self.alice, first_day="2026-11-01",
                                        last_day="2026-11-02")  # fmt: skip
        counts()  # the first visit remembers the organization in the session
        before = counts()
        with organization_scope(self.org_a):
            for day in range(1, 6):
                services.marketing_spend_record(spent_on=f"2026-10-0{day}", channel="",
                                                amount="1", campaign=self.webinar)  # fmt: skip
                services.sales_cost_record(period_start=f"2026-10-0{day}",
                                           period_end="2026-10-31", category="tools",
                                           amount="1", rep=self.bob)  # fmt: skip
                services.metric_run_request(actor=self.bob, first_day="2026-11-01",
                                            last_day="2026-11-02")  # fmt: skip
        assert counts() == before
