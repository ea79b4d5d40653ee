from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from revops.tenancy.demo import DEMO_PEOPLE
from revops.tenancy.models import Membership, Organization, User
from tests.base import TwoOrganizationsTestCase


class CreateApiTokenTests(TwoOrganizationsTestCase):
    def test_prints_the_token_alone_and_it_works(self):
        out = StringIO()
        call_command("create_api_token", "--org", "acme-test", "--email", "BOB@a.test", stdout=out)
        secret = out.getvalue().strip()
        assert "\n" not in secret and secret.startswith("rvh_")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert client.get("/api/v1/me/").json()["user"]["email"] == "bob@a.test"

    def test_refuses_a_non_member_and_an_unknown_organization(self):
        with pytest.raises(CommandError, match="not a member"):
            call_command("create_api_token", "--org", "acme-test", "--email", "charlie@b.test")
        with pytest.raises(CommandError, match="No organization"):
            call_command("create_api_token", "--org", "nope", "--email", "bob@a.test")


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    counts = (
        Organization.objects.count(),
        User.objects.count(),
        Membership.objects.unscoped().count(),
    )
    call_command("seed_demo", stdout=StringIO())
    assert counts == (
        Organization.objects.count(),
        User.objects.count(),
        Membership.objects.unscoped().count(),
    )
    assert counts == (2, len(DEMO_PEOPLE), 10)
    roles = set(Membership.objects.unscoped().values_list("organization__slug", "role").distinct())
    assert roles == {
        (slug, role)
        for slug in ("acme", "globex")
        for role in ("admin", "marketing", "sales", "viewer")
    }
