"""Metric inputs as people meet them: marketing types in a day's spend, uploads a CSV with one
bad line, reads why it was refused, fixes it and imports it; an admin records a rep's salary and
the gross margin, recomputes the metrics and watches the run's status change without reloading
the page."""

from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from leads import services as lead_services
from metrics import services
from metrics.models import MarketingSpend, MetricRun, RunStatus
from metrics.tasks import metrics_snapshot
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, User
from tests.browser.test_leads_flow import nav, snap
from tests.browser.test_tenancy_flow import log_in

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.revops"  # Avery Admin, admin of both demo organizations
MARKETING = "marketing@demo.revops"  # Morgan Marketing, marketing in Acme

NOVEMBER = (
    "date,channel,amount,campaign,note\n"
    "2026-11-03,paid_search,1200.50,Winter webinar,Google Ads\n"
    "2026-11-04,social,abc,,LinkedIn\n"
    "2026-11-05,email,80,,Newsletter\n"
)


def csv_upload(text: str) -> dict:
    return {"name": "november.csv", "mimeType": "text/csv", "buffer": text.encode()}


@pytest.fixture
def acme(demo):
    organization = Organization.objects.get(slug="acme")
    with organization_scope(organization):
        lead_services.campaign_create(
            actor=User.objects.get(email=MARKETING), name="Winter webinar", channel="events"
        )
    return organization


def test_marketing_adds_spend_and_imports_a_csv_after_fixing_the_line_it_refused(page, acme):
    log_in(page, MARKETING)
    nav(page, "Spend & costs")
    expect(page.get_by_role("heading", level=1)).to_have_text("Marketing spend")
    spend_list = page.get_by_test_id("spend-list")
    expect(spend_list).to_contain_text("No spend recorded yet")

    form = page.get_by_test_id("spend-form")
    form.get_by_label("Date").fill("2026-11-02")
    form.get_by_label("Channel").select_option(label="Paid search")
    form.get_by_label("Amount (USD)").fill("450")
    form.get_by_label("Note").fill("Search ads, first week")
    form.get_by_role("button", name="Add spend").click()
    expect(page.locator("ul.messages")).to_contain_text(
        "Spend of 450.00 USD on 2 Nov 2026 (Paid search) added."
    )
    first = spend_list.locator("tbody tr").first
    expect(first).to_contain_text("Nov 2, 2026")
    expect(first).to_contain_text("450.00 USD")
    expect(first).to_contain_text("Search ads, first week")
    snap(page, "metrics-inputs-1-spend-added")

    # A file with one bad amount: the line and its reason, and nothing saved.
    upload = page.get_by_test_id("csv-form")
    upload.get_by_label("CSV file").set_input_files(csv_upload(NOVEMBER))
    upload.get_by_role("button", name="Import").click()
    errors = page.get_by_test_id("line-errors")
    expect(errors).to_contain_text("Nothing was imported from “november.csv”: 1 line to fix.")
    bad_line = errors.locator("tbody tr")
    expect(bad_line).to_have_count(1)
    expect(bad_line.locator("td").first).to_have_text("3")
    expect(bad_line.locator("td").nth(1)).to_have_text("amount: 'abc' is not an amount.")
    expect(bad_line.locator("td").nth(2)).to_have_text("2026-11-04,social,abc,,LinkedIn")
    expect(page.get_by_test_id("not-imported")).to_be_visible()
    expect(upload.get_by_label("CSV file")).to_be_focused()
    expect(page.get_by_test_id("spend-list").locator("tbody tr")).to_have_count(1)
    snap(page, "metrics-inputs-2-csv-refused")
    with organization_scope(acme):
        assert MarketingSpend.objects.count() == 1

    # The fixed file goes in whole.
    fixed = NOVEMBER.replace("social,abc", "social,300")
    upload = page.get_by_test_id("csv-form")
    upload.get_by_label("CSV file").set_input_files(csv_upload(fixed))
    upload.get_by_role("button", name="Import").click()
    expect(page.locator("ul.messages")).to_contain_text(
        "3 rows of spend imported from “november.csv”."
    )
    expect(page.get_by_test_id("line-errors")).to_have_count(0)
    rows = page.get_by_test_id("spend-list").locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text="Winter webinar")).to_contain_text("1,200.50 USD")
    expect(rows.filter(has_text="Nov 4, 2026")).to_contain_text("300.00 USD")
    snap(page, "metrics-inputs-3-csv-imported")
    with organization_scope(acme):
        amounts = sorted(MarketingSpend.objects.values_list("amount", flat=True))
    assert amounts == [Decimal("80"), Decimal("300"), Decimal("450"), Decimal("1200.50")]


def test_an_admin_records_cost_and_margin_then_recomputes_and_watches_the_run(page, acme):
    with organization_scope(acme):
        services.marketing_spend_record(spent_on="2026-11-03", channel="email", amount="80")
    log_in(page, ADMIN)
    nav(page, "Spend & costs")
    tabs = page.get_by_role("navigation", name="Metric inputs")

    tabs.get_by_role("link", name="Sales cost").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sales cost")
    form = page.get_by_test_id("cost-form")
    form.get_by_label("From").fill("2026-11-01")
    form.get_by_label("To (inclusive)").fill("2026-11-30")
    form.get_by_label("Category").select_option(label="Salary")
    form.get_by_label("Rep").select_option(label="Sam Sales")
    form.get_by_label("Amount (USD)").fill("6000")
    form.get_by_role("button", name="Add sales cost").click()
    expect(page.locator("ul.messages")).to_contain_text(
        "Salary of 6,000.00 USD for 1 Nov 2026 to 30 Nov 2026 added."
    )
    expect(page.get_by_test_id("cost-list").locator("tbody tr").first).to_contain_text("Sam Sales")
    snap(page, "metrics-inputs-4-sales-cost")

    tabs.get_by_role("link", name="Gross margin").click()
    page.get_by_label("Gross margin (%)").fill("72.5")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("current-margin")).to_have_text("Currently 72.5%")
    snap(page, "metrics-inputs-5-gross-margin")

    # A recompute asked for earlier, still in the queue (made here without queueing its task,
    # so no worker the test session may run can take it): the table says so and keeps asking.
    admin = User.objects.get(email=ADMIN)
    with organization_scope(acme):
        queued = MetricRun.objects.create(
            first_day=date(2026, 11, 1), last_day=date(2026, 11, 30), requested_by=admin
        )
    tabs.get_by_role("link", name="Recompute metrics").click()
    queued_row = page.locator(f"#run-{queued.pk}")
    expect(queued_row).to_contain_text("Waiting")

    form = page.get_by_test_id("recompute-form")
    form.get_by_label("From").fill("2026-10-01")
    form.get_by_label("To (inclusive)").fill("2026-10-31")
    form.get_by_role("button", name="Recompute metrics").click()
    expect(page.locator("ul.messages")).to_contain_text("Recomputing 1 Oct 2026 to 31 Oct 2026")
    requested = MetricRun.objects.for_organization(acme).exclude(pk=queued.pk).get()
    assert requested.requested_by == admin
    expect(page.locator(f"#run-{requested.pk}")).to_contain_text(
        "Oct 1, 2026 \N{EN DASH} Oct 31, 2026"
    )
    expect(queued_row).to_contain_text("Waiting")
    snap(page, "metrics-inputs-6-run-waiting")
    page.evaluate("window.stillTheSamePage = true")

    # The queued run's task, run here as the worker would: its row turns Done on its own.
    metrics_snapshot(acme.pk, "2026-11-01", "2026-11-30", queued.pk)
    queued.refresh_from_db()
    assert queued.status == RunStatus.DONE, queued.error
    assert queued.facts_written > 0  # the spend and the salary, at least
    expect(queued_row).to_contain_text("Done")
    expect(queued_row).to_contain_text(f"{queued.facts_written:,}")
    assert page.evaluate("window.stillTheSamePage") is True
    snap(page, "metrics-inputs-7-run-done")
