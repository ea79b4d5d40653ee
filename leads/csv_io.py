"""CSV in and out: column maps for common CRM exports, row conversion, and safe export.

Import turns each CSV row into lead values through a mapping {CSV header: lead field}; the rows
then go through `services.leads_bulk_upsert`, so a CSV lead is qualified, scored and assigned
exactly like one from the API, and a re-import updates instead of duplicating.
"""

import csv
import io
from collections.abc import Iterable, Iterator

from leads.models import Lead, SourceChannel

# Targets a column can map to: the lead's own fields plus name halves joined into full_name.
NAME_PARTS = ("first_name", "last_name")
IMPORTABLE_FIELDS = (
    "full_name", *NAME_PARTS, "email", "phone", "title", "company_name", "company_domain",
    "industry", "company_size", "territory", "persona", "source", "landing_page", "external_id",
    "budget_amount", "authority_role", "needs", "timeline_days",
)  # fmt: skip

PRESETS: dict[str, dict[str, str]] = {
    # HubSpot: Contacts → Export (default properties).
    "hubspot": {
        "Record ID": "external_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
        "Job Title": "title",
        "Company Name": "company_name",
        "Website URL": "company_domain",
        "Industry": "industry",
        "Number of Employees": "company_size",
        "Original Source": "source",
        "Country/Region": "territory",
        "Persona": "persona",
    },
    # Salesforce: Leads report exported as CSV.
    "salesforce": {
        "Lead ID": "external_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone": "phone",
        "Title": "title",
        "Company / Account": "company_name",
        "Website": "company_domain",
        "Industry": "industry",
        "No. of Employees": "company_size",
        "Lead Source": "source",
        "Country": "territory",
    },
}

# Source values as CRMs spell them → our channels. Unknown values import as "other".
SOURCE_ALIASES = {
    "organic search": SourceChannel.ORGANIC_SEARCH,
    "paid search": SourceChannel.PAID_SEARCH,
    "social media": SourceChannel.SOCIAL,
    "organic social": SourceChannel.SOCIAL,
    "paid social": SourceChannel.SOCIAL,
    "email marketing": SourceChannel.EMAIL,
    "referrals": SourceChannel.REFERRAL,
    "partner referral": SourceChannel.PARTNER,
    "employee referral": SourceChannel.REFERRAL,
    "external referral": SourceChannel.REFERRAL,
    "direct traffic": SourceChannel.DIRECT,
    "web": SourceChannel.DIRECT,
    "offline sources": SourceChannel.EVENTS,
    "trade show": SourceChannel.EVENTS,
    "seminar - internal": SourceChannel.EVENTS,
    "seminar - partner": SourceChannel.PARTNER,
    "advertisement": SourceChannel.PAID_SEARCH,
    **{value: value for value in SourceChannel.values},
    **{label.lower(): value for value, label in SourceChannel.choices},
}


def read_csv(text: str) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """Headers and (line number, row) pairs; line numbers are the file's, header = line 1."""
    text = text.removeprefix("\ufeff")  # Excel's byte-order mark
    reader = csv.DictReader(io.StringIO(text, newline=""))
    headers = [h.strip() for h in (reader.fieldnames or [])]

    def rows() -> Iterator[tuple[int, dict]]:
        for row in reader:
            # reader.line_num is the physical line the row ended on (quoted newlines count).
            yield reader.line_num, {(k or "").strip(): v for k, v in row.items()}

    return headers, rows()


def guess_mapping(headers: list[str], preset: str | None = None) -> dict[str, str]:
    """A preset's mapping where it names the header, else a header equal to a field name."""
    known = PRESETS.get(preset or "", {})
    by_field_name = {f.replace("_", " "): f for f in IMPORTABLE_FIELDS}
    mapping = {}
    for header in headers:
        normalized = header.strip().lower().replace("_", " ")
        mapping[header] = known.get(header) or by_field_name.get(normalized, "")
    return mapping


def row_to_lead_values(row: dict, mapping: dict[str, str]) -> dict:
    """Apply the mapping; empty cells are left out so an update never blanks a field."""
    values: dict = {}
    for header, field in mapping.items():
        cell = (row.get(header) or "").strip()
        if not field or not cell:
            continue
        if field == "source":
            cell = SOURCE_ALIASES.get(cell.lower(), SourceChannel.OTHER)
        elif field == "needs":
            cell = [part.strip() for part in cell.replace(";", ",").split(",") if part.strip()]
        elif field == "company_size":
            cell = cell.replace(",", "").split("-")[0].strip().rstrip("+")  # "51-200" → 51
        values[field] = cell
    first, last = values.pop("first_name", ""), values.pop("last_name", "")
    if (first or last) and "full_name" not in values:
        values["full_name"] = f"{first} {last}".strip()
    return values


# --- export -----------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "id", "full_name", "email", "phone", "title", "company_name", "company_domain", "industry",
    "company_size", "territory", "persona", "source", "campaign", "landing_page", "stage",
    "owner", "score", "budget_amount", "authority_role", "needs", "timeline_days", "external_id",
    "created_at", "handed_off_at", "first_touch_at",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    """Text a spreadsheet will not execute: cells starting like a formula get a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _export_cells(lead: Lead) -> list[str]:
    values = {
        **{name: getattr(lead, name) for name in EXPORT_COLUMNS if hasattr(lead, name)},
        "campaign": lead.campaign.name if lead.campaign else "",
        "owner": lead.owner.email if lead.owner else "",
        "needs": "; ".join(lead.needs),
    }
    return [spreadsheet_safe(values[name]) for name in EXPORT_COLUMNS]


def export_lines(leads: Iterable[Lead]) -> Iterator[str]:
    """CSV text, one line at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(EXPORT_COLUMNS)
    yield flush()
    for lead in leads:
        writer.writerow(_export_cells(lead))
        yield flush()
