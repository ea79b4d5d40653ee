"""The hand-off as people meet it: marketing qualifies, sales works the queue and rates the lead,
marketing reads the rating in its inbox."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from leads import services
from leads.models import SalesRep, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, User
from tests.browser.conftest import SCREENSHOTS, TIMEOUT_MS
from tests.browser.test_tenancy_flow import log_in

pytestmark = pytest.mark.browser

MARKETING = "marketing@demo.revops"  # Morgan Marketing, marketing in Acme
SALES = "sales@demo.revops"  # Sam Sales, sales in Acme


@pytest.fixture
def acme_leads(demo):
    """A lead that meets the policy and one that does not, and Sam as the rep who gets the next
    SQL. seed_demo may or may not make reps and leads of its own; either way works."""
    acme = Organization.objects.get(slug="acme")
    marketing = User.objects.get(email=MARKETING)
    sam = User.objects.get(email=SALES)
    with organization_scope(acme):
        services.reasons_ensure_defaults()
        SalesRep.objects.update_or_create(
            user=sam, defaults={"accepting_leads": True, "capacity": None}
        )
        SalesRep.objects.exclude(user=sam).update(accepting_leads=False)
        policy = services.policy_ensure()
        weak = services.lead_create(
            actor=marketing, full_name="Wendy Weak", email="wendy@tiny.test",
            company_name="Tiny Shop", source="social", budget_amount=Decimal(500),
        )  # fmt: skip
        services.lead_mark_mql(lead=weak, actor=marketing)  # misses BANT: stays an MQL
        lead = services.lead_create(
            actor=marketing, full_name="Quinn Qualified", email="quinn@northwind.test",
            title="VP Revenue", company_name="Northwind Traders", source="events",
            budget_amount=policy.budget_minimum * 4, authority_role=policy.authority_roles[0],
            needs=policy.needs[:1], timeline_days=min(45, policy.timeline_max_days),
        )  # fmt: skip
    assert (weak.stage, lead.stage) == (Stage.MQL, Stage.NEW)
    return lead


def snap(page, name: str) -> None:
    """A screenshot of an intermediate step (the fixture keeps the last one)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def nav(page, name: str) -> None:
    page.get_by_role("navigation", name="Organization").get_by_role(
        "link", name=name, exact=True
    ).click()


def test_marketing_qualifies_sales_rates_and_marketing_reads_the_rating(
    page, browser, live_server, acme_leads
):
    lead = acme_leads
    # Marketing opens the lead that meets BANT and marks it as an MQL.
    log_in(page, MARKETING)
    expect(page).to_have_url(f"{live_server.url}/o/acme/")
    nav(page, "Leads")
    expect(page.get_by_test_id("lead-list")).to_contain_text("Wendy Weak")
    page.get_by_role("link", name="Quinn Qualified").click()
    expect(page).to_have_url(f"{live_server.url}/o/acme/leads/{lead.pk}/")
    expect(page.get_by_test_id("stage")).to_have_text("New")
    bant = page.get_by_test_id("bant")
    expect(bant.locator("li.holds")).to_have_count(4)
    expect(bant).to_contain_text("meets the policy")
    snap(page, "leads-1-marketing-lead-before-mql")

    page.get_by_role("button", name="Mark as MQL").click()
    expect(page.locator("ul.messages")).to_contain_text(
        "Marked as MQL. It meets the policy: handed to sales, owned by Sam Sales."
    )
    expect(page.get_by_test_id("stage")).to_have_text("SQL")
    expect(page.get_by_test_id("owner")).to_have_text("Sam Sales")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Morgan Marketing")
    expect(timeline).to_contain_text("Assigned to Sam Sales")
    expect(timeline).to_contain_text("policy v1")
    snap(page, "leads-2-marketing-lead-after-mql")

    # Sales, in a browser of their own, works the queue.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    sales = context.new_page()
    errors = []
    sales.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log_in(sales, SALES)
        expect(sales).to_have_url(f"{live_server.url}/o/acme/")
        nav(sales, "Queue")
        expect(sales).to_have_url(f"{live_server.url}/o/acme/queue/")
        item = sales.get_by_test_id("queue-item").filter(has_text="Quinn Qualified")
        expect(item).to_have_count(1)
        expect(item.get_by_test_id("waiting")).to_have_text(
            re.compile(r"^(just now|\d+\s+minutes? ago)$")
        )
        expect(item).to_contain_text("not touched yet")

        item.get_by_label("Touch kind for Quinn Qualified").select_option("Call")
        item.get_by_label("Touch note for Quinn Qualified").fill("Left a voicemail")
        item.get_by_role("button", name="Log touch").click()
        expect(sales.locator("ul.messages")).to_contain_text("Call logged for Quinn Qualified.")
        expect(item).to_contain_text("touched")
        expect(item).not_to_contain_text("not touched yet")

        # The rating goes out with htmx: no navigation, so the page's own state survives.
        queue_url = sales.url
        sales.evaluate("window.__noReload = 'still here'")
        rating = item.get_by_test_id("rating")
        rating.get_by_label("Wrong persona").check()
        snap(sales, "leads-3-sales-queue-before-rating")
        rating.get_by_role("button", name="Rate 2 stars").click()
        expect(item.get_by_role("status")).to_have_text("Thanks — rated 2★ · Wrong persona")
        assert sales.url == queue_url
        assert sales.evaluate("window.__noReload") == "still here"
        snap(sales, "leads-4-sales-queue-after-rating")
    finally:
        context.close()
    assert not errors, errors

    # Marketing finds the rating in its inbox.
    nav(page, "Feedback")
    expect(page).to_have_url(f"{live_server.url}/o/acme/feedback/")
    page.get_by_label("Status").select_option("Open")
    page.get_by_label("Tag").select_option("Wrong persona")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"status=open.*tag=Wrong\+persona"))
    feedback = page.get_by_test_id("feedback-item").filter(has_text="Quinn Qualified")
    expect(feedback).to_have_count(1)
    expect(feedback.get_by_test_id("stars")).to_have_text("★★☆☆☆")
    expect(feedback.get_by_test_id("stars")).to_have_attribute("aria-label", "2 of 5 stars")
    expect(feedback).to_contain_text("Wrong persona")
    expect(feedback).to_contain_text("by Sam Sales")
    expect(feedback).to_contain_text("Open")


def test_admin_filters_assigns_creates_a_campaign_and_previews_a_policy_change(
    page, live_server, acme_leads
):
    log_in(page, "admin@demo.revops")
    expect(page).to_have_url(f"{live_server.url}/o/acme/")
    nav(page, "Leads")
    page.get_by_label("Search").fill("Wendy Weak")
    page.get_by_label("Stage", exact=True).select_option("MQL")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/o/acme/leads/\?q=Wendy\+Weak&stage=mql"))
    rows = page.get_by_test_id("lead-list").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Wendy Weak")

    # Bulk assign keeps the filtered list the admin was looking at.
    page.get_by_label("Select Wendy Weak").check()
    page.get_by_label("Assign ticked leads to").select_option(label="Sam Sales")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator("ul.messages")).to_contain_text("1 lead assigned to Sam Sales.")
    expect(page).to_have_url(re.compile(r"stage=mql"))
    expect(rows.filter(has_text="Wendy Weak")).to_contain_text("Sam Sales")
    snap(page, "leads-5-admin-lead-list")

    nav(page, "Campaigns")
    page.get_by_label("Name").fill("Spring webinar")
    page.get_by_label("Channel").select_option("Events")
    page.get_by_label("Budget (USD)").fill("5000")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("ul.messages")).to_contain_text("Campaign 'Spring webinar' created.")
    campaign = (
        page.get_by_test_id("campaign-list").locator("tbody tr").filter(has_text="Spring webinar")
    )
    expect(campaign).to_contain_text("Events")
    expect(campaign).to_contain_text("5,000 USD")
    snap(page, "leads-6-admin-campaigns")

    # The preview answers in place (htmx) and saves nothing.
    nav(page, "Qualification")
    expect(page.get_by_test_id("would-qualify")).to_have_text(
        re.compile(r"^Would qualify \d+ current MQLs?\.$")
    )
    history = page.get_by_test_id("policy-history").locator("tbody tr")
    versions = history.count()
    page.evaluate("window.__noReload = 'still here'")
    page.get_by_label("Budget at least").fill("100")
    page.get_by_label("Criteria required").select_option("1 of 4")
    page.get_by_role("button", name="Preview impact").click()
    # Wendy (budget 500, an MQL) meets a budget of 100 with one criterion required.
    expect(page.get_by_test_id("policy-preview")).to_contain_text(
        re.compile(r"This draft would qualify [1-9]\d* current MQLs?")
    )
    assert page.evaluate("window.__noReload") == "still here"
    expect(page.get_by_label("Budget at least")).to_have_value("100")
    expect(history).to_have_count(versions)
