"""The CDNOW importer on the real files (master and the 1/10 sample), checked against plain pandas
on the raw text."""

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Min, Sum

from metrics.cdnow import import_cdnow
from metrics.models import Account, RevenueTransaction
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cdnow"
MASTER = DATA / "CDNOW_master.txt"
SAMPLE = DATA / "CDNOW_sample.txt"
COLUMNS = ["customer_id", "date", "number_of_cds", "dollar_value"]


def read_master() -> pd.DataFrame:
    frame = pd.read_csv(MASTER, sep=r"\s+", dtype=str)
    assert list(frame.columns) == COLUMNS
    return frame.assign(line=frame.index + 2)  # line 1 is the header


def read_sample() -> pd.DataFrame:
    frame = pd.read_csv(
        SAMPLE, sep=r"\s+", dtype=str, header=None, names=["customer_id", "sample_id", *COLUMNS[1:]]
    )
    return frame.assign(line=frame.index + 1)


def cents(frame: pd.DataFrame) -> Decimal:
    return sum((Decimal(value) for value in frame.dollar_value), Decimal(0))


def lines_of(warnings: list[str], needle: str, filename: str) -> list[int]:
    prefix = f"{filename} line "
    return [int(w[len(prefix) :].split(":")[0]) for w in warnings if needle in w]


def imported_totals() -> dict:
    return RevenueTransaction.objects.aggregate(
        n=Count("id"), amount=Sum("amount"), cds=Sum("quantity")
    ) | {"customers": Account.objects.count()}


class CdnowMasterImportTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_a):
            cls.report = import_cdnow(path=MASTER)

    def test_customers_purchases_and_revenue_equal_pandas_to_the_cent(self):
        master = read_master()
        with organization_scope(self.org_a):
            totals = imported_totals()
        assert totals == {
            "n": len(master), "amount": cents(master),
            "cds": master.number_of_cds.astype(int).sum(),
            "customers": master.customer_id.nunique(),
        }  # fmt: skip
        assert (len(master), master.customer_id.nunique()) == (69659, 23570)
        assert cents(master) == Decimal("2500315.63")
        assert (self.report.transactions_created, self.report.accounts_created) == (69659, 23570)
        assert self.report.rejected == []

    def test_each_customers_purchases_match_pandas(self):
        master = read_master()
        assert master.dollar_value.str.fullmatch(r"\d+\.\d\d").all()
        master["cents"] = master.dollar_value.str.replace(".", "").astype(int)
        grouped = master.groupby("customer_id").agg(
            n=("cents", "size"), cents=("cents", "sum"), first=("date", "min")
        )
        expected = {
            f"cdnow:{int(customer)}": (row.n, row.cents, row.first)
            for customer, row in grouped.iterrows()
        }
        with organization_scope(self.org_a):
            rows = (
                RevenueTransaction.objects.values("account__external_id")
                .annotate(n=Count("id"), total=Sum("amount"), first=Min("occurred_on"))
                .values_list("account__external_id", "n", "total", "first")
            )
            actual = {
                key: (n, int(total * 100), f"{first:%Y%m%d}") for key, n, total, first in rows
            }
        assert actual == expected

    def test_zero_dollar_purchases_and_repeated_lines_are_kept_and_warned(self):
        master = read_master()
        zero = master[master.dollar_value.map(Decimal) == 0]
        repeated = master[master.duplicated(COLUMNS, keep="first")]
        warnings = self.report.warnings
        assert lines_of(warnings, "for $0.00, kept as recorded", MASTER.name) == zero.line.tolist()
        assert lines_of(warnings, "kept as a separate purchase", MASTER.name) == (
            repeated.line.tolist()
        )
        assert (len(zero), len(repeated)) == (80, 255)
        assert len(warnings) == len(zero) + len(repeated)

    def test_reimport_and_the_sample_after_the_master_add_nothing(self):
        with organization_scope(self.org_a):
            again = import_cdnow(path=MASTER)
            assert (again.transactions_created, again.accounts_created) == (0, 0)
            assert again.skipped_existing == 69659
            sample = import_cdnow(path=SAMPLE, sample=True)
            assert (sample.transactions_created, sample.accounts_created) == (0, 0)
            assert sample.skipped_existing == len(read_sample()) == 6919
            assert RevenueTransaction.objects.count() == 69659
        with organization_scope(self.org_b):
            assert RevenueTransaction.objects.count() == Account.objects.count() == 0


class CdnowSampleImportTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_b):
            cls.report = import_cdnow(path=SAMPLE, sample=True)

    def test_customers_purchases_and_revenue_equal_pandas_to_the_cent(self):
        sample = read_sample()
        with organization_scope(self.org_b):
            totals = imported_totals()
            ids = set(Account.objects.values_list("external_id", flat=True))
        assert totals == {
            "n": len(sample), "amount": cents(sample),
            "cds": sample.number_of_cds.astype(int).sum(),
            "customers": sample.customer_id.nunique(),
        }  # fmt: skip
        assert (len(sample), sample.customer_id.nunique()) == (6919, 2357)
        assert ids == {f"cdnow:{int(c)}" for c in sample.customer_id}
        assert self.report.rejected == []

    def test_quirks_are_warned_at_their_lines(self):
        sample = read_sample()
        zero = sample[sample.dollar_value.map(Decimal) == 0]
        repeated = sample[sample.duplicated(["customer_id", *COLUMNS[1:]], keep="first")]
        warnings = self.report.warnings
        assert lines_of(warnings, "for $0.00", SAMPLE.name) == zero.line.tolist()
        assert lines_of(warnings, "separate purchase", SAMPLE.name) == repeated.line.tolist()
        assert len(warnings) == len(zero) + len(repeated)
        assert len(repeated) == 21

    def test_the_master_after_the_sample_adds_only_the_other_customers(self):
        master = read_master()
        with organization_scope(self.org_b):
            report = import_cdnow(path=MASTER)
            totals = imported_totals()
        assert report.skipped_existing == 6919
        assert report.transactions_created == len(master) - 6919
        assert report.accounts_created == master.customer_id.nunique() - 2357
        assert totals["n"] == len(master) and totals["amount"] == cents(master)


@pytest.mark.django_db
def test_a_malformed_line_is_reported_with_its_number_and_the_rest_imported(tmp_path):
    path = tmp_path / "cdnow.txt"
    path.write_text(
        "customer_id date number_of_cds dollar_value\r\n"
        " 00001 19970101  1   11.77\r\n"
        " 00002 19970112  1\r\n"  # line 3: a column missing
        " 00002 19971312  1   12.00\r\n"  # line 4: month 13
        " 00003 19970102  2   20.76\r\n"
        " 00003 19970102  x   20.76\r\n"  # line 6: CDs not a number
        " 00003 19970103  1   -3.00\r\n"  # line 7: negative
        " 00003 19970104  1   3.001\r\n"  # line 8: a tenth of a cent
        "\r\n"
        " 00004 19970105  3   0.00\r\n"  # line 10: free, kept
    )
    organization = tenancy_services.organization_create(name="Small", slug="small")
    with organization_scope(organization):
        report = import_cdnow(path=path)
        assert report.rejected == [
            "cdnow.txt line 3: 3 columns, expected 4",
            "cdnow.txt line 4: date '19971312' is not YYYYMMDD",
            "cdnow.txt line 6: number_of_cds 'x' is not a whole number ≥ 0",
            "cdnow.txt line 7: dollar_value '-3.00' is not an amount ≥ 0",
            "cdnow.txt line 8: dollar_value '3.001' has fractions of a cent",
        ]
        assert report.warnings == ["cdnow.txt line 10: purchase of 3 CD(s) for $0.00, kept as "
                                   "recorded"]  # fmt: skip
        assert (report.accounts_created, report.transactions_created) == (3, 3)
        assert imported_totals() == {
            "n": 3, "amount": Decimal("32.53"), "cds": 6, "customers": 3
        }  # fmt: skip
        assert set(RevenueTransaction.objects.values_list("external_id", flat=True)) == {
            "cdnow:1:19970101:1", "cdnow:3:19970102:1", "cdnow:4:19970105:1",
        }  # fmt: skip


@pytest.mark.django_db
def test_the_command_imports_and_refuses_the_wrong_layout(tmp_path):
    path = tmp_path / "sample.txt"
    path.write_text(" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n")
    tenancy_services.organization_create(name="Small", slug="small")
    out = StringIO()
    call_command("import_cdnow", "--org", "small", "--file", str(path), "--sample", stdout=out)
    assert "2 purchases imported for 1 new customers, 0 already there, 0 rejected" in (
        out.getvalue()
    )
    with pytest.raises(CommandError, match=r"looks like the sample \(5 columns\): add --sample"):
        call_command("import_cdnow", "--org", "small", "--file", str(path), stdout=StringIO())
