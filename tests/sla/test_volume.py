"""Marketing's SQL-volume commitment: pacing while a period runs, the result once at its end.

SQLs are made through the leads services at controlled instants; the sweep runs at controlled
instants too. The organization's calendar is the default one: weekdays 09:00-17:00 in Chicago,
so a week holds 40 business hours.
"""

from datetime import datetime, timedelta

import pytest

from leads.models import Lead, SalesRep, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from sla import services
from sla.models import (
    Channel,
    EventKind,
    Notification,
    OutboxMessage,
    PeriodState,
    SlaEvent,
    SlaKind,
    VolumePeriodResult,
)
from sla.sweep import sweep
from tests.sla.base import SlaTestCase, sql_handed_off
from tests.sla.test_sweep import CHICAGO, member_add

# The week of Monday 7 January 2030 in Chicago, and the two after it.
WEEK_1 = datetime(2030, 1, 7, tzinfo=CHICAGO)
WEEK_2 = WEEK_1 + timedelta(days=7)
WEEK_3 = WEEK_2 + timedelta(days=7)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Week 1's day (0 = Monday) at a Chicago wall-clock time."""
    return WEEK_1 + timedelta(days=day, hours=hour, minutes=minute)


class VolumeTestCase(SlaTestCase):
    def setUp(self):
        super().setUp()
        self.marketer = member_add("mo@a.test", "Mo Marketing", Role.MARKETING)
        self.count = 0

    def enable(self, now: datetime, **values):
        values.setdefault("volume_period", "week")
        return services.policy_create_version(
            kind=SlaKind.SQL_VOLUME, actor=self.alice, enabled=True, now=now, **values
        )

    def sqls(self, count: int, when: datetime, industry: str = "") -> list[Lead]:
        """`count` leads become SQL at `when` (created, marked MQL, qualified by BANT)."""
        leads = []
        for _ in range(count):
            self.count += 1
            lead = sql_handed_off(
                actor=self.marketer, at=when, name=f"Lead {self.count}",
                email=f"lead{self.count}@x.test", industry=industry,
            )  # fmt: skip
            assert (lead.stage, lead.owner) == (Stage.SQL, self.bob)
            leads.append(lead)
        return leads

    def period(self, starts_at: datetime, segment: str = "") -> VolumePeriodResult:
        return VolumePeriodResult.objects.get(starts_at=starts_at, segment=segment)

    def events(self, period: VolumePeriodResult, kind: str):
        return SlaEvent.objects.filter(period=period, kind=kind)


class PacingTests(VolumeTestCase):
    def test_pacing_warns_once_when_behind_and_the_result_is_recorded_once_at_the_end(self):
        policy = self.enable(at(0, 0, 5), volume_target=10)
        assert sweep(at(0, 0, 5)).periods_checked == 1
        week = self.period(WEEK_1)
        assert (week.policy, week.target, week.ends_at) == (policy, 10, WEEK_2)
        # Nothing of the week's business time has passed yet: nothing is expected.
        assert (week.state, week.expected) == (PeriodState.ON_TRACK, 0)

        self.sqls(2, at(0, 10))
        # Wednesday 13:00: 8 + 8 + 4 of 40 business hours, so 5 SQLs expected; 2 < 75% of 5.
        sweep(at(2, 13))
        week.refresh_from_db()
        assert (week.delivered, week.expected, week.state) == (2, 5.0, PeriodState.AT_RISK)
        [warning] = self.events(week, EventKind.WARNING)
        assert warning.at == at(2, 13)
        assert "2 SQLs delivered, 5.0 expected" in warning.detail
        assert list(Notification.objects.filter(event=warning).values_list("user", flat=True)) == [
            self.marketer.pk
        ]
        # Still behind at the next checks: still one warning.
        sweep(at(2, 13, 30))
        self.sqls(3, at(2, 14))
        sweep(at(2, 14, 10))
        week.refresh_from_db()
        assert (week.delivered, week.state) == (5, PeriodState.ON_TRACK)
        sweep(at(3, 16))  # Thursday 16:00: 31 hours, 7.75 expected, 5 delivered
        week.refresh_from_db()
        assert (week.delivered, week.state) == (5, PeriodState.AT_RISK)
        assert week.expected == pytest.approx(7.75)
        assert self.events(week, EventKind.WARNING).count() == 1

        # The week ends short: breached, dated at its end, recorded once, the next week opens.
        self.sqls(1, at(4, 16))
        report = sweep(WEEK_2 + timedelta(hours=9))
        week.refresh_from_db()
        assert (week.state, week.delivered, week.closed_at) == (
            PeriodState.BREACHED, 6, WEEK_2 + timedelta(hours=9)
        )  # fmt: skip
        [breach] = self.events(week, EventKind.BREACH)
        assert breach.at == WEEK_2
        assert "6 of 10 SQLs delivered" in breach.detail
        breach_notified = set(
            Notification.objects.filter(event=breach).values_list("user", flat=True)
        )
        assert breach_notified == {self.marketer.pk, self.alice.pk}
        assert set(
            OutboxMessage.objects.filter(event=breach, channel=Channel.EMAIL).values_list(
                "recipient", flat=True
            )
        ) == {"mo@a.test", "alice@a.test"}
        assert report.periods_checked == 2  # the ended week, then the one it opened
        next_week = self.period(WEEK_2)
        assert (next_week.ends_at, next_week.target, next_week.policy) == (WEEK_3, 10, policy)
        assert next_week.state == PeriodState.ON_TRACK
        for later in (WEEK_2 + timedelta(hours=10), WEEK_2 + timedelta(days=1)):
            sweep(later)
        assert self.events(week, EventKind.BREACH).count() == 1
        assert not self.events(week, EventKind.MET).exists()

    def test_a_week_that_reaches_its_target_is_met_without_notifications(self):
        self.enable(at(0, 8), volume_target=3)
        self.sqls(3, at(1, 11))
        sweep(at(1, 12))
        week = self.period(WEEK_1)
        sweep(WEEK_2 + timedelta(minutes=1))
        week.refresh_from_db()
        assert (week.state, week.delivered) == (PeriodState.MET, 3)
        [met] = self.events(week, EventKind.MET)
        assert met.at == WEEK_2
        assert not Notification.objects.filter(event=met).exists()
        assert not self.events(week, EventKind.WARNING).exists()
        assert not self.events(week, EventKind.BREACH).exists()

    def test_sqls_are_counted_in_their_segment_against_its_own_target(self):
        self.enable(at(0, 8), segment_field="industry",
                    segment_targets={"Healthcare": 2, "Retail": 3})  # fmt: skip
        assert set(VolumePeriodResult.objects.values_list("segment", "target")) == {
            ("Healthcare", 2), ("Retail", 3)
        }  # fmt: skip
        self.sqls(1, at(0, 10), industry="Healthcare")
        self.sqls(1, at(1, 10), industry="healthcare")  # segments match whatever the case
        self.sqls(1, at(1, 11), industry="Retail")
        self.sqls(4, at(1, 12), industry="Energy")  # no target: counted nowhere
        sweep(WEEK_2 + timedelta(minutes=1))
        healthcare, retail = self.period(WEEK_1, "Healthcare"), self.period(WEEK_1, "Retail")
        assert (healthcare.state, healthcare.delivered) == (PeriodState.MET, 2)
        assert (retail.state, retail.delivered) == (PeriodState.BREACHED, 1)
        assert self.events(healthcare, EventKind.MET).get().at == WEEK_2
        assert self.events(retail, EventKind.BREACH).get().at == WEEK_2
        assert "Retail: 1 of 3" in self.events(retail, EventKind.BREACH).get().detail
        # Both segments' next weeks are open.
        assert set(
            VolumePeriodResult.objects.filter(starts_at=WEEK_2).values_list("segment", "state")
        ) == {("Healthcare", PeriodState.ON_TRACK), ("Retail", PeriodState.ON_TRACK)}

    def test_one_sweep_after_downtime_records_every_missed_period(self):
        self.enable(at(0, 0, 5), volume_target=4)
        self.sqls(4, at(1, 10))  # week 1 makes it
        self.sqls(1, WEEK_2 + timedelta(days=1, hours=10))  # week 2 does not
        # Nothing ran until Wednesday of week 3.
        now = WEEK_3 + timedelta(days=2, hours=13)
        report = sweep(now)
        assert report.periods_checked == 3
        week_1, week_2 = self.period(WEEK_1), self.period(WEEK_2)
        assert (week_1.state, week_1.delivered) == (PeriodState.MET, 4)
        assert (week_2.state, week_2.delivered) == (PeriodState.BREACHED, 1)
        assert self.events(week_1, EventKind.MET).get().at == WEEK_2
        assert self.events(week_2, EventKind.BREACH).get().at == WEEK_3
        # Week 3 is open and its pacing current: 20 of 40 hours, 2 expected, none delivered.
        week_3 = self.period(WEEK_3)
        assert (week_3.state, week_3.delivered, week_3.expected) == (PeriodState.AT_RISK, 0, 2.0)
        assert week_3.checked_at == now
        # Catching up again changes nothing.
        sweep(now + timedelta(minutes=1))
        assert (
            SlaEvent.objects.filter(
                period__isnull=False, kind__in=[EventKind.MET, EventKind.BREACH]
            ).count()
            == 2
        )

    def test_another_organizations_sqls_do_not_count(self):
        self.enable(at(0, 8), volume_target=2)
        with organization_scope(self.org_b):
            dora = member_add("dora@b.test", "Dora Sales", Role.SALES)
            SalesRep.objects.create(user=dora)
            for i in range(3):
                lead = sql_handed_off(actor=self.charlie, at=at(1, 10), name=f"B{i}")
                assert (lead.stage, lead.owner) == (Stage.SQL, dora)
        sweep(WEEK_2 + timedelta(minutes=1))
        week = self.period(WEEK_1)
        assert (week.state, week.delivered) == (PeriodState.BREACHED, 0)
