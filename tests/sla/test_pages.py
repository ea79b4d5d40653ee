"""What people see of the SLAs: countdowns on the queue, lead page and feedback inbox, the bell
and notifications page, the report and its breach explanations, and the timer list.

Pages run at the real clock (views freeze `timezone.now()` once per request), so the data is
built relative to it through the services with `now=`, on a 24/7 follow-up calendar: a clock
started 50 minutes ago is at risk whatever the time of day the suite runs.
"""

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads import services as lead_services
from leads.models import Reason, ReasonKind, SalesRep, Stage
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from sla import selectors, services
from sla.models import (
    EventKind,
    Notification,
    SlaEvent,
    SlaKind,
    SlaTimer,
    TimerState,
    TimerTarget,
)
from sla.sweep import sweep
from sla.templatetags.sla_ui import clock, sla_duration
from tests.base import make_member
from tests.sla.base import SlaTestCase, sql_handed_off

CLOCK = re.compile(r"<span class=\"sla-clock [^>]*>")


def clocks(html: str) -> list[dict]:
    """The data attributes of every SLA clock on a page."""
    found = []
    for tag in CLOCK.findall(html):
        found.append(dict(re.findall(r'(data-[a-z-]+|class)="([^"]*)"', tag)))
    return found


class SlaPagesTestCase(SlaTestCase):
    def setUp(self):
        super().setUp()
        # Bob and Mia are team East; Mia manages and takes no leads herself.
        SalesRep.objects.filter(user=self.bob).update(team="East")
        SalesRep.objects.create(user=self.mia, accepting_leads=False, team="East")
        _business, always = services.calendars_ensure()
        services.policy_create_version(kind=SlaKind.FOLLOW_UP, actor=self.alice, calendar=always)
        self.now = timezone.now()

    def hand_off(self, minutes_ago: float, name: str = "Ada") -> SlaTimer:
        at = self.now - timedelta(minutes=minutes_ago)
        lead = sql_handed_off(actor=self.alice, at=at, name=name, company_name=f"{name} Corp")
        assert (lead.stage, lead.owner) == (Stage.SQL, self.bob)
        return SlaTimer.objects.get(lead=lead, target=TimerTarget.FOLLOW_UP)

    def url(self, name: str, *args, org=None) -> str:
        from django.urls import reverse

        return reverse(name, args=[(org or self.org_a).slug, *args])


class CountdownTests(SlaPagesTestCase):
    def test_the_queue_shows_each_open_follow_up_with_its_iso_deadlines_and_status(self):
        fresh = self.hand_off(10, "Fresh")
        risky = self.hand_off(50, "Risky")
        late = self.hand_off(120, "Late")
        sweep(self.now)  # records the warning of Risky and the breach of Late
        page = self.browser_as(self.bob).get(self.url("rep_queue"))
        assert page.status_code == 200
        found = {c["data-due"]: c for c in clocks(page.content.decode())}
        assert len(found) == 3
        for timer, state, status in [
            (fresh, "running", "on-track"),
            (risky, "running", "at-risk"),
            (late, "breached", "breached"),
        ]:
            timer.refresh_from_db()
            attrs = found[timer.due_at.isoformat()]
            assert datetime.fromisoformat(attrs["data-due"]) == timer.due_at
            assert datetime.fromisoformat(attrs["data-warn"]) == timer.warn_at
            assert (attrs["data-state"], attrs["data-status"]) == (state, status)
            assert f"sla-{status}" in attrs["class"]
        html = page.content.decode()
        assert "At risk · " in html and " left" in html and " overdue" in html
        assert 'src="/static/js/sla-countdown.js"' in html

    def test_a_deadline_on_the_next_business_day_reads_as_a_time_not_a_countdown(self):
        business, _always = services.calendars_ensure()
        services.policy_create_version(kind=SlaKind.FOLLOW_UP, actor=self.alice,
                                       calendar=business)  # fmt: skip
        handed = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # Tuesday 16:30 in Chicago
        lead = sql_handed_off(actor=self.alice, at=handed, name="Eve")
        timer = SlaTimer.objects.get(lead=lead)
        with timezone.override("America/Chicago"):
            far = clock(timer, handed)
            near = clock(timer, timer.due_at - timedelta(minutes=5, seconds=3))
            over = clock(timer, timer.due_at + timedelta(hours=1, minutes=2, seconds=9))
        assert (far.status, far.text) == ("on-track", "Due Wed 09:30")
        assert (near.status, near.text) == ("at-risk", "At risk · 5m 03s left")
        assert (over.status, over.text) == ("breached", "Breached · 1h 02m 09s overdue")

    def test_paused_met_and_cancelled_clocks_do_not_count_down(self):
        timer = self.hand_off(10)
        paused = services.timer_pause(timer=timer, actor=self.alice, reason="Trade fair",
                                      now=self.now)  # fmt: skip
        assert (clock(paused, self.now).status, clock(paused, self.now).text) == (
            "paused", "Paused"
        )  # fmt: skip
        services.timer_resume(timer=timer, actor=self.alice, now=self.now)
        lead_services.touch_log(lead=timer.lead, actor=self.bob, kind="call", at=self.now)
        timer.refresh_from_db()
        assert clock(timer, self.now).text == "✓ Met"
        assert sla_duration(timedelta(hours=3, minutes=5)) == "3h 05m"
        assert sla_duration(None) == "—"

    def test_the_lead_page_shows_the_countdown_and_every_timer_with_its_events(self):
        timer = self.hand_off(30)
        carol = make_member(self.org_a, "carol@a.test", "Carol Sales", Role.SALES)
        lead_services.lead_reassign(lead=timer.lead, owner=carol, actor=self.alice,
                                    now=self.now - timedelta(minutes=20))  # fmt: skip
        services.timer_pause(timer=timer, actor=self.alice, reason="Prospect at a trade fair",
                             now=self.now - timedelta(minutes=10))  # fmt: skip
        page = self.browser_as(self.bob).get(self.url("lead_detail", timer.lead_id))
        html = page.content.decode()
        assert page.status_code == 200
        timer.refresh_from_db()
        assert [c["data-due"] for c in clocks(html)] == [timer.due_at.isoformat()] * 2
        assert 'data-testid="sla-timers"' in html
        for text in ("Started", "Reassigned", "From Bob Sales to Carol Sales", "Paused",
                     "Prospect at a trade fair", "Alice Admin"):  # fmt: skip
            assert text in html, text

    def test_feedback_items_show_their_acknowledge_and_resolve_clocks(self):
        timer = self.hand_off(5)
        reason = Reason.objects.filter(kind=ReasonKind.REJECTION).first()
        lead_services.lead_reject(lead=timer.lead, actor=self.bob, reason_id=reason.pk)
        acknowledge = SlaTimer.objects.get(target=TimerTarget.ACKNOWLEDGE)
        resolve = SlaTimer.objects.get(target=TimerTarget.RESOLVE)
        client = self.browser_as(self.alice)
        html = client.get(self.url("feedback_inbox")).content.decode()
        assert {c["data-due"] for c in clocks(html)} == {
            acknowledge.due_at.isoformat(), resolve.due_at.isoformat()
        }  # fmt: skip
        assert ">Acknowledgement<" in html and ">Resolution<" in html
        # Acknowledged through htmx: the swapped-in item shows the clock as met.
        answer = client.post(
            self.url("feedback_acknowledge", acknowledge.feedback_id), HTTP_HX_REQUEST="true"
        )
        states = {c["data-due"]: c["data-state"] for c in clocks(answer.content.decode())}
        assert states == {acknowledge.due_at.isoformat(): "met",
                          resolve.due_at.isoformat(): "running"}  # fmt: skip
        assert "✓ Met" in answer.content.decode()

    def test_the_queue_reads_a_fixed_number_of_queries_however_many_leads(self):
        client = self.browser_as(self.bob)
        for number in range(3):
            self.hand_off(5 + number, f"Small{number}")
        client.get(self.url("rep_queue"))  # warm caches (content types, reasons)
        with CaptureQueriesContext(connection) as few:
            client.get(self.url("rep_queue"))
        for number in range(25):
            self.hand_off(5 + number, f"Big{number}")
        with CaptureQueriesContext(connection) as many:
            page = client.get(self.url("rep_queue"))
        assert len(clocks(page.content.decode())) == 28
        assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


class BellAndNotificationTests(SlaPagesTestCase):
    def breach(self) -> SlaTimer:
        timer = self.hand_off(120)
        sweep(self.now - timedelta(minutes=70))  # at risk: Bob is warned
        sweep(self.now)  # breached: Bob, his manager Mia and the admin Alice are told
        return timer

    def test_the_bell_loads_its_count_by_htmx_and_adds_no_query_to_pages(self):
        self.breach()
        client = self.browser_as(self.bob)
        html = client.get(self.url("organization_home")).content.decode()
        assert 'data-testid="bell"' in html
        assert f'hx-get="{self.url("notification_bell")}"' in html
        badge = client.get(self.url("notification_bell"))
        assert badge.status_code == 200
        assert 'data-unread="2"' in badge.content.decode()
        assert 'hx-trigger="every 30s"' in badge.content.decode()
        assert (
            'data-unread="0"'
            in self.browser_as(self.vera).get(self.url("notification_bell")).content.decode()
        )

    def test_signed_out_the_bell_stops_polling_instead_of_showing_the_login_page(self):
        response = self.client.get(self.url("notification_bell"))
        assert response.status_code == 286
        assert response.content == b""

    def test_opening_a_notification_marks_it_read_and_follows_its_link(self):
        timer = self.breach()
        client = self.browser_as(self.bob)
        page = client.get(self.url("notification_list")).content.decode()
        assert page.count('data-testid="notification"') == 2
        assert "Follow-up SLA breached: Ada (Ada Corp)" in page
        assert "Mark all read" in page
        breach = Notification.objects.get(user=self.bob, event__kind=EventKind.BREACH)
        response = client.get(self.url("notification_open", breach.pk))
        assert response.status_code == 302
        assert response["Location"] == self.url("lead_detail", timer.lead_id)
        breach.refresh_from_db()
        assert breach.read_at is not None
        assert selectors.unread_count(self.bob) == 1

    def test_mark_one_and_mark_all_read(self):
        self.breach()
        client = self.browser_as(self.bob)
        first = Notification.objects.filter(user=self.bob).first()
        client.post(self.url("notification_read", first.pk))
        assert selectors.unread_count(self.bob) == 1
        response = client.post(self.url("notifications_read_all"), follow=True)
        assert "1 notification marked read." in response.content.decode()
        assert selectors.unread_count(self.bob) == 0
        assert selectors.unread_count(self.alice) == 1  # the breach also went to the admin
        assert "Mark all read" not in response.content.decode()

    def test_a_viewer_marks_their_own_notifications_read(self):
        self.breach()
        event = Notification.objects.filter(user=self.bob).first().event
        with organization_scope(self.org_a):
            Notification.objects.create(user=self.vera, event=event, title="Escalated to you")
        client = self.browser_as(self.vera)
        assert "Mark all read" in client.get(self.url("notification_list")).content.decode()
        assert client.post(self.url("notifications_read_all")).status_code == 302
        assert selectors.unread_count(self.vera) == 0
        assert selectors.unread_count(self.bob) == 2  # nobody else's changed

    def test_nobody_opens_or_marks_someone_elses_notification(self):
        self.breach()
        alices = Notification.objects.get(user=self.alice)
        client = self.browser_as(self.bob)
        assert client.get(self.url("notification_open", alices.pk)).status_code == 404
        assert client.post(self.url("notification_read", alices.pk)).status_code == 404
        alices.refresh_from_db()
        assert alices.read_at is None

    def test_another_organization_sees_none_of_it(self):
        self.breach()
        bobs = Notification.objects.filter(user=self.bob).first()
        client = self.browser_as(self.charlie)
        for name in ("notification_list", "notification_bell", "sla_report", "sla_timers"):
            assert client.get(self.url(name)).status_code == 404, name
        assert client.get(self.url("notification_open", bobs.pk)).status_code == 404
        # Through their own organization's URLs, A's rows are as absent as missing ones.
        own = client.get(self.url("notification_open", bobs.pk, org=self.org_b))
        assert own.status_code == 404
        assert (
            client.post(self.url("notification_read", bobs.pk, org=self.org_b)).status_code == 404
        )
        bobs.refresh_from_db()
        assert bobs.read_at is None

    def test_a_member_of_both_organizations_reaches_a_notification_only_through_its_own(self):
        self.breach()
        alices = Notification.objects.get(user=self.alice)
        with organization_scope(self.org_b):
            tenancy_services.membership_add(user=self.alice, role=Role.ADMIN)
        client = self.browser_as(self.alice)
        assert (
            'data-unread="0"'
            in client.get(self.url("notification_bell", org=self.org_b)).content.decode()
        )
        assert client.get(self.url("notification_open", alices.pk, org=self.org_b)).status_code == (
            404
        )  # fmt: skip
        assert client.post(self.url("notifications_read_all", org=self.org_b)).status_code == 302
        alices.refresh_from_db()
        assert alices.read_at is None
        assert client.get(self.url("notification_open", alices.pk)).status_code == 302


class ReportTests(SlaPagesTestCase):
    def build_history(self):
        """One follow-up met on time (Bob), one breached (Bob), one feedback clock met."""
        met = self.hand_off(180, "Met")
        lead_services.touch_log(lead=met.lead, actor=self.bob, kind="call",
                                at=self.now - timedelta(minutes=150))  # fmt: skip
        late = self.hand_off(150, "Late")
        sweep(self.now)
        return met, late

    def test_a_viewer_reads_the_report_with_compliance_times_and_charts(self):
        self.build_history()
        page = self.browser_as(self.vera).get(self.url("sla_report"))
        html = page.content.decode()
        assert page.status_code == 200
        target_rows = re.search(r'data-testid="compliance-target".*?</table>', html, re.S)[0]
        assert "First follow-up" in target_rows and "50.0%" in target_rows
        assert "East" in re.search(r'data-testid="compliance-team".*?</table>', html, re.S)[0]
        assert "Bob Sales" in re.search(r'data-testid="compliance-owner".*?</table>', html, re.S)[0]
        touch = re.search(r'data-testid="first-touch".*?</section>', html, re.S)[0]
        assert "30m" in touch  # met 30 minutes after the hand-off, around the clock
        assert "1 follow-up met" in touch
        trend = json.loads(re.search(r'id="trend-figure"[^>]*>(.*?)</script>', html, re.S)[1])
        assert trend["data"][0]["name"] == "First follow-up"
        assert trend["data"][0]["y"] == [50.0]
        assert 'src="/static/plotly/plotly.min.js"' in html
        assert "cdn" not in html.lower()
        assert finders.find("plotly/plotly.min.js")
        # The viewer reads the breach log but cannot explain.
        assert "Not done by" in html
        assert 'name="explanation"' not in html

    def test_no_counted_deadline_shows_no_data_never_zero_percent(self):
        self.hand_off(5)  # running, not yet due: not counted
        html = self.browser_as(self.alice).get(self.url("sla_report")).content.decode()
        assert "No data" in html
        assert "0%" not in html and "0.0%" not in html
        assert 'id="trend-figure"' not in html

    def test_window_presets_custom_dates_and_grouping(self):
        self.build_history()
        client = self.browser_as(self.alice)
        today = timezone.localdate(self.now, timezone=ZoneInfo("America/Chicago"))
        ninety = client.get(self.url("sla_report"), {"range": "90", "group": "month"})
        assert (today - timedelta(days=89)).strftime("%a %-d %b %Y") in ninety.content.decode()
        assert "Compliance per month" in ninety.content.decode()
        # A custom window before the history: nothing counted.
        old = client.get(self.url("sla_report"), {"range": "custom", "start": "2020-01-01",
                                                  "end": "2020-01-31"})  # fmt: skip
        assert "Wed 1 Jan 2020" in old.content.decode()
        assert "No breaches in this window." in old.content.decode()
        bad = client.get(self.url("sla_report"), {"range": "custom", "start": "2020-02-01",
                                                  "end": "2020-01-01"})  # fmt: skip
        assert "The start date is after the end date." in bad.content.decode()
        assert "Showing the last 30 days." in bad.content.decode()

    def test_the_owner_explains_a_breach_and_others_cannot(self):
        _met, late = self.build_history()
        breach = SlaEvent.objects.get(timer=late, kind=EventKind.BREACH)
        explain = self.url("sla_breach_explain", breach.pk)
        owner = self.browser_as(self.bob)
        assert 'name="explanation"' in owner.get(self.url("sla_report")).content.decode()
        response = owner.post(explain, {"explanation": "Customer visit all afternoon",
                                        "next": self.url("sla_report") + "?range=90"})  # fmt: skip
        assert response.status_code == 302
        assert response["Location"] == self.url("sla_report") + "?range=90"
        breach.refresh_from_db()
        assert (breach.explanation, breach.explained_by) == ("Customer visit all afternoon",
                                                             self.bob)  # fmt: skip
        assert "Customer visit all afternoon" in owner.get(self.url("sla_report")).content.decode()
        # Another rep: refused by the service, nothing changes.
        sky = make_member(self.org_a, "sky@a.test", "Sky Sales", Role.SALES)
        refused = self.browser_as(sky).post(explain, {"explanation": "Not mine"}, follow=True)
        assert "Only the owner or a RevOps admin can explain it." in refused.content.decode()
        # A viewer may not write at all; another organization does not see it.
        assert self.browser_as(self.vera).post(explain, {"explanation": "x"}).status_code == 403
        assert self.browser_as(self.charlie).post(explain, {"explanation": "x"}).status_code == 404
        other_org = self.url("sla_breach_explain", breach.pk, org=self.org_b)
        assert self.browser_as(self.charlie).post(other_org, {"explanation": "x"}).status_code == (
            404
        )  # fmt: skip
        # The admin may.
        self.browser_as(self.alice).post(explain, {"explanation": "Rep was off sick"})
        breach.refresh_from_db()
        assert (breach.explanation, breach.explained_by) == ("Rep was off sick", self.alice)

    def test_the_sql_volume_pacing_chart_and_period_table(self):
        # Switched on five weeks ago: last month's period ended short, this month's runs.
        services.policy_create_version(kind=SlaKind.SQL_VOLUME, actor=self.alice, enabled=True,
                                       volume_target=12, volume_period="month",
                                       now=self.now - timedelta(days=35))  # fmt: skip
        for _catch_up in range(3):
            sweep(self.now)
        self.hand_off(1)  # one SQL delivered this month (a minute ago)
        html = self.browser_as(self.vera).get(self.url("sla_report")).content.decode()
        figure = json.loads(re.search(r'id="pacing-figure-1"[^>]*>(.*?)</script>', html, re.S)[1])
        names = [trace["name"] for trace in figure["data"]]
        assert names == ["Expected pace", "Delivered", "Target (12)"]
        delivered = [v for v in figure["data"][1]["y"] if v is not None]
        assert delivered[-1] == 1  # today's point counts what is delivered so far
        assert "1 delivered so far" in html
        past = re.search(r'data-testid="volume-periods".*?</table>', html, re.S)[0]
        assert "Short of target" in past and past.count("<tr>") >= 2
        log = re.search(r'data-testid="breach-log".*?</table>', html, re.S)[0]
        assert "SQL volume" in log and "0 of 12 SQLs delivered." in log

    def test_the_report_reads_a_fixed_number_of_queries_however_many_rows(self):
        services.policy_create_version(kind=SlaKind.SQL_VOLUME, actor=self.alice, enabled=True,
                                       volume_target=12, volume_period="month")  # fmt: skip
        client = self.browser_as(self.alice)
        self.build_history()
        client.get(self.url("sla_report"))
        with CaptureQueriesContext(connection) as few:
            client.get(self.url("sla_report"))
        for number in range(20):
            self.hand_off(130 + number, f"Late{number}")
        sweep(self.now)
        with CaptureQueriesContext(connection) as many:
            page = client.get(self.url("sla_report"))
        assert page.content.decode().count('name="explanation"') == 21
        assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


class TimerListTests(SlaPagesTestCase):
    def test_members_read_the_list_and_only_admins_get_pause_and_resume(self):
        timer = self.hand_off(10)
        rep = self.browser_as(self.bob).get(self.url("sla_timers")).content.decode()
        assert f'href="{self.url("lead_detail", timer.lead_id)}"' in rep
        assert 'class="pause-form"' not in rep and "/pause/" not in rep
        admin_page = self.browser_as(self.alice).get(self.url("sla_timers")).content.decode()
        assert self.url("sla_timer_pause", timer.pk) in admin_page
        pause = self.url("sla_timer_pause", timer.pk)
        assert self.browser_as(self.bob).post(pause, {"reason": "x"}).status_code == 403
        assert self.browser_as(self.vera).post(pause, {"reason": "x"}).status_code == 403
        assert self.browser_as(self.charlie).post(pause, {"reason": "x"}).status_code == 404

        admin = self.browser_as(self.alice)
        missing = admin.post(pause, {"reason": " "}, follow=True)
        assert "Timer not paused: Say why the clock stops." in missing.content.decode()
        admin.post(pause, {"reason": "Prospect on holiday"})
        timer.refresh_from_db()
        assert timer.state == TimerState.PAUSED
        page = admin.get(self.url("sla_timers")).content.decode()
        assert self.url("sla_timer_resume", timer.pk) in page
        resumed = admin.post(self.url("sla_timer_resume", timer.pk), follow=True)
        assert "Resumed; now due" in resumed.content.decode()
        timer.refresh_from_db()
        assert timer.state == TimerState.RUNNING
        kinds = list(SlaEvent.objects.filter(timer=timer).values_list("kind", flat=True))
        assert EventKind.PAUSED in kinds and EventKind.RESUMED in kinds

    def test_filters_by_state_commitment_and_owner_and_pages(self):
        for number in range(55):
            self.hand_off(5 + number, f"Lead{number}")
        late = self.hand_off(200, "Late")
        sweep(self.now)
        admin = self.browser_as(self.alice)
        first = admin.get(self.url("sla_timers")).content.decode()
        assert first.count('data-testid="timer-row"') == 50
        assert "Page 1 of 2" in first
        second = admin.get(self.url("sla_timers"), {"page": 2}).content.decode()
        assert second.count('data-testid="timer-row"') == 6
        breached = admin.get(self.url("sla_timers"), {"state": "breached"}).content.decode()
        assert breached.count('data-testid="timer-row"') == 1
        assert self.url("lead_detail", late.lead_id) in breached
        mine = admin.get(self.url("sla_timers"), {"owner": self.alice.pk}).content.decode()
        assert "No timer matches these filters." in mine
        bobs = admin.get(
            self.url("sla_timers"), {"owner": self.bob.pk, "target": "follow_up"}
        ).content.decode()
        assert "Page 1 of 2" in bobs
        ignored = admin.get(self.url("sla_timers"), {"state": "nonsense"})
        assert ignored.status_code == 200

    def test_another_organizations_timer_is_not_found(self):
        timer = self.hand_off(10)
        charlie = self.browser_as(self.charlie)
        for name in ("sla_timer_pause", "sla_timer_resume"):
            response = charlie.post(self.url(name, timer.pk, org=self.org_b), {"reason": "x"})
            assert response.status_code == 404
        timer.refresh_from_db()
        assert timer.state == TimerState.RUNNING


class NavigationTests(SlaPagesTestCase):
    def test_every_member_sees_the_sla_item_and_the_pages_render_for_each_role(self):
        self.hand_off(10)
        for user in (self.alice, self.bob, self.vera):
            client = self.browser_as(user)
            home = client.get(self.url("organization_home")).content.decode()
            assert f'<a href="{self.url("sla_report")}">SLA</a>' in home
            for name in ("sla_report", "sla_timers", "notification_list"):
                assert client.get(self.url(name)).status_code == 200, (user, name)
