"""The daily facts, computed from real data (the public Olist funnel) and checked against figures
derived independently from the raw CSVs with plain pandas."""

from datetime import date

import pandas as pd

from leads.olist import ORIGIN_TO_SOURCE, import_olist
from metrics import selectors
from metrics.compute import snapshot_replace
from metrics.models import MetricFact
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase
from tests.leads.test_olist import DEALS_CSV, MQL_CSV

FIRST, LAST = date(2017, 1, 1), date(2018, 12, 31)


class OlistFactsTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_a):
            import_olist(mql_csv=MQL_CSV, deals_csv=DEALS_CSV)
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
        sums = selectors.totals(FIRST, LAST, ["marketing_spend", "won_deals"])
        assert sums["marketing_spend"] == 0
        assert selectors.ratio(sums["won_deals"], sums["marketing_spend"]) is None

    def test_another_organization_has_no_facts(self):
        with organization_scope(self.org_b):
            assert not MetricFact.objects.exists()
