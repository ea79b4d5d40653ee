"""The Maven CRM importer on the real public files, checked against plain pandas on the raw CSVs.

The organization is in America/New_York: dates land on their own local day, and cycle lengths
stay whole days across the DST changes the data spans (engaged in October, closed in March).
"""

import shutil
import zoneinfo
from datetime import date, datetime, time
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.functions import TruncDate

from leads.models import Lead, LeadTransition, Opportunity, OpportunityStatus, SalesRep, Stage
from metrics.maven import import_maven
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Membership, Role, User
from tests.base import TwoOrganizationsTestCase

DATA = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "maven_crm_sales_opportunities"
)
ZONE = zoneinfo.ZoneInfo("America/New_York")
STAGE = {"Won": "won", "Lost": "lost", "Engaging": "opportunity", "Prospecting": "accepted"}


def read_pipeline() -> pd.DataFrame:
    pipeline = pd.read_csv(DATA / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    pipeline["line"] = pipeline.index + 2  # the header is line 1
    return pipeline


def lines_of(warnings: list[str], needle: str, filename: str = "sales_pipeline.csv") -> list[int]:
    prefix = f"{filename} line "
    return [
        int(w[len(prefix) :].split(":")[0])
        for w in warnings
        if needle in w and w.startswith(prefix)
    ]


def won_figures_from_the_database(zone) -> dict:
    """Win rate, average won deal and average won cycle from the imported rows: opportunities,
    and each won lead's transition into "opportunity" (engaged), on local calendar days."""
    outcomes = Opportunity.objects.aggregate(
        won=Count("id", filter=Q(status=OpportunityStatus.WON)),
        closed=Count("id", filter=Q(status__in=[OpportunityStatus.WON, OpportunityStatus.LOST])),
        total=Sum("won_value", filter=Q(status=OpportunityStatus.WON)),
        average=Avg("won_value", filter=Q(status=OpportunityStatus.WON)),
    )
    cycle = (
        LeadTransition.objects.filter(
            to_stage=Stage.OPPORTUNITY, lead__opportunity__status=OpportunityStatus.WON
        )
        .annotate(
            closed_on=TruncDate("lead__opportunity__closed_at", tzinfo=zone),
            engaged_on=TruncDate("at", tzinfo=zone),
        )
        .aggregate(days=Avg(F("closed_on") - F("engaged_on")), n=Count("id"))
    )
    return {
        "won": outcomes["won"],
        "win_rate": outcomes["won"] / outcomes["closed"],
        "total": outcomes["total"],
        "average": outcomes["average"],
        "cycle_won": cycle["n"],
        "cycle_days": cycle["days"].total_seconds() / 86400,
    }


class MavenImportTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.org = tenancy_services.organization_create(
            name="Maven Test", slug="maven-test", timezone_name="America/New_York"
        )
        with organization_scope(cls.org):
            cls.report = import_maven(folder=DATA)

    def test_every_opportunity_is_imported_with_its_stage_and_status(self):
        pipeline = read_pipeline()
        assert self.report.rejected == []
        assert self.report.created == len(pipeline) == 8800
        expected = pipeline.deal_stage.map(STAGE).value_counts().to_dict()
        assert expected == {"won": 4238, "lost": 2473, "opportunity": 1589, "accepted": 500}
        with organization_scope(self.org):
            stages = dict(Lead.objects.values_list("stage").annotate(n=Count("id")))
            statuses = dict(Opportunity.objects.values_list("status").annotate(n=Count("id")))
            probabilities = set(Opportunity.objects.values_list("status", "probability"))
        assert stages == expected
        assert statuses == {
            "won": expected["won"], "lost": expected["lost"],
            "open": expected["opportunity"] + expected["accepted"],
        }  # fmt: skip
        assert probabilities == {("won", 100), ("lost", 0), ("open", 20)}
        assert (self.report.won, self.report.lost, self.report.open) == (4238, 2473, 2089)

    def test_each_quirk_is_warned_at_its_lines_and_nothing_else_is(self):
        pipeline = read_pipeline()
        accounts = pd.read_csv(DATA / "accounts.csv", dtype=str, keep_default_na=False)
        accounts["line"] = accounts.index + 2
        warnings = self.report.warnings

        gtxpro = pipeline[pipeline["product"] == "GTXPro"]
        product_warnings = [w for w in warnings if "product 'GTXPro' read as 'GTX Pro'" in w]
        assert product_warnings == [
            f"sales_pipeline.csv line {gtxpro.line.min()}: product 'GTXPro' read as 'GTX Pro' "
            f"({len(gtxpro)} rows)"
        ]
        assert len(gtxpro) == 1480

        no_account = pipeline[pipeline.account == ""]
        assert lines_of(warnings, "deal without an account") == no_account.line.tolist()
        assert set(no_account.deal_stage) == {"Engaging", "Prospecting"}
        assert len(no_account) == 1425

        lost_zero = pipeline[(pipeline.deal_stage == "Lost") & (pipeline.close_value == "0")]
        assert lines_of(warnings, "Lost deal with close_value 0") == lost_zero.line.tolist()
        assert len(lost_zero) == 2473

        undated = pipeline[pipeline.engage_date == ""]
        assert lines_of(warnings, "without engage_date; dated at the export date 2017-12-31") == (
            undated.line.tolist()
        )
        assert set(undated.deal_stage) == {"Prospecting"} and len(undated) == 500
        latest = max(pipeline.engage_date.max(), pipeline.close_date.max())
        assert self.report.as_of == date.fromisoformat(latest)

        closed = pipeline[pipeline.close_date != ""]
        early = closed[closed.close_date < closed.engage_date]
        assert lines_of(warnings, "before it was engaged") == early.line.tolist() == []

        misspelt = accounts[accounts.sector == "technolgy"]
        assert lines_of(warnings, "sector 'technolgy' read as 'technology'", "accounts.csv") == (
            misspelt.line.tolist()
        )
        assert len(misspelt) == 12
        philippines = accounts[accounts.office_location == "Philipines"]
        assert lines_of(warnings, "'Philipines' read as 'Philippines'", "accounts.csv") == (
            philippines.line.tolist()
        )
        assert len(philippines) == 1

        explained = 1 + len(no_account) + len(lost_zero) + len(undated) + len(misspelt) + 1
        assert len(warnings) == explained == 4412

    def test_won_deals_count_and_value_match_pandas(self):
        pipeline = read_pipeline()
        won = pipeline[pipeline.deal_stage == "Won"]
        with organization_scope(self.org):
            figures = Opportunity.objects.filter(status="won").aggregate(
                n=Count("id"), total=Sum("won_value"), amount=Sum("amount")
            )
            lost_total = Opportunity.objects.filter(status="lost").aggregate(t=Sum("amount"))["t"]
        total = sum(Decimal(v) for v in won.close_value)
        assert figures == {"n": len(won), "total": total, "amount": total}
        assert (len(won), total) == (4238, Decimal(10005534))
        assert lost_total == 0

    def test_open_deals_are_valued_at_their_products_list_price(self):
        pipeline = read_pipeline()
        products = pd.read_csv(DATA / "products.csv", dtype={"sales_price": int})
        # The test's own reading of the quirk: names compared without spaces.
        price = dict(
            zip(products["product"].str.replace(" ", ""), products.sales_price, strict=True)
        )
        open_deals = pipeline[pipeline.deal_stage.isin(["Engaging", "Prospecting"])]
        expected = open_deals["product"].str.replace(" ", "").map(price)
        assert expected.notna().all()
        with organization_scope(self.org):
            actual = Opportunity.objects.filter(status="open").aggregate(t=Sum("amount"))["t"]
            names = set(Opportunity.objects.values_list("name", flat=True).distinct())
        assert actual == int(expected.sum())
        assert names == set(products["product"])

    def test_per_agent_counts_match_pandas(self):
        pipeline = read_pipeline()
        expected = (
            pipeline.assign(stage=pipeline.deal_stage.map(STAGE))
            .groupby(["sales_agent", "stage"]).size().to_dict()
        )  # fmt: skip
        with organization_scope(self.org):
            actual = {
                (name, stage): n
                for name, stage, n in Lead.objects.values_list("owner__full_name", "stage")
                .annotate(n=Count("id")).values_list("owner__full_name", "stage", "n")
            }  # fmt: skip
        assert actual == expected
        assert len({agent for agent, _ in expected}) == 30

    def test_companies_carry_their_accounts_sector_and_size(self):
        accounts = pd.read_csv(DATA / "accounts.csv", keep_default_na=False)
        sector = accounts.set_index("account").sector.replace("technolgy", "technology")
        with organization_scope(self.org):
            rows = set(
                Lead.objects.exclude(company_name="")
                .values_list("company_name", "industry", "company_size").distinct()
            )  # fmt: skip
            blank = Lead.objects.filter(company_name="", industry="").count()
        employees = accounts.set_index("account").employees
        assert rows == {(name, sector[name], employees[name]) for name, _, _ in rows}
        assert {name for name, _, _ in rows} <= set(accounts.account)
        assert blank == 1425

    def test_timelines_follow_the_lifecycle_on_local_days(self):
        pipeline = read_pipeline().set_index("opportunity_id")

        def local(day: str) -> datetime:
            return datetime.combine(date.fromisoformat(day), time(0), tzinfo=ZONE)

        with organization_scope(self.org):
            for oid, stage in pipeline.groupby("deal_stage").head(1).deal_stage.items():
                lead = Lead.objects.get(external_id=f"maven:{oid}")
                steps = list(
                    LeadTransition.objects.filter(lead=lead).order_by("id")
                    .values_list("from_stage", "to_stage", "at")
                )  # fmt: skip
                row = pipeline.loc[oid]
                engaged = local(row.engage_date or "2017-12-31")
                path = [("", "new", engaged), ("new", "mql", engaged), ("mql", "sql", engaged),
                        ("sql", "accepted", engaged)]  # fmt: skip
                if stage != "Prospecting":
                    path.append(("accepted", "opportunity", engaged))
                if stage in ("Won", "Lost"):
                    path.append(("opportunity", STAGE[stage], local(row.close_date)))
                assert steps == path, stage
                assert lead.stage_changed_at == path[-1][2]
                assert lead.first_touch_at == (local(row.engage_date) if row.engage_date else None)
                assert lead.owner.full_name == row.sales_agent
                opportunity = lead.opportunity
                assert opportunity.closed_at == (local(row.close_date) if row.close_date else None)
                assert opportunity.currency == self.org.currency

    def test_agents_and_managers_become_inactive_sales_reps_with_their_team(self):
        teams = pd.read_csv(DATA / "sales_teams.csv")
        managers = teams.groupby("manager").regional_office.first()
        with organization_scope(self.org):
            reps = {
                rep.user.full_name: rep
                for rep in SalesRep.objects.select_related("user", "manager")
            }
            roles = set(Membership.objects.filter(user__in=[r.user for r in reps.values()])
                        .values_list("role", flat=True))  # fmt: skip
        assert set(reps) == set(teams.sales_agent) | set(teams.manager)
        assert len(reps) == self.report.users_created == self.report.reps_created == 41
        assert roles == {Role.SALES}
        for row in teams.itertuples():
            rep = reps[row.sales_agent]
            assert (rep.team, rep.manager.full_name) == (row.regional_office, row.manager)
        for manager, office in managers.items():
            assert (reps[manager].team, reps[manager].manager) == (office, None)
        for rep in reps.values():
            assert not rep.accepting_leads
            assert not rep.user.is_active and not rep.user.has_usable_password()
        assert reps["Mei-Mei Johns"].user.email == "mei-mei.johns@maven-crm.import"

    def test_win_rate_average_won_deal_and_cycle_from_the_database_match_pandas(self):
        pipeline = read_pipeline()
        won = pipeline[pipeline.deal_stage == "Won"]
        closed = pipeline[pipeline.deal_stage.isin(["Won", "Lost"])]
        cycle = pd.to_datetime(won.close_date) - pd.to_datetime(won.engage_date)
        expected = {
            "won": len(won),
            "win_rate": len(won) / len(closed),
            "average": won.close_value.astype(int).mean(),
            "cycle_days": cycle.dt.days.mean(),
        }
        with organization_scope(self.org):
            actual = won_figures_from_the_database(ZONE)
        assert actual["won"] == actual["cycle_won"] == expected["won"]
        assert actual["win_rate"] == pytest.approx(expected["win_rate"], rel=1e-12)
        assert float(actual["average"]) == pytest.approx(expected["average"], rel=1e-12)
        assert actual["cycle_days"] == pytest.approx(expected["cycle_days"], rel=1e-12)
        # The figures themselves, rounded, for the record.
        assert round(expected["win_rate"], 4) == 0.6315
        assert round(expected["average"], 2) == 2360.91
        assert round(expected["cycle_days"], 2) == 51.78

    def test_reimport_adds_nothing_and_other_organizations_are_untouched(self):
        with organization_scope(self.org):
            again = import_maven(folder=DATA)
            assert (again.created, again.skipped_existing) == (0, 8800)
            assert (again.users_created, again.reps_created, again.rejected) == (0, 0, [])
            assert Lead.objects.count() == Opportunity.objects.count() == 8800
            assert SalesRep.objects.count() == 41
        assert User.objects.filter(email__endswith="@maven-crm.import").count() == 41
        with organization_scope(self.org_b):
            assert Lead.objects.count() == SalesRep.objects.count() == 0


@pytest.fixture
def small_folder(tmp_path):
    for name in ("accounts.csv", "products.csv", "sales_teams.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


PIPELINE_HEADER = (
    "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
)


@pytest.mark.django_db
def test_quirks_not_in_the_real_data_are_warned_or_rejected_and_the_rest_imported(small_folder):
    (small_folder / "sales_pipeline.csv").write_text(
        PIPELINE_HEADER
        + "A1,Moses Frase,GTX Basic,Cancity,Won,2017-03-10,2017-03-01,500\n"  # 2: closed early
        + "A2,Moses Frase,GTX Basic,cancity,Won,,2017-03-05,550\n"  # 3: no engage date
        + "A3,Moses Frase,GTX Basic,Cancity,Stalled,2017-03-01,,\n"  # 4: unknown stage
        + "A4,Moses Frase,GTX Basic,Cancity,Won,2017-02-30,2017-03-05,550\n"  # 5: bad date
        + "A1,Moses Frase,GTX Basic,Cancity,Won,2017-03-01,2017-03-05,550\n"  # 6: duplicate id
        + "A5,Ada Newcomer,Widget,Nowhere Inc,Engaging,2017-03-02,,\n"  # 7: unknowns
        + "A6,Moses Frase,MG Special,Cancity,Engaging,2017-03-02,2017-03-09,55\n"  # 8
        + "A7,Moses Frase,MG Special,Cancity,Won,2017-03-02,,\n"  # 9: won, no close
    )
    organization = tenancy_services.organization_create(name="Small", slug="small")
    with organization_scope(organization):
        report = import_maven(folder=small_folder)
        assert report.rejected == [
            "sales_pipeline.csv line 4: unknown deal_stage 'Stalled'",
            "sales_pipeline.csv line 5: unreadable engage_date '2017-02-30' or close_date "
            "'2017-03-05'",
            "sales_pipeline.csv line 6: opportunity A1 already on line 2",
            "sales_pipeline.csv line 9: Won deal without close_date or close_value",
        ]
        assert [w for w in report.warnings if w.startswith("sales_pipeline.csv")] == [
            "sales_pipeline.csv line 2: closed 2017-03-01 before it was engaged 2017-03-10; "
            "taken as engaged on its close date (cycle 0 days)",
            "sales_pipeline.csv line 3: closed deal without engage_date; taken as engaged on its "
            "close date 2017-03-05",
            "sales_pipeline.csv line 7: account 'Nowhere Inc' is not in accounts.csv; no sector",
            "sales_pipeline.csv line 7: product 'Widget' is not in products.csv; no list price, "
            "amount 0",
            "sales_pipeline.csv line 8: open deal with a close_date or close_value; both ignored",
            "sales_pipeline.csv line 3: account 'cancity' read as 'Cancity' (1 rows)",
            "sales_pipeline.csv line 7: sales_agent 'Ada Newcomer' is not in sales_teams.csv "
            "(1 rows); imported as a rep without team or manager",
        ]
        assert report.created == 4
        early = Opportunity.objects.select_related("lead").get(lead__external_id="maven:A1")
        assert early.lead.first_touch_at == early.closed_at
        newcomer = Lead.objects.get(external_id="maven:A5")
        assert (newcomer.opportunity.amount, newcomer.industry) == (0, "")
        rep = SalesRep.objects.get(user=newcomer.owner)
        assert (rep.team, rep.manager, rep.user.email) == (
            "",
            None,
            "ada.newcomer@maven-crm.import",
        )
        assert Lead.objects.get(external_id="maven:A6").opportunity.closed_at is None


@pytest.mark.django_db
def test_the_command_imports_into_the_named_organization_and_reuses_people(small_folder):
    (small_folder / "sales_pipeline.csv").write_text(
        PIPELINE_HEADER + "B1,Moses Frase,GTXPro,Cancity,Won,2017-03-01,2017-03-05,4500\n"
    )
    first = tenancy_services.organization_create(name="First", slug="first")
    second = tenancy_services.organization_create(name="Second", slug="second")
    out = StringIO()
    call_command("import_maven", "--org", "first", "--dir", str(small_folder), stdout=out)
    assert "1 opportunities imported (1 won, 0 lost, 0 open)" in out.getvalue()
    assert "41 people added" in out.getvalue()
    out = StringIO()
    call_command("import_maven", "--org", "second", "--dir", str(small_folder), stdout=out)
    assert "1 opportunities imported (1 won, 0 lost, 0 open), 0 already there, 0 people added" in (
        out.getvalue()
    )
    for organization in (first, second):
        with organization_scope(organization):
            assert Opportunity.objects.get().name == "GTX Pro"
            assert Membership.objects.filter(role=Role.SALES).count() == 41
