"""The SLA settings pages: policies (versioned), business calendars (with previews) and outgoing
webhooks. Members read policies and calendars, admins change them, only admins see webhooks, and
nothing crosses the tenant boundary."""

import hashlib
import hmac
import json
import re
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import holidays
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads import services as lead_services
from leads.models import SalesRep, Stage
from revops.tenancy.context import organization_scope
from sla import config_services, services
from sla.calendar import Calendar, parse_hours
from sla.forms import PolicyForm, duration_words, parse_duration
from sla.models import (
    BusinessCalendar,
    EventKind,
    Recipient,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    SlaTimer,
    StopOn,
    WebhookEndpoint,
)
from sla.settings_views import calendar_preview
from tests.base import TwoOrganizationsTestCase
from tests.sla.base import sql_handed_off

A = "/o/acme-test/settings/sla"
B = "/o/globex-test/settings/sla"
# Tuesday 24 November 2026, 10:00 in Chicago (16:00 UTC): inside business hours.
TUESDAY_10 = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
LUNCH_BREAK = "09:00-12:00, 13:00-17:00"


def post_data(form) -> dict:
    """A form's values as a browser posts them (checked boxes send "on", unchecked nothing)."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        key = form.add_prefix(name)
        if value is True:
            data[key] = "on"
        elif value in (False, None):
            continue
        else:
            data[key] = value
    return data


class SlaSettingsTestCase(TwoOrganizationsTestCase):
    """Organization A (Chicago): the default policies and calendars, a Slack endpoint.
    Organization B: the same, which A's people must never reach."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.org_a.timezone = "America/Chicago"
        cls.org_a.save()
        with organization_scope(cls.org_a):
            cls.policies = services.policies_ensure()
            cls.business, cls.always = services.calendars_ensure()
            cls.endpoint, _ = config_services.webhook_endpoint_create(
                name="#acme-sla", url="https://hooks.slack.test/services/T0/B0/x", format="slack"
            )
        with organization_scope(cls.org_b):
            services.policies_ensure()
            cls.b_business, _ = services.calendars_ensure()
            cls.b_endpoint, _ = config_services.webhook_endpoint_create(
                name="#globex", url="https://hooks.slack.test/services/T1/B1/y", format="slack"
            )

    def setUp(self):
        # Tests read and assert on tenant rows directly, as organization A.
        self.enterContext(organization_scope(self.org_a))
        self.before = self.snapshot()

    def snapshot(self) -> dict:
        return {
            "policies": list(SlaPolicy.objects.order_by("pk").values_list("pk", flat=True)),
            "calendars": list(
                BusinessCalendar.objects.order_by("pk").values_list(
                    "pk", "name", "timezone", "always_open", "working_hours", "holiday_country",
                    "holiday_subdivision", "custom_holidays",
                )
            ),
            "webhooks": list(
                WebhookEndpoint.objects.order_by("pk").values_list(
                    "pk", "name", "url", "active", "on_warning", "on_breach"
                )
            ),
        }  # fmt: skip

    def assert_nothing_changed(self):
        assert self.snapshot() == self.before
        with organization_scope(self.org_b):
            assert SlaPolicy.objects.count() == 3
            assert WebhookEndpoint.objects.get().active

    def policy_form(self, kind: str, **changes) -> dict:
        """What the page's form for `kind` posts, with `changes` (form field names)."""
        current = services.current_policies()[kind]
        form = PolicyForm(
            kind=kind,
            calendars=list(BusinessCalendar.objects.all()),
            initial=PolicyForm.initial_from(current),
        )
        data = post_data(form)
        for name, value in changes.items():
            key = form.add_prefix(name)
            if value is False or value is None:
                data.pop(key, None)
            else:
                data[key] = "on" if value is True else value
        return data

    def calendar_form(self, **changes) -> dict:
        data = {
            "name": "Chicago office",
            "timezone": "America/Chicago",
            "holiday_country": "US",
            "holiday_subdivision": "IL",
            "custom_holidays": "2026-12-24\n2026-12-31",
            "action": "save",
        }
        for day in range(7):
            data[f"working_hours_{day}"] = LUNCH_BREAK if day < 5 else ""
        data.update(changes)
        return {key: value for key, value in data.items() if value is not None}

    def posts(self, prefix: str = A, *, calendar=None, endpoint=None) -> list[str]:
        calendar = calendar or self.business.pk
        endpoint = endpoint or self.endpoint.pk
        return [
            f"{prefix}/policies/follow_up/",
            f"{prefix}/policies/feedback/",
            f"{prefix}/policies/sql_volume/",
            f"{prefix}/calendars/new/",
            f"{prefix}/calendars/{calendar}/",
            f"{prefix}/webhooks/",
            f"{prefix}/webhooks/{endpoint}/switch/active/",
            f"{prefix}/webhooks/{endpoint}/switch/on-warning/",
            f"{prefix}/webhooks/{endpoint}/switch/on-breach/",
            f"{prefix}/webhooks/{endpoint}/test/",
            f"{prefix}/webhooks/{endpoint}/delete/",
        ]

    def any_data(self) -> dict:
        """A body every action would accept, so only the access rules can refuse it."""
        return {
            **self.policy_form(SlaKind.FOLLOW_UP, target_minutes="3h", change_note="Hijack"),
            **self.policy_form(SlaKind.FEEDBACK, target_minutes="3h"),
            **self.policy_form(SlaKind.SQL_VOLUME, volume_target="99"),
            **self.calendar_form(name="Hijack"),
            "url": "https://evil.test/hook", "format": "generic", "on": "0",
        }  # fmt: skip

    def page(self, user, path: str = "/") -> str:
        response = self.browser_as(user).get(f"{A}{path}")
        assert response.status_code == 200, response.status_code
        return response.content.decode()


class AccessTests(SlaSettingsTestCase):
    def test_anonymous_is_sent_to_the_login_page(self):
        client = Client()
        for url in [f"{A}/", f"{A}/calendars/", f"{A}/webhooks/", *self.posts()]:
            response = client.post(url, self.any_data())
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/?next="), url
            assert client.get(url).status_code == 302, url
        self.assert_nothing_changed()

    def test_a_member_of_another_organization_gets_404_on_every_page_and_action(self):
        client = self.browser_as(self.charlie)
        for url in [f"{A}/", f"{A}/calendars/", f"{A}/calendars/{self.business.pk}/",
                    f"{A}/calendars/new/", f"{A}/webhooks/"]:  # fmt: skip
            assert client.get(url).status_code == 404, url
        for url in self.posts():
            assert client.post(url, self.any_data()).status_code == 404, url
        self.assert_nothing_changed()

    def test_organization_a_rows_are_not_found_through_organization_b(self):
        client = self.browser_as(self.charlie)
        assert client.get(f"{B}/calendars/{self.business.pk}/").status_code == 404
        row_urls = [url for url in self.posts(B) if re.search(r"/\d+/", url)]
        assert len(row_urls) == 6
        for url in row_urls:
            assert client.post(url, self.any_data()).status_code == 404, url
        self.assert_nothing_changed()
        # B's own pages list only B's rows.
        page = client.get(f"{B}/webhooks/").content.decode()
        assert "#globex" in page and "#acme-sla" not in page

    def test_viewers_and_sales_read_policies_and_calendars_but_every_post_is_refused(self):
        for user in (self.vera, self.bob):
            page = self.page(user)
            assert "Sales follow-up" in page and "1 business hour" in page
            assert "Only RevOps admins change these settings" in page
            assert "Save as version" not in page and 'data-testid="policy-form-' not in page
            calendars = self.page(user, "/calendars/")
            assert "Business hours" in calendars and "New calendar" not in calendars
            detail = self.page(user, f"/calendars/{self.business.pk}/")
            assert 'data-testid="calendar-facts"' in detail and "Save calendar" not in detail
            assert 'data-testid="deadline-now"' in detail
            # Editors and webhooks (URLs, secrets) are for admins only.
            client = self.browser_as(user)
            assert client.get(f"{A}/calendars/new/").status_code == 403
            assert client.get(f"{A}/webhooks/").status_code == 403
            assert ">Webhooks</a>" not in page
            for url in self.posts():
                assert client.post(url, self.any_data()).status_code == 403, (user, url)
        self.assert_nothing_changed()

    def test_the_organization_settings_page_links_the_sla_pages(self):
        page = self.browser_as(self.alice).get("/o/acme-test/settings/").content.decode()
        assert f'href="{A}/">SLA policies</a>' in page
        assert f'href="{A}/calendars/">Business calendars</a>' in page
        assert f'href="{A}/webhooks/">Outgoing webhooks</a>' in page

    def test_pages_only_read_and_actions_only_take_post(self):
        client = self.browser_as(self.alice)
        assert client.post(f"{A}/", self.any_data()).status_code == 405
        assert client.post(f"{A}/calendars/", self.any_data()).status_code == 405
        assert client.get(f"{A}/policies/follow_up/").status_code == 405
        assert client.get(f"{A}/webhooks/{self.endpoint.pk}/delete/").status_code == 405
        assert client.post(f"{A}/policies/nonsense/", self.any_data()).status_code == 404
        assert client.post(f"{A}/webhooks/{self.endpoint.pk}/switch/secret/", {"on": "1"}
                           ).status_code == 404  # fmt: skip
        self.assert_nothing_changed()


class PolicyPageTests(SlaSettingsTestCase):
    def test_the_page_shows_each_policy_its_settings_form_and_history(self):
        page = self.page(self.alice)
        for kind in SlaKind.values:
            assert f'data-testid="policy-{kind}"' in page
            assert f'data-testid="policy-form-{kind}"' in page
            assert f'data-testid="history-{kind}"' in page
        assert "1 business hour" in page  # follow-up, on weekday office hours
        assert "within 48 hours" in page  # feedback acknowledgement, around the clock
        assert "Save as version 2" in page
        assert 'value="1h"' in page  # the target, as typed
        assert "Defaults" in page  # version 1's note
        assert "Re-base running timers onto this version" in page

    def test_an_admin_saves_a_new_follow_up_version(self):
        client = self.browser_as(self.alice)
        data = self.policy_form(
            SlaKind.FOLLOW_UP,
            target_minutes="1h 30m",
            warn_percent="80",
            stop_on=StopOn.ACCEPTANCE,
            notify_on_warning=[Recipient.OWNER, Recipient.MANAGER],
            escalation_emails="vp@a.test, Head@A.test\nvp@a.test",
            change_note="Q4: more time, warn later",
        )
        response = client.post(f"{A}/policies/follow_up/", data)
        assert response.status_code == 302, response.content.decode()[:3000]
        assert response["Location"] == f"{A}/#follow_up"
        policy = services.current_policies()[SlaKind.FOLLOW_UP]
        assert policy.version == 2
        assert (policy.target_minutes, policy.warn_percent, policy.stop_on) == (
            90,
            80,
            "acceptance",
        )
        assert policy.notify_on_warning == ["owner", "manager"]
        assert policy.escalation_emails == ["vp@a.test", "Head@A.test"]
        assert (policy.created_by, policy.change_note) == (self.alice, "Q4: more time, warn later")
        assert policy.rebased_running is False
        # The other kinds are untouched.
        assert SlaPolicy.objects.filter(kind=SlaKind.FEEDBACK).count() == 1
        page = client.get(response["Location"]).content.decode()
        assert "Sales follow-up saved as version 2. Running timers keep the version" in page
        history = re.search(r'data-testid="history-follow_up".*?</ol>', page, re.S).group()
        assert "v2" in history and "Alice Admin" in history and "Q4: more time" in history
        assert "1 hour 30 minutes of business time" in history
        assert "Running timers kept their version" in history
        assert "Save as version 3" in page

    def test_re_basing_moves_running_timers_and_the_history_says_how_many(self):
        lead_services.reasons_ensure_defaults()
        SalesRep.objects.create(user=self.bob)
        lead = sql_handed_off(actor=self.alice, at=TUESDAY_10, name="Ada")
        assert lead.stage == Stage.SQL
        timer = SlaTimer.objects.get(lead=lead)
        assert timer.due_at == TUESDAY_10 + timedelta(hours=1)

        client = self.browser_as(self.alice)
        assert "1 timer running or paused now" in self.page(self.alice)
        data = self.policy_form(SlaKind.FOLLOW_UP, target_minutes="3h", rebase_running=True)
        response = client.post(f"{A}/policies/follow_up/", data)
        assert response.status_code == 302
        timer.refresh_from_db()
        assert timer.policy.version == 2
        assert timer.due_at == TUESDAY_10 + timedelta(hours=3)
        assert SlaEvent.objects.filter(timer=timer, kind=EventKind.REBASED).count() == 1
        page = client.get(response["Location"]).content.decode()
        assert "saved as version 2. 1 running timer re-based onto it." in page
        history = re.search(r'data-testid="history-follow_up".*?</ol>', page, re.S).group()
        assert "Running timers re-based: 1" in history

    def test_a_target_that_is_not_a_duration_is_refused_on_its_field(self):
        response = self.browser_as(self.alice).post(
            f"{A}/policies/follow_up/", self.policy_form(SlaKind.FOLLOW_UP, target_minutes="soon")
        )
        page = response.content.decode()
        assert response.status_code == 400
        assert "Nothing was saved" in page and 'href="#follow_up">Sales follow-up' in page
        assert "Write the time as hours and minutes" in page
        field = re.search(r'<input[^>]*name="follow_up-target_minutes"[^>]*>', page).group()
        assert 'aria-invalid="true"' in field and "autofocus" in field and 'value="soon"' in field
        assert 'id="id_follow_up-target_minutes_error"' in page
        self.assert_nothing_changed()

    def test_refusals_of_the_form_and_of_the_service_show_beside_their_fields(self):
        client = self.browser_as(self.alice)
        cases = [
            (SlaKind.FOLLOW_UP, {"warn_percent": "0"}, "greater than or equal to 1"),
            (SlaKind.FOLLOW_UP, {"escalation_emails": "vp@a.test, nobody"},
             "Not an email address: nobody."),
            (SlaKind.FOLLOW_UP, {"calendar": str(self.b_business.pk)},
             "Choose one of the organization&#x27;s calendars."),
            (SlaKind.FEEDBACK, {"target_minutes": "0m"}, "Allow more than no time at all."),
            # The service's rule: segment targets are required once a segment is chosen.
            (SlaKind.SQL_VOLUME, {"segment_field": "industry", "segment_targets": ""},
             "Give a positive SQL target for each segment value."),
            (SlaKind.SQL_VOLUME, {"segment_field": "industry",
                                  "segment_targets": "Healthcare: 10\nRetail 6\nHealthcare: 2"},
             "Line 2: write it as"),
            (SlaKind.SQL_VOLUME, {"segment_targets": "Healthcare: 10"},
             "These targets are per segment"),
            (SlaKind.SQL_VOLUME, {"volume_target": None}, "Give the number of SQLs per period."),
        ]  # fmt: skip
        for kind, changes, text in cases:
            response = client.post(f"{A}/policies/{kind}/", self.policy_form(kind, **changes))
            page = response.content.decode()
            assert response.status_code == 400, (kind, changes)
            assert text in page, (kind, text)
            assert f'href="#{kind}"' in page
        self.assert_nothing_changed()

    def test_line_errors_of_segment_targets_name_each_line(self):
        response = self.browser_as(self.alice).post(
            f"{A}/policies/sql_volume/",
            self.policy_form(SlaKind.SQL_VOLUME, segment_field="industry",
                             segment_targets="Healthcare: 10\nRetail 6\nHealthcare: 2\nSaaS: x"),
        )  # fmt: skip
        page = response.content.decode()
        assert "Line 2: write it as “Healthcare: 10”." in page
        assert "Line 3: Healthcare is listed twice." in page
        assert "Line 4: “x” is not a whole number above 0." in page
        self.assert_nothing_changed()

    def test_a_save_built_on_an_older_version_is_refused_and_offered_again(self):
        stale = self.policy_form(SlaKind.FOLLOW_UP, target_minutes="2h")
        services.policy_create_version(kind=SlaKind.FOLLOW_UP, actor=self.vera, warn_percent=50)
        self.before = self.snapshot()
        client = self.browser_as(self.alice)
        response = client.post(f"{A}/policies/follow_up/", stale)
        page = response.content.decode()
        assert response.status_code == 400
        assert "Version 2 was saved by Vera Viewer meanwhile" in page
        # The refused form keeps what alice typed and now builds on version 2.
        assert 'name="follow_up-target_minutes" value="2h"' in page
        assert 'name="follow_up-based_on" value="2"' in page
        self.assert_nothing_changed()
        response = client.post(f"{A}/policies/follow_up/", {**stale, "follow_up-based_on": "2"})
        assert response.status_code == 302
        policy = services.current_policies()[SlaKind.FOLLOW_UP]
        assert (policy.version, policy.target_minutes) == (3, 120)

    def test_saving_without_a_change_is_refused(self):
        response = self.browser_as(self.alice).post(
            f"{A}/policies/feedback/", self.policy_form(SlaKind.FEEDBACK)
        )
        assert response.status_code == 400
        assert "Nothing changed: version 1 says this already." in response.content.decode()
        self.assert_nothing_changed()

    def test_feedback_and_volume_versions_take_their_own_settings(self):
        client = self.browser_as(self.alice)
        response = client.post(
            f"{A}/policies/feedback/",
            self.policy_form(SlaKind.FEEDBACK, target_minutes="24h", resolve_target_minutes="",
                             calendar=str(self.business.pk)),
        )  # fmt: skip
        assert response.status_code == 302
        feedback = services.current_policies()[SlaKind.FEEDBACK]
        assert (feedback.target_minutes, feedback.resolve_target_minutes) == (24 * 60, None)
        assert feedback.calendar == self.business
        response = client.post(
            f"{A}/policies/sql_volume/",
            self.policy_form(SlaKind.SQL_VOLUME, enabled=True, volume_period="week",
                             segment_field="industry",
                             segment_targets="Healthcare: 10\n\n  Retail :6 "),
        )  # fmt: skip
        assert response.status_code == 302
        volume = services.current_policies()[SlaKind.SQL_VOLUME]
        assert volume.enabled and volume.volume_period == "week"
        assert volume.segment_targets == {"Healthcare": 10, "Retail": 6}
        page = client.get(f"{A}/").content.decode()
        assert "per industry each week: Healthcare: 10, Retail: 6" in page
        assert "Healthcare: 10\nRetail: 6</textarea>" in page

    def test_the_page_reads_a_fixed_number_of_queries_however_long_the_history(self):
        client = self.browser_as(self.alice)
        client.get(f"{A}/")  # the session and defaults settle

        def count() -> int:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(f"{A}/").status_code == 200
            return len(queries)

        before = count()
        for minutes in range(61, 66):
            services.policy_create_version(
                kind=SlaKind.FOLLOW_UP, actor=self.alice, target_minutes=minutes
            )
        BusinessCalendar.objects.create(name="Extra", timezone="UTC")
        assert count() == before


class DurationTests(SlaSettingsTestCase):
    def test_durations_are_read_as_people_write_them(self):
        cases = {"1h": 60, "1 business hour": 60, "90": 90, "1:30": 90, "1h30": 90,
                 "1.5h": 90, "1h 30m": 90, "48 hours": 2880, "45 min": 45,
                 "1 hour and 30 minutes": 90}  # fmt: skip
        for text, minutes in cases.items():
            assert parse_duration(text) == minutes, text
        for text in ("2 days", "soon", "h", "1:75", "1.25m"):
            try:
                parse_duration(text)
            except ValueError:
                continue
            raise AssertionError(f"{text!r} was accepted")

    def test_durations_are_shown_as_people_say_them(self):
        assert duration_words(60, business=True) == "1 business hour"
        assert duration_words(45, business=True) == "45 business minutes"
        assert duration_words(48 * 60, business=False) == "48 hours"
        assert duration_words(90, business=True) == "1 hour 30 minutes of business time"


class CalendarPageTests(SlaSettingsTestCase):
    def test_the_list_shows_hours_holidays_and_which_policy_uses_each_calendar(self):
        page = self.page(self.alice, "/calendars/")
        row = re.search(rf'<tr id="calendar-{self.business.pk}">.*?</tr>', page, re.S).group()
        assert "America/Chicago" in row and "Mon\N{EN DASH}Fri 09:00-17:00" in row
        assert "Sales follow-up" in row and "Marketing SQL volume" in row
        row = re.search(rf'<tr id="calendar-{self.always.pk}">.*?</tr>', page, re.S).group()
        assert "24/7" in row and "Marketing feedback response" in row
        assert f'href="{A}/calendars/new/"' in page

    def test_the_new_calendar_form_starts_in_the_organizations_time_zone(self):
        page = self.page(self.alice, "/calendars/new/")
        assert '<option value="America/Chicago" selected>' in page
        assert 'name="working_hours_0" value="09:00-17:00"' in page
        assert 'data-testid="deadline-now"' in page

    def test_an_admin_creates_a_calendar_with_a_lunch_break_and_holidays(self):
        client = self.browser_as(self.alice)
        data = self.calendar_form(working_hours_4="09:00-12:00")
        response = client.post(f"{A}/calendars/new/", data)
        assert response.status_code == 302, response.content.decode()[:2000]
        calendar = BusinessCalendar.objects.get(name="Chicago office")
        assert response["Location"] == f"{A}/calendars/{calendar.pk}/"
        assert calendar.working_hours["0"] == [[540, 720], [780, 1020]]
        assert calendar.working_hours["4"] == [[540, 720]]
        assert calendar.working_hours["5"] == []
        assert (calendar.holiday_country, calendar.holiday_subdivision) == ("US", "IL")
        assert calendar.custom_holidays == [date(2026, 12, 24), date(2026, 12, 31)]
        page = client.get(response["Location"]).content.decode()
        assert "Calendar “Chicago office” saved." in page
        assert 'name="working_hours_0" value="09:00-12:00, 13:00-17:00"' in page
        assert "Christmas Day" in page  # the preview's holidays
        assert "2026-12-24" in page
        # The list summarizes the week in runs.
        listing = self.page(self.alice, "/calendars/")
        assert f"Mon\N{EN DASH}Thu {LUNCH_BREAK}" in listing and "Fri 09:00-12:00" in listing
        assert "United States (US), IL + 2 other days off" in listing

    def test_mistakes_are_refused_line_by_line_and_nothing_is_saved(self):
        client = self.browser_as(self.alice)
        response = client.post(
            f"{A}/calendars/new/",
            self.calendar_form(working_hours_1="9 to 5",
                               custom_holidays="2026-12-24\n2026-02-30\nsoon"),
        )  # fmt: skip
        page = response.content.decode()
        assert response.status_code == 400
        assert "Nothing was saved" in page
        assert "&#x27;9 to 5&#x27; is not a time range like 09:00-17:00." in page
        assert 'id="id_working_hours_1_error"' in page
        assert "Line 2: “2026-02-30” is not a date like 2026-12-24." in page
        assert "Line 3: “soon” is not a date like 2026-12-24." in page
        field = re.search(r'<input[^>]*name="working_hours_1"[^>]*>', page).group()
        assert 'aria-invalid="true"' in field and 'value="9 to 5"' in field
        self.assert_nothing_changed()

    def test_the_services_refusals_show_on_the_form(self):
        client = self.browser_as(self.alice)
        cases = [
            ({"holiday_subdivision": "ZZ"}, "&#x27;ZZ&#x27; is not a subdivision of US"),
            ({f"working_hours_{d}": "" for d in range(7)},
             "A calendar needs some working time in the week, or to be 24/7."),
            ({"name": "Business hours"}, "Another calendar has this name."),
            ({"working_hours_2": "13:00-17:00, 09:00-14:00"},
             "Working intervals of one day must not overlap."),
        ]  # fmt: skip
        for changes, text in cases:
            response = client.post(f"{A}/calendars/new/", self.calendar_form(**changes))
            assert response.status_code == 400, changes
            assert text in response.content.decode(), text
        self.assert_nothing_changed()

    def test_an_admin_edits_a_calendar_and_a_24_7_calendar_needs_no_hours(self):
        client = self.browser_as(self.alice)
        response = client.post(
            f"{A}/calendars/{self.business.pk}/",
            self.calendar_form(name="Business hours", working_hours_0="08:00-12:30, 13:30-16:00"),
        )
        assert response.status_code == 302
        self.business.refresh_from_db()
        assert self.business.working_hours["0"] == [[480, 750], [810, 960]]
        assert self.business.holiday_country == "US"
        response = client.post(
            f"{A}/calendars/new/",
            self.calendar_form(name="Support", always_open="on", holiday_country="",
                               holiday_subdivision="", custom_holidays="",
                               **{f"working_hours_{d}": "" for d in range(7)}),
        )  # fmt: skip
        assert response.status_code == 302
        assert BusinessCalendar.objects.get(name="Support").always_open

    def test_preview_shows_the_drafts_holidays_and_deadline_without_saving(self):
        client = self.browser_as(self.alice)
        response = client.post(
            f"{A}/calendars/{self.business.pk}/",
            self.calendar_form(action="preview", custom_holidays="2030-01-02"),
            HTTP_HX_REQUEST="true",
        )
        page = response.content.decode()
        assert response.status_code == 200
        # The next public holiday in Illinois from today, whenever the test runs.
        today = timezone.localtime(timezone=ZoneInfo("America/Chicago")).date()
        illinois = holidays.country_holidays("US", subdiv="IL", years=[today.year, today.year + 1])
        next_name = illinois[min(day for day in illinois if day >= today)]
        assert 'data-testid="holiday-preview"' in page and next_name.split(";")[0] in page
        assert "If an SQL were handed off now, it would be due" in page
        # A draft with mistakes says what to fix, still as a 200 so htmx swaps it in.
        response = client.post(
            f"{A}/calendars/{self.business.pk}/",
            self.calendar_form(action="preview", working_hours_0="nine"),
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        assert "Cannot preview this yet. Monday: &#x27;nine&#x27;" in response.content.decode()
        self.assert_nothing_changed()

    def test_a_country_change_offers_its_regions(self):
        response = self.browser_as(self.alice).post(
            f"{A}/calendars/new/",
            self.calendar_form(action="preview", holiday_country="DE", holiday_subdivision=""),
            HTTP_HX_REQUEST="true",
        )
        page = response.content.decode()
        region = re.search(r'<select name="holiday_subdivision".*?</select>', page, re.S).group()
        assert '<option value="BY">Bayern (BY)</option>' in region
        assert '<option value="IL">' not in region
        # A mixed-case code is offered and kept as the holidays package spells it.
        assert '<option value="Augsburg">' in region

    def test_the_deadline_preview_skips_the_lunch_break_the_night_and_holidays(self):
        week = [parse_hours(LUNCH_BREAK)] * 5 + [[], []]
        calendar = Calendar("America/Chicago", week=week, holiday_country="US",
                            holiday_subdivision="IL",
                            custom_holidays=frozenset({date(2026, 12, 24)}))  # fmt: skip
        now = TUESDAY_10 + timedelta(hours=1, minutes=30)  # 11:30 in Chicago
        preview = calendar_preview(calendar, now=now, target_minutes=60)
        assert preview["target"] == "1 business hour"
        assert preview["open_now"] is True
        assert preview["deadlines"][0] == (
            "Now",
            "Tue 24 Nov, 11:30 CST",
            "Tue 24 Nov, 13:30 CST",
        )
        # Friday 16:30: half an hour that day, the rest on Monday morning.
        assert preview["deadlines"][1] == (
            "Friday at 16:30",
            "Fri 27 Nov, 16:30 CST",
            "Mon 30 Nov, 09:30 CST",
        )
        # The eve of Thanksgiving: the holiday is skipped.
        assert preview["deadlines"][2] == (
            "The eve of Thanksgiving Day",
            "Wed 25 Nov, 16:30 CST",
            "Fri 27 Nov, 09:30 CST",
        )
        assert preview["holidays"][:3] == [
            (date(2026, 11, 26), "Thanksgiving Day"),
            (date(2026, 12, 24), "Day off (this calendar)"),
            (date(2026, 12, 25), "Christmas Day"),
        ]
        assert len(preview["holidays"]) == 10


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver on this machine: records what it gets, answers with `status`."""

    received: list
    status = 200

    def do_POST(self):  # the http.server API's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers, body))  # headers: case-insensitive
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


class WebhookPageTests(SlaSettingsTestCase):
    def receiver(self, status: int = 200) -> tuple[str, list]:
        received: list = []
        handler = type("Receiver", (_Receiver,), {"received": received, "status": status})
        server = HTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_port}/hook", received

    def test_the_page_lists_the_endpoints_with_their_switches(self):
        page = self.page(self.alice, "/webhooks/")
        row = re.search(rf'<tr id="webhook-{self.endpoint.pk}".*?</tr>', page, re.S).group()
        assert "#acme-sla" in row and "hooks.slack.test" in row and "Slack" in row
        assert row.count(" checked") == 3 and "never" in row
        assert 'aria-label="Send test: #acme-sla"' in row

    def test_a_slack_endpoint_is_added_without_a_secret(self):
        client = self.browser_as(self.alice)
        response = client.post(
            f"{A}/webhooks/",
            {"name": "#sales-alerts", "url": "https://hooks.slack.test/x", "format": "slack",
             "on_breach": "on"},
        )  # fmt: skip
        assert response.status_code == 302
        endpoint = WebhookEndpoint.objects.get(name="#sales-alerts")
        assert (endpoint.secret, endpoint.on_warning, endpoint.on_breach) == ("", False, True)
        page = client.get(response["Location"]).content.decode()
        assert "Endpoint “#sales-alerts” added." in page and "new-secret" not in page

    def test_a_signed_endpoints_secret_is_shown_once(self):
        client = self.browser_as(self.alice)
        response = client.post(
            f"{A}/webhooks/",
            {"name": "Data warehouse", "url": "https://dw.example.test/hooks/sla",
             "format": "generic", "on_warning": "on", "on_breach": "on"},
        )  # fmt: skip
        assert response.status_code == 302
        endpoint = WebhookEndpoint.objects.get(name="Data warehouse")
        assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
        first = client.get(response["Location"]).content.decode()
        assert f'<code data-testid="new-secret">{endpoint.secret}</code>' in first
        second = client.get(response["Location"]).content.decode()
        assert endpoint.secret not in second

    def test_bad_endpoints_are_refused_on_their_fields(self):
        client = self.browser_as(self.alice)
        cases = [
            ({"name": "x", "url": "ftp://files.test/", "format": "slack"},
             "Enter an http:// or https:// address."),
            ({"name": "#ACME-SLA", "url": "https://a.test/", "format": "slack"},
             "An endpoint is already called “#ACME-SLA”."),
            ({"name": "x", "url": "https://a.test/", "format": "xml"}, "Select a valid choice."),
        ]  # fmt: skip
        for data, text in cases:
            response = client.post(f"{A}/webhooks/", data)
            page = response.content.decode()
            assert response.status_code == 400, data
            assert text in page and "Nothing was saved" in page, text
        self.assert_nothing_changed()

    def test_switches_state_what_they_ask_for_and_answer_htmx_with_the_row(self):
        client = self.browser_as(self.alice)
        url = f"{A}/webhooks/{self.endpoint.pk}/switch"
        response = client.post(f"{url}/active/", {"on": "0"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        row = response.content.decode()
        assert row.strip().startswith(f'<tr id="webhook-{self.endpoint.pk}" class="inactive">')
        assert row.count(" checked") == 2
        # The same request again changes nothing: the state is stated, not flipped.
        client.post(f"{url}/active/", {"on": "0"}, HTTP_HX_REQUEST="true")
        # A checked box posts both values; the last one counts.
        client.post(f"{url}/on-breach/", {"on": ["0", "1"]})
        response = client.post(f"{url}/on-warning/", {"on": "0"})
        assert response.status_code == 302
        self.endpoint.refresh_from_db()
        assert (self.endpoint.active, self.endpoint.on_warning, self.endpoint.on_breach) == (
            False, False, True,
        )  # fmt: skip
        assert (
            "“#acme-sla” gets no at-risk warnings." in client.get(f"{A}/webhooks/").content.decode()
        )
        response = client.post(f"{url}/active/", {"on": "maybe"}, HTTP_HX_REQUEST="true")
        assert "Say on or off." in response.content.decode()

    def test_delete_removes_only_that_endpoint(self):
        response = self.browser_as(self.alice).post(f"{A}/webhooks/{self.endpoint.pk}/delete/")
        assert response.status_code == 302
        assert not WebhookEndpoint.objects.exists()
        with organization_scope(self.org_b):
            assert WebhookEndpoint.objects.get() == self.b_endpoint

    def test_send_test_posts_a_signed_sample_and_shows_the_answer(self):
        url, received = self.receiver()
        endpoint, secret = config_services.webhook_endpoint_create(
            name="Receiver", url=url, format="generic"
        )
        response = self.browser_as(self.alice).post(
            f"{A}/webhooks/{endpoint.pk}/test/", HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        assert "Test delivered: HTTP 200" in response.content.decode()
        [(headers, body)] = received
        payload = json.loads(body)
        assert payload["type"] == "sla.test" and payload["test"] is True
        assert payload["organization"] == "acme-test"
        assert headers["X-RevOps-Event"] == payload["id"]
        timestamp, signature = re.fullmatch(
            r"t=(\d+),v1=([0-9a-f]{64})", headers["X-RevOps-Signature"]
        ).groups()
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        assert hmac.compare_digest(signature, expected.hexdigest())

    def test_send_test_to_slack_sends_its_message_shape(self):
        url, received = self.receiver()
        endpoint, _ = config_services.webhook_endpoint_create(name="Slack", url=url, format="slack")
        response = self.browser_as(self.alice).post(f"{A}/webhooks/{endpoint.pk}/test/")
        assert response.status_code == 302
        [(headers, body)] = received
        assert "X-RevOps-Signature" not in headers
        assert json.loads(body)["text"].startswith(":warning: *Test message from RevOps Hub*")
        page = self.page(self.alice, "/webhooks/")
        assert "Test to “Slack”: delivered, HTTP 200." in page

    def test_send_test_reports_an_error_answer_and_an_unreachable_endpoint(self):
        url, received = self.receiver(status=500)
        failing, _ = config_services.webhook_endpoint_create(
            name="Failing", url=url, format="generic"
        )
        response = self.browser_as(self.alice).post(
            f"{A}/webhooks/{failing.pk}/test/", HTTP_HX_REQUEST="true"
        )
        assert "Test failed: HTTP 500 Internal Server Error" in response.content.decode()
        assert len(received) == 1
        # A port nobody listens on: bound once to find it free, then closed.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        gone, _ = config_services.webhook_endpoint_create(
            name="Gone", url=f"http://127.0.0.1:{port}/hook", format="slack"
        )
        response = self.browser_as(self.alice).post(
            f"{A}/webhooks/{gone.pk}/test/", HTTP_HX_REQUEST="true"
        )
        assert "Test failed: Could not connect" in response.content.decode()
