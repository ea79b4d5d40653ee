"""The customer journey map: six leads played through the lifecycle with the services (a win, a
loss with its reason, a rejection and a re-engagement, a disqualification, a nurture), the
snapshot computed, and every number of the map and its table checked against what the story
says: the moves per edge, conversions, the reasons given, and step durations computed here from
the story's own timestamps. Filters (stored and on-demand paths), the preset ranges, refused
filters, the empty states and the tenant boundary."""

import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.utils import timezone

from leads import services as lead_services
from leads.models import Reason, SalesRep, Stage
from metrics.compute import Filters, snapshot_replace
from metrics.journey import journey
from metrics.scoreboard import funnel
from metrics.windows import windows_replace
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase
from tests.sla.base import QUALIFYING

CHICAGO = ZoneInfo("America/Chicago")
FIRST, LAST = date(2026, 11, 2), date(2026, 11, 11)  # after the DST change of 1 Nov
PAGE = "/o/acme-test/journey/"
RANGE = {"range": "custom", "start": FIRST.isoformat(), "end": LAST.isoformat()}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Day `day` of the story (1 = FIRST) at a wall-clock time in Chicago."""
    return datetime.combine(
        FIRST + timedelta(days=day - 1), datetime.min.time(), tzinfo=CHICAGO
    ).replace(hour=hour, minute=minute)


def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def text_of(response) -> str:
    """The page's visible words, tags stripped and spaces collapsed (none before punctuation)."""
    words = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+([,.:;)%])", r"\1", re.sub(r"\s+", " ", unescape(words)))


def sankey_links(figure: dict) -> dict[tuple[str, str], float]:
    """(source node, target node) -> band width, nodes by their label without the count."""
    trace = figure["data"][0]
    names = [label.rsplit(" ", 1)[0] for label in trace["node"]["label"]]
    link = trace["link"]
    return {
        (names[source], names[target]): value
        for source, target, value in zip(link["source"], link["target"], link["value"], strict=True)
    }


# Step durations from the story below: (lead, entered the stage, moved on).
STEPS = {
    "new_mql": [("ada", at(1, 9), at(2, 9)), ("bea", at(1, 10), at(2, 16)),
                ("dee", at(1, 12), at(4, 12)), ("eve", at(2, 8), at(3, 8))],
    "mql_sql": [("ada", at(2, 9), at(2, 9)), ("bea", at(2, 16), at(2, 16)),
                ("eve", at(3, 8), at(3, 8))],
    "sql_accepted": [("ada", at(2, 9), at(3, 10)), ("eve", at(3, 8), at(4, 8))],
    "accepted_opportunity": [("ada", at(3, 10), at(5, 10)), ("eve", at(4, 8), at(6, 8))],
    "opportunity_won": [("ada", at(5, 10), at(10, 12))],
}  # fmt: skip


class JourneyTestCase(TwoOrganizationsTestCase):
    """Acme in Chicago. Paid search (campaign "Search ads", industry Software): Ada is won, Bea
    is rejected for "No budget" and re-engaged as an MQL, Cy is disqualified as spam. Referral
    (no campaign, Retail): Dee is nurtured, Eve is lost on price, Fay stays new. Bob (team East)
    owns every SQL."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.org_a.timezone = "America/Chicago"
        cls.org_a.save()
        with organization_scope(cls.org_a):
            lead_services.reasons_ensure_defaults()
            SalesRep.objects.create(user=cls.bob, team="East")
            cls.search = lead_services.campaign_create(
                actor=cls.alice, name="Search ads", channel="paid_search"
            )
            paid = {
                "source": "paid_search",
                "campaign": cls.search,
                "industry": "Software",
                "landing_page": "/lp/forecast?utm_source=google&utm_campaign=q4",
            }
            referral = {"source": "referral", "industry": "Retail", "landing_page": "/referral"}
            leads = {}
            for name, values, created in (
                ("ada", {**paid, **QUALIFYING}, at(1, 9)),
                ("bea", {**paid, **QUALIFYING}, at(1, 10)),
                ("cy", paid, at(1, 11)),
                ("dee", referral, at(1, 12)),
                ("eve", {**referral, **QUALIFYING}, at(2, 8)),
                ("fay", {**referral, "landing_page": ""}, at(2, 9)),
            ):
                leads[name] = lead_services.lead_create(
                    actor=cls.alice,
                    now=created,
                    full_name=name.title(),
                    email=f"{name}@x.test",
                    **values,
                )
            reason = {label: pk for label, pk in Reason.objects.values_list("label", "pk")}
            ada, bea, cy, dee, eve = (leads[n] for n in ("ada", "bea", "cy", "dee", "eve"))

            def mql(lead, when):
                lead_services.lead_mark_mql(lead=lead, actor=cls.alice, now=when)
                lead.refresh_from_db()

            mql(ada, at(2, 9))  # qualifies: SQL at once, assigned to Bob
            mql(bea, at(2, 16))
            mql(eve, at(3, 8))
            mql(dee, at(4, 12))  # misses the policy: stays an MQL
            assert [x.stage for x in (ada, bea, eve, dee)] == ["sql", "sql", "sql", "mql"]
            lead_services.lead_accept(lead=ada, actor=cls.bob, now=at(3, 10))
            lead_services.lead_accept(lead=eve, actor=cls.bob, now=at(4, 8))
            lead_services.lead_reject(
                lead=bea, actor=cls.bob, reason_id=reason["No budget"], now=at(4, 9)
            )
            lead_services.lead_transition(
                lead=cy, to_stage=Stage.DISQUALIFIED, actor=cls.alice, reason="Spam", now=at(3, 11)
            )
            won = lead_services.lead_convert(
                lead=ada, actor=cls.bob, amount=Decimal("12000"), now=at(5, 10)
            )
            lost = lead_services.lead_convert(
                lead=eve, actor=cls.bob, amount=Decimal("8000"), now=at(6, 8)
            )
            lead_services.lead_transition(
                lead=bea,
                to_stage=Stage.MQL,
                actor=cls.alice,
                reason="Re-engaged by the newsletter",
                now=at(6, 9),
            )
            lead_services.lead_transition(
                lead=dee,
                to_stage=Stage.NURTURE,
                actor=cls.alice,
                reason="Not ready\nBudget next year",
                now=at(7, 10),
            )
            lead_services.opportunity_lose(
                opportunity=lost, actor=cls.bob, reason_id=reason["Price"], now=at(9, 8)
            )
            lead_services.opportunity_win(opportunity=won, actor=cls.bob, now=at(10, 12))
            snapshot_replace(FIRST - timedelta(days=5), LAST + timedelta(days=5))

    def setUp(self):
        self.enterContext(organization_scope(self.org_a))


class JourneyFiguresTests(JourneyTestCase):
    def test_every_edge_counts_the_moves_of_the_range(self):
        data = journey(FIRST, LAST)
        assert data.edges == {
            ("start", "new"): 6, ("new", "mql"): 4, ("new", "disqualified"): 1,
            ("mql", "sql"): 3, ("mql", "nurture"): 1, ("sql", "accepted"): 2,
            ("sql", "rejected"): 1, ("rejected", "mql"): 1, ("accepted", "opportunity"): 2,
            ("opportunity", "won"): 1, ("opportunity", "lost"): 1,
        }  # fmt: skip
        assert data.new_leads == 6
        assert data.reengaged == 1

    def test_each_step_converts_drops_off_and_exits_with_the_reasons_given(self):
        steps = {step.stage: step for step in journey(FIRST, LAST).steps}
        figures = {
            stage: (step.entered, step.converted, step.conversion) for stage, step in steps.items()
        }
        assert figures == {
            "new": (6, 5, pytest.approx(5 / 6)),  # MQLs include Bea's re-engagement
            "mql": (5, 3, pytest.approx(3 / 5)),
            "sql": (3, 2, pytest.approx(2 / 3)),
            "accepted": (2, 2, 1.0),
            "opportunity": (2, 1, 0.5),
            "won": (1, None, None),
        }
        assert steps["new"].drop_off == pytest.approx(1 / 6)
        assert steps["accepted"].drop_off == 0
        exits = {
            stage: [(e.stage, e.count, e.reasons) for e in step.exits]
            for stage, step in steps.items()
        }
        assert exits == {
            "new": [("disqualified", 1, [("Spam", 1)])],
            "mql": [("nurture", 1, [("Not ready", 1)])],  # the free text's first line
            "sql": [("rejected", 1, [("No budget", 1)])],
            "accepted": [],
            "opportunity": [("lost", 1, [("Price", 1)])],
            "won": [],
        }

    def test_steps_agree_with_the_dashboard_funnel(self):
        steps = journey(FIRST, LAST).steps
        for step, expected in zip(steps, funnel(FIRST, LAST), strict=True):
            assert (step.stage, step.entered, step.converted, step.conversion) == (
                expected.stage,
                expected.entered,
                expected.converted,
                expected.conversion,
            )
            assert {e.stage: e.count for e in step.exits} == expected.exits

    def test_step_durations_are_the_median_and_90th_percentile_of_the_story(self):
        steps = {f"{s.stage}_{s.next_stage}": s for s in journey(FIRST, LAST).steps}
        for name, moves in STEPS.items():
            days = [days_between(entered, moved) for _, entered, moved in moves]
            step = steps[name]
            assert step.days_count == len(days), name
            assert step.days_p50 == pytest.approx(float(np.median(days)), abs=1e-9), name
            assert step.days_p90 == pytest.approx(float(np.percentile(days, 90)), abs=1e-9)
        # By hand for the first step: 1, 1, 1.25 and 3 days.
        assert steps["new_mql"].days_p50 == pytest.approx(1.125)
        assert steps["new_mql"].days_p90 == pytest.approx(2.475)
        assert steps["won_None"].days_p50 is None  # no step after won

    def test_entries_by_channel_campaign_and_landing_page(self):
        data = journey(FIRST, LAST)
        assert [(e.label, e.count) for e in data.channels] == [("Paid search", 3), ("Referral", 3)]
        assert [(e.label, e.count) for e in data.campaigns] == [
            ("Search ads", 3),
            ("No campaign", 3),
        ]
        # Query strings are not pages of their own.
        assert [(e.label, e.count, e.share) for e in data.landing_pages] == [
            ("/lp/forecast", 3, 0.5), ("/referral", 2, pytest.approx(1 / 3)),
            ("No landing page", 1, pytest.approx(1 / 6)),
        ]  # fmt: skip

    def test_reasons_per_exit_add_up_the_exits_of_the_steps(self):
        exits = {e.stage: (e.count, e.reasons) for e in journey(FIRST, LAST).exits}
        assert exits == {
            "rejected": (1, [("No budget", 1)]),
            "lost": (1, [("Price", 1)]),
            "nurture": (1, [("Not ready", 1)]),
            "disqualified": (1, [("Spam", 1)]),
        }


class JourneyFilterTests(JourneyTestCase):
    def test_one_filter_reads_the_stored_facts_of_its_member(self):
        data = journey(FIRST, LAST, Filters(channel="referral"))
        assert data.edges == {
            ("start", "new"): 3, ("new", "mql"): 2, ("mql", "sql"): 1, ("mql", "nurture"): 1,
            ("sql", "accepted"): 1, ("accepted", "opportunity"): 1, ("opportunity", "lost"): 1,
        }  # fmt: skip
        assert [(e.label, e.count) for e in data.campaigns] == [("No campaign", 3)]
        assert [(e.label, e.count) for e in data.landing_pages] == [
            ("/referral", 2),
            ("No landing page", 1),
        ]
        steps = {step.stage: step for step in data.steps}
        # Dee took 3 days and Eve 1 day from new to MQL.
        assert steps["new"].days_p50 == pytest.approx(2.0)
        assert [(e.stage, e.reasons) for e in steps["opportunity"].exits] == [
            ("lost", [("Price", 1)])
        ]

    def test_team_filter_follows_the_owners_team(self):
        data = journey(FIRST, LAST, Filters(team="East"))  # Bob's leads: Ada, Bea and Eve
        assert data.new_leads == 3
        assert data.edges[("mql", "sql")] == 3
        assert ("new", "disqualified") not in data.edges
        assert [(e.label, e.count) for e in data.channels] == [("Paid search", 2), ("Referral", 1)]

    def test_two_filters_are_computed_on_demand(self):
        data = journey(FIRST, LAST, Filters(campaign=str(self.search.pk), segment="Software"))
        assert data.edges == {
            ("start", "new"): 3, ("new", "mql"): 2, ("new", "disqualified"): 1,
            ("mql", "sql"): 2, ("sql", "accepted"): 1, ("sql", "rejected"): 1,
            ("rejected", "mql"): 1, ("accepted", "opportunity"): 1, ("opportunity", "won"): 1,
        }  # fmt: skip
        assert {e.stage: e.reasons for e in data.exits} == {
            "rejected": [("No budget", 1)], "disqualified": [("Spam", 1)],
        }  # fmt: skip
        steps = {step.stage: step for step in data.steps}
        assert steps["new"].days_p50 == pytest.approx((1.0 + 1.25) / 2)  # Ada and Bea

    def test_the_page_applies_the_filters_from_the_query_string(self):
        response = self.browser_as(self.bob).get(
            PAGE, {**RANGE, "channel": "paid_search", "segment": "Software"}
        )
        assert response.status_code == 200
        data = response.context["journey"]
        assert data.filters == Filters(channel="paid_search", segment="Software")
        assert data.new_leads == 3
        assert "filtered by channel Paid search, segment Software" in text_of(response)


class JourneyPageTests(JourneyTestCase):
    def test_the_page_shows_the_map_and_the_table_of_the_range(self):
        response = self.browser_as(self.vera).get(PAGE, RANGE)  # a viewer reads it too
        assert response.status_code == 200
        links = sankey_links(response.context["figure"])
        assert links == {
            ("Paid search", "New"): 3, ("Referral", "New"): 3,
            ("New", "MQL"): 4, ("New", "Disqualified"): 1, ("Re-engaged", "MQL"): 1,
            ("MQL", "SQL"): 3, ("MQL", "Nurture"): 1,
            ("SQL", "Accepted"): 2, ("SQL", "Rejected"): 1,
            ("Accepted", "Opportunity"): 2,
            ("Opportunity", "Won"): 1, ("Opportunity", "Lost"): 1,
        }  # fmt: skip
        html = response.content.decode()
        assert 'id="journey-figure"' in html and 'data-testid="journey-sankey"' in html
        assert "plotly/plotly.min.js" in html and "cdn" not in html.lower()
        text = text_of(response)
        assert "Leads that arrived or moved from Mon 2 Nov 2026 to Wed 11 Nov 2026" in text
        assert "New → MQL 6 5 83.3% 16.7% Disqualified 1 (17%): Spam 1 1.1 2.5" in text
        assert "SQL → Accepted 3 2 66.7% 33.3% Rejected by sales 1 (33%): No budget 1" in text
        assert "Opportunity → Won 2 1 50.0% 50.0% Lost 1 (50%): Price 1 5.1 5.1" in text
        assert "Search ads 3 50%" in text and "/lp/forecast 3 50%" in text


class JourneyPresetTests(TwoOrganizationsTestCase):
    """Presets are the last 30, 90 or 365 days ending yesterday, in the organization's time zone
    (Auckland here, half a day ahead of UTC), and read the stored windows."""

    def test_a_preset_range_ends_yesterday_in_the_organizations_time_zone(self):
        self.org_a.timezone = "Pacific/Auckland"
        self.org_a.save()
        now = timezone.now()
        yesterday = now.astimezone(ZoneInfo("Pacific/Auckland")).date() - timedelta(days=1)
        with organization_scope(self.org_a):
            lead = lead_services.lead_create(
                actor=self.alice, full_name="Gil", source="email", now=now - timedelta(days=3)
            )
            lead_services.lead_mark_mql(lead=lead, actor=self.alice, now=now - timedelta(days=2))
            snapshot_replace(yesterday - timedelta(days=100), yesterday)
            windows_replace([yesterday])  # the 90-day window is then read from the stored rows
        client = self.browser_as(self.alice)
        response = client.get(PAGE, {"range": "90"})
        assert response.status_code == 200
        data = response.context["journey"]
        assert (data.first_day, data.last_day) == (yesterday - timedelta(days=89), yesterday)
        assert data.edges == {("start", "new"): 1, ("new", "mql"): 1}
        assert data.steps[0].days_p50 == 1.0
        # From and To show the preset's days, ready to be edited as a custom range.
        assert response.context["form"]["start"].value() == data.first_day.isoformat()
        default = client.get(PAGE).context["journey"]  # no range: the last 30 days
        assert (default.first_day, default.last_day) == (yesterday - timedelta(29), yesterday)
        # Read from the stored facts and windows: a fixed number of queries, however many leads.
        with self.assertNumQueries(14):
            assert client.get(PAGE, {"range": "90"}).status_code == 200


class JourneyRefusalTests(JourneyTestCase):
    def refused(self, params: dict) -> str:
        response = self.browser_as(self.alice).get(PAGE, params)
        assert response.status_code == 400, params
        assert "journey" not in response.context
        return text_of(response)

    def test_bad_filters_answer_400_with_the_field_and_the_reason(self):
        assert "To: The To date is before the From date." in self.refused(
            {"range": "custom", "start": "2026-11-10", "end": "2026-11-01"}
        )
        assert "From: Enter a valid date." in self.refused(
            {"range": "custom", "start": "2026-13-45", "end": "2026-11-01"}
        )
        assert "Give both dates for a custom range" in self.refused(
            {"range": "custom", "start": "2026-11-01"}
        )
        assert "Range: Select a valid choice. 7 is not one of the available choices." in (
            self.refused({"range": "7"})
        )
        assert "Channel: “carrier_pigeon” is not a channel: choose one from the list." in (
            self.refused({"channel": "carrier_pigeon"})
        )
        assert "Segment: “Mining” is not a segment" in self.refused({"segment": "Mining"})
        assert "Team: “West” is not a team" in self.refused({"team": "West"})
        assert "Choose at most two years." in self.refused(
            {"start": "2023-01-01", "end": "2026-11-01"}
        )
        tomorrow = timezone.now().astimezone(CHICAGO).date() + timedelta(days=1)
        assert "The To date is in the future." in self.refused(
            {"start": "2026-11-01", "end": tomorrow.isoformat()}
        )

    def test_another_organizations_campaign_is_not_a_filter(self):
        with organization_scope(self.org_b):
            theirs = lead_services.campaign_create(
                actor=self.charlie, name="Globex fair", channel="events"
            )
        not_ours = "is not a campaign of this organization: choose one from the list."
        assert not_ours in self.refused({"campaign": str(theirs.pk)})
        assert f"Campaign: “1 OR 1=1” {not_ours}" in self.refused({"campaign": "1 OR 1=1"})


class JourneyTenancyTests(JourneyTestCase):
    def test_a_member_of_another_organization_gets_404(self):
        client = self.browser_as(self.charlie)
        assert client.get(PAGE).status_code == 404
        assert client.get(PAGE, RANGE).status_code == 404

    def test_anonymous_is_sent_to_log_in(self):
        response = self.client.get(PAGE)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_an_organization_without_data_gets_guidance_not_a_chart(self):
        response = self.browser_as(self.charlie).get("/o/globex-test/journey/", RANGE)
        assert response.status_code == 200
        assert response.context["figure"] is None
        text = text_of(response)
        assert "No journey to map yet" in text
        assert "recompute the metrics" in text  # Charlie is an admin there
        assert 'data-testid="journey-sankey"' not in response.content.decode()
        assert "Search ads" not in text and "Paid search 3" not in text

    def test_a_range_without_moves_says_so(self):
        response = self.browser_as(self.alice).get(
            PAGE, {"start": "2026-10-01", "end": "2026-10-20"}
        )
        assert response.status_code == 200
        assert response.context["figure"] is None
        assert "No lead arrived or moved in this range" in text_of(response)


def test_the_sankey_payload_is_plain_json():
    """The figure goes into the page through json_script: no numpy or date objects left."""
    from metrics.journey import Entry, Journey, Step, journey_figure

    data = Journey(
        FIRST,
        LAST,
        Filters(),
        {("start", "new"): 2.0, ("new", "mql"): 1.0},
        [
            Step("new", "New", 2.0, "mql", 1.0, 0.5, [], 0, None, None),
            Step("mql", "MQL", 1.0, None, None, None, [], 0, None, None),
        ],
        [Entry("email", "Email", 2.0, 1.0)],
        [],
        [],
    )
    figure = journey_figure(data)
    assert json.loads(json.dumps(figure)) == figure
    assert sankey_links(figure) == {("Email", "New"): 2.0, ("New", "MQL"): 1.0}
