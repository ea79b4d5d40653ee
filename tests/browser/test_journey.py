"""The customer journey map as people meet it, on the seeded demo (180 days of leads moving
through the lifecycle, and the computed snapshot): the Sankey draws, a filter redraws it and
lands in the URL (and survives a reload), a custom range works, a bad filter in a shared link
says what is wrong, and the page prints without the navigation and the filter controls."""

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from metrics.compute import snapshot_replace
from metrics.models import MetricFact
from metrics.windows import windows_replace
from revops.tenancy.context import organization_scope
from revops.tenancy.demo import seed_demo
from revops.tenancy.models import Organization
from tests.browser.test_leads_flow import nav, snap
from tests.browser.test_tenancy_flow import log_in

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.revops"  # Avery Admin
MARKETING = "marketing@demo.revops"  # Morgan Marketing


@pytest.fixture
def demo_journey(demo):
    """The demo with its activity and the metrics snapshot of Acme."""
    seed_demo()  # metrics/demo.py computes the snapshot and the windows
    acme = Organization.objects.get(slug="acme")
    with organization_scope(acme):
        if not MetricFact.objects.exists():  # should seed_demo ever stop computing them
            yesterday = timezone.now().astimezone(ZoneInfo(acme.timezone)).date() - timedelta(
                days=1
            )
            snapshot_replace(yesterday - timedelta(days=180), yesterday)
            windows_replace([yesterday])
    return acme


def sankey(page):
    """The map once plotly.js has drawn it."""
    chart = page.get_by_test_id("journey-sankey")
    expect(chart).to_have_attribute("data-drawn", "true")
    expect(chart.locator(".sankey-node").first).to_be_visible()
    return chart


def node_labels(chart) -> list[str]:
    # SVG text has no innerText: read its textContent.
    return chart.locator(".sankey-node .node-label").evaluate_all(
        "labels => labels.map(label => label.textContent.trim())"
    )


def test_marketing_reads_filters_and_prints_the_journey(page, demo_journey):
    log_in(page, MARKETING)
    nav(page, "Journey")
    expect(page).to_have_url(re.compile(r"/o/acme/journey/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer journey")
    chart = sankey(page)
    labels = node_labels(chart)
    for stage in ("New", "MQL", "SQL", "Accepted", "Opportunity"):
        assert any(label.startswith(f"{stage} ") for label in labels), (stage, labels)
    assert any(label.startswith("Paid search ") for label in labels), labels
    all_new = int(chart.get_attribute("data-new-leads"))
    assert all_new > 0
    steps = page.get_by_test_id("journey-steps").locator("tbody tr")
    expect(steps).to_have_count(6)
    expect(steps.first).to_contain_text("New → MQL")
    expect(page.get_by_test_id("journey-reasons")).to_contain_text("Rejected by sales")
    expect(page.get_by_test_id("entry-pages")).to_contain_text("/lp/forecasting")
    snap(page, "journey-1-all-channels")

    # A filter: the URL says so, and the map is redrawn for paid search alone.
    page.get_by_label("Channel", exact=True).select_option(label="Paid search")
    expect(page).to_have_url(re.compile(r"\?range=30&channel=paid_search$"))
    expect(chart).not_to_have_attribute("data-new-leads", str(all_new))
    chart = sankey(page)
    paid_new = int(chart.get_attribute("data-new-leads"))
    assert 0 < paid_new < all_new
    channels = [label for label in node_labels(chart) if not label.startswith(
        ("New", "MQL", "SQL", "Accepted", "Opportunity", "Won", "Lost", "Nurture", "Rejected",
         "Disqualified", "Re-engaged"))]  # fmt: skip
    assert channels == [f"Paid search {paid_new}"]
    expect(page.get_by_test_id("journey-window")).to_contain_text("filtered by channel")
    snap(page, "journey-2-paid-search")
    page.reload()  # the view survives a reload
    expect(page.get_by_label("Channel", exact=True)).to_have_value("paid_search")
    expect(sankey(page)).to_have_attribute("data-new-leads", str(paid_new))

    # The last 365 days hold every lead of the demo's 180 days: more than the last 30.
    page.get_by_label("Range", exact=True).select_option(label="Last 365 days")
    expect(page).to_have_url(re.compile(r"\?range=365&channel=paid_search$"))
    expect(chart).not_to_have_attribute("data-new-leads", str(paid_new))
    assert int(sankey(page).get_attribute("data-new-leads")) > paid_new

    # Custom dates start from the range shown; the last week of every channel has fewer new
    # leads than the last 30 days.
    page.get_by_label("Channel", exact=True).select_option(label="All channels")
    expect(page).to_have_url(re.compile(r"\?range=365$"))
    page.get_by_label("Range", exact=True).select_option(label="Custom dates")
    expect(page.get_by_label("From", exact=True)).to_be_visible()
    end = date.fromisoformat(page.get_by_label("To", exact=True).input_value())
    first = end - timedelta(days=6)
    page.get_by_label("From", exact=True).fill(first.isoformat())
    expect(page).to_have_url(re.compile(rf"\?range=custom&start={first}&end={end}$"))
    expect(page.get_by_test_id("journey-window")).to_contain_text(
        f"from {first:%a} {first.day} {first:%b %Y} to {end:%a} {end.day} {end:%b %Y}"
    )
    assert 0 < int(sankey(page).get_attribute("data-new-leads")) < all_new
    snap(page, "journey-3-custom-week")

    # On a projector (1024 px wide) and on paper: no navigation or filter controls on paper.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.reload()
    chart = sankey(page)
    card = page.locator(".card", has=chart)
    assert chart.bounding_box()["width"] <= card.bounding_box()["width"]
    snap(page, "journey-5-projector")
    page.emulate_media(media="print")
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.get_by_test_id("journey-filters")).to_be_hidden()
    expect(page.get_by_test_id("journey-window")).to_contain_text(f"to {end:%a} {end.day}")
    expect(page.get_by_test_id("journey-sankey").locator(".sankey-node").first).to_be_visible()
    steps = page.get_by_test_id("journey-steps")
    expect(steps).to_be_visible()
    # The map keeps its height on paper: the table starts below it, not under it.
    assert steps.bounding_box()["y"] >= chart.bounding_box()["y"] + chart.bounding_box()["height"]
    snap(page, "journey-6-print")


def test_a_bad_filter_in_a_link_says_what_is_wrong_and_an_empty_map_gives_guidance(page, demo):
    # The demo's people without its activity: Acme has no metrics yet.
    log_in(page, ADMIN)
    page.goto("/o/acme/journey/?range=custom&start=2026-02-10&end=2026-02-01&channel=fax")
    errors = page.get_by_test_id("filter-errors")
    expect(errors).to_contain_text("Channel: “fax” is not a channel")
    expect(errors).to_contain_text("To: The To date is before the From date.")
    expect(page.get_by_test_id("journey-sankey")).to_have_count(0)
    snap(page, "journey-4-bad-filter")
    page.get_by_role("link", name="start again from the last 30 days").click()
    expect(page).to_have_url(re.compile(r"/o/acme/journey/$"))
    empty = page.get_by_test_id("journey-empty")
    expect(empty).to_contain_text("No journey to map yet")
    expect(empty.get_by_role("link", name="recompute the metrics")).to_be_visible()
    expect(page.get_by_test_id("journey-sankey")).to_have_count(0)
