"""Browser pages: the organization comes from the URL and must be one of the user's."""

import re

from django.core import mail
from django.test import Client

from revops.tenancy import services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import ApiToken, Invitation, Membership, Role, User
from tests.base import PASSWORD, TwoOrganizationsTestCase

A_PAGES = [
    "/o/acme-test/",
    "/o/acme-test/members/",
    "/o/acme-test/settings/",
    "/o/acme-test/settings/tokens/",
]


class PageAccessTests(TwoOrganizationsTestCase):
    def test_anonymous_is_sent_to_the_login_page(self):
        for url in ["/", *A_PAGES]:
            response = Client().get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/?next="), url

    def test_a_member_of_another_organization_gets_404_everywhere(self):
        client = self.browser_as(self.charlie)
        bob_membership = Membership.objects.for_organization(self.org_a).get(user=self.bob)
        posts = [
            f"/o/acme-test/members/{bob_membership.pk}/role/",
            f"/o/acme-test/members/{bob_membership.pk}/remove/",
            "/o/acme-test/settings/",
            "/o/acme-test/settings/tokens/",
            "/o/acme-test/members/",
        ]
        for url in A_PAGES:
            assert client.get(url).status_code == 404, url
        for url in posts:
            assert client.post(url, {"role": "viewer", "name": "x"}).status_code == 404, url
        assert Membership.objects.for_organization(self.org_a).get(user=self.bob).role == "sales"

    def test_an_unknown_organization_looks_like_a_forbidden_one(self):
        client = self.browser_as(self.charlie)
        assert client.get("/o/no-such-org/").status_code == 404

    def test_an_admin_reaches_every_page(self):
        client = self.browser_as(self.alice)
        for url in A_PAGES:
            assert client.get(url).status_code == 200, url

    def test_a_viewer_reads_but_cannot_write(self):
        client = self.browser_as(self.vera)
        assert client.get("/o/acme-test/").status_code == 200
        assert client.get("/o/acme-test/members/").status_code == 200
        bob_membership = Membership.objects.for_organization(self.org_a).get(user=self.bob)
        writes = [
            ("/o/acme-test/settings/", {"name": "Hacked", "timezone": "UTC", "currency": "USD"}),
            ("/o/acme-test/members/", {"email": "x@a.test", "role": "admin"}),
            (f"/o/acme-test/members/{bob_membership.pk}/role/", {"role": "admin"}),
            ("/o/acme-test/settings/tokens/", {"name": "x", "user": self.vera.pk}),
        ]
        for url, data in writes:
            assert client.post(url, data).status_code == 403, url
        assert client.get("/o/acme-test/settings/tokens/").status_code == 403
        self.org_a.refresh_from_db()
        assert self.org_a.name == "Acme Test"

    def test_a_sales_rep_cannot_manage_tokens_or_settings(self):
        client = self.browser_as(self.bob)
        assert client.get("/o/acme-test/settings/tokens/").status_code == 403
        assert client.post("/o/acme-test/settings/", {"name": "X"}).status_code == 403

    def test_home_sends_the_user_to_their_organization(self):
        response = self.browser_as(self.charlie).get("/")
        assert response["Location"] == "/o/globex-test/"


class SwitcherTests(TwoOrganizationsTestCase):
    def test_the_header_lists_every_organization_of_the_user(self):
        with organization_scope(self.org_b):
            services.membership_add(user=self.alice, role=Role.VIEWER)
        page = self.browser_as(self.alice).get("/o/acme-test/").content.decode()
        assert 'href="/o/acme-test/"' in page and 'href="/o/globex-test/"' in page
        page_b = self.client.get("/o/globex-test/").content.decode()
        assert "Globex Test" in page_b
        # In globex alice is a viewer: no admin links there.
        assert "/o/globex-test/settings/tokens/" not in page_b


class SettingsPageTests(TwoOrganizationsTestCase):
    def test_an_admin_saves_settings(self):
        response = self.browser_as(self.alice).post(
            "/o/acme-test/settings/",
            {"name": "Acme Inc", "timezone": "Asia/Tokyo", "currency": "JPY"},
        )
        assert response.status_code == 302
        self.org_a.refresh_from_db()
        assert (self.org_a.name, self.org_a.timezone, self.org_a.currency) == (
            "Acme Inc",
            "Asia/Tokyo",
            "JPY",
        )

    def test_a_bad_time_zone_is_shown_on_the_form(self):
        response = self.browser_as(self.alice).post(
            "/o/acme-test/settings/", {"name": "Acme", "timezone": "Mars/Base", "currency": "USD"}
        )
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()

    def test_forms_need_the_csrf_token(self):
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.alice)
        response = client.post(
            "/o/acme-test/settings/", {"name": "X", "timezone": "UTC", "currency": "USD"}
        )
        assert response.status_code == 403


class TokenPageTests(TwoOrganizationsTestCase):
    def test_the_secret_is_shown_once_and_the_token_listed(self):
        client = self.browser_as(self.alice)
        response = client.post(
            "/o/acme-test/settings/tokens/", {"name": "HubSpot", "user": self.bob.pk}, follow=True
        )
        assert response.redirect_chain == [("/o/acme-test/settings/tokens/", 302)]
        page = response.content.decode()
        token = ApiToken.objects.for_organization(self.org_a).get()
        assert token.user == self.bob and token.name == "HubSpot"
        assert 'data-testid="new-token"' in page and "rvh_" in page
        again = client.get("/o/acme-test/settings/tokens/").content.decode()
        assert "HubSpot" in again and 'data-testid="new-token"' not in again

    def test_revoking_with_htmx_returns_the_updated_row(self):
        with organization_scope(self.org_a):
            token, _ = services.api_token_create(user=self.bob, name="x", created_by=self.alice)
        response = self.browser_as(self.alice).post(
            f"/o/acme-test/settings/tokens/{token.pk}/revoke/", HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        assert f'id="token-{token.pk}"' in response.content.decode()
        assert "revoked" in response.content.decode()
        token.refresh_from_db()
        assert token.revoked_at is not None

    def test_another_organizations_token_cannot_be_revoked(self):
        with organization_scope(self.org_b):
            token, _ = services.api_token_create(
                user=self.charlie, name="x", created_by=self.charlie
            )
        response = self.browser_as(self.alice).post(
            f"/o/acme-test/settings/tokens/{token.pk}/revoke/"
        )
        assert response.status_code == 404
        token.refresh_from_db()
        assert token.revoked_at is None

    def test_a_token_cannot_be_made_for_a_non_member(self):
        response = self.browser_as(self.alice).post(
            "/o/acme-test/settings/tokens/", {"name": "x", "user": self.charlie.pk}
        )
        assert response.status_code == 200
        assert not ApiToken.objects.unscoped().exists()


class MembersPageTests(TwoOrganizationsTestCase):
    def test_an_admin_changes_a_role_inline(self):
        membership = Membership.objects.for_organization(self.org_a).get(user=self.bob)
        response = self.browser_as(self.alice).post(
            f"/o/acme-test/members/{membership.pk}/role/",
            {"role": "marketing"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        assert f'id="member-{membership.pk}"' in response.content.decode()
        membership.refresh_from_db()
        assert membership.role == "marketing"

    def test_demoting_the_last_admin_shows_why(self):
        membership = Membership.objects.for_organization(self.org_b).get(user=self.charlie)
        response = self.browser_as(self.charlie).post(
            f"/o/globex-test/members/{membership.pk}/role/",
            {"role": "sales"},
            HTTP_HX_REQUEST="true",
        )
        assert "at least one RevOps admin" in response.content.decode()
        membership.refresh_from_db()
        assert membership.role == "admin"

    def test_an_admin_removes_a_member(self):
        membership = Membership.objects.for_organization(self.org_a).get(user=self.vera)
        self.browser_as(self.alice).post(f"/o/acme-test/members/{membership.pk}/remove/")
        assert not Membership.objects.for_organization(self.org_a).filter(user=self.vera).exists()


class InvitationFlowTests(TwoOrganizationsTestCase):
    def invite(self, email: str, role: str = "marketing") -> str:
        with self.captureOnCommitCallbacks() as callbacks:
            response = self.browser_as(self.alice).post(
                "/o/acme-test/members/", {"email": email, "role": role}
            )
        assert len(callbacks) == 1  # the email is sent by a task, after commit
        page = response.content.decode()
        start = page.index("http://", page.index('data-testid="invitation-url"'))
        return page[start : page.index("<", start)]

    def test_a_new_person_signs_up_through_the_link_and_lands_in_the_organization(self):
        url = self.invite("dora@a.test")
        path = url.removeprefix("http://localhost:8000")
        self.client.logout()
        response = self.client.post(
            path, {"full_name": "Dora M", "password": "a-long-passphrase-1"}
        )
        assert response.status_code == 302 and response["Location"] == "/o/acme-test/"
        dora = User.objects.get(email="dora@a.test")
        membership = Membership.objects.for_organization(self.org_a).get(user=dora)
        assert membership.role == "marketing"
        assert self.client.get("/o/acme-test/").status_code == 200

    def test_an_existing_user_joins_after_logging_in(self):
        url = self.invite("charlie@b.test", role="viewer")
        path = url.removeprefix("http://localhost:8000")
        self.client.logout()
        assert self.client.get(path)["Location"].startswith("/accounts/login/")
        self.client.force_login(self.charlie)
        assert self.client.post(path)["Location"] == "/o/acme-test/"
        assert Membership.objects.for_organization(self.org_a).get(user=self.charlie).role == (
            "viewer"
        )

    def test_a_used_link_is_gone(self):
        url = self.invite("dora@a.test")
        path = url.removeprefix("http://localhost:8000")
        self.client.logout()
        self.client.post(path, {"full_name": "Dora", "password": "a-long-passphrase-1"})
        self.client.logout()
        assert self.client.get(path).status_code == 410
        assert Invitation.objects.for_organization(self.org_a).get().accepted_at is not None

    def test_the_email_names_the_organization_and_carries_the_link(self):
        from revops.tenancy.tasks import invitation_send_email

        url = self.invite("dora@a.test")
        invitation = Invitation.objects.for_organization(self.org_a).get()
        invitation_send_email.run(self.org_a.pk, invitation.pk, url)
        assert mail.outbox[-1].to == ["dora@a.test"]
        assert "Acme Test" in mail.outbox[-1].subject
        assert url in mail.outbox[-1].body


class LoginTests(TwoOrganizationsTestCase):
    def test_logging_in_lands_on_the_organization(self):
        response = Client().post(
            "/accounts/login/", {"username": "bob@a.test", "password": PASSWORD}, follow=True
        )
        assert response.redirect_chain[-1][0] == "/o/acme-test/"

    def test_repeated_failures_are_throttled_even_for_the_right_password(self):
        client = Client(REMOTE_ADDR="203.0.113.9")
        for _ in range(5):
            response = client.post("/accounts/login/", {"username": "bob@a.test", "password": "no"})
            assert response.status_code == 200
        response = client.post("/accounts/login/", {"username": "bob@a.test", "password": PASSWORD})
        assert response.status_code == 429
        assert "Too many failed attempts" in response.content.decode()
        # Another address is not punished for this one's failures.
        other = Client(REMOTE_ADDR="198.51.100.7")
        response = other.post("/accounts/login/", {"username": "bob@a.test", "password": PASSWORD})
        assert response.status_code == 302

    def test_logout_needs_a_post(self):
        client = self.browser_as(self.bob)
        assert client.get("/accounts/logout/").status_code == 405
        assert client.post("/accounts/logout/").status_code == 302
        assert client.get("/o/acme-test/").status_code == 302


class SecurityHeaderTests(TwoOrganizationsTestCase):
    def test_standard_headers_are_sent(self):
        response = Client().get("/accounts/login/")
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"

    def test_health_check_reports_the_database(self):
        assert Client().get("/healthz").json() == {"status": "ok"}


class AdminSiteTests(TwoOrganizationsTestCase):
    def test_the_admin_signs_in_through_the_throttled_login_form(self):
        client = Client(REMOTE_ADDR="192.0.2.44")
        for _ in range(5):
            client.post("/admin/login/", {"username": "root@x.test", "password": "wrong"})
        response = client.post("/admin/login/", {"username": "root@x.test", "password": "wrong"})
        assert response.status_code == 429

    def test_a_superuser_sees_every_organizations_members_in_the_admin(self):
        root = User.objects.create_superuser("root@x.test", PASSWORD)
        self.client.force_login(root)
        page = self.client.get("/admin/tenancy/membership/").content.decode()
        assert "Alice Admin" in page and "Charlie Admin" in page
        assert self.client.get("/admin/tenancy/apitoken/").status_code == 200


class ErrorPageTests(TwoOrganizationsTestCase):
    def test_not_found_and_not_allowed_pages_keep_the_layout_and_reveal_nothing(self):
        client = self.browser_as(self.bob)
        missing = client.get("/o/globex-test/").content.decode()
        unknown = client.get("/o/no-such-org/").content.decode()
        masked_csrf = re.compile(r'"X-CSRFToken": "[^"]+"|name="csrfmiddlewaretoken" value="[^"]+"')
        assert masked_csrf.sub("", missing) == masked_csrf.sub("", unknown)
        assert "Not found" in missing and "Globex" not in missing
        assert 'href="/o/acme-test/"' in missing  # the header still offers the way back
        forbidden = client.get("/o/acme-test/settings/tokens/")
        assert forbidden.status_code == 403 and "Not allowed" in forbidden.content.decode()


class TimeZoneTests(TwoOrganizationsTestCase):
    def test_times_on_organization_pages_read_in_its_time_zone(self):
        self.org_a.timezone = "Asia/Tokyo"
        self.org_a.save()
        with organization_scope(self.org_a):
            services.api_token_create(user=self.bob, name="x", created_by=self.alice)
        page = self.browser_as(self.alice).get("/o/acme-test/settings/tokens/").content.decode()
        assert " JST" in page
