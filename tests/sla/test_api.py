"""The SLA REST API: every endpoint's happy path on data made through the services, field-level
400s for bad input, roles, and the tenant boundary (another organization's objects are 404)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from leads import services as lead_services
from leads.models import Lead, SalesRep, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from sla import config_services, services
from sla.models import (
    BusinessCalendar,
    EventKind,
    Notification,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    SlaTimer,
    TimerState,
    TimerTarget,
    VolumePeriodResult,
    WebhookEndpoint,
)
from sla.sweep import sweep
from tests.base import TwoOrganizationsTestCase, make_member
from tests.sla.base import sql_handed_off

# Tuesday 3 March 2026, 10:00 UTC: inside organization A's business hours (UTC, 09:00-17:00).
PAST = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
HOUR = 3600.0
WEEK = {
    "monday": "09:00-12:00, 13:00-17:00",
    "tuesday": "09:00-12:00, 13:00-17:00",
    "wednesday": "09:00-12:00, 13:00-17:00",
    "thursday": "09:00-12:00, 13:00-17:00",
    "friday": "09:00-13:00",
    "saturday": "",
    "sunday": "",
}


def hand_off(actor, email: str, at: datetime | None = None) -> Lead:
    """A qualified lead marked MQL: assigned to the organization's rep as an SQL, which starts
    the follow-up clock at `at` (now when omitted). The lead has an email but no name."""
    lead = sql_handed_off(actor=actor, at=at, name="", email=email)
    assert lead.stage == Stage.SQL and lead.owner_id is not None
    return lead


class SlaAPITestCase(TwoOrganizationsTestCase):
    """Organization A: bob (team East) got two leads at PAST: one touched after 30 minutes
    (met), one warned and breached by sweeps and touched at PAST + 3 h (met late).
    A third lead was handed to him just now: its clock runs. Organization B: dave has one
    running follow-up."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.mary = make_member(cls.org_a, "mary@a.test", "Mary Marketing", Role.MARKETING)
        cls.dave = make_member(cls.org_b, "dave@b.test", "Dave Sales", Role.SALES)
        with organization_scope(cls.org_a):
            lead_services.reasons_ensure_defaults()
            SalesRep.objects.create(user=cls.bob, team="East")
            cls.policies = services.policies_ensure()
            cls.business, cls.always = services.calendars_ensure()
            on_time = hand_off(cls.alice, "ontime@x.test", PAST)
            cls.late_lead = hand_off(cls.alice, "late@x.test", PAST)
            lead_services.touch_log(
                lead=on_time, actor=cls.bob, kind="call", at=PAST + timedelta(minutes=30)
            )
            sweep(PAST + timedelta(minutes=50))  # the late lead's warning
            sweep(PAST + timedelta(hours=2))  # its breach
            lead_services.touch_log(
                lead=cls.late_lead, actor=cls.bob, kind="call", at=PAST + timedelta(hours=3)
            )
            cls.on_time_timer = SlaTimer.objects.get(lead=on_time)
            cls.late_timer = SlaTimer.objects.get(lead=cls.late_lead)
            cls.breach = SlaEvent.objects.get(kind=EventKind.BREACH)
            cls.live_timer = SlaTimer.objects.get(lead=hand_off(cls.alice, "live@x.test"))
            cls.bobs_notification = Notification.objects.filter(user=cls.bob).first()
            cls.webhook, cls.webhook_secret = cls.add_webhook("Alerts", "generic")
        with organization_scope(cls.org_b):
            lead_services.reasons_ensure_defaults()
            SalesRep.objects.create(user=cls.dave)
            cls.b_policies = services.policies_ensure()
            cls.b_timer = SlaTimer.objects.get(lead=hand_off(cls.charlie, "bea@b.test"))

    @staticmethod
    def add_webhook(name: str, format: str):
        return config_services.webhook_endpoint_create(
            name=name, url="https://hooks.example.test/sla", format=format
        )

    def timer(self, pk: int) -> SlaTimer:
        return SlaTimer.objects.for_organization(self.org_a).get(pk=pk)

    def a_counts(self) -> dict:
        """What organization A holds that a refused write could have changed."""
        with organization_scope(self.org_a):
            return {
                "policies": SlaPolicy.objects.count(),
                "calendars": sorted(BusinessCalendar.objects.values_list("name", flat=True)),
                "timers": sorted(SlaTimer.objects.values_list("pk", "state", "due_at")),
                "explained": SlaEvent.objects.exclude(explanation="").count(),
                "webhooks": sorted(WebhookEndpoint.objects.values_list("name", "active")),
                "unread": Notification.objects.filter(read_at__isnull=True).count(),
            }


# --- policies ---------------------------------------------------------------------------------


class PolicyTests(SlaAPITestCase):
    def test_the_list_shows_the_current_version_of_each_kind(self):
        response = self.api_as(self.vera, self.org_a).get("/api/v1/sla/policies/")
        assert response.status_code == 200
        by_kind = {policy["kind"]: policy for policy in response.json()}
        assert set(by_kind) == set(SlaKind.values)
        follow_up = by_kind[SlaKind.FOLLOW_UP]
        assert (follow_up["version"], follow_up["target_minutes"]) == (1, 60)
        assert follow_up["calendar"] == self.business.pk
        assert follow_up["calendar_name"] == "Business hours"
        assert follow_up["notify_on_breach"] == ["owner", "manager", "admins"]
        assert by_kind[SlaKind.FEEDBACK]["calendar_name"] == "Around the clock"

    def test_a_new_version_rebases_running_timers_when_asked_and_records_the_choice(self):
        client = self.api_as(self.alice, self.org_a)
        due_before = self.live_timer.due_at
        response = client.post(
            "/api/v1/sla/policies/",
            {"kind": "follow_up", "target_minutes": 120, "rebase_running": True,
             "change_note": "Two hours while we hire"},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.json()
        policy = response.json()
        assert (policy["version"], policy["target_minutes"]) == (2, 120)
        assert (policy["rebased_running"], policy["rebased_count"]) == (True, 1)
        assert policy["created_by"]["email"] == "alice@a.test"
        assert policy["change_note"] == "Two hours while we hire"
        # Omitted settings keep the current version's value.
        assert policy["notify_on_breach"] == ["owner", "manager", "admins"]
        live = self.timer(self.live_timer.pk)
        assert live.policy_id == policy["id"] and live.due_at > due_before
        # Stopped timers keep the version they ran under.
        assert self.timer(self.late_timer.pk).policy_id == self.policies[SlaKind.FOLLOW_UP].pk
        history = client.get("/api/v1/sla/policies/", {"kind": "follow_up"}).json()
        assert [p["version"] for p in history] == [2, 1]
        current = {p["kind"]: p["version"] for p in client.get("/api/v1/sla/policies/").json()}
        assert current == {"follow_up": 2, "feedback": 1, "sql_volume": 1}

    def test_without_rebasing_running_timers_keep_their_version(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.post(
            "/api/v1/sla/policies/",
            {"kind": "follow_up", "target_minutes": 30, "calendar": self.always.pk},
            format="json",
        )
        assert response.status_code == 201, response.json()
        assert response.json()["calendar_name"] == "Around the clock"
        assert response.json()["rebased_count"] == 0
        live = self.timer(self.live_timer.pk)
        assert (live.policy_id, live.due_at) == (self.live_timer.policy_id, self.live_timer.due_at)

    def test_a_version_is_read_by_id_and_never_edited_or_deleted(self):
        client = self.api_as(self.alice, self.org_a)
        url = f"/api/v1/sla/policies/{self.policies[SlaKind.FEEDBACK].pk}/"
        detail = client.get(url)
        assert detail.status_code == 200 and detail.json()["target_minutes"] == 48 * 60
        assert client.put(url, {"kind": "feedback"}, format="json").status_code == 405
        assert client.patch(url, {"target_minutes": 1}, format="json").status_code == 405
        assert client.delete(url).status_code == 405
        assert self.a_counts()["policies"] == 3

    def test_an_sql_volume_version_opens_the_current_period(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.post(
            "/api/v1/sla/policies/",
            {"kind": "sql_volume", "enabled": True, "volume_target": 10, "volume_period": "week"},
            format="json",
        )
        assert response.status_code == 201, response.json()
        periods = client.get("/api/v1/sla/periods/").json()["results"]
        assert [(p["target"], p["segment"], p["state"]) for p in periods] == [(10, "", "on_track")]
        period = periods[0]
        assert period["policy_version"] == 2
        detail = client.get(f"/api/v1/sla/periods/{period['id']}/").json()
        assert len(detail["series"]["days"]) == 7
        assert detail["series"]["target"] == 10
        assert detail["series"]["expected"][-1] == 10
        open_only = client.get("/api/v1/sla/periods/", {"state": "on_track"}).json()["results"]
        assert [p["id"] for p in open_only] == [period["id"]]
        assert client.get("/api/v1/sla/periods/", {"state": "met"}).json()["results"] == []

    def test_segment_targets_per_value(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.post(
            "/api/v1/sla/policies/",
            {"kind": "sql_volume", "enabled": True, "segment_field": "industry",
             "segment_targets": {"Healthcare": 4, "Retail": 6}},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.json()
        periods = client.get("/api/v1/sla/periods/").json()["results"]
        assert sorted((p["segment"], p["target"]) for p in periods) == [
            ("Healthcare", 4),
            ("Retail", 6),
        ]

    def test_bad_versions_name_the_field(self):
        client = self.api_as(self.alice, self.org_a)
        url = "/api/v1/sla/policies/"
        with organization_scope(self.org_b):
            b_calendar = BusinessCalendar.objects.first()
        cases = [
            ({}, "kind"),
            ({"kind": "uptime"}, "kind"),
            ({"kind": "follow_up", "target_minutes": 0}, "target_minutes"),
            ({"kind": "follow_up", "target_minutes": -5}, "target_minutes"),
            ({"kind": "follow_up", "target_minutes": "an hour"}, "target_minutes"),
            ({"kind": "follow_up", "target_minutes": 10**12}, "target_minutes"),
            ({"kind": "follow_up", "target_minutes": None}, "target_minutes"),
            ({"kind": "follow_up", "warn_percent": 0}, "warn_percent"),
            ({"kind": "follow_up", "warn_percent": 101}, "warn_percent"),
            ({"kind": "follow_up", "stop_on": "lunch"}, "stop_on"),
            ({"kind": "follow_up", "stop_on": ""}, "stop_on"),
            ({"kind": "follow_up", "calendar": b_calendar.pk}, "calendar"),
            ({"kind": "follow_up", "calendar": 10**15}, "calendar"),
            ({"kind": "follow_up", "calendar": 10**20}, "calendar"),
            ({"kind": "follow_up", "calendar": "x"}, "calendar"),
            ({"kind": "follow_up", "notify_on_breach": ["ceo"]}, "notify_on_breach"),
            ({"kind": "follow_up", "notify_on_warning": "owner"}, "notify_on_warning"),
            ({"kind": "follow_up", "escalation_emails": ["nope"]}, "escalation_emails"),
            ({"kind": "follow_up", "enabled": "perhaps"}, "enabled"),
            ({"kind": "follow_up", "rebase_running": "x"}, "rebase_running"),
            ({"kind": "follow_up", "change_note": "x" * 301}, "change_note"),
            ({"kind": "sql_volume", "volume_period": "day"}, "volume_period"),
            ({"kind": "sql_volume", "volume_target": 0}, "volume_target"),
            ({"kind": "sql_volume", "volume_target": None}, "volume_target"),
            ({"kind": "sql_volume", "segment_field": "planet"}, "segment_field"),
            ({"kind": "sql_volume", "segment_field": "industry"}, "segment_targets"),
            ({"kind": "sql_volume", "segment_field": "industry",
              "segment_targets": {"Healthcare": 0}}, "segment_targets"),
            ({"kind": "sql_volume", "segment_field": "industry",
              "segment_targets": {"x" * 101: 3}}, "segment_targets"),
            ({"kind": "sql_volume", "segment_targets": ["Healthcare"]}, "segment_targets"),
            ({"kind": "feedback", "resolve_target_minutes": 0}, "resolve_target_minutes"),
        ]  # fmt: skip
        for body, field in cases:
            response = client.post(url, body, format="json")
            assert response.status_code == 400, (body, response.status_code)
            assert field in response.json(), (body, response.json())
        assert self.a_counts()["policies"] == 3


# --- calendars --------------------------------------------------------------------------------


class CalendarTests(SlaAPITestCase):
    def test_a_calendar_with_a_lunch_break_and_holidays_is_created(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.post(
            "/api/v1/sla/calendars/",
            {"name": "Munich office", "timezone": "Europe/Berlin", "working_hours": WEEK,
             "holiday_country": "de", "holiday_subdivision": "by",
             "custom_holidays": ["2026-12-24", "2026-12-31"]},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["working_hours"] == WEEK
        assert (body["holiday_country"], body["holiday_subdivision"]) == ("DE", "BY")
        assert body["custom_holidays"] == ["2026-12-24", "2026-12-31"]
        with organization_scope(self.org_a):
            calendar = BusinessCalendar.objects.get(pk=body["id"])
        assert calendar.working_hours["0"] == [[540, 720], [780, 1020]]
        assert calendar.working_hours["5"] == []
        # Monday 7 December 2026, 11:00 in Munich: one hour before lunch, then the afternoon.
        start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
        assert calendar.compiled.add(start, timedelta(hours=2)) == start + timedelta(hours=3)
        assert client.get(f"/api/v1/sla/calendars/{calendar.pk}/").json() == body

    def test_defaults_are_weekday_office_hours_in_the_organizations_zone(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.post("/api/v1/sla/calendars/", {"name": "Plain"}, format="json")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["timezone"] == self.org_a.timezone
        assert body["working_hours"]["monday"] == "09:00-17:00"
        assert body["working_hours"]["sunday"] == ""
        always = client.post(
            "/api/v1/sla/calendars/", {"name": "Always", "always_open": True}, format="json"
        )
        assert always.status_code == 201 and always.json()["always_open"] is True

    def test_a_change_keeps_what_was_not_sent(self):
        client = self.api_as(self.alice, self.org_a)
        url = f"/api/v1/sla/calendars/{self.business.pk}/"
        response = client.patch(
            url, {"working_hours": {"friday": "08:00-12:00"}, "name": "Office"}, format="json"
        )
        assert response.status_code == 200, response.json()
        hours = response.json()["working_hours"]
        assert (hours["friday"], hours["monday"]) == ("08:00-12:00", "09:00-17:00")
        put = client.put(
            url, {"name": "Office", "timezone": "America/Chicago", "always_open": False,
                  "working_hours": WEEK}, format="json",
        )  # fmt: skip
        assert put.status_code == 200, put.json()
        assert put.json()["timezone"] == "America/Chicago"
        assert put.json()["working_hours"] == WEEK
        names = [c["name"] for c in client.get("/api/v1/sla/calendars/").json()["results"]]
        assert names == ["Around the clock", "Office"]

    def test_a_calendar_a_policy_uses_cannot_be_deleted(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.delete(f"/api/v1/sla/calendars/{self.business.pk}/")
        assert response.status_code == 400
        message = " ".join(response.json()["detail"])
        assert "Sales follow-up v1" in message and "cannot be deleted" in message
        spare = client.post("/api/v1/sla/calendars/", {"name": "Spare"}, format="json").json()
        assert client.delete(f"/api/v1/sla/calendars/{spare['id']}/").status_code == 204
        assert self.a_counts()["calendars"] == ["Around the clock", "Business hours"]

    def test_bad_calendars_name_the_field(self):
        client = self.api_as(self.alice, self.org_a)
        url = "/api/v1/sla/calendars/"
        closed = dict.fromkeys(WEEK, "")
        cases = [
            ("post", url, {}, "name"),
            ("post", url, {"name": ""}, "name"),
            ("post", url, {"name": "x" * 101}, "name"),
            ("post", url, {"name": "Business hours"}, "name"),
            ("post", url, {"name": "N", "timezone": "Mars/Olympus"}, "timezone"),
            ("post", url, {"name": "N", "working_hours": {"monday": "9-5"}}, "working_hours"),
            ("post", url, {"name": "N", "working_hours": {"monday": "17:00-09:00"}},
             "working_hours"),
            ("post", url, {"name": "N", "working_hours": {"monday": "09:00-12:00, 11:00-13:00"}},
             "working_hours"),
            ("post", url, {"name": "N", "working_hours": {"monday": "09:00-25:00"}},
             "working_hours"),
            ("post", url, {"name": "N", "working_hours": ["09:00-17:00"] * 7}, "working_hours"),
            ("post", url, {"name": "N", "working_hours": closed}, "working_hours"),
            ("post", url, {"name": "N", "holiday_country": "XX"}, "holiday_country"),
            ("post", url, {"name": "N", "holiday_country": "US", "holiday_subdivision": "ZZ"},
             "holiday_subdivision"),
            ("post", url, {"name": "N", "holiday_subdivision": "CA"}, "holiday_subdivision"),
            ("post", url, {"name": "N", "custom_holidays": ["soon"]}, "custom_holidays"),
            ("post", url, {"name": "N", "custom_holidays": "2026-12-24"}, "custom_holidays"),
            ("post", url, {"name": "N", "always_open": "sometimes"}, "always_open"),
            ("patch", f"{url}{self.always.pk}/", {"name": "Business hours"}, "name"),
            ("patch", f"{url}{self.business.pk}/", {"working_hours": {"sunday": "noon"}},
             "working_hours"),
        ]  # fmt: skip
        for method, path, body, field in cases:
            response = getattr(client, method)(path, body, format="json")
            assert response.status_code == 400, (body, response.status_code)
            assert field in response.json(), (body, response.json())
        bad_day = client.post(url, {"name": "N", "working_hours": {"monday": "9-5"}}, "json")
        assert "monday" in bad_day.json()["working_hours"]
        assert self.a_counts()["calendars"] == ["Around the clock", "Business hours"]


# --- timers -----------------------------------------------------------------------------------


class TimerTests(SlaAPITestCase):
    def test_the_list_is_soonest_deadline_first_with_each_clock(self):
        response = self.api_as(self.vera, self.org_a).get("/api/v1/sla/timers/")
        assert response.status_code == 200
        timers = response.json()["results"]
        assert [t["id"] for t in timers] == [
            self.on_time_timer.pk, self.late_timer.pk, self.live_timer.pk
        ]  # fmt: skip
        on_time, late, live = timers
        assert (on_time["state"], on_time["met_late"], on_time["breached_at"]) == (
            "met", False, None
        )  # fmt: skip
        assert on_time["elapsed_seconds"] == 0.5 * HOUR
        assert (late["state"], late["met_late"]) == ("met", True)
        assert late["breached_at"] == late["due_at"] == "2026-03-03T11:00:00Z"
        assert late["warn_at"] == "2026-03-03T10:45:00Z"
        assert late["elapsed_seconds"] == 3 * HOUR and late["remaining_seconds"] is None
        assert (late["target_seconds"], late["is_open"]) == (HOUR, False)
        assert (late["owner"]["email"], late["lead_name"]) == ("bob@a.test", "")
        assert (late["policy_kind"], late["policy_version"]) == ("follow_up", 1)
        assert live["state"] == "running" and live["is_open"]
        # Whatever the clock says now, what ran and what is left add up to the target.
        assert 0 <= live["elapsed_seconds"] <= HOUR
        assert live["elapsed_seconds"] + live["remaining_seconds"] == pytest.approx(HOUR)

    def test_filters_by_state_target_owner_and_lead(self):
        client = self.api_as(self.alice, self.org_a)

        def ids(**params) -> list[int]:
            response = client.get("/api/v1/sla/timers/", params)
            assert response.status_code == 200, response.json()
            return [timer["id"] for timer in response.json()["results"]]

        assert ids(state="running") == [self.live_timer.pk]
        assert ids(state="met") == [self.on_time_timer.pk, self.late_timer.pk]
        assert ids(state="breached") == []
        assert ids(target="follow_up", owner=self.bob.pk) == [
            self.on_time_timer.pk, self.late_timer.pk, self.live_timer.pk,
        ]  # fmt: skip
        assert ids(target="acknowledge") == []
        assert ids(owner=self.alice.pk) == []
        assert ids(lead=self.late_lead.pk) == [self.late_timer.pk]

    def test_the_detail_shows_what_happened_in_order(self):
        response = self.api_as(self.bob, self.org_a).get(
            f"/api/v1/sla/timers/{self.late_timer.pk}/"
        )
        assert response.status_code == 200
        events = response.json()["events"]
        assert [e["kind"] for e in events] == ["started", "warning", "breach", "met"]
        assert [e["at"] for e in events] == [
            "2026-03-03T10:00:00Z", "2026-03-03T10:45:00Z", "2026-03-03T11:00:00Z",
            "2026-03-03T13:00:00Z",
        ]  # fmt: skip
        assert events[-1]["actor"]["email"] == "bob@a.test"

    def test_an_admin_pauses_and_resumes_a_running_timer(self):
        client = self.api_as(self.alice, self.org_a)
        url = f"/api/v1/sla/timers/{self.live_timer.pk}/"
        paused = client.post(url + "pause/", {"reason": "Prospect at a trade fair"}, "json")
        assert paused.status_code == 200, paused.json()
        body = paused.json()
        assert body["state"] == "paused" and body["paused_at"] is not None
        assert body["events"][-1]["kind"] == "paused"
        assert body["events"][-1]["detail"] == "Prospect at a trade fair"
        assert body["remaining_seconds"] + body["elapsed_seconds"] == pytest.approx(HOUR)
        again = client.post(url + "pause/", {"reason": "Twice"}, "json")
        assert again.status_code == 400 and "state" in again.json()
        resumed = client.post(url + "resume/")
        assert resumed.status_code == 200, resumed.json()
        assert resumed.json()["state"] == "running" and resumed.json()["paused_at"] is None
        assert [e["kind"] for e in resumed.json()["events"]] == ["started", "paused", "resumed"]
        # The deadline moved forward by the business time spent paused.
        live = self.timer(self.live_timer.pk)
        assert live.due_at >= self.live_timer.due_at
        assert live.due_at == self.business.compiled.add_us(
            live.started_at, live.target_us + live.paused_us
        )

    def test_bad_pauses_and_resumes_are_400s(self):
        client = self.api_as(self.alice, self.org_a)
        live = f"/api/v1/sla/timers/{self.live_timer.pk}/"
        met = f"/api/v1/sla/timers/{self.late_timer.pk}/"
        cases = [
            (live + "pause/", {}, "reason"),
            (live + "pause/", {"reason": ""}, "reason"),
            (live + "pause/", {"reason": "   "}, "reason"),
            (live + "pause/", {"reason": "x" * 501}, "reason"),
            (met + "pause/", {"reason": "Too late"}, "state"),
            (live + "resume/", {}, "state"),
            (met + "resume/", {}, "state"),
        ]
        for path, body, field in cases:
            response = client.post(path, body, format="json")
            assert response.status_code == 400, (path, body, response.status_code)
            assert field in response.json(), (path, body, response.json())
        assert self.timer(self.live_timer.pk).state == TimerState.RUNNING

    def test_malformed_filters_and_cursors_are_400s(self):
        client = self.api_as(self.alice, self.org_a)
        cases = [
            ("/api/v1/sla/timers/", {"state": "ticking"}, "state"),
            ("/api/v1/sla/timers/", {"target": "lunch"}, "target"),
            ("/api/v1/sla/timers/", {"owner": "bob"}, "owner"),
            ("/api/v1/sla/timers/", {"owner": 10**20}, "owner"),
            ("/api/v1/sla/timers/", {"lead": "-1"}, "lead"),
            ("/api/v1/sla/timers/", {"cursor": "garbage"}, "cursor"),
            ("/api/v1/sla/breaches/", {"since": "last week"}, "since"),
            ("/api/v1/sla/breaches/", {"until": "9999-12-31T23:59:59-05:00"}, "until"),
            ("/api/v1/sla/breaches/", {"target": "lunch"}, "target"),
            ("/api/v1/sla/breaches/", {"since": "2026-03-05", "until": "2026-03-01"}, "until"),
            ("/api/v1/sla/policies/", {"kind": "uptime"}, "kind"),
            ("/api/v1/sla/periods/", {"state": "late"}, "state"),
            ("/api/v1/sla/notifications/", {"unread": "maybe"}, "unread"),
        ]
        for path, params, field in cases:
            response = client.get(path, params)
            assert response.status_code == 400, (path, params, response.status_code)
            assert field in response.json(), (path, params, response.json())
        assert client.get("/api/v1/sla/timers/99999999999999999999/").status_code == 404


# --- breaches ---------------------------------------------------------------------------------


class BreachTests(SlaAPITestCase):
    def test_the_log_lists_breaches_at_their_deadline(self):
        response = self.api_as(self.vera, self.org_a).get("/api/v1/sla/breaches/")
        assert response.status_code == 200
        [breach] = response.json()["results"]
        assert breach["id"] == self.breach.pk
        assert breach["at"] == "2026-03-03T11:00:00Z"
        assert (breach["policy_kind"], breach["policy_version"]) == ("follow_up", 1)
        assert breach["timer"]["id"] == self.late_timer.pk
        assert breach["timer"]["met_late"] is True
        assert breach["timer"]["owner"]["email"] == "bob@a.test"
        assert breach["period"] is None
        assert (breach["explanation"], breach["explained_by"]) == ("", None)

    def test_filters_by_time_and_target(self):
        client = self.api_as(self.alice, self.org_a)

        def ids(**params) -> list[int]:
            response = client.get("/api/v1/sla/breaches/", params)
            assert response.status_code == 200, response.json()
            return [breach["id"] for breach in response.json()["results"]]

        assert ids(since="2026-03-03T11:00:00Z") == [self.breach.pk]
        assert ids(since="2026-03-03T11:00:01Z") == []
        assert ids(until="2026-03-03T11:00:00Z") == []
        assert ids(since="2026-03-01", until="2026-03-04") == [self.breach.pk]
        assert ids(target="follow_up") == [self.breach.pk]
        assert ids(target="acknowledge") == []

    def test_the_owner_explains_a_breach(self):
        url = f"/api/v1/sla/breaches/{self.breach.pk}/explain/"
        response = self.api_as(self.bob, self.org_a).post(
            url, {"explanation": "Customer call ran long."}, format="json"
        )
        assert response.status_code == 200, response.json()
        assert response.json()["explanation"] == "Customer call ran long."
        assert response.json()["explained_by"]["email"] == "bob@a.test"
        detail = self.api_as(self.vera, self.org_a).get(f"/api/v1/sla/breaches/{self.breach.pk}/")
        assert detail.json()["explanation"] == "Customer call ran long."

    def test_only_the_owner_or_an_admin_explains_a_follow_up_breach(self):
        url = f"/api/v1/sla/breaches/{self.breach.pk}/explain/"
        body = {"explanation": "Not mine to say."}
        marketing = self.api_as(self.mary, self.org_a).post(url, body, format="json")
        assert marketing.status_code == 400 and "explanation" in marketing.json()
        assert self.api_as(self.vera, self.org_a).post(url, body, format="json").status_code == 403
        for bad in [{}, {"explanation": ""}, {"explanation": "  "}, {"explanation": "x" * 2001}]:
            response = self.api_as(self.alice, self.org_a).post(url, bad, format="json")
            assert response.status_code == 400 and "explanation" in response.json(), bad
        assert self.a_counts()["explained"] == 0
        admin = self.api_as(self.alice, self.org_a).post(url, {"explanation": "Sick day"}, "json")
        assert admin.status_code == 200 and admin.json()["explained_by"]["email"] == "alice@a.test"

    def test_other_events_are_not_breaches(self):
        with organization_scope(self.org_a):
            warning = SlaEvent.objects.get(kind=EventKind.WARNING)
        client = self.api_as(self.alice, self.org_a)
        assert client.get(f"/api/v1/sla/breaches/{warning.pk}/").status_code == 404
        explain = client.post(
            f"/api/v1/sla/breaches/{warning.pk}/explain/", {"explanation": "x"}, format="json"
        )
        assert explain.status_code == 404


# --- compliance -------------------------------------------------------------------------------


class ComplianceTests(SlaAPITestCase):
    def test_figures_by_target_rep_team_and_week(self):
        response = self.api_as(self.vera, self.org_a).get(
            "/api/v1/sla/compliance/", {"start": "2026-03-01", "end": "2026-03-31"}
        )
        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["start"], body["end"], body["period"]) == ("2026-03-01", "2026-03-31", "week")
        one_of_two = {"on_time": 1, "breached": 1, "counted": 2, "percent": 50.0}
        assert body["by_target"] == [{"label": "First follow-up", **one_of_two}]
        assert body["by_owner"] == [{"label": "bob@a.test", **one_of_two}]
        assert body["by_team"] == [{"label": "East", **one_of_two}]
        assert body["trend"] == [
            {"period_start": "2026-03-02", "target": "follow_up", "on_time": 1, "breached": 1,
             "percent": 50.0}
        ]  # fmt: skip
        # First touches after 30 minutes and 3 hours, all inside business hours.
        first_touch = body["first_touch"]
        assert first_touch["count"] == 2
        assert first_touch["business_p50_seconds"] == (0.5 + 3) / 2 * HOUR
        assert first_touch["business_p95_seconds"] == (0.5 + 0.95 * 2.5) * HOUR
        assert first_touch["wall_p50_seconds"] == first_touch["business_p50_seconds"]
        assert first_touch["wall_p95_seconds"] == first_touch["business_p95_seconds"]

    def test_the_trend_by_month(self):
        response = self.api_as(self.alice, self.org_a).get(
            "/api/v1/sla/compliance/", {"start": "2026-01-01", "end": "2026-04-30",
                                        "period": "month"}
        )  # fmt: skip
        assert response.status_code == 200, response.json()
        trend = response.json()["trend"]
        assert [(row["period_start"], row["percent"]) for row in trend] == [("2026-03-01", 50.0)]

    def test_a_range_with_nothing_counted_is_no_data_not_zero(self):
        response = self.api_as(self.alice, self.org_a).get(
            "/api/v1/sla/compliance/", {"start": "2025-01-01", "end": "2025-01-31"}
        )
        body = response.json()
        assert (body["by_target"], body["by_owner"], body["by_team"], body["trend"]) == (
            [], [], [], []
        )  # fmt: skip
        assert body["first_touch"] == {
            "count": 0, "business_p50_seconds": None, "business_p95_seconds": None,
            "wall_p50_seconds": None, "wall_p95_seconds": None,
        }  # fmt: skip

    def test_the_end_day_is_included_and_the_default_is_thirty_days(self):
        client = self.api_as(self.alice, self.org_a)
        # The breach fell due on 3 March: a range ending that day counts it.
        body = client.get("/api/v1/sla/compliance/", {"start": "2026-03-03", "end": "2026-03-03"})
        assert body.json()["by_target"][0]["counted"] == 2
        before = client.get("/api/v1/sla/compliance/", {"end": "2026-03-02"}).json()
        assert (before["start"], before["by_target"]) == ("2026-02-01", [])
        default = client.get("/api/v1/sla/compliance/").json()
        start, end = (datetime.fromisoformat(default[key]) for key in ("start", "end"))
        assert end - start == timedelta(days=29)

    def test_current_volume_periods_show_their_pacing(self):
        with organization_scope(self.org_a):
            services.policy_create_version(
                kind=SlaKind.SQL_VOLUME, actor=self.alice, enabled=True, volume_target=8
            )
            period = VolumePeriodResult.objects.get()
        volume = self.api_as(self.alice, self.org_a).get("/api/v1/sla/compliance/").json()["volume"]
        assert [(p["id"], p["target"], p["state"]) for p in volume] == [(period.pk, 8, "on_track")]
        assert volume[0]["series"]["target"] == 8 and volume[0]["series"]["days"]

    def test_bad_ranges_name_the_field(self):
        client = self.api_as(self.alice, self.org_a)
        cases = [
            ({"start": "yesterday"}, "start"),
            ({"end": "2026-02-30"}, "end"),
            ({"start": "2026-03-05", "end": "2026-03-01"}, "start"),
            ({"start": "2000-01-01", "end": "2026-01-01"}, "start"),
            ({"start": "0001-01-01", "end": "0001-01-02"}, "start"),
            ({"end": "9999-12-31"}, "end"),
            ({"period": "day"}, "period"),
        ]
        for params, field in cases:
            response = client.get("/api/v1/sla/compliance/", params)
            assert response.status_code == 400, (params, response.status_code)
            assert field in response.json(), (params, response.json())


# --- webhooks ---------------------------------------------------------------------------------


class WebhookTests(SlaAPITestCase):
    def test_a_signed_endpoint_shows_its_secret_once(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.post(
            "/api/v1/sla/webhooks/",
            {"name": "Ops", "url": "https://ops.example.test/in", "format": "generic",
             "on_warning": False},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.json()
        created = response.json()
        assert len(created["secret"]) >= 32 and created["signed"] is True
        assert (created["on_warning"], created["on_breach"], created["active"]) == (
            False, True, True
        )  # fmt: skip
        with organization_scope(self.org_a):
            assert WebhookEndpoint.objects.get(pk=created["id"]).secret == created["secret"]
        detail = client.get(f"/api/v1/sla/webhooks/{created['id']}/").json()
        assert "secret" not in detail and detail["signed"] is True
        listed = client.get("/api/v1/sla/webhooks/").json()["results"]
        assert [w["name"] for w in listed] == ["Alerts", "Ops"]
        assert all("secret" not in w for w in listed)

    def test_a_slack_endpoint_is_not_signed(self):
        response = self.api_as(self.alice, self.org_a).post(
            "/api/v1/sla/webhooks/",
            {"name": "#revops", "url": "https://hooks.slack.test/T0/B0/x", "format": "slack",
             "active": False},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.json()
        assert (response.json()["secret"], response.json()["signed"]) == ("", False)
        assert response.json()["active"] is False

    def test_switches_change_and_delete_removes(self):
        client = self.api_as(self.alice, self.org_a)
        url = f"/api/v1/sla/webhooks/{self.webhook.pk}/"
        response = client.patch(url, {"active": False, "on_warning": False}, format="json")
        assert response.status_code == 200, response.json()
        assert (response.json()["active"], response.json()["on_warning"]) == (False, False)
        assert client.put(url, {"name": "X"}, format="json").status_code == 405
        assert client.delete(url).status_code == 204
        assert self.a_counts()["webhooks"] == []

    def test_bad_endpoints_name_the_field(self):
        client = self.api_as(self.alice, self.org_a)
        url = "/api/v1/sla/webhooks/"
        good = {"name": "New", "url": "https://x.example.test/", "format": "generic"}
        detail = f"{url}{self.webhook.pk}/"
        cases = [
            ("post", url, {**good, "name": ""}, "name"),
            ("post", url, {**good, "name": "alerts"}, "name"),  # a duplicate, any case
            ("post", url, {**good, "url": "ftp://x.example.test/"}, "url"),
            ("post", url, {**good, "url": "javascript:alert(1)"}, "url"),
            ("post", url, {**good, "url": "not a url"}, "url"),
            ("post", url, {**good, "url": "https://x.test/" + "a" * 500}, "url"),
            ("post", url, {**good, "format": "xml"}, "format"),
            ("post", url, {"name": "New", "url": "https://x.example.test/"}, "format"),
            ("post", url, {**good, "on_breach": "often"}, "on_breach"),
            ("patch", detail, {"url": "https://elsewhere.test/"}, "url"),
            ("patch", detail, {"format": "slack"}, "format"),
            ("patch", detail, {"active": "nah"}, "active"),
        ]
        for method, path, body, field in cases:
            response = getattr(client, method)(path, body, format="json")
            assert response.status_code == 400, (body, response.status_code)
            assert field in response.json(), (body, response.json())
        assert self.a_counts()["webhooks"] == [("Alerts", True)]

    def test_only_admins_see_webhooks(self):
        for user in [self.bob, self.vera, self.mary]:
            client = self.api_as(user, self.org_a)
            assert client.get("/api/v1/sla/webhooks/").status_code == 403
            assert client.get(f"/api/v1/sla/webhooks/{self.webhook.pk}/").status_code == 403
            response = client.post(
                "/api/v1/sla/webhooks/",
                {"name": "Mine", "url": "https://x.example.test/", "format": "slack"},
                format="json",
            )
            assert response.status_code == 403


# --- notifications ----------------------------------------------------------------------------


class NotificationTests(SlaAPITestCase):
    def test_a_member_reads_their_notifications_and_clears_the_bell(self):
        client = self.api_as(self.bob, self.org_a)
        listed = client.get("/api/v1/sla/notifications/").json()["results"]
        # bob owns the late lead: warned, then told of the breach.
        assert sorted(n["event_kind"] for n in listed) == ["breach", "warning"]
        assert all(n["read_at"] is None for n in listed)
        assert client.get("/api/v1/sla/notifications/unread-count/").json() == {"unread": 2}
        first = listed[0]["id"]
        read = client.post(f"/api/v1/sla/notifications/{first}/read/")
        assert read.status_code == 200 and read.json()["read_at"] is not None
        read_at = read.json()["read_at"]
        # Reading it again keeps the first read time.
        assert client.post(f"/api/v1/sla/notifications/{first}/read/").json()["read_at"] == read_at
        unread = client.get("/api/v1/sla/notifications/", {"unread": 1}).json()["results"]
        assert [n["id"] for n in unread] == [listed[1]["id"]]
        assert client.post("/api/v1/sla/notifications/read-all/").json() == {"marked": 1}
        assert client.get("/api/v1/sla/notifications/", {"unread": 1}).json()["results"] == []
        assert client.get("/api/v1/sla/notifications/unread-count/").json() == {"unread": 0}
        # alice's own notification of the breach is still unread.
        assert self.api_as(self.alice, self.org_a).get(
            "/api/v1/sla/notifications/unread-count/"
        ).json() == {"unread": 1}

    def test_someone_elses_notification_is_404(self):
        client = self.api_as(self.alice, self.org_a)
        url = f"/api/v1/sla/notifications/{self.bobs_notification.pk}/"
        assert client.get(url).status_code == 404
        assert client.post(url + "read/").status_code == 404
        assert client.post("/api/v1/sla/notifications/read-all/").json() == {"marked": 1}
        with organization_scope(self.org_a):
            assert Notification.objects.filter(user=self.bob, read_at__isnull=True).count() == 2

    def test_a_viewer_has_a_bell_too(self):
        client = self.api_as(self.vera, self.org_a)
        assert client.get("/api/v1/sla/notifications/").json()["results"] == []
        assert client.post("/api/v1/sla/notifications/read-all/").json() == {"marked": 0}


# --- the tenant boundary, roles ---------------------------------------------------------------


def a_objects(case: SlaAPITestCase) -> list[tuple[str, str, dict]]:
    """Every read and write on organization A's objects, each with a body that would be valid."""
    policy = f"/api/v1/sla/policies/{case.policies[SlaKind.FOLLOW_UP].pk}/"
    calendar = f"/api/v1/sla/calendars/{case.always.pk}/"
    timer = f"/api/v1/sla/timers/{case.live_timer.pk}/"
    breach = f"/api/v1/sla/breaches/{case.breach.pk}/"
    webhook = f"/api/v1/sla/webhooks/{case.webhook.pk}/"
    notification = f"/api/v1/sla/notifications/{case.bobs_notification.pk}/"
    return [
        ("get", policy, {}),
        ("get", calendar, {}),
        ("patch", calendar, {"name": "Mine"}),
        ("put", calendar, {"name": "Mine", "timezone": "UTC"}),
        ("delete", calendar, {}),
        ("get", timer, {}),
        ("post", timer + "pause/", {"reason": "Mine"}),
        ("post", timer + "resume/", {}),
        ("get", breach, {}),
        ("post", breach + "explain/", {"explanation": "Mine"}),
        ("get", webhook, {}),
        ("patch", webhook, {"active": False}),
        ("delete", webhook, {}),
        ("get", notification, {}),
        ("post", notification + "read/", {}),
    ]


class CrossTenantTests(SlaAPITestCase):
    def test_another_organizations_objects_answer_404(self):
        client = self.api_as(self.charlie, self.org_b)
        with organization_scope(self.org_a):
            services.policy_create_version(
                kind=SlaKind.SQL_VOLUME, actor=self.alice, enabled=True, volume_target=5
            )
            period = VolumePeriodResult.objects.get()
        before = self.a_counts()
        attempts = [*a_objects(self), ("get", f"/api/v1/sla/periods/{period.pk}/", {})]
        for method, url, body in attempts:
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 404, (method, url, response.status_code)
        assert self.a_counts() == before

    def test_lists_show_only_the_callers_organization(self):
        client = self.api_as(self.charlie, self.org_b)
        timers = client.get("/api/v1/sla/timers/").json()["results"]
        assert [t["id"] for t in timers] == [self.b_timer.pk]
        assert client.get("/api/v1/sla/timers/", {"owner": self.bob.pk}).json()["results"] == []
        assert client.get("/api/v1/sla/breaches/").json()["results"] == []
        assert client.get("/api/v1/sla/webhooks/").json()["results"] == []
        assert client.get("/api/v1/sla/notifications/").json()["results"] == []
        policies = client.get("/api/v1/sla/policies/").json()
        assert {p["id"] for p in policies} == {p.pk for p in self.b_policies.values()}
        calendars = client.get("/api/v1/sla/calendars/").json()["results"]
        with organization_scope(self.org_b):
            assert {c["id"] for c in calendars} == set(
                BusinessCalendar.objects.values_list("pk", flat=True)
            )
        compliance = client.get(
            "/api/v1/sla/compliance/", {"start": "2026-03-01", "end": "2026-03-31"}
        ).json()
        assert compliance["by_target"] == [] and compliance["first_touch"]["count"] == 0

    def test_another_organizations_calendar_cannot_be_chosen(self):
        response = self.api_as(self.charlie, self.org_b).post(
            "/api/v1/sla/policies/",
            {"kind": "follow_up", "calendar": self.business.pk},
            format="json",
        )
        assert response.status_code == 400 and "calendar" in response.json()
        with organization_scope(self.org_b):
            assert SlaPolicy.objects.filter(kind=SlaKind.FOLLOW_UP).count() == 1


class RoleTests(SlaAPITestCase):
    def write_attempts(self) -> list[tuple[str, str, dict]]:
        timer = f"/api/v1/sla/timers/{self.live_timer.pk}/"
        return [
            ("post", "/api/v1/sla/policies/", {"kind": "follow_up", "target_minutes": 5}),
            ("post", "/api/v1/sla/calendars/", {"name": "Mine"}),
            ("patch", f"/api/v1/sla/calendars/{self.always.pk}/", {"name": "Mine"}),
            ("delete", f"/api/v1/sla/calendars/{self.always.pk}/", {}),
            ("post", timer + "pause/", {"reason": "Mine"}),
            ("post", timer + "resume/", {}),
            ("post", "/api/v1/sla/webhooks/", {"name": "M", "url": "https://m.test/",
                                               "format": "slack"}),
            ("patch", f"/api/v1/sla/webhooks/{self.webhook.pk}/", {"active": False}),
            ("delete", f"/api/v1/sla/webhooks/{self.webhook.pk}/", {}),
        ]  # fmt: skip

    def read_urls(self) -> list[str]:
        return [
            "/api/v1/sla/policies/",
            f"/api/v1/sla/policies/{self.policies[SlaKind.FOLLOW_UP].pk}/",
            "/api/v1/sla/calendars/",
            f"/api/v1/sla/calendars/{self.business.pk}/",
            "/api/v1/sla/timers/",
            f"/api/v1/sla/timers/{self.late_timer.pk}/",
            "/api/v1/sla/breaches/",
            f"/api/v1/sla/breaches/{self.breach.pk}/",
            "/api/v1/sla/compliance/",
            "/api/v1/sla/periods/",
            "/api/v1/sla/notifications/",
            "/api/v1/sla/notifications/unread-count/",
        ]

    def test_a_viewer_reads_and_writes_nothing(self):
        client = self.api_as(self.vera, self.org_a)
        before = self.a_counts()
        attempts = [
            *self.write_attempts(),
            ("post", f"/api/v1/sla/breaches/{self.breach.pk}/explain/", {"explanation": "x"}),
        ]
        for method, url, body in attempts:
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 403, (method, url, response.status_code)
        for url in self.read_urls():
            assert client.get(url).status_code == 200, url
        assert self.a_counts() == before

    def test_sales_and_marketing_cannot_change_the_rules(self):
        before = self.a_counts()
        for user in [self.bob, self.mary]:
            client = self.api_as(user, self.org_a)
            for method, url, body in self.write_attempts():
                response = getattr(client, method)(url, body, format="json")
                assert response.status_code == 403, (user, method, url, response.status_code)
        assert self.a_counts() == before

    def test_anonymous_gets_401_everywhere(self):
        client = APIClient()
        for url in self.read_urls():
            assert client.get(url).status_code == 401, url
        for method, url, body in [
            *self.write_attempts(),
            ("post", "/api/v1/sla/notifications/read-all/", {}),
        ]:
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 401, (method, url, response.status_code)


class QueryCountTests(SlaAPITestCase):
    def count_queries(self, client, url) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, url
        return len(captured)

    def test_lists_do_not_grow_with_rows(self):
        client = self.api_as(self.alice, self.org_a)
        client.get("/api/v1/sla/timers/")  # first use writes last_used_at; measure steady state
        urls = ["/api/v1/sla/timers/", "/api/v1/sla/breaches/", "/api/v1/sla/notifications/"]
        before = [self.count_queries(client, url) for url in urls]
        with organization_scope(self.org_a):
            for i in range(4):
                hand_off(self.alice, f"more{i}@x.test", PAST + timedelta(days=1))
            sweep(PAST + timedelta(days=2))
            assert SlaEvent.objects.filter(kind=EventKind.BREACH).count() == 5
        after = [self.count_queries(client, url) for url in urls]
        assert before == after
        assert after[0] <= 3  # token, membership, one page of timers


class SchemaTests(SlaAPITestCase):
    def test_the_schema_documents_the_sla_endpoints_without_warnings(self):
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
        schema = self.client.get("/api/schema/?format=json").json()
        assert {
            "/api/v1/sla/policies/",
            "/api/v1/sla/calendars/{id}/",
            "/api/v1/sla/timers/{id}/pause/",
            "/api/v1/sla/timers/{id}/resume/",
            "/api/v1/sla/breaches/{id}/explain/",
            "/api/v1/sla/compliance/",
            "/api/v1/sla/periods/{id}/",
            "/api/v1/sla/webhooks/{id}/",
            "/api/v1/sla/notifications/read-all/",
            "/api/v1/sla/notifications/{id}/read/",
        } <= set(schema["paths"])
        hours = schema["components"]["schemas"]["WorkingHours"]["properties"]
        assert list(hours) == list(WEEK)
        assert "/api/v1/sla/policies/{id}/" in schema["paths"]
        assert set(schema["paths"]["/api/v1/sla/policies/{id}/"]) == {"get"}
        assert TimerTarget.FOLLOW_UP in schema["components"]["schemas"]["TimerTargetEnum"]["enum"]
        # The compliance figures are one object, not a list of them.
        compliance = schema["paths"]["/api/v1/sla/compliance/"]["get"]["responses"]["200"]
        assert compliance["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Compliance"
        }
