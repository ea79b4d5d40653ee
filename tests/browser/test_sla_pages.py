"""The SLAs as people meet them in Chromium: a rep's live countdowns, the bell and the
notifications page, the report's plotly charts (served by the app, no CDN), and an admin pausing
a clock from the timer list.

The pages run at the real clock, so the clocks are started relative to it through the services
(`now=`), on a 24/7 follow-up calendar: the same states whatever the hour the suite runs.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads import services as lead_services
from leads.models import Reason, ReasonKind, SalesRep, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, User
from sla import services as sla_services
from sla.models import SlaKind, SlaTimer, TimerState
from sla.sweep import sweep
from tests.browser.test_leads_flow import nav, snap
from tests.browser.test_tenancy_flow import log_in

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.revops"  # Avery Admin
MARKETING = "marketing@demo.revops"  # Morgan Marketing
SALES = "sales@demo.revops"  # Sam Sales
VIEWER = "viewer@demo.revops"  # Vic Viewer


class Acme:
    def __init__(self):
        self.organization = Organization.objects.get(slug="acme")
        self.marketing = User.objects.get(email=MARKETING)
        self.admin = User.objects.get(email=ADMIN)
        sam = User.objects.get(email=SALES)
        with self.scope():
            lead_services.reasons_ensure_defaults()
            SalesRep.objects.update_or_create(
                user=sam, defaults={"accepting_leads": True, "capacity": None}
            )
            SalesRep.objects.exclude(user=sam).update(accepting_leads=False)
            self.policy = lead_services.policy_ensure()
            _business, always = sla_services.calendars_ensure()
            sla_services.policy_create_version(
                kind=SlaKind.FOLLOW_UP, actor=self.admin, calendar=always
            )

    def scope(self):
        return organization_scope(self.organization)

    def hand_off(self, name: str, ago: timedelta) -> SlaTimer:
        """An SQL handed to Sam `ago` (its one-hour follow-up clock started then)."""
        at = timezone.now() - ago
        policy = self.policy
        with self.scope():
            lead = lead_services.lead_create(
                actor=self.marketing, full_name=name, email=f"{name.split()[0].lower()}@x.test",
                company_name=f"{name.split()[-1]} Ltd", title="VP Revenue", source="events",
                budget_amount=policy.budget_minimum * 4, authority_role=policy.authority_roles[0],
                needs=policy.needs[:1], timeline_days=min(45, policy.timeline_max_days), now=at,
            )  # fmt: skip
            lead_services.lead_mark_mql(lead=lead, actor=self.marketing, now=at)
            lead.refresh_from_db()
            assert lead.stage == Stage.SQL and lead.owner.email == SALES
            return SlaTimer.objects.get(lead=lead)


@pytest.fixture
def acme(demo):
    """Sam's queue: a fresh clock, one at risk, one breached (the sweep has told him)."""
    acme = Acme()
    acme.fresh = acme.hand_off("Fiona Fresh", timedelta(minutes=10))
    acme.risky = acme.hand_off("Rita Risky", timedelta(minutes=50))
    acme.late = acme.hand_off("Larry Late", timedelta(hours=2))
    sweep(timezone.now() - timedelta(minutes=70))  # Larry at risk
    sweep(timezone.now())  # Rita at risk, Larry breached: three notifications for Sam
    return acme


def clock_of(page, name: str):
    item = page.get_by_test_id("queue-item").filter(has_text=name)
    expect(item).to_have_count(1)
    return item.get_by_test_id("sla-clock")


def test_a_reps_countdowns_tick_and_turn_amber_then_red(page, live_server, acme):
    log_in(page, SALES)
    expect(page).to_have_url(f"{live_server.url}/o/acme/")
    # About to be at risk: on track when the page renders, amber a few seconds later.
    turning = acme.hand_off("Tara Turning", timedelta(minutes=45) - timedelta(seconds=8))
    nav(page, "Queue")
    expect(page).to_have_url(f"{live_server.url}/o/acme/queue/")

    fresh = clock_of(page, "Fiona Fresh")
    expect(fresh).to_have_attribute("data-status", "on-track")
    expect(fresh).to_have_text(re.compile(r"^Follow-up \d+m \d\ds left$"))
    before = fresh.inner_text()
    expect(fresh).not_to_have_text(before, timeout=2000)  # it ticks, without a reload

    risky = clock_of(page, "Rita Risky")
    expect(risky).to_have_attribute("data-status", "at-risk")
    expect(risky).to_have_text(re.compile(r"^Follow-up At risk · \d+m \d\ds left$"))
    expect(risky).to_have_css("background-color", "rgb(253, 242, 224)")  # amber

    late = clock_of(page, "Larry Late")
    expect(late).to_have_attribute("data-state", "breached")
    expect(late).to_have_text(re.compile(r"^Follow-up Breached · (\d+h )?\d+m \d\ds overdue$"))
    expect(late).to_have_css("background-color", "rgb(253, 237, 236)")  # red

    turning_clock = clock_of(page, "Tara Turning")
    expect(turning_clock).to_have_attribute("data-status", "at-risk", timeout=15_000)
    expect(turning_clock).to_have_attribute("data-due", turning.due_at.isoformat())
    snap(page, "sla-1-rep-queue-countdowns")

    # The lead page: the same clock at the top, and the clock's story below.
    page.get_by_role("link", name="Larry Late").click()
    expect(page.locator(".lede").get_by_test_id("sla-clock")).to_contain_text("overdue")
    story = page.get_by_test_id("sla-timers")
    expect(story).to_contain_text("Started")
    expect(story).to_contain_text("At risk")
    expect(story).to_contain_text("Breached")
    snap(page, "sla-2-lead-page-clock")


def test_the_bell_counts_unread_and_the_notifications_page_marks_them_read(page, live_server, acme):
    log_in(page, SALES)
    bell = page.get_by_test_id("bell")
    expect(bell.get_by_test_id("bell-count")).to_have_text("3 unread")
    expect(bell.get_by_test_id("bell-count")).to_be_visible()
    bell.click()
    expect(page).to_have_url(f"{live_server.url}/o/acme/notifications/")
    items = page.get_by_test_id("notification")
    expect(items).to_have_count(3)
    expect(page.locator(".notification.unread")).to_have_count(3)
    snap(page, "sla-3-notifications-unread")

    # Clicking one through opens the lead and marks it read.
    page.get_by_role("link", name=re.compile("Follow-up SLA breached: Larry Late")).click()
    expect(page).to_have_url(f"{live_server.url}/o/acme/leads/{acme.late.lead_id}/")
    expect(page.get_by_test_id("bell-count")).to_have_text("2 unread")
    page.get_by_test_id("bell").click()
    expect(page.locator(".notification.unread")).to_have_count(2)
    expect(page.locator(".notification.read")).to_contain_text("Larry Late")

    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("ul.messages")).to_contain_text("2 notifications marked read.")
    expect(page.locator(".notification.unread")).to_have_count(0)
    expect(page.get_by_test_id("bell-count")).to_be_hidden()
    expect(page.get_by_role("button", name="Mark all read")).to_have_count(0)
    snap(page, "sla-4-notifications-read")


def test_the_report_draws_its_charts_with_the_apps_own_plotly(page, live_server, acme):
    with acme.scope():
        sla_services.policy_create_version(
            kind=SlaKind.SQL_VOLUME, actor=acme.admin, enabled=True, volume_target=20,
            volume_period="month",
        )  # fmt: skip
        lead_services.touch_log(lead=acme.fresh.lead, actor=acme.fresh.owner, kind="call")
    requests = []
    page.on("request", lambda request: requests.append(request.url))

    log_in(page, VIEWER)
    nav(page, "SLA")
    expect(page).to_have_url(f"{live_server.url}/o/acme/sla/")
    expect(page.get_by_role("heading", level=1)).to_have_text("SLA report")
    expect(page.get_by_test_id("trend-chart").locator(".plot-container")).to_have_count(1)
    expect(page.get_by_test_id("pacing-chart").locator(".plot-container")).to_have_count(1)
    expect(page.locator(".js-plotly-plot")).to_have_count(2)
    expect(page.get_by_role("heading", name="Compliance per week")).to_be_visible()
    expect(page.get_by_test_id("trend-chart")).to_contain_text("First follow-up")  # legend
    expect(page.get_by_test_id("pacing-chart")).to_contain_text("Expected pace")
    target = page.get_by_test_id("compliance-target")
    expect(target).to_contain_text("First follow-up")
    expect(target).to_contain_text("50.0%")  # Fiona met on time, Larry breached
    expect(page.get_by_test_id("breach-log")).to_contain_text("Larry Late")
    expect(page.get_by_test_id("volume")).to_contain_text(re.compile(r"\d+ delivered so far"))
    snap(page, "sla-5-report")

    # The dates matter only for a custom range, and show only then.
    expect(page.get_by_label("From")).to_be_hidden()
    page.get_by_label("Range").select_option("Custom dates")
    expect(page.get_by_label("From")).to_be_visible()
    page.get_by_label("Range").select_option("Last 90 days")
    expect(page.get_by_label("To", exact=True)).to_be_hidden()
    page.get_by_label("Group by").select_option("Month")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"range=90.*group=month"))
    expect(page.get_by_role("heading", name="Compliance per month")).to_be_visible()
    expect(page.get_by_test_id("trend-chart").locator(".plot-container")).to_have_count(1)

    outside = [url for url in requests if not url.startswith(live_server.url)]
    assert not outside, outside
    assert any(url.endswith("/static/plotly/plotly.min.js") for url in requests)


def test_the_owner_explains_a_breach_from_the_report(page, live_server, acme):
    log_in(page, SALES)
    page.goto("/o/acme/sla/")
    row = page.get_by_test_id("breach-log").locator("tr", has_text="Larry Late")
    row.get_by_role("textbox").fill("Customer visit all afternoon")
    row.get_by_role("button", name="Save reason").click()
    expect(page.locator("ul.messages")).to_contain_text("Explanation saved.")
    row = page.get_by_test_id("breach-log").locator("tr", has_text="Larry Late")
    expect(row).to_contain_text("Customer visit all afternoon")
    expect(row).to_contain_text("Sam Sales")
    snap(page, "sla-6-breach-explained")


def test_an_admin_pauses_and_resumes_a_clock_from_the_timer_list(page, live_server, acme):
    log_in(page, ADMIN)
    nav(page, "SLA")
    page.get_by_role("navigation", name="SLA").get_by_role("link", name="Timers").click()
    expect(page).to_have_url(f"{live_server.url}/o/acme/sla/timers/")
    page.get_by_label("State").select_option("Running")
    page.get_by_role("button", name="Apply").click()
    row = page.get_by_test_id("timer-row").filter(has_text="Fiona Fresh")
    row.get_by_text("Pause…").click()
    row.get_by_label("Reason to pause the clock of Fiona Fresh").fill("Prospect at a trade fair")
    snap(page, "sla-7a-timer-list-pausing")
    row.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator("ul.messages")).to_contain_text("Paused the first follow-up clock.")
    expect(page).to_have_url(re.compile(r"state=running"))
    expect(page.get_by_test_id("timer-row").filter(has_text="Fiona Fresh")).to_have_count(0)

    page.get_by_label("State").select_option("Paused")
    page.get_by_role("button", name="Apply").click()
    row = page.get_by_test_id("timer-row").filter(has_text="Fiona Fresh")
    expect(row.get_by_test_id("sla-clock")).to_have_text("Paused")
    expect(row.get_by_test_id("sla-clock")).to_have_css("background-color", "rgb(238, 241, 244)")
    snap(page, "sla-7-timer-list-paused")
    row.get_by_role("button", name="Resume").click()
    expect(page.locator("ul.messages")).to_contain_text("Resumed; now due")
    acme.fresh.refresh_from_db()
    assert acme.fresh.state == TimerState.RUNNING

    page.get_by_label("State").select_option("Any state")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("timer-row")).to_have_count(3)
    snap(page, "sla-8-timer-list")


def test_marketing_sees_feedback_clocks_and_acknowledging_meets_one(page, live_server, acme):
    with acme.scope():
        reason = Reason.objects.filter(kind=ReasonKind.REJECTION).first()
        lead_services.lead_reject(
            lead=acme.risky.lead, actor=acme.risky.owner, reason_id=reason.pk,
            comment="Student, not a buyer",
        )  # fmt: skip
    log_in(page, MARKETING)
    nav(page, "Feedback")
    item = page.get_by_test_id("feedback-item").filter(has_text="Rita Risky")
    clocks = item.get_by_test_id("sla-clock")
    expect(clocks).to_have_count(2)
    # 48 hours (and five days) around the clock: far away, so the deadline reads as a time.
    expect(clocks.nth(0)).to_have_text(re.compile(r"^Acknowledgement Due \w{3} \d\d:\d\d$"))
    expect(clocks.nth(1)).to_have_text(re.compile(r"^Resolution Due \w{3} \d\d:\d\d$"))
    page.evaluate("window.__noReload = 'still here'")
    item.get_by_role("button", name="Acknowledge").click()
    expect(item.get_by_test_id("sla-clock").nth(0)).to_have_text("Acknowledgement ✓ Met")
    expect(item.get_by_test_id("sla-clock").nth(0)).to_have_attribute("data-state", "met")
    assert page.evaluate("window.__noReload") == "still here"
    snap(page, "sla-9-feedback-clocks")
