"""The API base: the credential decides the organization; other tenants' objects are 404."""

import json

from django.core.management import call_command
from rest_framework.test import APIClient

from revops.tenancy import services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import ApiToken, Invitation, Membership, Role
from tests.base import TwoOrganizationsTestCase, make_token


class BearerTokenTests(TwoOrganizationsTestCase):
    def test_the_token_decides_the_organization(self):
        response = self.api_as(self.bob, self.org_a).get("/api/v1/me/")
        assert response.status_code == 200
        assert response.json()["organization"]["slug"] == "acme-test"
        assert response.json()["role"] == "sales"
        assert response.json()["user"]["email"] == "bob@a.test"

    def test_anonymous_gets_401_with_the_scheme_named(self):
        response = APIClient().get("/api/v1/me/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"

    def test_a_wrong_or_malformed_token_gets_401(self):
        for header in ["Bearer rvh_not-a-token", "Bearer", "Bearer a b"]:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=header)
            assert client.get("/api/v1/me/").status_code == 401, header

    def test_a_revoked_token_gets_401(self):
        secret = make_token(self.bob, self.org_a)
        with organization_scope(self.org_a):
            services.api_token_revoke(token=ApiToken.objects.get(user=self.bob))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert client.get("/api/v1/me/").status_code == 401

    def test_a_demoted_member_loses_write_access_at_once(self):
        client = self.api_as(self.alice, self.org_a)
        with organization_scope(self.org_a):
            services.membership_add(user=self.alice, role=Role.VIEWER)
        response = client.patch("/api/v1/organization/", {"name": "X"}, format="json")
        assert response.status_code == 403

    def test_using_a_token_records_when_it_was_last_used(self):
        self.api_as(self.bob, self.org_a).get("/api/v1/me/")
        token = ApiToken.objects.for_organization(self.org_a).get(user=self.bob)
        assert token.last_used_at is not None


class CrossTenantTests(TwoOrganizationsTestCase):
    """Every endpoint: another organization's object answers 404 and lists never leak."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_b):
            cls.b_membership = Membership.objects.get(user=cls.charlie)
            cls.b_token, _ = services.api_token_create(
                user=cls.charlie, name="b", created_by=cls.charlie
            )
            cls.b_invitation, _ = services.invitation_create(
                email="zed@b.test", role=Role.SALES, invited_by=cls.charlie
            )

    def test_other_organizations_objects_answer_404_to_an_admin(self):
        client = self.api_as(self.alice, self.org_a)
        urls = {
            f"/api/v1/members/{self.b_membership.pk}/": ["get", "patch", "delete"],
            f"/api/v1/tokens/{self.b_token.pk}/": ["get"],
            f"/api/v1/tokens/{self.b_token.pk}/revoke/": ["post"],
            f"/api/v1/invitations/{self.b_invitation.pk}/": ["delete"],
        }
        for url, methods in urls.items():
            for method in methods:
                response = getattr(client, method)(url, {"role": "viewer"}, format="json")
                assert response.status_code == 404, (method, url, response.status_code)
        self.b_token.refresh_from_db()
        assert self.b_token.revoked_at is None
        assert Membership.objects.for_organization(self.org_b).get(user=self.charlie).role == (
            "admin"
        )
        assert Invitation.objects.for_organization(self.org_b).get().revoked_at is None

    def test_lists_show_only_the_callers_organization(self):
        client = self.api_as(self.alice, self.org_a)
        members = client.get("/api/v1/members/").json()["results"]
        assert {m["user"]["email"] for m in members} == {
            "alice@a.test",
            "bob@a.test",
            "vera@a.test",
        }
        tokens = client.get("/api/v1/tokens/").json()["results"]
        assert {t["user"]["email"] for t in tokens} == {"alice@a.test"}
        assert client.get("/api/v1/invitations/").json()["results"] == []

    def test_a_token_cannot_be_issued_for_another_organizations_member(self):
        response = self.api_as(self.alice, self.org_a).post(
            "/api/v1/tokens/", {"name": "x", "user_id": self.charlie.pk}, format="json"
        )
        assert response.status_code == 400
        assert "user_id" in response.json()

    def test_the_organization_endpoint_is_the_callers_own(self):
        response = self.api_as(self.charlie, self.org_b).get("/api/v1/organization/")
        assert response.json()["slug"] == "globex-test"


class RoleTests(TwoOrganizationsTestCase):
    def test_a_viewer_cannot_write_anything(self):
        client = self.api_as(self.vera, self.org_a)
        bob_membership = Membership.objects.for_organization(self.org_a).get(user=self.bob)
        attempts = [
            ("patch", "/api/v1/organization/", {"name": "Hacked"}),
            ("patch", f"/api/v1/members/{bob_membership.pk}/", {"role": "admin"}),
            ("delete", f"/api/v1/members/{bob_membership.pk}/", {}),
            ("post", "/api/v1/tokens/", {"name": "x"}),
            ("post", "/api/v1/invitations/", {"email": "x@a.test", "role": "admin"}),
        ]
        for method, url, body in attempts:
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 403, (method, url, response.status_code)
        assert client.get("/api/v1/members/").status_code == 200

    def test_only_admins_manage_settings_members_tokens_and_invitations(self):
        client = self.api_as(self.bob, self.org_a)
        assert client.patch("/api/v1/organization/", {"name": "X"}, format="json").status_code == (
            403
        )
        assert client.get("/api/v1/tokens/").status_code == 403
        assert client.get("/api/v1/invitations/").status_code == 403
        assert client.get("/api/v1/organization/").status_code == 200

    def test_an_admin_changes_roles_and_settings(self):
        client = self.api_as(self.alice, self.org_a)
        bob_membership = Membership.objects.for_organization(self.org_a).get(user=self.bob)
        response = client.patch(
            f"/api/v1/members/{bob_membership.pk}/", {"role": "marketing"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["role"] == "marketing"
        response = client.patch(
            "/api/v1/organization/",
            {"name": "Acme Renamed", "timezone": "Europe/Paris", "currency": "EUR"},
            format="json",
        )
        assert response.status_code == 200
        assert response.json()["timezone"] == "Europe/Paris"

    def test_an_admin_creates_a_token_that_works_and_revokes_it(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.post(
            "/api/v1/tokens/", {"name": "Zapier", "user_id": self.bob.pk}, format="json"
        )
        assert response.status_code == 201
        secret = response.json()["token"]
        bob_client = APIClient()
        bob_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert bob_client.get("/api/v1/me/").json()["user"]["email"] == "bob@a.test"
        revoked = client.post(f"/api/v1/tokens/{response.json()['id']}/revoke/")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert bob_client.get("/api/v1/me/").status_code == 401

    def test_an_admin_invites_by_email_and_gets_the_link(self):
        response = self.api_as(self.alice, self.org_a).post(
            "/api/v1/invitations/", {"email": "dora@a.test", "role": "marketing"}, format="json"
        )
        assert response.status_code == 201
        assert "/invite/" in response.json()["url"]


class BadInputTests(TwoOrganizationsTestCase):
    """A rejected call is a 4xx naming the field, never a 500."""

    def test_field_level_messages(self):
        client = self.api_as(self.alice, self.org_a)
        bob_membership = Membership.objects.for_organization(self.org_a).get(user=self.bob)
        cases = [
            ("patch", "/api/v1/organization/", {"timezone": "Mars/Olympus"}, "timezone"),
            ("patch", "/api/v1/organization/", {"currency": "XXX1"}, "currency"),
            ("patch", "/api/v1/organization/", {"name": ""}, "name"),
            ("patch", f"/api/v1/members/{bob_membership.pk}/", {"role": "boss"}, "role"),
            ("post", "/api/v1/tokens/", {}, "name"),
            ("post", "/api/v1/tokens/", {"name": "x", "user_id": "abc"}, "user_id"),
            ("post", "/api/v1/invitations/", {"email": "not-an-email", "role": "sales"}, "email"),
            ("post", "/api/v1/invitations/", {"email": "bob@a.test", "role": "sales"}, "email"),
        ]
        for method, url, body, field in cases:
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 400, (url, body, response.status_code)
            assert field in response.json(), (url, body, response.json())

    def test_malformed_json_is_a_400(self):
        response = self.api_as(self.alice, self.org_a).generic(
            "PATCH", "/api/v1/organization/", "{not json", content_type="application/json"
        )
        assert response.status_code == 400

    def test_demoting_the_last_admin_is_a_400_with_a_reason(self):
        client = self.api_as(self.charlie, self.org_b)
        membership = Membership.objects.for_organization(self.org_b).get(user=self.charlie)
        response = client.patch(f"/api/v1/members/{membership.pk}/", {"role": "sales"}, "json")
        assert response.status_code == 400
        assert "RevOps admin" in json.dumps(response.json())


class SessionAuthenticationTests(TwoOrganizationsTestCase):
    def test_the_browser_names_its_organization_in_a_header(self):
        client = APIClient()
        client.force_login(self.alice)
        response = client.get("/api/v1/me/", HTTP_X_ORGANIZATION="acme-test")
        assert response.json()["organization"]["slug"] == "acme-test"

    def test_a_header_naming_another_organization_answers_404(self):
        client = APIClient()
        client.force_login(self.alice)
        assert client.get("/api/v1/me/", HTTP_X_ORGANIZATION="globex-test").status_code == 404

    def test_without_a_header_the_last_opened_organization_is_used(self):
        self.client.force_login(self.bob)
        self.client.get("/o/acme-test/")
        assert self.client.get("/api/v1/me/").json()["organization"]["slug"] == "acme-test"

    def test_without_any_organization_the_error_names_the_header(self):
        client = APIClient()
        client.force_login(self.bob)
        response = client.get("/api/v1/me/")
        assert response.status_code == 400
        assert "X-Organization" in response.json()

    def test_session_writes_need_the_csrf_token(self):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(self.alice)
        response = client.patch(
            "/api/v1/organization/", {"name": "X"}, format="json", HTTP_X_ORGANIZATION="acme-test"
        )
        assert response.status_code == 403


class SchemaTests(TwoOrganizationsTestCase):
    def test_schema_validates_without_warnings(self):
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")

    def test_schema_and_docs_are_served(self):
        schema = self.client.get("/api/schema/?format=json")
        assert schema.status_code == 200
        paths = schema.json()["paths"]
        assert {"/api/v1/me/", "/api/v1/tokens/", "/api/v1/members/{id}/"} <= set(paths)
        assert "bearerToken" in schema.json()["components"]["securitySchemes"]
        docs = self.client.get("/api/docs/")
        assert docs.status_code == 200
        assert b"swagger-ui" in docs.content
        assert b"cdn" not in docs.content.lower()
