"""The metrics inputs API: spend, sales cost, their CSV imports, the gross margin and recompute
runs. Happy paths on data made through the services, field-level 400s for bad input, roles, and
the tenant boundary (another organization's rows are 404, its ids unknown)."""

import time
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from leads import services as lead_services
from metrics import services
from metrics.api import MAX_CSV_BYTES
from metrics.models import MarketingSpend, MetricRun, MetricsSettings, RunStatus, SalesCost
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from tests.base import TwoOrganizationsTestCase, make_member, make_token

SPEND = "/api/v1/metrics/marketing-spend/"
COSTS = "/api/v1/metrics/sales-costs/"
SETTINGS = "/api/v1/metrics/settings/"
RUNS = "/api/v1/metrics/runs/"

SPEND_CSV = (
    "date,channel,amount,campaign,note\n"
    "2026-11-02,paid_search,1200.50,Winter webinar,Google Ads\n"
    "2026-11-03,social,300,,LinkedIn\n"
)
COST_CSV = (
    "period_start,period_end,category,amount,team,rep_email\n"
    "2026-11-01,2026-11-30,salary,42000,Field sales,\n"
    "2026-11-01,2026-11-30,commission,3100.25,,bob@a.test\n"
)


class MetricsAPITestCase(TwoOrganizationsTestCase):
    """Organization A: mary (marketing), a webinar campaign, three spend rows in November and
    two sales costs. Organization B: its own campaign, one spend row and one cost."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.mary = make_member(cls.org_a, "mary@a.test", "Mary Marketing", Role.MARKETING)
        with organization_scope(cls.org_a):
            cls.webinar = lead_services.campaign_create(
                actor=cls.alice, name="Winter webinar", channel="events"
            )
            cls.early = services.marketing_spend_record(
                spent_on="2026-11-01", channel="paid_search", amount="100"
            )
            cls.webinar_spend = services.marketing_spend_record(
                spent_on="2026-11-10", channel="", amount="250.50", campaign=cls.webinar
            )
            cls.late = services.marketing_spend_record(
                spent_on="2026-11-20", channel="social", amount="75", note="LinkedIn"
            )
            cls.salary = services.sales_cost_record(
                period_start="2026-11-01", period_end="2026-11-30", category="salary",
                amount="42000", team="East",
            )  # fmt: skip
            cls.commission = services.sales_cost_record(
                period_start="2026-12-01", period_end="2026-12-31", category="commission",
                amount="3100.25", rep=cls.bob,
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

    def a_spend(self) -> list:
        with organization_scope(self.org_a):
            return sorted(MarketingSpend.objects.values_list("spent_on", "channel", "amount"))

    def a_costs(self) -> list:
        with organization_scope(self.org_a):
            return sorted(SalesCost.objects.values_list("period_start", "category", "amount"))

    def post_csv(self, client, url: str, text: str | bytes):
        body = text.encode() if isinstance(text, str) else text
        return client.generic("POST", url, body, content_type="text/csv")


# --- marketing spend --------------------------------------------------------------------------


class SpendListTests(MetricsAPITestCase):
    def test_every_member_lists_the_spend_newest_first(self):
        response = self.api_as(self.vera, self.org_a).get(SPEND)
        assert response.status_code == 200
        rows = response.json()["results"]
        assert [r["id"] for r in rows] == [self.late.pk, self.webinar_spend.pk, self.early.pk]
        webinar = rows[1]
        assert webinar == {
            "id": self.webinar_spend.pk,
            "spent_on": "2026-11-10",
            "channel": "events",
            "campaign": self.webinar.pk,
            "campaign_name": "Winter webinar",
            "amount": "250.50",
            "currency": "USD",
            "note": "",
            "created_at": webinar["created_at"],
        }

    def test_filters_by_dates_channel_and_campaign(self):
        client = self.api_as(self.bob, self.org_a)

        def ids(query: str) -> list[int]:
            response = client.get(f"{SPEND}?{query}")
            assert response.status_code == 200, response.json()
            return [row["id"] for row in response.json()["results"]]

        assert ids("since=2026-11-10") == [self.late.pk, self.webinar_spend.pk]
        assert ids("until=2026-11-10") == [self.webinar_spend.pk, self.early.pk]
        assert ids("since=2026-11-02&until=2026-11-19") == [self.webinar_spend.pk]
        assert ids("channel=social") == [self.late.pk]
        assert ids(f"campaign={self.webinar.pk}") == [self.webinar_spend.pk]
        # Another organization's campaign filters to nothing, like one that does not exist.
        assert ids(f"campaign={self.b_campaign.pk}") == []

    def test_pages_walk_every_row_once(self):
        client = self.api_as(self.bob, self.org_a)
        first = client.get(f"{SPEND}?page_size=2").json()
        second = client.get(first["next"]).json()
        seen = [r["id"] for r in first["results"] + second["results"]]
        assert seen == [self.late.pk, self.webinar_spend.pk, self.early.pk]
        assert second["next"] is None

    def test_bad_filters_are_field_errors(self):
        client = self.api_as(self.alice, self.org_a)
        cases = {
            "since=2026-13-01": "since",
            "until=yesterday": "until",
            "since=2026-11-10&until=2026-11-01": "until",
            "channel=tv": "channel",
            "campaign=abc": "campaign",
            "campaign=99999999999999999999": "campaign",
            "cursor=garbage": "cursor",
        }
        for query, field in cases.items():
            response = client.get(f"{SPEND}?{query}")
            assert response.status_code == 400, query
            assert field in response.json(), (query, response.json())

    def test_another_organizations_row_is_not_found(self):
        client = self.api_as(self.alice, self.org_a)
        assert client.get(f"{SPEND}{self.b_spend.pk}/").status_code == 404
        assert client.get(f"{SPEND}{self.early.pk}/").json()["amount"] == "100.00"
        ids = [row["id"] for row in client.get(SPEND).json()["results"]]
        assert self.b_spend.pk not in ids


class SpendWriteTests(MetricsAPITestCase):
    def test_marketing_adds_spend_and_the_campaign_gives_its_channel(self):
        body = {"spent_on": "2026-11-25", "amount": "99.90", "campaign": self.webinar.pk,
                "note": "Booth"}  # fmt: skip
        response = self.api_as(self.mary, self.org_a).post(SPEND, body, format="json")
        assert response.status_code == 201, response.json()
        data = response.json()
        assert (data["channel"], data["amount"], data["currency"]) == ("events", "99.90", "USD")
        with organization_scope(self.org_a):
            saved = MarketingSpend.objects.get(pk=data["id"])
        assert (saved.spent_on, saved.amount, saved.campaign) == (
            date(2026, 11, 25), Decimal("99.90"), self.webinar,
        )  # fmt: skip

    def test_an_admin_adds_spend_with_a_number_amount(self):
        body = {"spent_on": "2026-11-26", "channel": "email", "amount": 12, "currency": "USD"}
        response = self.api_as(self.alice, self.org_a).post(SPEND, body, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["amount"] == "12.00"

    def test_bad_spend_is_refused_per_field_and_nothing_is_saved(self):
        client = self.api_as(self.mary, self.org_a)
        before = self.a_spend()
        cases = [
            ({"spent_on": "2026-13-01", "channel": "email", "amount": "5"}, {"spent_on"}),
            ({"spent_on": "2026-11-01", "channel": "tv", "amount": "5"}, {"channel"}),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "-5"}, {"amount"}),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "1.234"}, {"amount"}),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "abc"}, {"amount"}),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "1e30"}, {"amount"}),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "NaN"}, {"amount"}),
            ({"channel": "email"}, {"spent_on", "amount"}),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "5", "currency": "XYZ"},
             {"currency"}),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "5", "campaign": "x"},
             {"campaign"}),
            ({"spent_on": "2026-11-01", "channel": "email", "amount": "5", "note": "n" * 301},
             {"note"}),
            # The service's rules: a channel or a campaign; the organization's currency.
            ({"spent_on": "2026-11-01", "amount": "5"}, {"channel"}),
        ]  # fmt: skip
        for body, fields in cases:
            response = client.post(SPEND, body, format="json")
            assert response.status_code == 400, body
            assert set(response.json()) == fields, (body, response.json())
        response = client.post(
            SPEND, {"spent_on": "2026-11-01", "channel": "email", "amount": "5",
                    "currency": "EUR"}, format="json",
        )  # fmt: skip
        assert response.status_code == 400
        assert "convert EUR first" in response.json()["currency"][0]
        assert self.a_spend() == before

    def test_another_organizations_campaign_is_an_unknown_id(self):
        body = {"spent_on": "2026-11-01", "amount": "5", "campaign": self.b_campaign.pk}
        response = self.api_as(self.mary, self.org_a).post(SPEND, body, format="json")
        assert response.status_code == 400
        assert "does not exist" in response.json()["campaign"][0]

    def test_marketing_deletes_spend_but_not_another_organizations(self):
        client = self.api_as(self.mary, self.org_a)
        assert client.delete(f"{SPEND}{self.late.pk}/").status_code == 204
        assert client.get(f"{SPEND}{self.late.pk}/").status_code == 404
        assert client.delete(f"{SPEND}{self.b_spend.pk}/").status_code == 404
        with organization_scope(self.org_b):
            assert MarketingSpend.objects.filter(pk=self.b_spend.pk).exists()

    def test_sales_and_viewers_read_but_do_not_write(self):
        body = {"spent_on": "2026-11-01", "channel": "email", "amount": "5"}
        for user in (self.bob, self.vera):
            client = self.api_as(user, self.org_a)
            assert client.get(SPEND).status_code == 200
            assert client.post(SPEND, body, format="json").status_code == 403
            assert client.delete(f"{SPEND}{self.early.pk}/").status_code == 403
            assert self.post_csv(client, f"{SPEND}import/", SPEND_CSV).status_code == 403
        assert len(self.a_spend()) == 3

    def test_spend_cannot_be_edited_in_place(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.patch(f"{SPEND}{self.early.pk}/", {"amount": "1"}, format="json")
        assert response.status_code == 405

    def test_anonymous_gets_401(self):
        client = APIClient()
        for url in (SPEND, COSTS, SETTINGS, RUNS):
            assert client.get(url).status_code == 401, url
        assert self.post_csv(client, f"{SPEND}import/", SPEND_CSV).status_code == 401


class SpendImportTests(MetricsAPITestCase):
    def test_a_clean_file_posted_as_text_csv_is_saved(self):
        response = self.post_csv(self.api_as(self.mary, self.org_a), f"{SPEND}import/", SPEND_CSV)
        assert response.status_code == 200, response.json()
        assert response.json() == {"saved": 2}
        with organization_scope(self.org_a):
            imported = MarketingSpend.objects.get(spent_on=date(2026, 11, 2))
        assert (imported.campaign, imported.amount, imported.note) == (
            self.webinar, Decimal("1200.50"), "Google Ads",
        )  # fmt: skip

    def test_a_file_with_a_bad_line_saves_nothing_and_names_the_line(self):
        client = self.api_as(self.mary, self.org_a)
        before = self.a_spend()
        text = SPEND_CSV + "2026-11-04,email,abc,,\n\n2026-11-05,email,10,Globex fair,\n"
        response = self.post_csv(client, f"{SPEND}import/", text)
        assert response.status_code == 400
        # Line 6: the blank line 5 counts, as in the person's editor.
        assert response.json() == {
            "saved": 0,
            "errors": [
                {"line": 4, "reason": "amount: 'abc' is not an amount."},
                {"line": 6, "reason": "campaign: No campaign is called 'Globex fair'."},
            ],
        }
        assert self.a_spend() == before
        fixed = SPEND_CSV + "2026-11-04,email,12.5,,\n"
        response = self.post_csv(client, f"{SPEND}import/", fixed)
        assert response.json() == {"saved": 3}
        assert len(self.a_spend()) == len(before) + 3

    def test_an_unquoted_thousands_separator_is_a_line_error_not_a_wrong_amount(self):
        text = "date,channel,amount\n2026-11-04,email,1,200\n"
        response = self.post_csv(self.api_as(self.mary, self.org_a), f"{SPEND}import/", text)
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert error["line"] == 2 and "quote a value that contains a comma" in error["reason"]

    def test_a_multipart_upload_is_saved(self):
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("spend.csv", SPEND_CSV.encode(), content_type="text/csv")
        response = self.api_as(self.alice, self.org_a).post(
            f"{SPEND}import/", {"file": upload}, format="multipart"
        )
        assert response.status_code == 200, response.json()
        assert response.json() == {"saved": 2}

    def test_problems_with_the_file_itself_are_400s_on_file(self):
        client = self.api_as(self.mary, self.org_a)
        url = f"{SPEND}import/"
        cases = [
            (self.post_csv(client, url, "day,amount\n2026-11-01,5\n"), "Missing columns"),
            (self.post_csv(client, url, "date,channel,amount\n2026-11-01,email,5\n".encode(
                "utf-16")), "not UTF-8"),
            (self.post_csv(client, url, b""), "Missing columns"),
            (client.post(url, {"other": "x"}, format="multipart"), "`file` field"),
            (self.post_csv(client, url, "date,channel,amount\n" + "x" * MAX_CSV_BYTES),
             "larger than"),
            (self.post_csv(client, url, 'date,channel,amount\n2026-11-01,email,"' + "9" * 140_000
                           + '"\n'), "Line 2"),
        ]  # fmt: skip
        for response, message in cases:
            assert response.status_code == 400, message
            body = response.json()
            assert body["saved"] == 0 and body["errors"] == [], body
            assert message in body["file"][0], body
        assert len(self.a_spend()) == 3

    def test_json_is_not_a_csv(self):
        response = self.api_as(self.mary, self.org_a).post(
            f"{SPEND}import/", {"rows": []}, format="json"
        )
        assert response.status_code == 415

    def test_a_file_imports_into_the_callers_organization_only(self):
        self.post_csv(self.api_as(self.charlie, self.org_b), f"{SPEND}import/",
                      "date,channel,amount\n2026-11-09,email,5\n")  # fmt: skip
        assert len(self.a_spend()) == 3
        with organization_scope(self.org_b):
            assert MarketingSpend.objects.count() == 2


# --- sales cost -------------------------------------------------------------------------------


class SalesCostTests(MetricsAPITestCase):
    def test_admins_list_costs_with_their_rep(self):
        response = self.api_as(self.alice, self.org_a).get(COSTS)
        assert response.status_code == 200
        rows = response.json()["results"]
        assert [r["id"] for r in rows] == [self.commission.pk, self.salary.pk]
        assert rows[0] | {"created_at": None} == {
            "id": self.commission.pk, "period_start": "2026-12-01", "period_end": "2026-12-31",
            "team": "", "rep": self.bob.pk, "rep_name": "Bob Sales", "category": "commission",
            "amount": "3100.25", "currency": "USD", "note": "", "created_at": None,
        }  # fmt: skip

    def test_filters_overlap_the_period_and_match_category_rep_and_team(self):
        client = self.api_as(self.alice, self.org_a)

        def ids(query: str) -> list[int]:
            response = client.get(f"{COSTS}?{query}")
            assert response.status_code == 200, response.json()
            return [row["id"] for row in response.json()["results"]]

        assert ids("since=2026-11-30") == [self.commission.pk, self.salary.pk]
        assert ids("since=2026-12-01") == [self.commission.pk]
        assert ids("until=2026-11-30") == [self.salary.pk]
        assert ids("category=salary") == [self.salary.pk]
        assert ids(f"rep={self.bob.pk}") == [self.commission.pk]
        assert ids("team=east") == [self.salary.pk]
        bad = ["category=bonus", "rep=x", "since=2026-02-30", "since=2026-12-01&until=2026-11-01"]
        for query in bad:
            assert client.get(f"{COSTS}?{query}").status_code == 400, query

    def test_only_admins_read_or_write_sales_cost(self):
        body = {"period_start": "2026-11-01", "period_end": "2026-11-30", "category": "tools",
                "amount": "10"}  # fmt: skip
        for user in (self.mary, self.bob, self.vera):
            client = self.api_as(user, self.org_a)
            assert client.get(COSTS).status_code == 403
            assert client.get(f"{COSTS}{self.salary.pk}/").status_code == 403
            assert client.post(COSTS, body, format="json").status_code == 403
            assert client.delete(f"{COSTS}{self.salary.pk}/").status_code == 403
            assert self.post_csv(client, f"{COSTS}import/", COST_CSV).status_code == 403
        assert len(self.a_costs()) == 2

    def test_an_admin_adds_a_reps_cost(self):
        body = {"period_start": "2026-10-01", "period_end": "2026-10-31", "category": "commission",
                "amount": "800", "rep": self.bob.pk, "note": "Q4 SPIFF"}  # fmt: skip
        response = self.api_as(self.alice, self.org_a).post(COSTS, body, format="json")
        assert response.status_code == 201, response.json()
        assert (response.json()["rep_name"], response.json()["amount"]) == ("Bob Sales", "800.00")

    def test_bad_cost_is_refused_per_field(self):
        client = self.api_as(self.alice, self.org_a)
        good = {"period_start": "2026-11-01", "period_end": "2026-11-30", "category": "tools",
                "amount": "10"}  # fmt: skip
        cases = [
            ({**good, "period_end": "2026-10-31"}, {"period_end"}),
            ({**good, "category": "bonus"}, {"category"}),
            ({**good, "amount": "-1"}, {"amount"}),
            ({**good, "rep": self.charlie.pk}, {"rep"}),  # not a member of A
            ({**good, "rep": 0}, {"rep"}),
            ({**good, "currency": "EUR"}, {"currency"}),
            ({**good, "team": "t" * 101}, {"team"}),
            ({"amount": "10"}, {"period_start", "period_end", "category"}),
        ]
        for body, fields in cases:
            response = client.post(COSTS, body, format="json")
            assert response.status_code == 400, body
            assert set(response.json()) == fields, (body, response.json())
        assert len(self.a_costs()) == 2

    def test_delete_and_the_tenant_boundary(self):
        client = self.api_as(self.alice, self.org_a)
        assert client.get(f"{COSTS}{self.b_cost.pk}/").status_code == 404
        assert client.delete(f"{COSTS}{self.b_cost.pk}/").status_code == 404
        assert client.delete(f"{COSTS}{self.salary.pk}/").status_code == 204
        assert self.a_costs() == [(date(2026, 12, 1), "commission", Decimal("3100.25"))]
        with organization_scope(self.org_b):
            assert SalesCost.objects.filter(pk=self.b_cost.pk).exists()

    def test_a_cost_file_is_all_or_nothing(self):
        client = self.api_as(self.alice, self.org_a)
        bad = COST_CSV + "2026-11-01,2026-11-30,tools,10,,charlie@b.test\n"
        response = self.post_csv(client, f"{COSTS}import/", bad)
        assert response.status_code == 400
        assert response.json()["errors"] == [
            {"line": 4, "reason": "rep_email: No member has the email charlie@b.test."}
        ]
        assert len(self.a_costs()) == 2
        response = self.post_csv(client, f"{COSTS}import/", COST_CSV)
        assert response.json() == {"saved": 2}
        assert len(self.a_costs()) == 4


# --- settings ---------------------------------------------------------------------------------


class SettingsTests(MetricsAPITestCase):
    def test_an_admin_sets_reads_and_clears_the_gross_margin(self):
        client = self.api_as(self.alice, self.org_a)
        assert client.get(SETTINGS).json() == {"gross_margin_percent": None, "currency": "USD"}
        response = client.put(SETTINGS, {"gross_margin_percent": "72.5"}, format="json")
        assert response.status_code == 200
        assert response.json() == {"gross_margin_percent": "72.50", "currency": "USD"}
        assert client.get(SETTINGS).json()["gross_margin_percent"] == "72.50"
        # The other organization's margin is its own.
        b = self.api_as(self.charlie, self.org_b).get(SETTINGS).json()
        assert b["gross_margin_percent"] is None
        response = client.put(SETTINGS, {"gross_margin_percent": None}, format="json")
        assert response.json()["gross_margin_percent"] is None
        with organization_scope(self.org_a):
            assert MetricsSettings.objects.get().gross_margin_percent is None

    def test_bad_margins_are_field_errors(self):
        client = self.api_as(self.alice, self.org_a)
        bodies = [{"gross_margin_percent": value} for value in ("120", "-1", "abc", "1.234")]
        for body in [*bodies, {}]:
            response = client.put(SETTINGS, body, format="json")
            assert response.status_code == 400, body
            assert set(response.json()) == {"gross_margin_percent"}, body
        with organization_scope(self.org_a):
            assert not MetricsSettings.objects.exists()

    def test_only_admins(self):
        for user in (self.mary, self.bob, self.vera):
            client = self.api_as(user, self.org_a)
            assert client.get(SETTINGS).status_code == 403
            response = client.put(SETTINGS, {"gross_margin_percent": "50"}, format="json")
            assert response.status_code == 403
        with organization_scope(self.org_a):
            assert not MetricsSettings.objects.exists()


# --- runs -------------------------------------------------------------------------------------


class RunTests(MetricsAPITestCase):
    def test_an_admin_requests_a_recompute_and_reads_it_back(self):
        client = self.api_as(self.alice, self.org_a)
        with self.captureOnCommitCallbacks() as callbacks:
            response = client.post(
                RUNS, {"first_day": "2026-11-01", "last_day": "2026-11-30"}, format="json"
            )
        assert response.status_code == 201, response.json()
        run = response.json()
        assert (run["status"], run["first_day"], run["last_day"]) == (
            "pending", "2026-11-01", "2026-11-30",
        )  # fmt: skip
        assert run["requested_by"]["email"] == "alice@a.test"
        assert run["duration_seconds"] is None
        assert len(callbacks) == 1  # the task is sent once the run row is committed
        assert client.get(f"{RUNS}{run['id']}/").json() == run
        assert [r["id"] for r in client.get(RUNS).json()["results"]] == [run["id"]]

    def test_bad_ranges_are_field_errors(self):
        client = self.api_as(self.alice, self.org_a)
        cases = [
            ({"first_day": "2026-11-05", "last_day": "2026-11-01"}, "last_day"),
            ({"first_day": "2020-01-01", "last_day": "2026-01-01"}, "first_day"),
            ({"first_day": "2026-11-31", "last_day": "2026-12-01"}, "first_day"),
            ({"first_day": "2026-11-01"}, "last_day"),
        ]
        for body, field in cases:
            response = client.post(RUNS, body, format="json")
            assert response.status_code == 400, body
            assert field in response.json(), (body, response.json())
        with organization_scope(self.org_a):
            assert not MetricRun.objects.exists()

    def test_runs_are_admin_only_and_stay_in_their_organization(self):
        with organization_scope(self.org_b):
            b_run = services.metric_run_request(
                actor=self.charlie, first_day="2026-11-01", last_day="2026-11-02"
            )
        client = self.api_as(self.alice, self.org_a)
        assert client.get(f"{RUNS}{b_run.pk}/").status_code == 404
        assert client.get(RUNS).json()["results"] == []
        for user in (self.mary, self.bob, self.vera):
            other = self.api_as(user, self.org_a)
            assert other.get(RUNS).status_code == 403
            body = {"first_day": "2026-11-01", "last_day": "2026-11-02"}
            assert other.post(RUNS, body, format="json").status_code == 403
        assert client.delete(f"{RUNS}{b_run.pk}/").status_code == 405


# --- reads stay cheap, the schema documents it all --------------------------------------------


class QueryCountTests(MetricsAPITestCase):
    def count_queries(self, client, url) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, url
        return len(captured)

    def test_lists_do_not_grow_with_rows(self):
        client = self.api_as(self.alice, self.org_a)
        client.get(SPEND)  # first use writes last_used_at; measure steady state
        urls = [SPEND, COSTS, RUNS]
        with organization_scope(self.org_a):
            services.metric_run_request(actor=self.alice, first_day="2026-11-01",
                                        last_day="2026-11-02")  # fmt: skip
        before = [self.count_queries(client, url) for url in urls]
        with organization_scope(self.org_a):
            for day in range(1, 6):
                services.marketing_spend_record(spent_on=f"2026-10-0{day}", channel="",
                                                amount="1", campaign=self.webinar)  # fmt: skip
                services.sales_cost_record(period_start=f"2026-10-0{day}",
                                           period_end="2026-10-31", category="tools",
                                           amount="1", rep=self.bob)  # fmt: skip
                services.metric_run_request(actor=self.bob, first_day="2026-11-01",
                                            last_day="2026-11-02")  # fmt: skip
        assert [self.count_queries(client, url) for url in urls] == before


class SchemaTests(TwoOrganizationsTestCase):
    def test_the_schema_documents_the_metrics_endpoints_without_warnings(self):
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
        schema = self.client.get("/api/schema/?format=json").json()
        paths = schema["paths"]
        assert {
            "/api/v1/metrics/marketing-spend/", "/api/v1/metrics/marketing-spend/{id}/",
            "/api/v1/metrics/marketing-spend/import/", "/api/v1/metrics/sales-costs/",
            "/api/v1/metrics/sales-costs/{id}/", "/api/v1/metrics/sales-costs/import/",
            "/api/v1/metrics/settings/", "/api/v1/metrics/runs/", "/api/v1/metrics/runs/{id}/",
        } <= set(paths)  # fmt: skip
        assert set(paths["/api/v1/metrics/marketing-spend/{id}/"]) == {"get", "delete"}
        body = paths["/api/v1/metrics/marketing-spend/import/"]["post"]["requestBody"]["content"]
        assert {"text/csv", "multipart/form-data"} <= set(body)
        refused = paths["/api/v1/metrics/sales-costs/import/"]["post"]["responses"]["400"]
        assert refused["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/CsvRefused"
        }


# --- the recompute, through the real worker ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_recompute_posted_to_the_api_finishes_on_the_worker(celery_worker):
    organization = tenancy_services.organization_create(name="Runs Org", slug="runs-org")
    admin = make_member(organization, "ruth@runs.test", "Ruth Admin", Role.ADMIN)
    with organization_scope(organization):
        services.marketing_spend_record(spent_on="2026-11-02", channel="email", amount="40")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(admin, organization)}")
    response = client.post(RUNS, {"first_day": "2026-11-01", "last_day": "2026-11-07"},
                           format="json")  # fmt: skip
    assert response.status_code == 201
    url = f"{RUNS}{response.json()['id']}/"
    deadline = time.monotonic() + 20
    run = response.json()
    while run["status"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        run = client.get(url).json()
    assert run["status"] == RunStatus.DONE, run["error"]
    assert run["facts_written"] > 0 and run["duration_seconds"] >= 0
    assert run["error"] == ""
