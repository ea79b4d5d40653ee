"""The dashboard at the organization's home: the filters in the URL reach every tile and chart,
bad filters answer 400 with the reason, another organization's members get 404, each role sees
its own work first, a new organization gets guidance, the drill-down links open the matching
lead list, and the page's queries do not grow with the data."""

import json
import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads import services as lead_services
from leads.models import Lead, LeadFeedback, Reason, ReasonKind, SalesRep, Stage
from metrics import services as input_services
from metrics.compute import snapshot_replace
from metrics.dashboard import sparkline
from metrics.forms import MAX_RANGE_DAYS
from metrics.windows import windows_replace
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from sla.models import SlaKind, VolumePeriodResult
from sla.services import policies_ensure
from sla.sweep import sweep
from tests.base import make_member
from tests.sla.base import SlaTestCase, sql_handed_off

HOME = "/o/acme-test/"
# The page's queries, whatever the data: session and membership, the filter choices, the
# scoreboard (facts, windows, unit economics), the funnel, the breakdowns and the SQL target.
QUERY_BOUND = 45


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def blocks(html: str) -> list[str]:
    return re.findall(r'data-testid="dash-block-([a-z-]+)"', html)


def tile_value(html: str, key: str) -> str:
    match = re.search(rf'data-testid="tile-{key}".*?data-testid="tile-value">([^<]*)<', html,
                      re.S)  # fmt: skip
    assert match, key
    return unescape(match.group(1)).strip()


def tile_link(html: str, key: str) -> str:
    return unescape(re.search(rf'href="([^"]+)" data-testid="tile-{key}"', html)[1])


def lead_names(response) -> set[str]:
    return set(re.findall(r">(Lead\d+)</a>", response.content.decode()))


def figure(html: str, key: str) -> dict:
    match = re.search(rf'<script id="figure-{key}" type="application/json">(.*?)</script>', html,
                      re.S)  # fmt: skip
    assert match, key
    return json.loads(match.group(1))


class DashboardTestCase(SlaTestCase):
    """Acme (Chicago) with Bob its rep, in team "Field"; leads built through the services over
    the last days, then the snapshot computed as the nightly run would."""

    def setUp(self):
        super().setUp()
        SalesRep.objects.filter(user=self.bob).update(team="Field")
        self.mary = make_member(self.org_a, "mary@a.test", "Mary Marketing", Role.MARKETING)
        self.webinar = lead_services.campaign_create(actor=self.alice, name="Webinar",
                                                     channel="paid_search")  # fmt: skip
        self.loss = Reason.objects.filter(kind=ReasonKind.LOSS).first()
        self.tz = ZoneInfo(self.org_a.timezone)
        self.today = timezone.localdate(timezone.now(), timezone=self.tz)
        self.yesterday = self.today - timedelta(days=1)
        self.made = 0

    def build(self, count: int) -> None:
        """`count` leads eight days ago: even ones from paid search (the webinar, Software),
        odd ones by email (Retail). Each is handed to Bob and touched within minutes and rated;
        of every three, one is won, one lost and one left waiting in Bob's queue."""
        start = timezone.now() - timedelta(days=8)
        for _ in range(count):
            i, self.made = self.made, self.made + 1
            at = start + timedelta(minutes=30 * i)
            paid = i % 2 == 0
            lead = sql_handed_off(
                actor=self.alice, at=at, name=f"Lead{i}", company_name=f"Co {i}",
                source="paid_search" if paid else "email",
                industry="Software" if paid else "Retail",
                campaign=self.webinar if paid else None,
            )  # fmt: skip
            lead_services.touch_log(lead=lead, actor=self.bob, kind="call",
                                    at=at + timedelta(minutes=5))  # fmt: skip
            rated = at + timedelta(minutes=10)
            item = lead_services.feedback_rate(lead=lead, actor=self.bob,
                                               rating=4 if paid else 2, now=rated)  # fmt: skip
            LeadFeedback.objects.filter(pk=item.pk).update(created_at=rated)  # dated by the story
            if i % 3 == 2:
                continue
            lead_services.lead_accept(lead=lead, actor=self.bob, now=at + timedelta(hours=1))
            deal = lead_services.lead_convert(lead=lead, actor=self.bob, amount=Decimal("1000"),
                                              now=at + timedelta(days=1))  # fmt: skip
            if i % 3 == 0:
                lead_services.opportunity_win(opportunity=deal, actor=self.bob,
                                              now=at + timedelta(days=2))  # fmt: skip
            else:
                lead_services.opportunity_lose(opportunity=deal, actor=self.bob,
                                               reason_id=self.loss.pk,
                                               now=at + timedelta(days=2))  # fmt: skip

    def compute(self) -> None:
        sweep(timezone.now())
        snapshot_replace(self.yesterday - timedelta(days=400), self.yesterday)
        windows_replace([self.yesterday])

    def get(self, user, query: str = ""):
        self.client.force_login(user)
        return self.client.get(HOME + query)


class DashboardViewTests(DashboardTestCase):
    def test_the_default_view_shows_every_tile_and_chart_for_the_last_30_days(self):
        self.build(6)
        input_services.marketing_spend_record(spent_on=self.yesterday - timedelta(days=8),
                                              channel="paid_search", amount="600",
                                              campaign=self.webinar)  # fmt: skip
        self.compute()
        response = self.get(self.alice)
        assert response.status_code == 200
        html = response.content.decode()
        first = self.yesterday - timedelta(days=29)
        assert f"{first:%a} {first.day} {first:%b %Y} to" in text_of(html)
        assert tile_value(html, "mqls") == "6" and tile_value(html, "sqls") == "6"
        assert tile_value(html, "win_rate") == "50.0%"  # two won, two lost
        assert tile_value(html, "quality_score") == "3.00 / 5"
        assert tile_value(html, "sla_compliance") == "100.0%"
        assert tile_value(html, "cpa_fully_loaded") == "300 USD"  # 600 of spend, 2 customers
        for key in ("funnel", "mql-sql", "sla", "velocity", "cpa", "quality-channel",
                    "quality-campaign", "win-rate"):  # fmt: skip
            assert f'data-testid="chart-{key}"' in html, key
        assert "plotly/plotly.min.js" in html and "cdn" not in html.lower()
        funnel = figure(html, "funnel")["data"][0]
        assert funnel["x"][:3] == [6, 6, 6]  # new, MQL, SQL
        assert funnel["x"][5] == 2  # won
        # Projector-sized type in every chart.
        for key in ("funnel", "mql-sql", "win-rate"):
            assert figure(html, key)["layout"]["font"]["size"] >= 14

    def test_a_filter_in_the_url_applies_to_tiles_charts_and_links(self):
        self.build(6)
        self.compute()
        html = self.get(self.alice, "?channel=email&range=90").content.decode()
        assert tile_value(html, "mqls") == "3"
        assert 'value="email" selected' in html and 'value="90" selected' in html
        quality = figure(html, "quality-channel")["data"][0]
        assert quality["x"] == ["Email"] and quality["y"] == [3]
        win = figure(html, "win-rate")["data"][0]
        assert win["x"] == ["Retail"]  # the email leads' segment only
        assert "source=email" in unescape(tile_link(html, "mqls"))
        # Two filters at once: computed on demand, the same figures.
        html = self.get(self.alice, "?channel=paid_search&segment=Software").content.decode()
        assert tile_value(html, "mqls") == "3"
        assert figure(html, "win-rate")["data"][0]["x"] == ["Software"]
        # A filter on another dimension narrows the breakdowns too.
        html = self.get(self.alice, "?segment=Retail").content.decode()
        assert figure(html, "quality-channel")["data"][0]["x"] == ["Email"]
        assert 'data-testid="chart-empty-cpa"' in html  # spend has no segment

    def test_a_custom_range_with_nothing_in_it_shows_no_data_never_zero(self):
        self.build(3)
        self.compute()
        html = self.get(self.alice, "?range=custom&start=2024-01-01&end=2024-01-31").content
        html = html.decode()
        assert tile_value(html, "win_rate") == "No data"
        assert tile_value(html, "mqls") == "0"  # a count is a count
        assert "No deal closed in this range." in html
        assert 'data-testid="chart-empty-funnel"' in html

    def test_bad_filters_answer_400_with_the_reason_beside_the_field(self):
        self.build(1)
        self.compute()
        with organization_scope(self.org_b):
            foreign = lead_services.campaign_create(actor=self.charlie, name="Theirs",
                                                    channel="email")  # fmt: skip
        cases = {
            "?channel=carrier_pigeon": "“carrier_pigeon” is not a channel",
            f"?campaign={foreign.pk}": "is not a campaign of this organization",
            "?segment=Nope": "“Nope” is not a segment",
            "?range=custom&start=2026-01-01": "Give both dates for a custom range (From and To).",
            "?range=custom&start=2026-02-01&end=2026-01-01": "The To date is before the From date.",
            "?range=custom&start=2020-01-01&end=2024-01-01": "Choose at most two years.",
            f"?range=custom&start={self.today}&end={self.today + timedelta(days=2)}":
                "The To date is in the future.",
            "?start=yesterday&end=2026-01-01": "Enter a valid date.",
            "?range=7": "Select a valid choice.",
        }  # fmt: skip
        for query, message in cases.items():
            response = self.get(self.alice, query)
            assert response.status_code == 400, query
            html = response.content.decode()
            assert message in unescape(html), (query, text_of(html))
            assert 'data-testid="dash-invalid"' in html and "data-plotly-figure" not in html
        assert MAX_RANGE_DAYS == 731

    def test_a_member_of_another_organization_gets_404(self):
        self.build(1)
        self.compute()
        assert self.get(self.charlie).status_code == 404
        assert self.get(self.charlie, "?channel=email").status_code == 404
        self.client.logout()
        response = self.client.get(HOME)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_each_role_sees_its_own_work_first(self):
        self.build(3)  # Lead2 waits in Bob's queue
        self.compute()
        admin = self.get(self.alice).content.decode()
        assert blocks(admin)[:2] == ["tiles", "funnel"] and "rep" not in blocks(admin)
        viewer = self.get(self.vera).content.decode()
        assert blocks(viewer) == blocks(admin)
        marketing = self.get(self.mary).content.decode()
        assert blocks(marketing)[:3] == ["quality-campaign", "quality-channel", "cpa"]
        sales = self.get(self.bob).content.decode()
        assert blocks(sales)[:2] == ["rep", "tiles"]
        assert re.search(r'data-testid="rep-open-sqls">1<', sales)
        assert 'href="/o/acme-test/queue/"' in sales
        assert re.search(r'data-testid="rep-compliance">100.0%<', sales)
        # Every block is there for every role; only the order differs.
        assert set(blocks(sales)) - {"rep"} == set(blocks(admin)) == set(blocks(marketing))

    def test_a_new_organization_is_told_what_to_do_instead_of_empty_charts(self):
        self.client.force_login(self.charlie)
        html = self.client.get("/o/globex-test/").content.decode()
        assert 'data-testid="dash-empty"' in html and "data-plotly-figure" not in html
        for link in ("/o/globex-test/leads/import/", "/o/globex-test/metrics/inputs/",
                     "/o/globex-test/metrics/inputs/recompute/"):  # fmt: skip
            assert f'href="{link}"' in html, link
        assert "nightly run" in html
        # Before the first computation a rep still sees their queue.
        html = self.get(self.bob).content.decode()
        assert 'data-testid="dash-empty"' in html and 'data-testid="rep-open-sqls"' in html
        assert "/metrics/inputs/recompute/" not in html  # only admins recompute

    def test_the_sql_target_line_follows_the_volume_commitment(self):
        self.build(2)
        self.compute()
        policy = policies_ensure()[SlaKind.SQL_VOLUME]
        # A week of 14 SQLs ending yesterday: 2 a day.
        first = self.yesterday - timedelta(days=6)
        start = datetime.combine(first, time.min, tzinfo=self.tz)
        VolumePeriodResult.objects.create(policy=policy, starts_at=start,
                                          ends_at=start + timedelta(days=7), target=14)  # fmt: skip
        traces = figure(self.get(self.alice).content.decode(), "mql-sql")["data"]
        target = next(trace for trace in traces if trace["name"] == "SQL target")
        assert target["y"][-1] == 14 and target["y"][0] is None
        # A campaign filter cuts across the commitment: no line.
        traces = figure(self.get(self.alice, f"?campaign={self.webinar.pk}").content.decode(),
                        "mql-sql")["data"]  # fmt: skip
        assert [trace["name"] for trace in traces] == ["MQLs", "SQLs"]

    def test_the_page_costs_a_fixed_number_of_queries_whatever_the_data(self):
        views = ((self.alice, ""), (self.bob, ""), (self.alice, "?channel=email"),
                 (self.alice, "?channel=email&segment=Retail"))  # fmt: skip

        def count_queries() -> list[int]:
            counts = []
            for user, query in views:
                self.client.force_login(user)
                self.client.get(HOME + query)  # the session's first use is not the page's cost
                with CaptureQueriesContext(connection) as queries:
                    assert self.client.get(HOME + query).status_code == 200
                counts.append(len(queries))
            return counts

        self.build(2)
        self.compute()
        few = count_queries()
        self.build(10)
        self.compute()
        assert count_queries() == few
        assert max(few) <= QUERY_BOUND, few


class DrillDownTests(DashboardTestCase):
    def test_a_funnel_stage_opens_the_leads_that_entered_it_with_the_same_filters(self):
        self.build(6)
        self.compute()
        self.client.force_login(self.alice)
        html = self.client.get(HOME + "?channel=paid_search").content.decode()
        link = unescape(re.search(r'href="([^"]+)" data-testid="funnel-link-won"', html)[1])
        first = self.yesterday - timedelta(days=29)
        assert link == (f"/o/acme-test/leads/?source=paid_search&since={first}"
                        f"&until={self.yesterday}&reached=won")  # fmt: skip
        funnel = figure(html, "funnel")["data"][0]
        won = funnel["x"][funnel["y"].index("Won")]
        with organization_scope(self.org_a):
            expected = set(Lead.objects.filter(source="paid_search", stage=Stage.WON)
                           .values_list("full_name", flat=True))  # fmt: skip
        assert lead_names(self.client.get(link)) == expected and len(expected) == won == 1
        # The funnel's SQL stage: every paid-search lead, handed off in the range.
        sqls = unescape(re.search(r'href="([^"]+)" data-testid="funnel-link-sql"', html)[1])
        assert lead_names(self.client.get(sqls)) == {"Lead0", "Lead2", "Lead4"}

    def test_segment_team_and_dates_filter_the_lead_list(self):
        self.build(4)
        self.compute()
        self.client.force_login(self.alice)
        leads = "/o/acme-test/leads/"
        assert lead_names(self.client.get(f"{leads}?segment=Retail&team=Field")) == {
            "Lead1", "Lead3",
        }  # fmt: skip
        assert lead_names(self.client.get(f"{leads}?team=Nobody")) == set()
        assert lead_names(self.client.get(f"{leads}?reached=mql&until=2020-01-01")) == set()
        since = self.today - timedelta(days=9)
        assert len(lead_names(self.client.get(f"{leads}?since={since}"))) == 4
        won = self.client.get(f"{leads}?reached=won&since={since}")
        assert lead_names(won) == {"Lead0", "Lead3"}

    def test_every_tile_and_bar_links_into_the_lead_list(self):
        self.build(3)
        self.compute()
        html = self.get(self.alice).content.decode()
        for key in ("mqls", "win_rate", "velocity", "quality_score"):
            tile = re.search(rf'<a class="tile[^"]*" href="([^"]+)" data-testid="tile-{key}"',
                             html)  # fmt: skip
            assert tile and tile[1].startswith("/o/acme-test/leads/?"), key
        velocity = tile_link(html, "velocity")
        assert "stage=opportunity" in velocity and "since" not in velocity
        bars = figure(html, "quality-channel")["data"][0]["customdata"]
        assert all(link.startswith("/o/acme-test/leads/?source=") for link in bars)
        win = figure(html, "win-rate")["data"][0]["customdata"]
        assert all(item[0].startswith("/o/acme-test/leads/?segment=") for item in win)


def test_a_sparkline_breaks_at_weeks_without_data_and_needs_two_points():
    assert sparkline([None, 1.0]) == ("", None)
    path, end = sparkline([1.0, None, 2.0, 3.0])
    assert path.count("M") == 2 and path.count("L") == 1
    assert end == (120.0, 3.0)  # the last point, the highest value, at the top
    flat, _end = sparkline([5.0, 5.0])
    assert flat == "M0.0,29.0 L120.0,29.0"
