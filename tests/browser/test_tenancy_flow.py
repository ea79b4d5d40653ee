"""The tenancy core as a person meets it: log in, switch organization, manage API tokens."""

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from revops.tenancy import throttle
from revops.tenancy.demo import DEMO_PASSWORD
from revops.tenancy.models import ApiToken

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.revops"  # admin of both demo organizations
GLOBEX_ONLY = "marketing@globex.demo.revops"  # member of Globex Europe, not of Acme Analytics


def log_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Fill in and submit the real login form."""
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def switch_organization(page, name: str) -> None:
    page.get_by_test_id("org-switcher").click()
    page.locator("details.switcher").get_by_role("link", name=re.compile(f"^{name}")).click()
    # Wait for the new page: the old one has the same nav links, pointing at the old organization.
    expect(page.get_by_test_id("org-switcher")).to_have_text(name)


def open_api_tokens(page) -> None:
    nav = page.get_by_role("navigation", name="Organization")
    nav.get_by_role("link", name="API tokens", exact=True).click()


def create_token(page, name: str) -> str:
    """Create a token on the API tokens page; returns the secret the page shows once."""
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("new-token")
    expect(secret).to_be_visible()
    return secret.inner_text().strip()


def token_row(page, name: str):
    return page.get_by_test_id("token-list").get_by_role("row").filter(has_text=name)


def revoke_token(page, name: str) -> list[str]:
    """Click Revoke and accept the confirmation; returns the dialog messages seen."""
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    token_row(page, name).get_by_role("button", name="Revoke").click()
    expect(token_row(page, name)).to_contain_text("revoked")
    page.remove_listener("dialog", accept)
    return dialogs


def api_get(url: str, secret: str, **headers: str) -> tuple[int, dict]:
    """GET with the bearer token and no cookie, so no session can help."""
    headers["Authorization"] = f"Bearer {secret}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (the live server's URL)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_admin_logs_in_switches_organization_and_creates_then_revokes_a_token(page, live_server):
    log_in(page, ADMIN)
    # Home sends a user without a last-used organization to their first one by slug.
    expect(page).to_have_url(f"{live_server.url}/o/acme/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Analytics")
    expect(page.get_by_test_id("org-switcher")).to_have_text("Acme Analytics")

    switch_organization(page, "Globex Europe")
    expect(page).to_have_url(f"{live_server.url}/o/globex/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Globex Europe")
    expect(page.get_by_test_id("org-switcher")).to_have_text("Globex Europe")

    open_api_tokens(page)
    expect(page).to_have_url(f"{live_server.url}/o/globex/settings/tokens/")
    expect(page.get_by_test_id("token-list")).to_contain_text("No tokens yet.")

    secret = create_token(page, "HubSpot sync")
    assert secret.startswith(ApiToken.PREFIX)
    row = token_row(page, "HubSpot sync")
    expect(row).to_have_count(1)
    # The list shows only the hint, never the secret itself.
    expect(row).to_contain_text(secret[: len(ApiToken.PREFIX) + 6])
    expect(page.get_by_test_id("token-list")).not_to_contain_text(secret)
    expect(row).to_contain_text("Avery Admin")
    expect(row).to_contain_text("never")

    dialogs = revoke_token(page, "HubSpot sync")
    assert len(dialogs) == 1
    assert "Revoke 'HubSpot sync'?" in dialogs[0]
    expect(row).to_have_class(re.compile(r"\brevoked\b"))
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    # htmx swapped the row in place: the page did not reload, so the one-time secret is still
    # on screen (the no-JS fallback would have redirected and dropped it).
    expect(page.get_by_test_id("new-token")).to_have_text(secret)


def test_a_wrong_password_shows_the_error_and_keeps_the_user_on_the_login_page(page, live_server):
    # Failures are counted in the shared cache, which outlives the test database; start from zero
    # so repeated runs never meet the "too many attempts" answer instead.
    for address in ("127.0.0.1", "::1"):
        throttle.login_failures_clear(email=ADMIN, client_address=address)

    log_in(page, ADMIN, password="not-the-password")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("alert")).to_contain_text(
        re.compile(r"enter a correct .+ and password")
    )
    expect(page.get_by_label("Email")).to_have_value(ADMIN)
    expect(page.get_by_test_id("org-switcher")).to_have_count(0)


CSRF_MASK = re.compile(r'"X-CSRFToken": "[^"]+"|name="csrfmiddlewaretoken" value="[^"]+"')


def test_a_non_member_typing_another_organizations_url_gets_the_404_page(page, live_server):
    log_in(page, GLOBEX_ONLY)
    expect(page).to_have_url(f"{live_server.url}/o/globex/")

    unknown = page.goto("/o/no-such-organization/")
    assert unknown.status == 404
    unknown_page = unknown.text()  # readable only until the next navigation

    response = page.goto("/o/acme/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    # The layout stays, with the way back to the visitor's own organization.
    expect(page.get_by_role("link", name="Back to your organization")).to_be_visible()
    # Nothing tells the visitor that Acme exists: an unknown slug gets the very same page
    # (but for the per-response CSRF mask).
    expect(page.locator("body")).not_to_contain_text("Acme")
    assert CSRF_MASK.sub("", response.text()) == CSRF_MASK.sub("", unknown_page)


def test_a_token_created_in_the_browser_authenticates_api_calls_until_revoked(page, live_server):
    log_in(page, ADMIN)
    expect(page).to_have_url(f"{live_server.url}/o/acme/")
    switch_organization(page, "Globex Europe")
    open_api_tokens(page)
    secret = create_token(page, "Warehouse export")

    status, body = api_get(f"{live_server.url}/api/v1/me/", secret)
    assert status == 200, body
    # The token decides the organization: the one it was created in.
    assert body["organization"]["slug"] == "globex"
    assert body["user"]["email"] == ADMIN
    assert body["role"] == "admin"
    # Naming another organization of the same person changes nothing: the token decides.
    status, body = api_get(f"{live_server.url}/api/v1/me/", secret, **{"X-Organization": "acme"})
    assert status == 200, body
    assert body["organization"]["slug"] == "globex"

    # A fresh GET (a reload would re-send the creating POST).
    page.goto("/o/globex/settings/tokens/")
    expect(token_row(page, "Warehouse export")).not_to_contain_text("never")

    revoke_token(page, "Warehouse export")
    status, body = api_get(f"{live_server.url}/api/v1/me/", secret)
    assert status == 401, body
