"""CSV lead imports: create one, then process it in resumable chunks (in a Celery task).

Processing is safe to repeat and to crash half-way: each chunk locks the import row, checks how
far it got, imports the next rows through `leads_bulk_upsert`, and commits the rows together
with the new position. A second runner (a redelivered task) simply continues from there.
"""

from itertools import islice

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leads import csv_io, services
from leads.models import ImportStatus, LeadImport
from revops.tenancy.models import User

CHUNK_ROWS = 500
MAX_BYTES = 20 * 1024 * 1024
MAX_STORED_ERRORS = 5000


def lead_import_upload(
    *, actor: User | None, filename: str, content: str, preset: str | None = None
) -> LeadImport:
    """Keep an uploaded file as a draft import with a guessed column map, for review."""
    if len(content.encode()) > MAX_BYTES:
        raise ValidationError({"file": "The file is larger than 20 MB; split it."})
    headers, rows = csv_io.read_csv(content)
    if not headers:
        raise ValidationError({"file": "The file has no header row."})
    return LeadImport.objects.create(
        uploaded_by=actor, filename=filename[:255], content=content,
        mapping=csv_io.guess_mapping(headers, preset), total_rows=sum(1 for _ in rows),
    )  # fmt: skip


def lead_import_start(
    *, lead_import: LeadImport, mapping: dict[str, str], in_background: bool = True
) -> LeadImport:
    """Confirm the column map and queue the import (a worker runs it after this commits)."""
    headers, _rows = csv_io.read_csv(lead_import.content)
    unknown = {f for f in mapping.values() if f and f not in csv_io.IMPORTABLE_FIELDS}
    if unknown:
        raise ValidationError({"mapping": f"Not lead fields: {', '.join(sorted(unknown))}."})
    missing = set(mapping) - set(headers)
    if missing:
        raise ValidationError(
            {"mapping": f"Not columns of the file: {', '.join(sorted(missing))}."}
        )
    if not set(mapping.values()) & {"email", "external_id"}:
        raise ValidationError(
            {"mapping": "Map a column to email or external id, so re-imports update leads."}
        )
    claimed = LeadImport.objects.filter(pk=lead_import.pk, status=ImportStatus.DRAFT).update(
        mapping=mapping, status=ImportStatus.PENDING, updated_at=timezone.now()
    )
    if claimed != 1:
        raise ValidationError({"status": "This import has already started."})
    lead_import.refresh_from_db()
    if in_background:
        from leads.tasks import lead_import_run

        lead_import_run.delay_on_commit(lead_import.organization_id, lead_import.pk)
    return lead_import


def lead_import_create(
    *,
    actor: User | None,
    filename: str,
    content: str,
    mapping: dict[str, str],
    in_background: bool = True,
) -> LeadImport:
    """Upload and start in one step (the command line and the API)."""
    with transaction.atomic():
        draft = lead_import_upload(actor=actor, filename=filename, content=content)
        return lead_import_start(lead_import=draft, mapping=mapping, in_background=in_background)


def _describe(errors: dict) -> str:
    return "; ".join(
        f"{field}: {' '.join(str(m) for m in messages)}" if field != "non_field_errors"
        else " ".join(str(m) for m in messages)
        for field, messages in errors.items()
    )  # fmt: skip


def lead_import_process(*, lead_import_id: int, chunk_rows: int = CHUNK_ROWS) -> LeadImport:
    """Import the remaining rows of an import, chunk by chunk. An unexpected error marks the
    import failed (with the reason) instead of leaving it "importing" forever."""
    try:
        return _process(lead_import_id, chunk_rows)
    except Exception as error:
        failed = LeadImport.objects.get(pk=lead_import_id)
        failed.status, failed.finished_at = ImportStatus.FAILED, timezone.now()
        failed.errors.append({"line": None, "reason": f"Import stopped: {error}"})
        failed.save(update_fields=["status", "finished_at", "errors", "updated_at"])
        raise


def _process(lead_import_id: int, chunk_rows: int) -> LeadImport:
    lead_import = LeadImport.objects.get(pk=lead_import_id)
    if lead_import.status not in (ImportStatus.PENDING, ImportStatus.RUNNING):
        return lead_import
    _headers, rows = csv_io.read_csv(lead_import.content)
    position = 0
    while True:
        with transaction.atomic():
            lead_import = LeadImport.objects.select_for_update().get(pk=lead_import_id)
            if lead_import.status not in (ImportStatus.PENDING, ImportStatus.RUNNING):
                return lead_import
            # Another runner may have moved on meanwhile: skip what it already imported.
            for _ in islice(rows, lead_import.processed_rows - position):
                pass
            position = lead_import.processed_rows
            chunk = list(islice(rows, chunk_rows))
            now = timezone.now()
            if not chunk:
                lead_import.status, lead_import.finished_at = ImportStatus.DONE, now
                lead_import.save(update_fields=["status", "finished_at", "updated_at"])
                return lead_import
            values = [csv_io.row_to_lead_values(row, lead_import.mapping) for _, row in chunk]
            results = services.leads_bulk_upsert(actor=lead_import.uploaded_by, rows=values)
            for (line, _row), result in zip(chunk, results, strict=True):
                if result.status == "created":
                    lead_import.created_count += 1
                elif result.status == "updated":
                    lead_import.updated_count += 1
                elif len(lead_import.errors) < MAX_STORED_ERRORS:
                    lead_import.errors.append({"line": line, "reason": _describe(result.errors)})
            position += len(chunk)
            lead_import.processed_rows = position
            lead_import.status = ImportStatus.RUNNING
            lead_import.started_at = lead_import.started_at or now
            lead_import.save()
