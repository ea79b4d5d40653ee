"""List pages and endpoints cost the same number of queries however many rows they show."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from revops.tenancy import services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role
from tests.base import TwoOrganizationsTestCase, make_member


class QueryCountTests(TwoOrganizationsTestCase):
    def count_queries(self, fetch) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = fetch()
        assert response.status_code == 200
        return len(captured)

    def grow_organization_a(self, extra: int) -> None:
        for i in range(extra):
            user = make_member(self.org_a, f"extra{i}@a.test", f"Extra {i}", Role.SALES)
            with organization_scope(self.org_a):
                services.api_token_create(user=user, name=f"t{i}", created_by=self.alice)

    def test_member_and_token_endpoints_do_not_grow_with_rows(self):
        client = self.api_as(self.alice, self.org_a)
        client.get("/api/v1/me/")  # first use writes last_used_at; measure the steady state
        urls = ["/api/v1/members/", "/api/v1/tokens/"]
        before = [self.count_queries(lambda u=url: client.get(u)) for url in urls]
        self.grow_organization_a(6)
        after = [self.count_queries(lambda u=url: client.get(u)) for url in urls]
        assert before == after
        assert max(after) <= 4  # token, membership, count, page

    def test_member_and_token_pages_do_not_grow_with_rows(self):
        client = self.browser_as(self.alice)
        urls = ["/o/acme-test/members/", "/o/acme-test/settings/tokens/"]
        client.get(urls[0])
        before = [self.count_queries(lambda u=url: client.get(u)) for url in urls]
        self.grow_organization_a(6)
        after = [self.count_queries(lambda u=url: client.get(u)) for url in urls]
        assert before == after
