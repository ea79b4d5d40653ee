"""Computing snapshots: the backfill command, and an admin's recompute through the real worker."""

import time
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from leads import services as lead_services
from metrics import selectors
from metrics.models import MetricFact, MetricRun, RunStatus
from metrics.services import metric_run_request
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

MONDAY = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def leads_on(days: list[datetime]) -> None:
    for number, when in enumerate(days):
        lead = lead_services.lead_create(
            actor=None, full_name=f"Lead {number}", email=f"lead{number}@x.test", now=when
        )
        lead_services.lead_transition(lead=lead, to_stage="mql", actor=None, now=when)


class BackfillTests(TwoOrganizationsTestCase):
    def test_the_backfill_recomputes_a_range_a_chunk_at_a_time(self):
        with organization_scope(self.org_a):
            leads_on([MONDAY, MONDAY, MONDAY + timedelta(days=20), MONDAY + timedelta(days=45)])
        out = StringIO()
        call_command("metrics_backfill", "--org", "acme-test", "--from", "2026-11-01",
                     "--to", "2026-12-31", "--chunk-days", "31", stdout=out)  # fmt: skip
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("[###############") and "31/61 days" in lines[0]
        assert "61/61 days, through 2026-12-31" in lines[1]
        with organization_scope(self.org_a):
            november = selectors.totals(date(2026, 11, 1), date(2026, 11, 30), ["entered_mql"])
            december = selectors.totals(date(2026, 12, 1), date(2026, 12, 31), ["entered_mql"])
        assert (november["entered_mql"], december["entered_mql"]) == (3, 1)

    def test_bad_arguments_are_refused(self):
        cases = [
            ("nope", "2026-11-01", "2026-11-02", "No organization"),
            ("acme-test", "2026-11-01", "2026-13-01", "YYYY-MM-DD"),
            ("acme-test", "2026-11-05", "2026-11-01", "must not be before"),
        ]
        for org, first, last, message in cases:
            with pytest.raises(CommandError, match=message):
                call_command("metrics_backfill", "--org", org, "--from", first, "--to", last)

    def test_a_recompute_request_checks_its_range(self):
        with organization_scope(self.org_a):
            with pytest.raises(ValidationError) as error:
                metric_run_request(actor=self.alice, first_day="2026-11-05", last_day="2026-11-01")
            assert "ends before it starts" in error.value.message_dict["last_day"][0]
            with pytest.raises(ValidationError):
                metric_run_request(actor=self.alice, first_day="2020-01-01", last_day="2026-01-01")
            assert not MetricRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_admins_recompute_runs_on_the_worker_and_reports_its_status(celery_worker):
    organization = tenancy_services.organization_create(name="Metrics Org", slug="metrics-org")
    with organization_scope(organization):
        leads_on([MONDAY, MONDAY + timedelta(days=1)])
        run = metric_run_request(actor=None, first_day="2026-11-01", last_day="2026-11-30")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in (RunStatus.DONE, RunStatus.FAILED):
                break
            time.sleep(0.1)
        assert run.status == RunStatus.DONE, run.error
        assert run.facts_written == MetricFact.objects.count() > 0
        assert run.started_at <= run.finished_at
        totals = selectors.totals(date(2026, 11, 1), date(2026, 11, 30), ["entered_mql"])
        assert totals == {"entered_mql": 2}
        assert MetricRun.objects.get() == run
