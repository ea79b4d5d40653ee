from celery import shared_task

from leads import imports, services
from revops.tenancy.jobs import tenant_task
from revops.tenancy.models import Organization


@tenant_task(idempotent=True)
def lead_import_run(organization, lead_import_id: int) -> int:
    """Import an uploaded CSV; resumable, so a redelivery after a crash just continues."""
    return imports.lead_import_process(lead_import_id=lead_import_id).processed_rows


@tenant_task(idempotent=True)
def leads_rescore(organization) -> int:
    """Rescore open leads after a scoring-rule change; safe to run twice."""
    return services.leads_rescore()


@shared_task
def leads_rescore_every_organization() -> int:
    """Nightly: engagement points decay, so scores move without any new input."""
    organization_ids = list(Organization.objects.values_list("pk", flat=True))
    for organization_id in organization_ids:
        leads_rescore.delay(organization_id)
    return len(organization_ids)
