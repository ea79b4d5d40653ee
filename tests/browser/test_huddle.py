"""The weekly revenue huddle as both teams meet it on a shared screen, in Chromium: one section per
screen, moved with the keyboard; an action item agreed this week shows up in next week's huddle;
full screen, print, the PNG and CSV of a chart, and last week's huddle with its frozen figures.

Activity is built through the services relative to the real clock (the pages run on it): a few
weeks of hand-offs, deals, ratings and a rejection in Acme (New York), then the snapshot.
"""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from huddle import selectors as huddle_selectors
from huddle import services as huddle_services
from huddle.models import Team
from leads import services as lead_services
from leads.models import LeadFeedback, Reason, ReasonKind, SalesRep, Stage
from metrics.compute import snapshot_replace
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, User
from sla import services as sla_services
from sla.models import SlaKind
from sla.sweep import sweep
from tests.browser.test_leads_flow import snap
from tests.browser.test_tenancy_flow import log_in

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.revops"  # Avery Admin
SALES = "sales@demo.revops"  # Sam Sales
MARKETING = "marketing@demo.revops"


class AcmeWeek:
    """Acme's last few weeks: SQLs handed to Sam, deals won, lost and stalled, ratings, a
    rejection, breaches; last week's huddle held (with one item still open)."""

    def __init__(self):
        self.organization = Organization.objects.get(slug="acme")
        self.admin = User.objects.get(email=ADMIN)
        self.marketing = User.objects.get(email=MARKETING)
        self.sam = User.objects.get(email=SALES)
        self.now = timezone.now()
        with organization_scope(self.organization):
            self.build()

    def days_ago(self, days: float) -> timezone.datetime:
        return self.now - timedelta(days=days)

    def sql(self, name: str, when):
        policy = lead_services.policy_ensure()
        campaign = self.campaigns[len(name) % 2]
        lead = lead_services.lead_create(
            actor=self.marketing, full_name=name, email=f"{name.split()[0].lower()}@x.test",
            company_name=f"{name.split()[-1]} Ltd", source="events", campaign=campaign,
            budget_amount=policy.budget_minimum * 4, authority_role=policy.authority_roles[0],
            needs=policy.needs[:1], timeline_days=min(45, policy.timeline_max_days), now=when,
        )  # fmt: skip
        lead_services.lead_mark_mql(lead=lead, actor=self.marketing, now=when)
        lead.refresh_from_db()
        assert lead.stage == Stage.SQL and lead.owner == self.sam
        return lead

    def deal(self, lead, when, amount: int):
        lead_services.touch_log(lead=lead, actor=self.sam, kind="call", at=when)
        lead_services.lead_accept(lead=lead, actor=self.sam, now=when + timedelta(minutes=5))
        return lead_services.lead_convert(lead=lead, actor=self.sam, amount=Decimal(amount),
                                          now=when + timedelta(hours=1))  # fmt: skip

    def build(self):
        lead_services.reasons_ensure_defaults()
        SalesRep.objects.update_or_create(user=self.sam, defaults={"accepting_leads": True,
                                                                   "capacity": None})  # fmt: skip
        SalesRep.objects.exclude(user=self.sam).update(accepting_leads=False)
        _business, always = sla_services.calendars_ensure()
        sla_services.policy_create_version(kind=SlaKind.FOLLOW_UP, actor=self.admin,
                                           calendar=always)  # fmt: skip
        self.campaigns = [
            lead_services.campaign_create(actor=self.marketing, name=name, channel="events")
            for name in ("Spring webinar", "Trade show")
        ]
        price = Reason.objects.get(kind=ReasonKind.LOSS, label="Price")
        no_budget = Reason.objects.get(kind=ReasonKind.REJECTION, label="No budget")
        # Three weeks of hand-offs, most worked, some deals won or lost, one left to stall.
        names = ["Ann Archer", "Ben Baker", "Cat Carter", "Dan Dyer", "Eve Ellis", "Fay Ford",
                 "Gil Grant", "Hal Hayes", "Ivy Irwin"]  # fmt: skip
        for index, name in enumerate(names):
            when = self.days_ago(20 - 2 * index)
            lead = self.sql(name, when)
            if index == 4:  # never called: the follow-up breaches; rejected the next day
                lead_services.lead_reject(lead=lead, actor=self.sam, reason_id=no_budget.pk,
                                          now=when + timedelta(days=1))  # fmt: skip
                LeadFeedback.objects.filter(lead=lead).update(created_at=when + timedelta(days=1))
                continue
            deal = self.deal(lead, when + timedelta(minutes=20), 10_000 + 2_500 * index)
            if index in (1, 3, 6):
                lead_services.opportunity_win(opportunity=deal, actor=self.sam,
                                              now=when + timedelta(days=4))  # fmt: skip
            elif index in (2, 7):
                lead_services.opportunity_lose(opportunity=deal, actor=self.sam,
                                               reason_id=price.pk,
                                               now=when + timedelta(days=3))  # fmt: skip
            if index in (3, 5, 6, 8):
                item = lead_services.feedback_rate(lead=lead, actor=self.sam, rating=index % 5 + 1,
                                                   now=when + timedelta(days=1))  # fmt: skip
                LeadFeedback.objects.filter(pk=item.pk).update(created_at=when + timedelta(days=1))
        sweep(self.now)
        today = huddle_selectors.local_date(self.now)
        snapshot_replace(today - timedelta(days=120), today - timedelta(days=1))
        huddle_services.settings_save(stalled_after_days=7, monthly_revenue_target=Decimal(80000))
        # Last week's huddle, held a week ago, with an item still open.
        self.this_week = huddle_selectors.week_start_of(today)
        self.last_week = self.this_week - timedelta(days=7)
        held = self.days_ago(7)
        huddle_services.huddle_open(week_start=self.last_week, now=held)
        huddle_services.action_item_create(
            week_start=self.last_week, actor=self.admin, title="Clean up the webinar list",
            owner=self.marketing, team=Team.MARKETING, due_on=None, now=held,
        )  # fmt: skip


@pytest.fixture
def acme(demo):
    return AcmeWeek()


def current_section(page) -> str:
    return page.get_by_test_id("huddle").get_attribute("data-section")


def expect_section(page, name: str, position: str) -> None:
    expect(page.get_by_test_id(f"section-{name}")).to_be_visible()
    expect(page.get_by_test_id("progress")).to_have_text(position)
    for other in ("pipeline", "feedback", "sla", "actions"):
        if other != name:
            expect(page.get_by_test_id(f"section-{other}")).to_be_hidden()


def test_the_huddle_advances_with_the_keyboard_and_an_item_carries_into_next_week(
    page, live_server, acme
):
    log_in(page, ADMIN)
    page.get_by_role("navigation", name="Organization").get_by_role("link", name="Huddle").click()
    week = acme.this_week.isoformat()
    expect(page).to_have_url(f"{live_server.url}/o/acme/huddle/{week}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revenue huddle")
    expect_section(page, "pipeline", "1 / 4")
    pipeline = page.get_by_test_id("section-pipeline")
    expect(pipeline.get_by_test_id("tile-open")).to_contain_text("USD")
    expect(pipeline.get_by_test_id("tile-coverage")).to_contain_text("of the monthly target")
    expect(pipeline.get_by_test_id("stalled")).to_contain_text("Archer Ltd opportunity")
    expect(pipeline.get_by_test_id("chart-pipeline").locator(".main-svg").first).to_be_visible()
    snap(page, "huddle-1-pipeline")

    page.keyboard.press("ArrowRight")
    expect_section(page, "feedback", "2 / 4")
    expect(page).to_have_url(f"{live_server.url}/o/acme/huddle/{week}/#feedback")
    feedback = page.get_by_test_id("section-feedback")
    expect(feedback.get_by_test_id("chart-feedback").locator(".main-svg").first).to_be_visible()
    expect(feedback.get_by_test_id("inbox")).to_contain_text("Eve Ellis")
    snap(page, "huddle-2-feedback")

    page.keyboard.press("Space")
    expect_section(page, "sla", "3 / 4")
    expect(page.get_by_test_id("section-sla").get_by_test_id("breaches")).to_contain_text(
        "Acknowledge feedback"
    )
    snap(page, "huddle-3-sla")
    page.keyboard.press("Shift+Space")
    expect_section(page, "feedback", "2 / 4")
    page.keyboard.press("End")
    expect_section(page, "actions", "4 / 4")
    page.keyboard.press("ArrowRight")  # the last section stays
    expect_section(page, "actions", "4 / 4")
    page.keyboard.press("Home")
    expect_section(page, "pipeline", "1 / 4")
    page.keyboard.press("ArrowLeft")  # and so does the first
    expect_section(page, "pipeline", "1 / 4")
    page.get_by_test_id("agenda-actions").click()
    expect_section(page, "actions", "4 / 4")

    # Last week's open item is carried over; a new one is agreed (htmx, no reload).
    actions = page.get_by_test_id("section-actions")
    carried = actions.get_by_test_id("action-item").filter(has_text="Clean up the webinar list")
    expect(carried.get_by_test_id("carried")).to_be_visible()
    add = actions.get_by_test_id("item-add")
    title = add.get_by_label("What")
    title.click()
    title.press_sequentially("Joint review of rejected webinar leads")  # spaces type, not turn
    expect_section(page, "actions", "4 / 4")
    add.get_by_label("Owner").select_option(label="Sam Sales")
    add.get_by_label("Team").select_option(label="Both teams")
    add.get_by_label("Due").fill((acme.this_week + timedelta(days=11)).isoformat())
    page.evaluate("window.__sameDocument = true")
    add.get_by_role("button", name="Add item").click()
    item = actions.get_by_test_id("action-item").filter(has_text="Joint review")
    expect(item).to_contain_text("Sam Sales")
    expect(item).to_contain_text("Both teams")
    expect(item.get_by_test_id("carried")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True  # swapped in place
    expect_section(page, "actions", "4 / 4")
    # An empty title is refused with the field's message, in place.
    actions.get_by_role("button", name="Add item").click()
    expect(actions.locator(".item-add .error")).to_contain_text("This field is required.")
    actions.get_by_test_id("notes-actions").get_by_role("textbox").fill("Sam and Morgan own it.")
    actions.get_by_role("button", name="Add note").click()
    expect(actions.get_by_test_id("note")).to_contain_text("Sam and Morgan own it.")
    expect(actions.get_by_test_id("note")).to_contain_text("Avery Admin")
    snap(page, "huddle-4-actions")

    # Next week's huddle: both open items are carried into it.
    page.get_by_test_id("next-week").click()
    following = (acme.this_week + timedelta(days=7)).isoformat()
    expect(page).to_have_url(f"{live_server.url}/o/acme/huddle/{following}/")
    expect(page.get_by_test_id("figures-state")).to_contain_text("This week has not begun")
    expect_section(page, "pipeline", "1 / 4")
    page.keyboard.press("End")
    expect_section(page, "actions", "4 / 4")
    items = page.get_by_test_id("section-actions").get_by_test_id("action-item")
    expect(items).to_have_count(2)
    joint = items.filter(has_text="Joint review of rejected webinar leads")
    expect(joint.get_by_test_id("carried")).to_have_text(
        f"Carried over from the week of {acme.this_week:%-d %b}"
    )
    snap(page, "huddle-5-next-week")

    # Done this week: the item is no longer carried anywhere after.
    page.get_by_test_id("previous-week").click()
    expect(page).to_have_url(f"{live_server.url}/o/acme/huddle/{week}/")
    expect_section(page, "pipeline", "1 / 4")
    page.keyboard.press("End")
    expect_section(page, "actions", "4 / 4")
    row = page.get_by_test_id("action-item").filter(has_text="Joint review")
    row.get_by_test_id("item-done").click()
    expect(row).to_have_attribute("data-status", "done")
    page.goto(f"/o/acme/huddle/{following}/#actions")
    expect_section(page, "actions", "4 / 4")
    expect(page.get_by_test_id("action-item")).to_have_count(1)


def test_full_screen_print_exports_and_last_weeks_frozen_huddle(page, live_server, acme):
    log_in(page, ADMIN)
    page.goto("/o/acme/huddle/")
    expect_section(page, "pipeline", "1 / 4")

    page.get_by_test_id("fullscreen").click()
    expect(page.get_by_test_id("fullscreen")).to_have_text("Exit full screen")
    assert page.evaluate("document.fullscreenElement && document.fullscreenElement.id") == "huddle"
    page.keyboard.press("ArrowRight")  # the keys still turn pages after the click
    expect_section(page, "feedback", "2 / 4")
    snap(page, "huddle-6-fullscreen")
    page.get_by_test_id("fullscreen").click()  # (Escape is the browser's own, not a page key)
    expect(page.get_by_test_id("fullscreen")).to_have_text("Full screen")
    assert page.evaluate("document.fullscreenElement") is None

    # The chart's PNG is made in the browser by plotly.js; its CSV by the server.
    chart = page.get_by_test_id("chart-feedback")
    with page.expect_download() as png:
        chart.get_by_test_id("png-feedback").click()
    assert png.value.suggested_filename == f"huddle-{acme.this_week}-feedback.png"
    assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as download:
        chart.get_by_test_id("csv-feedback").click()
    assert download.value.suggested_filename == f"huddle-{acme.this_week}-feedback.csv"
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["campaign", "ratings", "average_score", "rejections"]
    assert {row[0] for row in rows[1:]} <= {"Spring webinar", "Trade show", "No campaign"}

    # Print: every section, one after another, without the navigation.
    page.emulate_media(media="print")
    for name in ("pipeline", "feedback", "sla", "actions"):
        expect(page.get_by_test_id(f"section-{name}")).to_be_visible()
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.get_by_test_id("fullscreen")).to_be_hidden()
    snap(page, "huddle-7-print")
    page.emulate_media(media="screen")
    assert page.pdf()[:4] == b"%PDF"

    # Last week's huddle shows what the numbers were then.
    page.get_by_test_id("previous-week").click()
    expect(page).to_have_url(re.compile(rf"/o/acme/huddle/{acme.last_week}/$"))
    expect(page.get_by_test_id("figures-state")).to_contain_text("Frozen: the figures as they were")
    expect_section(page, "pipeline", "1 / 4")
    page.keyboard.press("End")
    expect(page.get_by_test_id("section-actions")).to_contain_text("This huddle's week is over")
    expect(page.get_by_test_id("item-add")).to_have_count(0)
    snap(page, "huddle-8-last-week")
    assert current_section(page) == "actions"

    # The history lists both weeks; an admin sets the target there.
    page.get_by_role("link", name="All huddles").click()
    history = page.get_by_test_id("huddle-history")
    expect(history).to_contain_text(f"Week of {acme.this_week:%a %-d %b %Y}")
    expect(history).to_contain_text(f"Week of {acme.last_week:%a %-d %b %Y}")
    settings = page.get_by_test_id("huddle-settings")
    settings.get_by_label("Monthly revenue target").fill("120000")
    settings.get_by_role("button", name="Save").click()
    expect(page.locator("ul.messages")).to_contain_text("Huddle settings saved")
    snap(page, "huddle-9-history")
