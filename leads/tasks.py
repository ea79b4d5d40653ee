from leads import imports
from revops.tenancy.jobs import tenant_task


@tenant_task(idempotent=True)
def lead_import_run(organization, lead_import_id: int) -> int:
    """Import an uploaded CSV; resumable, so a redelivery after a crash just continues."""
    return imports.lead_import_process(lead_import_id=lead_import_id).processed_rows
