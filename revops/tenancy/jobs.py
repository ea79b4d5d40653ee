"""The base for background jobs that touch tenant data.

A tenant task takes `organization_id` first and runs inside that organization's scope. Tasks
declared idempotent are acknowledged late and re-queued if their worker dies mid-run, so they
must be safe to run twice. Enqueue them with `.delay_on_commit(...)` from services so a worker
never sees a row before the transaction that wrote it has committed.
"""

import functools

from celery import shared_task

from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization


def tenant_task(*, idempotent: bool, **options):
    """Declare a Celery task whose first argument is the organization it works for."""
    if idempotent:
        options.setdefault("acks_late", True)
        options.setdefault("reject_on_worker_lost", True)

    def decorate(func):
        @functools.wraps(func)
        def run_in_scope(organization_id: int, *args, **kwargs):
            organization = Organization.objects.get(pk=organization_id)
            with organization_scope(organization):
                return func(organization, *args, **kwargs)

        return shared_task(**options)(run_in_scope)

    return decorate
