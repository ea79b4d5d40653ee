"""The Olist importer on the real public files, checked against plain pandas on the raw CSVs."""

from io import StringIO
from pathlib import Path

import pandas as pd
from django.core.management import call_command
from django.db.models import Count

from leads.models import Lead, LeadTransition, Opportunity, Stage
from leads.olist import import_olist
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "olist_marketing_funnel"
MQL_CSV = DATA / "olist_marketing_qualified_leads_dataset.csv"
DEALS_CSV = DATA / "olist_closed_deals_dataset.csv"


class OlistImportTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_a):
            cls.report = import_olist(mql_csv=MQL_CSV, deals_csv=DEALS_CSV)

    def test_every_row_is_imported_and_every_quirk_reported(self):
        mqls = pd.read_csv(MQL_CSV, keep_default_na=False)
        deals = pd.read_csv(DEALS_CSV)
        assert self.report.created == len(mqls) == 8000
        assert self.report.won == len(deals) == 842
        assert self.report.rejected == []
        empty = sum("no origin" in w for w in self.report.warnings)
        unknown = sum("origin 'unknown'" in w for w in self.report.warnings)
        assert (empty, unknown) == ((mqls.origin == "").sum(), (mqls.origin == "unknown").sum())
        assert (empty, unknown) == (60, 1099)
        early = [w for w in self.report.warnings if "before first contact" in w]
        assert len(early) == 1 and early[0].startswith("olist_closed_deals_dataset.csv line ")

    def test_won_counts_per_origin_match_pandas(self):
        mqls = pd.read_csv(MQL_CSV, keep_default_na=False)
        deals = pd.read_csv(DEALS_CSV)
        merged = mqls.merge(deals[["mql_id"]].assign(won=1), on="mql_id", how="left")
        from leads.olist import ORIGIN_TO_SOURCE

        merged["source"] = merged.origin.map(lambda o: ORIGIN_TO_SOURCE.get(o, "other"))
        expected = merged.groupby("source").won.sum().astype(int).to_dict()
        with organization_scope(self.org_a):
            actual = dict(
                Lead.objects.filter(stage=Stage.WON)
                .values_list("source")
                .annotate(n=Count("id"))
                .values_list("source", "n")
            )
        assert {k: v for k, v in expected.items() if v} == actual

    def test_timelines_are_consistent_and_wins_carry_opportunities(self):
        with organization_scope(self.org_a):
            assert Opportunity.objects.filter(status="won").count() == 842
            won = Lead.objects.filter(stage=Stage.WON).first()
            path = list(
                LeadTransition.objects.filter(lead=won)
                .order_by("id")
                .values_list("from_stage", "to_stage")
            )
            assert path == [
                ("", "new"), ("new", "mql"), ("mql", "sql"), ("sql", "accepted"),
                ("accepted", "opportunity"), ("opportunity", "won"),
            ]  # fmt: skip
            times = list(
                LeadTransition.objects.filter(lead=won).order_by("id").values_list("at", flat=True)
            )
            assert times == sorted(times)

    def test_reimport_adds_nothing_and_other_organizations_are_untouched(self):
        with organization_scope(self.org_a):
            again = import_olist(mql_csv=MQL_CSV, deals_csv=DEALS_CSV)
            assert (again.created, again.skipped_existing) == (0, 8000)
            assert Lead.objects.count() == 8000
        with organization_scope(self.org_b):
            assert Lead.objects.count() == 0

    def test_the_command_prints_a_summary(self):
        out = StringIO()
        call_command("import_olist", "--org", "globex-test", "--dir", str(DATA), stdout=out)
        assert "8000 leads imported (842 won)" in out.getvalue()
