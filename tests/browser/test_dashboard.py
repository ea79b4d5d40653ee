"""The dashboard as people meet it, on the seeded demo (180 days of leads, spend, costs and the
computed snapshot): every chart draws with real data, a filter changes the charts and the URL
(and survives a reload), a click on a funnel stage or a tile opens the matching lead list, and
a sales rep finds their queue first. One story, as seeding the demo takes a while."""

import re

import pytest
from playwright.sync_api import expect

from metrics.dashboard import ORDER
from revops.tenancy.demo import seed_demo
from revops.tenancy.models import Role
from tests.browser.test_leads_flow import snap
from tests.browser.test_tenancy_flow import log_in

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.revops"  # Avery Admin
SALES = "sales@demo.revops"  # Sam Sales, a rep in Acme
CHARTS = ["funnel", "mql-sql", "sla", "velocity", "cpa", "quality-channel", "quality-campaign",
          "win-rate"]  # fmt: skip
# One channel's weeks can lack closed deals (no velocity that week): these always have data.
PAID_SEARCH_CHARTS = ["funnel", "mql-sql", "quality-channel", "quality-campaign"]


@pytest.fixture
def demo_board(demo):
    """The demo with its activity and the metrics snapshot (metrics/demo.py computes it)."""
    seed_demo()


def drawn(page, required=CHARTS) -> None:
    """Every chart block drawn by plotly.js or saying why it has no data; the required ones
    drawn."""
    for key in CHARTS:
        block = page.get_by_test_id(f"dash-block-{key}")
        expect(block.locator(f"[data-testid=chart-{key}][data-drawn=true], "
                             f"[data-testid=chart-empty-{key}]")).to_have_count(1)  # fmt: skip
    for key in required:
        chart = page.get_by_test_id(f"chart-{key}")
        expect(chart).to_have_attribute("data-drawn", "true")
        expect(chart.locator("svg.main-svg").first).to_be_visible()


def tile_number(page, key: str) -> float:
    text = page.get_by_test_id(f"tile-{key}").get_by_test_id("tile-value").inner_text()
    return float(re.sub(r"[^0-9.]", "", text))


def click_point(page, chart_key: str, index: int) -> None:
    """Hover then click a bar as a person would: plotly reads the click from its hover layer."""
    chart = page.get_by_test_id(f"chart-{chart_key}")
    expect(chart).to_have_attribute("data-drawn", "true")  # drawn, and listening for clicks
    point = chart.locator(".point").nth(index).locator("path").first  # the bar, not its label
    point.scroll_into_view_if_needed()  # the mouse clicks within the viewport
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_admin_filters_the_board_and_drills_into_leads_then_a_rep_sees_their_queue(
    page, demo_board
):
    log_in(page, ADMIN)
    expect(page).to_have_url(re.compile(r"/o/acme/$"))
    expect(page.get_by_test_id("dash-window")).to_contain_text("30 days")
    drawn(page)
    for key in ("velocity", "cpa_fully_loaded", "clv", "ltv_to_cac", "mqls", "sqls",
                "mql_to_sql", "sql_acceptance", "win_rate", "sales_cycle_days",
                "response_p50_hours", "sla_compliance", "quality_score"):  # fmt: skip
        expect(page.get_by_test_id(f"tile-{key}")).to_be_visible()
    expect(page.get_by_test_id("tile-mqls").get_by_test_id("tile-change")).to_contain_text(
        "vs previous"
    )
    all_mqls = tile_number(page, "mqls")
    assert all_mqls > 0
    snap(page, "dashboard-1-admin")
    # On paper: no navigation or filters, charts kept whole.
    page.emulate_media(media="print")
    expect(page.get_by_test_id("dash-filters")).to_be_hidden()
    expect(page.locator("header.topbar")).to_be_hidden()
    snap(page, "dashboard-1-admin-print")
    page.emulate_media(media="screen")

    # A filter: the URL changes, every chart redraws for paid search only.
    page.get_by_label("Channel", exact=True).select_option(label="Paid search")
    expect(page).to_have_url(re.compile(r"\?.*channel=paid_search"))
    assert "start=" not in page.url and "campaign=" not in page.url  # only the filters in use
    drawn(page, required=PAID_SEARCH_CHARTS)
    assert 0 < tile_number(page, "mqls") < all_mqls
    quality = page.get_by_test_id("chart-quality-channel")
    expect(quality.locator(".xtick")).to_have_count(1)
    expect(quality.locator(".xtick")).to_have_text("Paid search")
    page.reload()  # the view survives a reload
    expect(page.get_by_label("Channel", exact=True)).to_have_value("paid_search")
    drawn(page, required=PAID_SEARCH_CHARTS)
    snap(page, "dashboard-2-paid-search")

    # A custom range: the dates appear only for it, and go into the URL.
    page.get_by_label("Range", exact=True).select_option("custom")
    expect(page.get_by_label("From", exact=True)).to_be_visible()
    page.get_by_label("From", exact=True).fill("2020-01-01")
    page.get_by_label("To", exact=True).fill("2019-01-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("filter-error")).to_have_text("The To date is before the From date.")
    page.goto("/o/acme/?channel=paid_search")

    # The funnel's SQL stage opens the paid-search leads that became SQL in the range.
    sqls = (
        page.get_by_test_id("funnel-table")
        .locator("tr")
        .filter(has=page.get_by_test_id("funnel-link-sql"))
    )
    expected = int(sqls.locator("td").first.inner_text().replace(",", ""))
    click_point(page, "funnel", 2)
    expect(page).to_have_url(re.compile(r"/o/acme/leads/\?source=paid_search&since=.*&reached=sql"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Leads")
    expect(page.get_by_label("Reached stage")).to_have_value("sql")
    expect(page.get_by_label("Source", exact=True)).to_have_value("paid_search")
    count = int(re.search(r"(\d+) leads?", page.locator(".list-head").inner_text())[1])
    # A lead that reached SQL twice (recycled) counts twice in the funnel, once in the list.
    assert 0 < count <= expected
    # The source column (the seventh, after the tick box).
    sources = page.get_by_test_id("lead-list").locator("tbody tr td:nth-child(7)")
    assert set(sources.all_inner_texts()) == {"Paid search"}
    snap(page, "dashboard-3-drill-down")

    # Back on the board, a tile opens its leads too.
    page.go_back()
    drawn(page, required=PAID_SEARCH_CHARTS)
    mqls = tile_number(page, "mqls")
    page.get_by_test_id("tile-mqls").click()
    expect(page).to_have_url(re.compile(r"/leads/\?source=paid_search&.*reached=mql"))
    listed = int(re.search(r"(\d+) leads?", page.locator(".list-head").inner_text())[1])
    assert 0 < listed <= mqls

    # A sales rep signs in: their queue and SLA standing come first.
    page.get_by_role("button", name="Log out").click()
    log_in(page, SALES)
    board = page.get_by_test_id("dashboard")
    blocks = board.locator("[data-testid^=dash-block-]")
    expect(blocks.first).to_have_attribute("data-testid", "dash-block-rep")
    order = [b.get_attribute("data-testid").removeprefix("dash-block-") for b in blocks.all()]
    assert order == ORDER[Role.SALES].split()
    expect(page.get_by_test_id("rep-compliance")).to_have_text(re.compile(r"\d+(\.\d)?%"))
    open_sqls = int(page.get_by_test_id("rep-open-sqls").inner_text())
    drawn(page)
    snap(page, "dashboard-4-sales")
    page.get_by_test_id("rep-queue-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My queue")
    expect(page.get_by_test_id("queue-item")).to_have_count(min(open_sqls, 50))
