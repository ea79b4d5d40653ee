"""Cost of the tenancy path on every API call: bearer-token lookup, membership, scoped query.

Builds 1,000 organizations with 5 members and one token each in a throw-away database, then
times authenticated GETs through Django's full request stack (no network). Prints medians and
p95 in milliseconds and the SQL statements per request.

    make bench            # runs every bench/*.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")

import django

django.setup()

from django.db import connection
from django.test.utils import CaptureQueriesContext, setup_test_environment
from rest_framework.test import APIClient

from revops.tenancy.context import organization_scope
from revops.tenancy.models import ApiToken, Membership, Organization, Role, User

ORGANIZATIONS = 1_000
MEMBERS_PER_ORGANIZATION = 5
REQUESTS = 400
# Integrations reuse their tokens: cycle through this many, so last_used_at is written once a
# minute per token as in steady state, not on every request.
TOKENS_IN_USE = 50


def build() -> list[str]:
    organizations = Organization.objects.bulk_create(
        Organization(name=f"Org {i}", slug=f"org-{i}") for i in range(ORGANIZATIONS)
    )
    users = User.objects.bulk_create(
        User(email=f"u{o}-{m}@bench.test", password="!")  # noqa: S106 (unusable password)
        for o in range(ORGANIZATIONS)
        for m in range(MEMBERS_PER_ORGANIZATION)
    )
    memberships, tokens, secrets = [], [], []
    for index, user in enumerate(users):
        organization = organizations[index // MEMBERS_PER_ORGANIZATION]
        role = Role.ADMIN if index % MEMBERS_PER_ORGANIZATION == 0 else Role.SALES
        memberships.append(Membership(organization=organization, user=user, role=role))
        if role == Role.ADMIN:
            secret = ApiToken.generate_secret()
            secrets.append(secret)
            tokens.append(
                ApiToken(
                    organization=organization,
                    user=user,
                    name="bench",
                    hint=secret[:10],
                    digest=ApiToken.digest_of(secret),
                )
            )
    # bulk_create bypasses save(), so no scope is needed; the rows carry their organization.
    Membership.objects.unscoped().bulk_create(memberships)
    ApiToken.objects.unscoped().bulk_create(tokens)
    return secrets


def time_requests(secrets: list[str], url: str) -> tuple[list[float], int]:
    durations, queries = [], 0
    for i in range(-TOKENS_IN_USE, REQUESTS):  # the first round warms up (first-use writes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secrets[i % TOKENS_IN_USE]}")
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            durations.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content
        if i < 0:
            durations.pop()
        queries = len(captured)
    return durations, queries


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        secrets = build()
        print(
            f"{ORGANIZATIONS} organizations, {ORGANIZATIONS * MEMBERS_PER_ORGANIZATION} "
            f"members, {len(secrets)} tokens; {REQUESTS} requests per endpoint"
        )
        for url in ["/api/v1/me/", "/api/v1/members/"]:
            durations, queries = time_requests(secrets, url)
            durations.sort()
            print(
                f"GET {url:<20} median {statistics.median(durations):6.2f} ms   "
                f"p95 {durations[int(len(durations) * 0.95)]:6.2f} ms   {queries} queries"
            )
        with organization_scope(Organization.objects.get(slug="org-500")):
            start = time.perf_counter()
            for _ in range(2000):
                list(Membership.objects.all())
            scoped = (time.perf_counter() - start) / 2000 * 1000
        print(
            f"scoped membership list (5 rows of {ORGANIZATIONS * MEMBERS_PER_ORGANIZATION}): "
            f"{scoped:.3f} ms per query"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
