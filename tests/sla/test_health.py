"""Operators' view: the sweep's and the outbox's lag, and the monitoring command."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.models import SalesRep
from revops.tenancy.context import organization_scope
from sla.health import sla_health
from sla.models import SlaTimer
from sla.sweep import sweep
from tests.base import TwoOrganizationsTestCase
from tests.sla.base import sql_handed_off


class SlaHealthTests(TwoOrganizationsTestCase):
    def setUp(self):
        with organization_scope(self.org_a):
            SalesRep.objects.create(user=self.bob)
            self.handed_off = timezone.now() - timedelta(days=3)
            lead = sql_handed_off(actor=self.alice, at=self.handed_off, name="Ada")
            self.timer = SlaTimer.objects.get(lead=lead)

    def test_a_due_timer_nobody_swept_shows_as_lag_and_fails_the_check(self):
        now = timezone.now()
        health = sla_health(now)
        assert health.sweep_lag_seconds == pytest.approx((now - self.timer.warn_at).total_seconds())
        out = StringIO()
        with pytest.raises(SystemExit) as exit_info:
            call_command("sla_health", "--max-lag", "60", stdout=out)
        assert exit_info.value.code == 1
        assert '"sweep_lag_seconds"' in out.getvalue()

    def test_after_the_sweep_the_lag_is_zero_and_undelivered_mail_shows(self):
        now = timezone.now()
        sweep(now)
        health = sla_health(now + timedelta(seconds=30))
        assert health.sweep_lag_seconds == 0
        # The breach's email to the owner waits for delivery (no worker in this test).
        assert health.outbox_lag_seconds == pytest.approx(30, abs=1)
        call_command("sla_health", "--max-lag", "3600", stdout=StringIO())
