"""Import the public Olist marketing funnel (MQLs and the closed deals among them).

A history import, not live intake: rows become leads with their real past timeline in one
set-based pass (bulk inserts), without re-running today's scoring or assignment on 2017 data.
Quirks of the real files are reported as warnings with their line numbers; no row is dropped
silently. Re-importing skips rows already imported (external id `olist:<mql_id>`).
"""

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from leads.models import Lead, LeadTransition, Opportunity, OpportunityStatus, SourceChannel, Stage
from revops.tenancy.context import current_organization
from revops.tenancy.copy import planner_statistics_refresh

ORIGIN_TO_SOURCE = {
    "organic_search": SourceChannel.ORGANIC_SEARCH,
    "paid_search": SourceChannel.PAID_SEARCH,
    "social": SourceChannel.SOCIAL,
    "email": SourceChannel.EMAIL,
    "referral": SourceChannel.REFERRAL,
    "direct_traffic": SourceChannel.DIRECT,
    "display": SourceChannel.PAID_SEARCH,
    "other_publicities": SourceChannel.OTHER,
    "other": SourceChannel.OTHER,
    "unknown": SourceChannel.OTHER,
}
WON_PATH = [Stage.SQL, Stage.ACCEPTED, Stage.OPPORTUNITY, Stage.WON]


@dataclass
class ImportReport:
    created: int = 0
    won: int = 0
    skipped_existing: int = 0
    rejected: list[str] = field(default_factory=list)  # rows not imported: "line N: reason"
    warnings: list[str] = field(default_factory=list)  # imported, with a caveat


def _read(path: Path) -> list[tuple[int, dict]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(number, row) for number, row in enumerate(csv.DictReader(handle), start=2)]


def _parse_contact_date(value: str) -> datetime:
    return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(0), tzinfo=UTC)


def import_olist(*, mql_csv: Path, deals_csv: Path) -> ImportReport:
    """Import into the current organization's scope."""
    organization = current_organization()
    report = ImportReport()
    existing = set(
        Lead.objects.filter(external_id__startswith="olist:").values_list("external_id", flat=True)
    )
    deals = {}
    for line, row in _read(deals_csv):
        try:
            won_at = datetime.strptime(row["won_date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            report.rejected.append(
                f"{deals_csv.name} line {line}: bad won_date {row['won_date']!r}"
            )
            continue
        try:
            revenue = Decimal(row["declared_monthly_revenue"] or "0")
        except InvalidOperation:
            report.warnings.append(f"{deals_csv.name} line {line}: revenue unreadable, taken as 0")
            revenue = Decimal(0)
        deals[row["mql_id"]] = (line, row, won_at, revenue)

    leads: list[Lead] = []
    contacted: dict[str, datetime] = {}
    won_rows: dict[str, tuple] = {}
    for line, row in _read(mql_csv):
        mql_id = row["mql_id"]
        external_id = f"olist:{mql_id}"
        if external_id in existing:
            report.skipped_existing += 1
            deals.pop(mql_id, None)
            continue
        try:
            contacted_at = _parse_contact_date(row["first_contact_date"])
        except ValueError:
            report.rejected.append(
                f"{mql_csv.name} line {line}: bad first_contact_date {row['first_contact_date']!r}"
            )
            continue
        origin = row["origin"].strip()
        if not origin:
            report.warnings.append(f"{mql_csv.name} line {line}: no origin, imported as 'other'")
        elif origin not in ORIGIN_TO_SOURCE:
            report.warnings.append(
                f"{mql_csv.name} line {line}: unknown origin {origin!r}, imported as 'other'"
            )
        elif origin == "unknown":
            report.warnings.append(f"{mql_csv.name} line {line}: origin 'unknown' → 'other'")
        source = ORIGIN_TO_SOURCE.get(origin, SourceChannel.OTHER)
        lead = Lead(
            organization=organization, external_id=external_id, source=source,
            landing_page=row["landing_page_id"], stage=Stage.MQL, stage_changed_at=contacted_at,
        )  # fmt: skip
        contacted[external_id] = contacted_at
        deal = deals.pop(mql_id, None)
        if deal is not None:
            deal_line, deal_row, won_at, revenue = deal
            if won_at < contacted_at:
                report.warnings.append(
                    f"{deals_csv.name} line {deal_line}: won {won_at:%Y-%m-%d %H:%M} before first "
                    f"contact {contacted_at:%Y-%m-%d}; the win is dated at first contact"
                )
                won_at = contacted_at
            lead.stage, lead.stage_changed_at = Stage.WON, won_at
            lead.industry = deal_row["business_segment"]
            lead.handed_off_at = lead.first_touch_at = won_at
            won_rows[external_id] = (deal_row, won_at, revenue)
        leads.append(lead)
    for mql_id, (line, _row, _won_at, _revenue) in deals.items():
        report.rejected.append(f"{deals_csv.name} line {line}: deal for unknown MQL {mql_id}")

    with transaction.atomic():
        created = Lead.objects.bulk_create(leads, batch_size=2000)
        transitions, opportunities = [], []
        for lead in created:
            contacted_at = contacted[lead.external_id]
            transitions += [
                LeadTransition(organization=organization, lead=lead, from_stage="",
                               to_stage=Stage.NEW, at=contacted_at, reason="Imported from Olist"),
                LeadTransition(organization=organization, lead=lead, from_stage=Stage.NEW,
                               to_stage=Stage.MQL, at=contacted_at, reason="Olist MQL"),
            ]  # fmt: skip
            if lead.external_id in won_rows:
                deal_row, won_at, revenue = won_rows[lead.external_id]
                previous = Stage.MQL
                for stage in WON_PATH:
                    transitions.append(
                        LeadTransition(
                            organization=organization, lead=lead, from_stage=previous,
                            to_stage=stage, at=won_at,
                            reason=f"Olist closed deal (SDR {deal_row['sdr_id'][:8]}, "
                            f"SR {deal_row['sr_id'][:8]})",
                        )
                    )  # fmt: skip
                    previous = stage
                opportunities.append(
                    Opportunity(
                        organization=organization, lead=lead,
                        name=f"Olist seller {deal_row['seller_id'][:8]}",
                        amount=revenue, won_value=revenue, currency=organization.currency,
                        probability=100, status=OpportunityStatus.WON, closed_at=won_at,
                    )
                )  # fmt: skip
        LeadTransition.objects.bulk_create(transitions, batch_size=5000)
        Opportunity.objects.bulk_create(opportunities, batch_size=2000)
    planner_statistics_refresh(Lead, LeadTransition, Opportunity)
    report.created = len(created)
    report.won = len(opportunities)
    return report
