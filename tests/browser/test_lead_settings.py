"""Lead routing & scoring as a RevOps admin meets it: add a scoring rule and an assignment rule
(after one refused try) and find both in their tables."""

import pytest
from playwright.sync_api import expect

from leads.models import AssignmentRule, SalesRep, ScoringRule
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, User
from tests.browser.test_leads_flow import nav, snap
from tests.browser.test_tenancy_flow import log_in

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.revops"  # Avery Admin, admin of both demo organizations
SALES = "sales@demo.revops"  # Sam Sales, sales in Acme


@pytest.fixture
def acme(demo):
    """Acme, with Sam as a rep (seed_demo may or may not have made him one)."""
    acme = Organization.objects.get(slug="acme")
    with organization_scope(acme):
        SalesRep.objects.get_or_create(user=User.objects.get(email=SALES))
    return acme


def test_admin_adds_a_scoring_rule_and_an_assignment_rule(page, live_server, acme):
    log_in(page, ADMIN)
    expect(page).to_have_url(f"{live_server.url}/o/acme/")
    nav(page, "Lead settings")
    expect(page).to_have_url(f"{live_server.url}/o/acme/settings/leads/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Lead routing & scoring")

    # A fit rule: leads in healthcare score 12 points more.
    fit = page.get_by_test_id("fit-rule-form")
    fit.get_by_label("Attribute").select_option("Industry")
    fit.get_by_label("Matches").fill("Healthcare")
    fit.get_by_label("Points").fill("12")
    fit.get_by_role("button", name="Add fit rule").click()
    expect(page.locator("ul.messages")).to_contain_text(
        "Scoring rule added. Open leads are being rescored in the background."
    )
    healthcare = page.get_by_test_id("fit-rules").locator("tr", has_text="Healthcare")
    expect(healthcare).to_contain_text("Industry")
    expect(healthcare).to_contain_text("+12")
    expect(healthcare).to_contain_text("Active")
    # Each row's repeated buttons say which row they act on.
    expect(
        healthcare.get_by_role("button", name="Deactivate: Industry Healthcare rule")
    ).to_be_visible()

    # An assignment rule, first with the sizes the wrong way round: refused, and said where.
    form = page.get_by_test_id("assignment-rule-form")
    form.get_by_label("Priority").fill("20")
    form.get_by_label("Industry").fill("Healthcare")
    form.get_by_label("Size from").fill("1000")
    form.get_by_label("Size up to").fill("50")
    form.get_by_label("Rep").select_option(label="Sam Sales")
    form.get_by_role("button", name="Add assignment rule").click()
    expect(page.get_by_test_id("not-saved")).to_contain_text("Assignment rules")
    expect(form).to_contain_text("The largest size must be at least the smallest.")
    expect(form.get_by_label("Industry")).to_have_value("Healthcare")
    form.get_by_label("Size from").scroll_into_view_if_needed()
    snap(page, "lead-settings-1-refused-assignment-rule")

    form.get_by_label("Size from").fill("50")
    form.get_by_label("Size up to").fill("1000")
    form.get_by_role("button", name="Add assignment rule").click()
    expect(page.locator("ul.messages")).to_contain_text("Assignment rule added.")
    rule = page.get_by_test_id("assignment-rules").locator("tr", has_text="Healthcare")
    expect(rule).to_contain_text("20")
    expect(rule).to_contain_text("50\N{EN DASH}1000")
    expect(rule).to_contain_text("Sam Sales")
    expect(page.get_by_test_id("not-saved")).to_have_count(0)

    with organization_scope(acme):
        assert ScoringRule.objects.filter(value="Healthcare", points=12, active=True).count() == 1
        assert AssignmentRule.objects.get(industry="Healthcare").rep.user.email == SALES
