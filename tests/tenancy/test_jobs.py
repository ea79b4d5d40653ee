"""Background jobs run for real: through Redis to a worker, never in eager mode."""

import time

import pytest
from django.core import mail

from revops.tenancy import services
from revops.tenancy.context import current_organization, organization_scope
from revops.tenancy.jobs import tenant_task
from revops.tenancy.models import Role
from revops.tenancy.tasks import invitation_send_email


@tenant_task(idempotent=True, name="tests.report_scope")
def report_scope(organization, marker: str) -> dict:
    return {"scope": current_organization().slug, "given": organization.slug, "marker": marker}


@pytest.fixture
def organizations(transactional_db):
    org_a = services.organization_create(name="Acme Jobs", slug="acme-jobs")
    org_b = services.organization_create(name="Globex Jobs", slug="globex-jobs")
    return org_a, org_b


def test_a_tenant_task_runs_on_a_worker_inside_its_organizations_scope(
    celery_worker, organizations
):
    org_a, org_b = organizations
    results = [report_scope.delay(org.pk, f"m{org.pk}") for org in (org_a, org_b)]
    assert [r.get(timeout=20) for r in results] == [
        {"scope": "acme-jobs", "given": "acme-jobs", "marker": f"m{org_a.pk}"},
        {"scope": "globex-jobs", "given": "globex-jobs", "marker": f"m{org_b.pk}"},
    ]


def test_idempotent_tasks_are_acknowledged_late_and_requeued_when_a_worker_dies():
    assert report_scope.acks_late and report_scope.reject_on_worker_lost
    # Sending an email twice is not harmless, so that task is acknowledged on receipt.
    assert not invitation_send_email.acks_late


def test_an_invitation_email_leaves_through_the_worker_after_commit(celery_worker, organizations):
    org_a, _ = organizations
    admin = services.user_create(email="admin@jobs.test", password="x" * 20)
    with organization_scope(org_a):
        services.membership_add(user=admin, role=Role.ADMIN)
        services.invitation_create(email="newbie@jobs.test", role=Role.SALES, invited_by=admin)
    deadline = time.monotonic() + 20
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m.to for m in mail.outbox] == [["newbie@jobs.test"]]
    assert "Acme Jobs" in mail.outbox[0].subject
