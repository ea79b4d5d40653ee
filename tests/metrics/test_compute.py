"""The daily facts, computed from real data (the public Olist funnel) and checked against figures
derived independently from the raw CSVs with plain pandas."""

from datetime import date

import pandas as pd
import pytest

from leads.olist import ORIGIN_TO_SOURCE, import_olist
from metrics import selectors
from metrics import services as input_services
from metrics.compute import Filters, compute_facts, snapshot_replace
from metrics.maven import import_maven
from metrics.models import MetricFact, MetricWindow
from metrics.windows import window_figures, windows_replace
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase
from tests.leads.test_olist import DEALS_CSV, MQL_CSV
from tests.metrics.test_maven import DATA as MAVEN

FIRST, LAST = date(2017, 1, 1), date(2018, 12, 31)


class OlistFactsTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_a):
            import_olist(mql_csv=MQL_CSV, deals_csv=DEALS_CSV)
            input_services.marketing_spend_record(spent_on="2018-01-10", channel="paid_search",
                                                  amount="8000")  # fmt: skip
            input_services.marketing_spend_record(spent_on="2018-02-01", channel="social",
                                                  amount="1000")  # fmt: skip
            input_services.sales_cost_record(period_start="2018-01-01", period_end="2018-06-30",
                                             category="salary", amount="42000")  # fmt: skip
            cls.written = snapshot_replace(FIRST, LAST)
        mqls = pd.read_csv(MQL_CSV, keep_default_na=False)
        deals = pd.read_csv(DEALS_CSV)
        cls.raw = mqls.merge(deals[["mql_id"]].assign(won=1), on="mql_id", how="left").fillna(
            {"won": 0}
        )
        cls.raw["source"] = cls.raw.origin.map(lambda o: ORIGIN_TO_SOURCE.get(o, "other"))

    def setUp(self):
        self.enterContext(organization_scope(self.org_a))

    def test_mql_to_won_conversion_overall(self):
        sums = selectors.totals(FIRST, LAST, ["entered_mql", "entered_won"])
        assert sums == {"entered_mql": len(self.raw), "entered_won": self.raw.won.sum()}
        conversion = selectors.ratio(sums["entered_won"], sums["entered_mql"])
        assert conversion == self.raw.won.sum() / len(self.raw) == 842 / 8000

    def test_mql_to_won_conversion_per_channel(self):
        per_channel = selectors.by_member(FIRST, LAST, ["entered_mql", "entered_won"], "channel")
        expected = self.raw.groupby("source").agg(mql=("mql_id", "size"), won=("won", "sum"))
        assert set(per_channel) == set(expected.index)
        for channel, row in expected.iterrows():
            figures = per_channel[channel]
            assert (figures["entered_mql"], figures["entered_won"]) == (row.mql, row.won)
            assert selectors.ratio(figures["entered_won"], figures["entered_mql"]) == (
                row.won / row.mql
            )

    def test_a_dimension_within_another_member_matches_pandas_and_the_filtered_computation(self):
        """The facts stored per pair of dimensions answer "per segment, among the paid-search
        leads" as the raw CSVs do, and as computing the filtered leads' facts on demand does."""
        deals = pd.read_csv(DEALS_CSV)[["mql_id", "business_segment"]]
        won = self.raw.merge(deals, on="mql_id")
        expected = won.groupby(["source", "business_segment"]).size()
        measures = ["entered_mql", "won_deals", "feedback_ratings"]
        for source in ["paid_search", "organic_search", "social"]:
            stored = selectors.by_member(FIRST, LAST, measures, "segment",
                                         within=("channel", source))  # fmt: skip
            on_demand = compute_facts(FIRST, LAST, Filters(channel=source))
            on_demand = on_demand[on_demand["dimension"] == "segment"].astype({"measure": str})
            counts = on_demand.groupby(["member", "measure"])["value"].sum()
            assert {segment: sums["won_deals"] for segment, sums in stored.items()} == (
                expected[source].to_dict()
            )
            for segment, sums in stored.items():
                # Only leads with a segment (the won ones) are in a segment's MQLs.
                assert sums["entered_mql"] == sums["won_deals"] == counts[(segment, "won_deals")]
                assert sums["feedback_ratings"] == 0
        # Asked the other way round (segment first), the same pair answers.
        per_channel = selectors.by_member(FIRST, LAST, ["won_deals"], "channel",
                                          within=("segment", "health_beauty"))  # fmt: skip
        assert {channel: sums["won_deals"] for channel, sums in per_channel.items()} == (
            won[won.business_segment == "health_beauty"].groupby("source").size().to_dict()
        )
        with pytest.raises(ValueError, match="paired"):  # not stored per pair
            selectors.by_member(FIRST, LAST, ["won_value"], "segment", within=("channel", "x"))

    def test_median_days_to_win_matches_pandas(self):
        deals = pd.read_csv(DEALS_CSV)
        contacts = pd.read_csv(MQL_CSV)[["mql_id", "first_contact_date"]]
        merged = deals.merge(contacts, on="mql_id")
        days = (
            pd.to_datetime(merged.won_date) - pd.to_datetime(merged.first_contact_date)
        ).dt.total_seconds() / 86400
        days = days.clip(lower=0)  # the one win dated before its first contact counts as 0
        figures = window_figures(FIRST, LAST).set_index(["figure", "dimension", "member"])
        overall = figures.loc[("days_to_win", "", "")]
        assert overall["count"] == len(merged) == 842
        assert overall["p50"] == pytest.approx(days.median(), abs=1e-6)
        assert overall["p90"] == pytest.approx(days.quantile(0.9), abs=1e-6)
        assert overall["mean"] == pytest.approx(days.mean(), abs=1e-6)
        # Per channel (the lead's origin), each median from its own deals.
        merged["source"] = merged.mql_id.map(self.raw.set_index("mql_id").source)
        for source, group in days.groupby(merged.source):
            assert figures.loc[("days_to_win", "channel", source), "p50"] == pytest.approx(
                group.median(), abs=1e-6
            )

    def test_stored_windows_equal_the_on_demand_figures(self):
        written = windows_replace([date(2018, 12, 31)])
        stored = (
            pd.DataFrame(
                MetricWindow.objects.filter(window_days=365).values(
                    "figure", "dimension", "member", "count", "p50", "p90"
                )
            )
            .set_index(["figure", "dimension", "member"])
            .sort_index()
        )
        on_demand = (
            window_figures(date(2018, 1, 1), date(2018, 12, 31))
            .set_index(["figure", "dimension", "member"])
            .sort_index()
        )
        assert written == MetricWindow.objects.count() > 0
        assert stored.index.equals(on_demand.index)
        assert (stored["count"] == on_demand["count"]).all()
        assert stored["p50"].to_numpy() == pytest.approx(on_demand["p50"].to_numpy())
        # Olist's last win is in November 2018: December's 30-day window has nothing to hold.
        assert set(MetricWindow.objects.values_list("window_days", flat=True)) == {90, 365}

    def test_a_quarter_is_summed_from_days_not_averaged(self):
        days = pd.to_datetime(self.raw.first_contact_date).dt.date
        in_quarter = self.raw[(days >= date(2018, 1, 1)) & (days <= date(2018, 3, 31))]
        sums = selectors.totals(date(2018, 1, 1), date(2018, 3, 31), ["entered_mql"])
        assert sums["entered_mql"] == len(in_quarter)

    def test_recomputing_replaces_the_snapshot_and_changes_nothing(self):
        before = sorted(MetricFact.objects.values_list("day", "measure", "dimension", "member",
                                                       "value"))  # fmt: skip
        assert snapshot_replace(FIRST, LAST) == self.written == len(before)
        after = sorted(MetricFact.objects.values_list("day", "measure", "dimension", "member",
                                                      "value"))  # fmt: skip
        assert after == before

    def test_a_measure_with_no_data_is_zero_and_its_ratio_is_no_data(self):
        sums = selectors.totals(FIRST, LAST, ["feedback_ratings", "feedback_rating_sum"])
        assert sums["feedback_ratings"] == 0
        assert selectors.ratio(sums["feedback_rating_sum"], sums["feedback_ratings"]) is None

    def test_cpa_three_ways_overall_and_per_channel(self):
        (overall,) = selectors.cpa(FIRST, LAST)
        assert overall.customers == 842
        assert overall.marketing_only == pytest.approx(9000 / 842)
        assert overall.sales_only == pytest.approx(42000 / 842)
        assert overall.fully_loaded == pytest.approx(51000 / 842)
        wins = self.raw.groupby("source").won.sum()
        per_channel = {row.label: row for row in selectors.cpa(FIRST, LAST, dimension="channel")}
        paid = per_channel["paid_search"]
        assert paid.customers == wins["paid_search"]
        assert paid.marketing_only == pytest.approx(8000 / wins["paid_search"])
        # Sales cost follows the channel's share of customers: the same per customer everywhere.
        assert paid.sales_only == pytest.approx(42000 / 842)
        assert paid.fully_loaded == pytest.approx(8000 / wins["paid_search"] + 42000 / 842)
        assert per_channel["email"].marketing_only == 0  # customers, no spend booked
        # A quarter holding only part of the cost period carries only its days' share.
        (q1,) = selectors.cpa(date(2018, 1, 1), date(2018, 3, 31))
        assert q1.sales_cost == pytest.approx(42000 * 90 / 181)

    def test_another_organization_has_no_facts(self):
        with organization_scope(self.org_b):
            assert not MetricFact.objects.exists()


class MavenFactsTests(TwoOrganizationsTestCase):
    """Win rate, average won deal, average won cycle and pipeline velocity of the Maven CRM
    pipeline, through the app's facts, against plain pandas on the raw CSV."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.org = tenancy_services.organization_create(
            name="Maven Facts", slug="maven-facts", timezone_name="America/New_York"
        )
        with organization_scope(cls.org):
            import_maven(folder=MAVEN)
            snapshot_replace(date(2016, 1, 1), date(2017, 12, 31))
        cls.raw = pd.read_csv(MAVEN / "sales_pipeline.csv")

    def setUp(self):
        self.enterContext(organization_scope(self.org))

    def test_win_rate_average_won_deal_cycle_and_velocity_match_pandas(self):
        raw = self.raw
        won, lost = raw[raw.deal_stage == "Won"], raw[raw.deal_stage == "Lost"]
        win_rate = len(won) / (len(won) + len(lost))
        average_won = won.close_value.sum() / len(won)
        cycle = (pd.to_datetime(won.close_date) - pd.to_datetime(won.engage_date)).dt.days.mean()
        open_deals = (raw.deal_stage == "Engaging").sum()
        velocity = selectors.pipeline_velocity(date(2016, 1, 1), date(2017, 12, 31))
        assert velocity.open_opportunities == open_deals == 1589
        assert velocity.win_rate == pytest.approx(win_rate, rel=1e-12)
        assert round(win_rate, 6) == 0.631501
        assert velocity.average_won_deal == pytest.approx(average_won, rel=1e-12)
        assert velocity.average_cycle_days == pytest.approx(cycle, rel=1e-12)
        assert velocity.per_day == pytest.approx(open_deals * win_rate * average_won / cycle)

    def test_velocity_without_wins_is_no_data(self):
        velocity = selectors.pipeline_velocity(date(2015, 1, 1), date(2015, 12, 31))
        assert (velocity.win_rate, velocity.per_day) == (None, None)
        assert velocity.open_opportunities == 0
