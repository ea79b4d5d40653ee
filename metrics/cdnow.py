"""Import CDNOW purchases (Fader, Hardie & Lee's cohort): customers → accounts, purchases →
revenue transactions.

Two layouts, both whitespace-separated: `CDNOW_master.txt` (a header line, then customer_id,
date YYYYMMDD, number_of_cds, dollar_value) and the 1/10 sample `CDNOW_sample.txt` (no header;
master customer id, sample id, then the same three). Customers are keyed by their master id
(`cdnow:<id>`), so the sample and the master name the same people.

A purchase has no id of its own, so it is keyed by customer, day and its rank among that
customer's purchases that day in file order (`cdnow:<id>:<YYYYMMDD>:<n>`): re-importing, or
importing the master after the sample, skips what is already there. Rows are written with COPY
(the master has 69,659). A line that cannot be read is rejected with its line number, the rest
imported; quirks of readable lines (a $0.00 purchase, a line repeating an earlier one exactly)
are kept as recorded and warned.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from metrics.models import Account, RevenueTransaction
from revops.tenancy.context import current_organization
from revops.tenancy.copy import copy_insert, planner_statistics_refresh

EXTERNAL_PREFIX = "cdnow:"
MASTER_HEADER = ["customer_id", "date", "number_of_cds", "dollar_value"]
CENT = Decimal("0.01")
# RevenueTransaction.amount: 14 digits, 2 of them decimals.
AMOUNT_LIMIT = Decimal(10) ** 12


@dataclass
class CdnowReport:
    accounts_created: int = 0
    transactions_created: int = 0
    skipped_existing: int = 0  # purchases already imported
    rejected: list[str] = field(default_factory=list)  # lines not imported: "file line N: reason"
    warnings: list[str] = field(default_factory=list)  # imported, with a caveat


@dataclass(frozen=True)
class _Purchase:
    line: int
    customer: int
    day: date
    cds: int
    amount: Decimal


class CdnowFormatError(ValueError):
    """The file is the other layout (master given as sample or the reverse)."""


def _parse(fields: list[str], sample: bool) -> tuple[int, date, int, Decimal]:
    """customer, day, CDs, amount; ValueError with the reason when a field is unusable."""
    if sample:
        customer, sample_id, day, cds, amount = fields
        if not sample_id.isdigit():
            raise ValueError(f"sample id {sample_id!r} is not a number")
    else:
        customer, day, cds, amount = fields
    if not customer.isdigit() or int(customer) == 0:
        raise ValueError(f"customer id {customer!r} is not a positive number")
    try:
        parsed_day = datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"date {day!r} is not YYYYMMDD") from None
    if not cds.isdigit():
        raise ValueError(f"number_of_cds {cds!r} is not a whole number ≥ 0")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"dollar_value {amount!r} is not a number") from None
    if not value.is_finite() or value < 0 or value >= AMOUNT_LIMIT:
        raise ValueError(f"dollar_value {amount!r} is not an amount ≥ 0")
    if value != value.quantize(CENT):
        raise ValueError(f"dollar_value {amount!r} has fractions of a cent")
    return int(customer), parsed_day, int(cds), value


def _read(path: Path, sample: bool, report: CdnowReport) -> list[_Purchase]:
    columns, other = (5, 4) if sample else (4, 5)
    purchases: list[_Purchase] = []
    first_seen: dict[tuple, int] = {}
    sample_ids: dict[int, tuple[str, int]] = {}
    other_layout = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line, text in enumerate(handle, start=1):
            fields = text.split()
            if not fields:
                continue  # a blank line holds no purchase
            if line == 1 and [f.lower() for f in fields] == MASTER_HEADER:
                continue
            if len(fields) != columns:
                other_layout += len(fields) == other
                report.rejected.append(
                    f"{path.name} line {line}: {len(fields)} columns, expected {columns}"
                )
                continue
            try:
                customer, day, cds, amount = _parse(fields, sample)
            except ValueError as error:
                report.rejected.append(f"{path.name} line {line}: {error}")
                continue
            if sample:
                # One master customer, one sample id: a second one means a mixed-up file.
                sample_id, sample_line = sample_ids.setdefault(customer, (fields[1], line))
                if sample_id != fields[1]:
                    report.warnings.append(
                        f"{path.name} line {line}: customer {customer} has sample id {fields[1]}, "
                        f"but {sample_id} on line {sample_line}"
                    )
            key = (customer, day, cds, amount)
            if key in first_seen:
                report.warnings.append(
                    f"{path.name} line {line}: same customer, date, CDs and amount as line "
                    f"{first_seen[key]}; kept as a separate purchase"
                )
            else:
                first_seen[key] = line
            if amount == 0:
                report.warnings.append(
                    f"{path.name} line {line}: purchase of {cds} CD(s) for $0.00, kept as recorded"
                )
            purchases.append(_Purchase(line, customer, day, cds, amount))
    if not purchases and other_layout:
        layout = "the master (4 columns)" if sample else "the sample (5 columns)"
        hint = "drop --sample" if sample else "add --sample"
        raise CdnowFormatError(f"{path.name} looks like {layout}: {hint}.")
    return purchases


def import_cdnow(*, path: Path, sample: bool = False) -> CdnowReport:
    """Import one CDNOW file into the current organization's scope."""
    organization = current_organization()
    report = CdnowReport()
    purchases = _read(path, sample, report)

    accounts = dict(
        Account.objects.filter(external_id__startswith=EXTERNAL_PREFIX).values_list(
            "external_id", "id"
        )
    )
    existing = set(
        RevenueTransaction.objects.filter(external_id__startswith=EXTERNAL_PREFIX).values_list(
            "external_id", flat=True
        )
    )
    new_accounts: dict[str, Account] = {}
    rank: dict[tuple[int, date], int] = defaultdict(int)
    pending: list[tuple[str, str, _Purchase]] = []
    for purchase in purchases:
        rank[purchase.customer, purchase.day] += 1
        external_id = (
            f"{EXTERNAL_PREFIX}{purchase.customer}:{purchase.day:%Y%m%d}:"
            f"{rank[purchase.customer, purchase.day]}"
        )
        if external_id in existing:
            report.skipped_existing += 1
            continue
        account_id = f"{EXTERNAL_PREFIX}{purchase.customer}"
        if account_id not in accounts and account_id not in new_accounts:
            new_accounts[account_id] = Account(
                organization_id=organization.pk, external_id=account_id,
                name=f"CDNOW customer {purchase.customer}",
            )  # fmt: skip
        pending.append((external_id, account_id, purchase))

    with transaction.atomic():
        copy_insert(Account, list(new_accounts.values()))
        accounts.update((key, account.pk) for key, account in new_accounts.items())
        transactions = [
            RevenueTransaction(
                organization_id=organization.pk, account_id=accounts[account_id],
                occurred_on=purchase.day, amount=purchase.amount, quantity=purchase.cds,
                external_id=external_id,
            )
            for external_id, account_id, purchase in pending
        ]  # fmt: skip
        copy_insert(RevenueTransaction, transactions)
        planner_statistics_refresh(Account, RevenueTransaction)
    report.accounts_created = len(new_accounts)
    report.transactions_created = len(transactions)
    return report
