"""The shared test base: personas on both sides of the tenant boundary, built once per class.

Organization A (acme-test): alice (RevOps admin), bob (sales rep), vera (viewer).
Organization B (globex-test): charlie (RevOps admin).
"""

from django.test import TestCase
from rest_framework.test import APIClient

from revops.tenancy import services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, Role, User

PASSWORD = "correct horse battery staple"


def make_user(email: str, name: str) -> User:
    return services.user_create(email=email, password=PASSWORD, full_name=name)


def make_member(organization: Organization, email: str, name: str, role: str) -> User:
    user = make_user(email, name)
    with organization_scope(organization):
        services.membership_add(user=user, role=role)
    return user


def make_token(user: User, organization: Organization, name: str = "test") -> str:
    with organization_scope(organization):
        _token, secret = services.api_token_create(user=user, name=name, created_by=user)
    return secret


class TwoOrganizationsTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.org_a = services.organization_create(name="Acme Test", slug="acme-test")
        cls.org_b = services.organization_create(name="Globex Test", slug="globex-test")
        cls.alice = make_member(cls.org_a, "alice@a.test", "Alice Admin", Role.ADMIN)
        cls.bob = make_member(cls.org_a, "bob@a.test", "Bob Sales", Role.SALES)
        cls.vera = make_member(cls.org_a, "vera@a.test", "Vera Viewer", Role.VIEWER)
        cls.charlie = make_member(cls.org_b, "charlie@b.test", "Charlie Admin", Role.ADMIN)

    def api_as(self, user: User, organization: Organization) -> APIClient:
        """An API client sending a fresh bearer token of `user` in `organization`."""
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, organization)}")
        return client

    def browser_as(self, user: User):
        self.client.force_login(user)
        return self.client
