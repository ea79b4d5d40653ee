"""SLA settings as a RevOps admin meets them: give the office calendar a lunch break and
holidays (after one refused try), lengthen the follow-up target as a new version, and find the
version in the history; add a signed webhook and send it a test."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from playwright.sync_api import expect

from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization
from sla import services
from sla.models import BusinessCalendar, SlaKind, WebhookEndpoint
from tests.browser.test_leads_flow import nav, snap
from tests.browser.test_tenancy_flow import log_in

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.revops"  # Avery Admin, admin of both demo organizations
LUNCH_BREAK = "09:00-12:00, 13:00-17:00"


def test_admin_gives_the_calendar_a_lunch_break_and_lengthens_the_follow_up_target(
    page, live_server, demo
):
    log_in(page, ADMIN)
    expect(page).to_have_url(f"{live_server.url}/o/acme/")
    nav(page, "Settings")
    page.get_by_test_id("more-settings").get_by_role("link", name="Business calendars").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Business calendars")
    page.get_by_role("link", name="Edit: Business hours").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Business hours")
    expect(page.get_by_test_id("deadline-now")).to_contain_text("would be due")

    form = page.get_by_test_id("calendar-form")
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
        form.get_by_label(day, exact=True).fill(LUNCH_BREAK)
    # Choosing a country fetches its regions (htmx) and refreshes the preview.
    form.get_by_label("Public holidays of").select_option("US")
    expect(form.get_by_label("Region").locator("option", has_text="New York (NY)")).to_have_count(1)
    form.get_by_label("Region").select_option("NY")
    form.get_by_label("Other days off").fill("2026-12-24\n2026-13-01")
    form.get_by_role("button", name="Save calendar").click()
    expect(page.get_by_test_id("not-saved")).to_be_visible()
    expect(form).to_contain_text("Line 2: “2026-13-01” is not a date like 2026-12-24.")
    expect(form.get_by_label("Monday", exact=True)).to_have_value(LUNCH_BREAK)
    snap(page, "sla-settings-1-refused-calendar")

    form.get_by_label("Other days off").fill("2026-12-24")
    form.get_by_role("button", name="Preview").click()
    preview = page.get_by_test_id("calendar-preview")
    expect(preview.get_by_test_id("holiday-preview")).to_contain_text("Christmas Day")
    form.get_by_role("button", name="Save calendar").click()
    expect(page.locator("ul.messages")).to_contain_text("Calendar “Business hours” saved.")
    expect(page.get_by_test_id("calendar-form").get_by_label("Monday", exact=True)).to_have_value(
        LUNCH_BREAK
    )
    expect(page.get_by_test_id("holiday-preview")).to_contain_text("Day off (this calendar)")
    snap(page, "sla-settings-2-calendar-saved")

    # The follow-up SLA: two business hours instead of one, as version 2.
    page.get_by_role("navigation", name="SLA settings").get_by_role("link", name="Policies").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("SLA policies")
    current = page.get_by_test_id("current-follow_up")
    expect(current).to_contain_text("1 business hour")
    policy_form = page.get_by_test_id("policy-form-follow_up")
    expect(policy_form.get_by_label("Follow up within")).to_have_value("1h")
    policy_form.get_by_label("Follow up within").fill("2 hours")
    policy_form.get_by_label("What changed and why").fill("Lunch break; two hours to follow up")
    policy_form.get_by_label("Re-base running timers onto this version").check()
    policy_form.get_by_role("button", name="Save as version 2").click()
    expect(page.locator("ul.messages")).to_contain_text(
        "Sales follow-up saved as version 2. 0 running timers re-based onto it."
    )
    expect(current).to_contain_text("2 business hours")
    expect(current).to_contain_text("Version 2 (current)")
    latest = page.get_by_test_id("history-follow_up").locator("li").first
    expect(latest).to_contain_text("v2")
    expect(latest).to_contain_text("Avery Admin")
    expect(latest).to_contain_text("Lunch break; two hours to follow up")
    expect(latest).to_contain_text("Running timers re-based: 0")
    expect(page.get_by_test_id("policy-form-follow_up").get_by_role("button")).to_have_text(
        "Save as version 3"
    )
    page.get_by_test_id("policy-follow_up").scroll_into_view_if_needed()
    snap(page, "sla-settings-3-follow-up-version-2")

    acme = Organization.objects.get(slug="acme")
    with organization_scope(acme):
        calendar = BusinessCalendar.objects.get(name="Business hours")
        assert calendar.working_hours["0"] == [[540, 720], [780, 1020]]
        assert (calendar.holiday_country, calendar.holiday_subdivision) == ("US", "NY")
        policy = services.current_policies()[SlaKind.FOLLOW_UP]
        assert (policy.version, policy.target_minutes, policy.rebased_running) == (2, 120, True)


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # the http.server API's name
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    received: list = []
    server = HTTPServer(("127.0.0.1", 0), type("Receiver", (_Receiver,), {"received": received}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/sla", received
    server.shutdown()
    server.server_close()
    thread.join()


def test_admin_adds_a_signed_webhook_and_sends_it_a_test(page, live_server, demo, receiver):
    url, received = receiver
    log_in(page, ADMIN)
    page.goto("/o/acme/settings/sla/webhooks/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Outgoing webhooks")
    form = page.get_by_test_id("webhook-form")
    form.get_by_label("Name").fill("Data warehouse")
    form.get_by_label("URL").fill(url)
    form.get_by_label("Format").select_option("generic")
    form.get_by_label("At-risk warnings").uncheck()
    form.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("ul.messages")).to_contain_text("Endpoint “Data warehouse” added.")
    expect(page.get_by_test_id("new-secret")).to_contain_text("whsec_")

    row = page.get_by_test_id("webhooks").locator("tr", has_text="Data warehouse")
    expect(row.get_by_role("checkbox", name="At-risk warnings: Data warehouse")).not_to_be_checked()
    row.get_by_role("button", name="Send test: Data warehouse").click()
    expect(row.get_by_test_id("test-result")).to_have_text("Test delivered: HTTP 204")
    snap(page, "sla-settings-4-webhook-tested")
    # A switch posts on change; htmx swaps the row in place.
    row.get_by_role("checkbox", name="Breaches: Data warehouse").uncheck()
    expect(row.get_by_role("checkbox", name="Breaches: Data warehouse")).not_to_be_checked()
    expect(row.get_by_test_id("test-result")).to_have_count(0)  # the row was re-rendered
    snap(page, "sla-settings-5-webhook-switched")

    assert [payload["type"] for payload in received] == ["sla.test"]
    with organization_scope(Organization.objects.get(slug="acme")):
        endpoint = WebhookEndpoint.objects.get(name="Data warehouse")
        assert (endpoint.format, endpoint.on_warning, endpoint.on_breach) == (
            "generic",
            False,
            False,
        )


def test_a_viewer_reads_the_policies_and_a_calendar_without_forms(page, live_server, demo):
    log_in(page, "viewer@demo.revops")
    page.goto("/o/acme/settings/sla/")
    expect(page.get_by_test_id("current-follow_up")).to_contain_text("1 business hour")
    expect(page.get_by_text("Only RevOps admins change these settings.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Save as version"))).to_have_count(0)
    tabs = page.get_by_role("navigation", name="SLA settings")
    expect(tabs.get_by_role("link", name="Webhooks")).to_have_count(0)
    snap(page, "sla-settings-6-viewer-policies")
    tabs.get_by_role("link", name="Business calendars").click()
    page.get_by_role("link", name="View: Business hours").click()
    expect(page.get_by_test_id("calendar-facts")).to_contain_text("Mon\N{EN DASH}Fri 09:00-17:00")
    expect(page.get_by_test_id("deadline-now")).to_contain_text("would be due")
    expect(page.get_by_test_id("calendar-form")).to_have_count(0)
