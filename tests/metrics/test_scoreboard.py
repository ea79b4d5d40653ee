"""The scoreboard, the funnel and the windowed figures, on a small history made through the
services and checked against counts taken independently from the records."""

from datetime import date, datetime
from decimal import Decimal
from statistics import median
from zoneinfo import ZoneInfo

import pytest

from leads import services as lead_services
from leads.models import Lead, LeadFeedback, LeadTransition, Reason, ReasonKind, SalesRep, Stage
from metrics import scoreboard
from metrics import services as input_services
from metrics.compute import Filters, snapshot_replace
from metrics.windows import observations, window_figures, windows_replace
from revops.tenancy.context import organization_scope
from sla.models import SlaTimer, TimerState
from tests.sla.base import SlaTestCase

CHICAGO = ZoneInfo("America/Chicago")
FIRST, LAST = date(2026, 10, 1), date(2026, 10, 31)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=CHICAGO)


class ScoreboardHistory(SlaTestCase):
    """October 2026 in Chicago: five SQLs through every exit, one won deal, one rating."""

    def setUp(self):
        super().setUp()
        SalesRep.objects.filter(user=self.bob).update(team="East")
        reason = {(r.kind, r.label): r.pk for r in Reason.objects.all()}
        # Five SQLs handed to Bob in October: two paid search (software), three email (retail).
        specs = [("Ada", "paid_search", "Software", 5), ("Ben", "paid_search", "Software", 6),
                 ("Cy", "email", "Retail", 7), ("Di", "email", "Retail", 8),
                 ("Ed", "email", "Software", 9)]  # fmt: skip
        self.leads = {}
        for name, source, industry, day in specs:
            lead = self.hand_off(at(day), name)
            Lead.objects.filter(pk=lead.pk).update(source=source, industry=industry)
            lead.refresh_from_db()
            self.leads[name] = lead
            lead_services.touch_log(lead=lead, actor=self.bob, kind="call", at=at(day, 10 + 1))
        # Ada and Ben accepted and converted; Ada won (1,000), Ben lost on price.
        for name, value in (("Ada", "1000"), ("Ben", "800")):
            lead_services.lead_accept(lead=self.leads[name], actor=self.bob, now=at(12))
            lead_services.lead_convert(lead=self.leads[name], actor=self.bob,
                                       amount=Decimal(value), now=at(13))  # fmt: skip
        ada_deal = self.leads["Ada"].opportunity
        lead_services.opportunity_win(opportunity=ada_deal, actor=self.bob, now=at(20))
        lead_services.opportunity_lose(opportunity=self.leads["Ben"].opportunity, actor=self.bob,
                                       reason_id=reason[(ReasonKind.LOSS, "Price")],
                                       now=at(21))  # fmt: skip
        # Cy rejected (no budget); Di accepted and still open; Ed sent back to nurture.
        lead_services.lead_reject(lead=self.leads["Cy"], actor=self.bob,
                                  reason_id=reason[(ReasonKind.REJECTION, "No budget")],
                                  now=at(14))  # fmt: skip
        lead_services.lead_accept(lead=self.leads["Di"], actor=self.bob, now=at(15))
        lead_services.lead_transition(lead=self.leads["Ed"], to_stage=Stage.NURTURE,
                                      actor=self.bob, reason="Not this quarter\nCall in Q2",
                                      now=at(16))  # fmt: skip
        lead_services.lead_convert(lead=self.leads["Di"], actor=self.bob, amount=Decimal("500"),
                                   now=at(22))  # fmt: skip
        rating = lead_services.feedback_rate(lead=self.leads["Di"], actor=self.bob, rating=4)
        LeadFeedback.objects.filter(pk=rating.pk).update(created_at=at(22))  # rated that day
        input_services.marketing_spend_record(spent_on="2026-10-02", channel="paid_search",
                                              amount="600")  # fmt: skip
        snapshot_replace(date(2026, 9, 1), LAST)
        windows_replace([LAST])


class ScoreboardTests(ScoreboardHistory):
    def test_funnel_counts_conversion_and_drop_off(self):
        steps = {step.stage: step for step in scoreboard.funnel(FIRST, LAST)}
        assert steps[Stage.MQL].entered == 5
        assert steps[Stage.SQL].entered == 5
        assert steps[Stage.ACCEPTED].entered == 3
        assert steps[Stage.SQL].conversion == pytest.approx(3 / 5)
        assert steps[Stage.SQL].drop_off == pytest.approx(2 / 5)
        assert steps[Stage.SQL].exits == {Stage.REJECTED: 1, Stage.NURTURE: 1}
        assert steps[Stage.OPPORTUNITY].entered == 3
        assert steps[Stage.OPPORTUNITY].exits == {Stage.LOST: 1}
        assert steps[Stage.WON].conversion is None  # the end of the path
        # The edge counts agree with the transitions recorded.
        recorded = LeadTransition.objects.filter(to_stage=Stage.ACCEPTED).count()
        assert steps[Stage.ACCEPTED].entered == recorded

    def test_exit_reasons_are_the_labels_people_chose(self):
        reasons = scoreboard.exit_reasons(FIRST, LAST)
        rows = {(r.from_stage, r.to_stage, r.reason): r.count for r in reasons.itertuples()}
        assert rows == {
            ("sql", "rejected", "No budget"): 1,
            ("opportunity", "lost", "Price"): 1,
            ("sql", "nurture", "Not this quarter"): 1,  # free text: its first line
        }

    def test_scoreboard_values_and_no_data(self):
        board = scoreboard.scoreboard(FIRST, LAST)
        values = board.values
        assert (values["mqls"], values["sqls"]) == (5, 5)
        assert values["sql_acceptance"] == pytest.approx(3 / 5)
        assert values["win_rate"] == pytest.approx(1 / 2)
        assert values["average_won_deal"] == pytest.approx(1000)
        assert values["open_opportunities"] == 1  # Di's
        cycle = (at(20) - at(5)).total_seconds() / 86400  # created on the 5th, won on the 20th
        assert values["sales_cycle_days"] == pytest.approx(cycle)
        assert values["velocity"] == pytest.approx(1 * 0.5 * 1000 / cycle)
        assert values["cpa_marketing"] == pytest.approx(600)
        assert values["quality_score"] == 4
        # September had nothing: rates are no data, counts are 0.
        assert board.previous["mqls"] == 0
        assert board.previous["win_rate"] is None
        assert board.previous["quality_score"] is None
        assert board.previous_range == (date(2026, 8, 31), date(2026, 9, 30))
        assert board.weekly["mqls"].sum() == 5

    def test_response_time_percentiles_match_the_timers(self):
        hours = [
            (timer.met_at - timer.started_at).total_seconds() / 3600
            for timer in SlaTimer.objects.filter(target="follow_up", state=TimerState.MET)
        ]
        stats = scoreboard.window_stats(FIRST, LAST)
        assert stats.at["response_wall_hours", "count"] == len(hours) == 5
        assert stats.at["response_wall_hours", "p50"] == pytest.approx(median(hours))
        # The stored 30-day window ending on the 31st is October itself.
        stored = scoreboard.window_stats(date(2026, 10, 2), LAST)  # 30 days: stored
        on_demand = window_figures(date(2026, 10, 2), LAST).set_index(["figure", "dimension"])
        assert stored.at["response_hours", "p50"] == pytest.approx(
            on_demand.loc[("response_hours", ""), "p50"]
        )

    def test_one_filter_reads_the_snapshot_and_two_compute_on_demand(self):
        email = scoreboard.scoreboard(FIRST, LAST, Filters(channel="email"))
        assert email.values["sqls"] == 3
        assert email.values["cpa_marketing"] is None  # no email customer: no data
        email_software = scoreboard.scoreboard(
            FIRST, LAST, Filters(channel="email", segment="Software")
        )
        expected = Lead.objects.filter(source="email", industry="Software").count()
        assert email_software.values["sqls"] == expected == 1
        assert email_software.values["cpa_marketing"] is None  # spend has no segment
        east = scoreboard.scoreboard(FIRST, LAST, Filters(team="East"))
        assert east.values["sqls"] == 5
        steps = {
            s.stage: s
            for s in scoreboard.funnel(FIRST, LAST, Filters(channel="email", segment="Retail"))
        }
        assert steps[Stage.SQL].exits == {Stage.REJECTED: 1}
        reasons = scoreboard.exit_reasons(FIRST, LAST, Filters(channel="email", segment="Retail"))
        assert list(reasons.reason) == ["No budget"]

    def test_the_windows_hold_one_row_per_member(self):
        software = scoreboard.window_stats(date(2026, 10, 2), LAST, Filters(segment="Software"))
        assert software.at["response_wall_hours", "count"] == 3
        assert software.at["days_to_win", "count"] == 1
        step = scoreboard.window_stats(FIRST, LAST)
        # Ada, Ben and Di each spent their time in "accepted" before converting.
        in_accepted = [(at(13) - at(12)).days, (at(13) - at(12)).days, (at(22) - at(15)).days]
        assert step.at["step_days_accepted_opportunity", "p50"] == pytest.approx(
            median(in_accepted)
        )

    def test_two_filters_filter_in_sql_as_the_stored_member_would(self):
        """Combined filters are computed on demand: the observations' filters run in SQL and
        keep what masking every observation keeps; the open opportunities before a day are what
        the stored facts of one filter give when the second one narrows nothing (every deal
        is the East team's)."""
        everything = observations(FIRST, LAST)
        masked = everything[(everything.channel == "email") & (everything.segment == "Software")]
        filtered = observations(FIRST, LAST, Filters(channel="email", segment="Software"))
        assert len(filtered) == len(masked) > 0
        assert sorted(filtered.value) == pytest.approx(sorted(masked.value))
        november = date(2026, 11, 1)
        open_before = {
            channel: scoreboard.open_opportunities_before(november, Filters(channel=channel,
                                                                            team="East"))
            for channel in set(Lead.objects.values_list("source", flat=True))
        }  # fmt: skip
        assert open_before == {
            channel: scoreboard.open_opportunities_before(november, Filters(channel=channel))
            for channel in open_before
        }
        assert sum(open_before.values()) == 1  # Di's

    def test_a_range_with_no_history_is_all_no_data(self):
        board = scoreboard.scoreboard(date(2025, 1, 1), date(2025, 1, 31))
        rates = ["mql_to_sql", "win_rate", "velocity", "response_p50_hours", "cpa_fully_loaded",
                 "quality_score", "sla_compliance", "days_to_win_p50"]  # fmt: skip
        assert {key: board.values[key] for key in rates} == dict.fromkeys(rates)
        assert board.values["open_opportunities"] == 0
        assert scoreboard.exit_reasons(date(2025, 1, 1), date(2025, 1, 31)).empty
        assert all(
            step.entered == 0 for step in scoreboard.funnel(date(2025, 1, 1), date(2025, 1, 31))
        )


class ScoreboardApiTests(ScoreboardHistory):
    def test_the_api_answers_the_same_figures(self):
        api = self.api_as(self.alice, self.org_a)
        answer = api.get("/api/v1/metrics/scoreboard/", {"since": FIRST, "until": LAST})
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert body["values"]["sqls"] == 5
        assert body["values"]["win_rate"] == pytest.approx(0.5)
        assert body["previous"]["win_rate"] is None  # no data travels as null
        assert (body["previous_since"], body["previous_until"]) == ("2026-08-31", "2026-09-30")
        assert {kpi["key"] for kpi in body["kpis"]} >= {"mqls", "cpa_fully_loaded"}
        funnel = api.get("/api/v1/metrics/funnel/", {"since": FIRST, "until": LAST,
                                                      "channel": "email"}).json()  # fmt: skip
        sql = next(step for step in funnel["steps"] if step["stage"] == "sql")
        assert (sql["entered"], sql["exits"]) == (3, {"rejected": 1, "nurture": 1})
        assert funnel["filters"] == {"channel": "email"}

    def test_bad_queries_are_400_with_the_field_named(self):
        api = self.api_as(self.alice, self.org_a)
        with organization_scope(self.org_b):
            elsewhere = lead_services.campaign_create(actor=None, name="B's", channel="email")
        cases = {
            "channel": {"channel": "carrier_pigeon"},
            "until": {"since": "2026-10-10", "until": "2026-10-01"},
            "campaign": {"campaign": elsewhere.pk},  # another organization's campaign
            "since": {"since": "2020-01-01", "until": "2026-10-01"},
        }
        for field, query in cases.items():
            answer = api.get("/api/v1/metrics/scoreboard/", query)
            assert answer.status_code == 400, (field, answer.content)
            assert field in answer.json(), (field, answer.json())

    def test_another_organization_sees_only_its_own_numbers(self):
        api = self.api_as(self.charlie, self.org_b)
        body = api.get("/api/v1/metrics/scoreboard/", {"since": FIRST, "until": LAST}).json()
        assert body["values"]["sqls"] == 0
        assert body["values"]["win_rate"] is None
