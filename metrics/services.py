"""Metric inputs: marketing spend, sales cost and the gross margin, typed in or imported as CSV.

Every amount is in the organization's currency; a row in another currency is refused with a
message, never converted silently. A CSV import is all or nothing per file: every bad row is
reported with its line and reason, and nothing is saved until the file is clean, so a fixed file
can simply be imported again.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from leads.models import Campaign, SourceChannel
from metrics.models import (
    MarketingSpend,
    MetricRun,
    MetricsSettings,
    SalesCost,
    SalesCostCategory,
)
from metrics.tasks import metrics_snapshot
from revops.tenancy.context import current_organization
from revops.tenancy.models import Membership, User

MAX_IMPORT_ROWS = 50_000


def _amount(value, name: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError) as error:
        raise ValidationError({name: f"'{value}' is not an amount."}) from error
    if not amount.is_finite() or amount < 0:
        raise ValidationError({name: "Enter an amount of zero or more."})
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({name: "Use at most two decimal places."})
    if amount >= Decimal("1e12"):
        raise ValidationError({name: "That amount is too large."})
    return amount


def _day(value, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as error:
        raise ValidationError({name: f"'{value}' is not a date (YYYY-MM-DD)."}) from error


def _currency(value) -> str:
    expected = current_organization().currency
    currency = (str(value or "").strip().upper()) or expected
    if currency != expected:
        raise ValidationError(
            {"currency": f"Amounts are in {expected}, the organization's currency; convert "
                         f"{currency} first."}
        )  # fmt: skip
    return currency


def marketing_spend_record(
    *, spent_on, channel: str, amount, currency: str = "", campaign: Campaign | None = None,
    note: str = "",
) -> MarketingSpend:  # fmt: skip
    errors = {}
    values = {}
    for name, parse in (
        ("spent_on", lambda: _day(spent_on, "spent_on")),
        ("amount", lambda: _amount(amount)),
        ("currency", lambda: _currency(currency)),
    ):
        try:
            values[name] = parse()
        except ValidationError as error:
            errors.update(error.message_dict)
    if campaign is not None:
        channel = channel or campaign.channel
        if campaign.organization_id != current_organization().pk:
            errors["campaign"] = ["Choose one of the organization's campaigns."]
    if channel not in SourceChannel.values:
        errors["channel"] = [f"Choose a channel: {', '.join(SourceChannel.values)}."]
    if errors:
        raise ValidationError(errors)
    return MarketingSpend.objects.create(
        channel=channel, campaign=campaign, note=note.strip()[:300], **values
    )


def sales_cost_record(
    *, period_start, period_end, category: str, amount, currency: str = "", team: str = "",
    rep: User | None = None, note: str = "",
) -> SalesCost:  # fmt: skip
    errors = {}
    values = {}
    for name, parse in (
        ("period_start", lambda: _day(period_start, "period_start")),
        ("period_end", lambda: _day(period_end, "period_end")),
        ("amount", lambda: _amount(amount)),
        ("currency", lambda: _currency(currency)),
    ):
        try:
            values[name] = parse()
        except ValidationError as error:
            errors.update(error.message_dict)
    if (
        "period_start" in values
        and "period_end" in values
        and values["period_end"] < values["period_start"]
    ):
        errors["period_end"] = ["The period ends before it starts."]
    if category not in SalesCostCategory.values:
        errors["category"] = [f"Choose a category: {', '.join(SalesCostCategory.values)}."]
    if rep is not None and not Membership.objects.filter(user=rep).exists():
        errors["rep"] = ["Choose a member of this organization."]
    if errors:
        raise ValidationError(errors)
    return SalesCost.objects.create(
        category=category, team=team.strip()[:100], rep=rep, note=note.strip()[:300], **values
    )


def gross_margin_set(*, percent) -> MetricsSettings:
    if percent in (None, ""):
        value = None
    else:
        value = _amount(percent, "gross_margin_percent")
        if value > 100:
            raise ValidationError({"gross_margin_percent": "Give a percentage from 0 to 100."})
    settings, _ = MetricsSettings.objects.update_or_create(defaults={"gross_margin_percent": value})
    return settings


# --- CSV --------------------------------------------------------------------------------------


@dataclass
class CsvImportResult:
    saved: int = 0
    errors: list[dict] = field(default_factory=list)  # [{"line": 7, "reason": "amount: ..."}]


def _rows(text: str, required: set[str]):
    """(line number, row) pairs. The number is the file's own line (blank lines are skipped, so
    counting rows would point people at the wrong line). Cells beyond the header's columns come
    under the key None, as a list: `_import` refuses such a line rather than drop a value."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        headers = {(h or "").strip().lower() for h in reader.fieldnames or []}
        missing = required - headers
        if missing:
            raise ValidationError({"file": f"Missing columns: {', '.join(sorted(missing))}."})
        for count, row in enumerate(reader, start=1):
            if count > MAX_IMPORT_ROWS:
                raise ValidationError({"file": f"Import at most {MAX_IMPORT_ROWS:,} rows at once."})
            extra = [cell for cell in row.pop(None, None) or [] if cell.strip()]
            cleaned = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            if extra:
                cleaned[None] = extra
            yield reader.line_num, cleaned
    except csv.Error as error:  # a cell over the csv module's size limit
        # The reader counts a line once it has parsed it: the failing one is the next.
        raise ValidationError({"file": f"Line {reader.line_num + 1}: {error}."}) from error


def _reason(error: ValidationError) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in
                     error.message_dict.items())  # fmt: skip


def _import(text: str, required: set[str], record) -> CsvImportResult:
    result = CsvImportResult()
    try:
        with transaction.atomic():
            for line, row in _rows(text, required):
                if None in row:
                    # "1,200" unquoted splits an amount in two: saving "1" would be wrong.
                    result.errors.append({"line": line, "reason": _EXTRA_CELLS})
                    continue
                try:
                    with transaction.atomic():
                        record(row)
                    result.saved += 1
                except ValidationError as error:
                    result.errors.append({"line": line, "reason": _reason(error)})
            if result.errors:
                raise _Rejected
    except _Rejected:
        result.saved = 0
    return result


_EXTRA_CELLS = (
    'More cells than the header has columns: quote a value that contains a comma (like "1,200.00").'
)


class _Rejected(Exception):
    """Roll the whole file back: it is imported once it is clean."""


def marketing_spend_import_csv(text: str) -> CsvImportResult:
    """Columns: date, channel, amount, and optionally currency, campaign (by name), note."""
    campaigns = {c.name.lower(): c for c in Campaign.objects.all()}

    def record(row):
        campaign = None
        if row.get("campaign"):
            campaign = campaigns.get(row["campaign"].lower())
            if campaign is None:
                raise ValidationError({"campaign": f"No campaign is called '{row['campaign']}'."})
        marketing_spend_record(
            spent_on=row["date"], channel=row["channel"].lower(), amount=row["amount"],
            currency=row.get("currency", ""), campaign=campaign, note=row.get("note", ""),
        )  # fmt: skip

    return _import(text, {"date", "channel", "amount"}, record)


def sales_cost_import_csv(text: str) -> CsvImportResult:
    """Columns: period_start, period_end, category, amount, and optionally currency, team,
    rep_email, note."""
    members = User.objects.filter(pk__in=Membership.objects.values("user_id"))
    reps = {user.email.lower(): user for user in members}

    def record(row):
        rep = None
        if row.get("rep_email"):
            rep = reps.get(row["rep_email"].lower())
            if rep is None:
                raise ValidationError({"rep_email": f"No member has the email {row['rep_email']}."})
        sales_cost_record(
            period_start=row["period_start"], period_end=row["period_end"],
            category=row["category"].lower(), amount=row["amount"],
            currency=row.get("currency", ""), team=row.get("team", ""), rep=rep,
            note=row.get("note", ""),
        )  # fmt: skip

    return _import(text, {"period_start", "period_end", "category", "amount"}, record)


# --- recomputing ------------------------------------------------------------------------------


def metric_run_request(*, actor: User | None, first_day, last_day) -> MetricRun:
    """An admin asks for a range to be recomputed now: a run row to follow, and a task."""
    first, last = _day(first_day, "first_day"), _day(last_day, "last_day")
    if last < first:
        raise ValidationError({"last_day": "The range ends before it starts."})
    if (last - first).days > 3 * 366:
        raise ValidationError({"first_day": "Recompute at most three years at once."})
    run = MetricRun.objects.create(first_day=first, last_day=last, requested_by=actor)
    metrics_snapshot.delay_on_commit(
        current_organization().pk, first.isoformat(), last.isoformat(), run.pk
    )
    return run


# --- deleting ---------------------------------------------------------------------------------


def marketing_spend_delete(*, spend: MarketingSpend) -> None:
    """A mistaken row goes; the days it was on drop it at their next computation."""
    spend.delete()


def sales_cost_delete(*, cost: SalesCost) -> None:
    cost.delete()
