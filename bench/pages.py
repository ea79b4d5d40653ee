"""Server time of the dashboard and the journey map for an organization of 1,000,000 leads (the
huddle has its own, `bench/huddle.py`, with the clock set to the data's last week).

In a throw-away database, the large organization of `bench/metrics.py` (1,000,000 leads over two
years, 200,000 opportunities, 300,000 SLA timers, spend and sales cost) is built server-side,
its two years of daily facts and its last quarter of weekly windows computed as the nightly job
and a backfill would. Then each page is requested through Django's whole stack in-process (test
client, logged in as the organization's admin; no network, no browser), REQUESTS times after a
warm-up, and the report prints the median and 95th percentile in milliseconds and the SQL
statements per request. Target (issue 6): p95 under 150 ms for the dashboard.

    make bench ARGS=pages      # BENCH_METRICS_LEADS=100000 make bench ARGS=pages: quicker
"""

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")

import django

django.setup()

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, setup_test_environment

from bench.metrics import CHUNK_DAYS, FIRST_DAY, LEADS, YESTERDAY, build_organization, chunks

REQUESTS = int(os.environ.get("BENCH_PAGES_REQUESTS", "40"))
TARGET_MS = 150
TREND_WEEKS = 13
MONTH = {"range": "custom", "start": (YESTERDAY - timedelta(days=29)).isoformat(),
         "end": YESTERDAY.isoformat()}  # fmt: skip


def build():
    from metrics.compute import snapshot_replace
    from metrics.windows import windows_replace, with_comparison_days
    from revops.tenancy.context import organization_scope

    started = time.perf_counter()
    organization = build_organization("bench-pages", "America/New_York", LEADS, 0.42)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    built = time.perf_counter() - started
    started = time.perf_counter()
    with organization_scope(organization):
        for first, last in chunks(FIRST_DAY, YESTERDAY, CHUNK_DAYS):
            snapshot_replace(first, last)
        weekly = [YESTERDAY - timedelta(weeks=weeks) for weeks in range(TREND_WEEKS)]
        windows_replace(with_comparison_days(weekly))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return organization, built, time.perf_counter() - started


def timed(client: Client, path: str, query: dict) -> tuple[list[float], int, int]:
    """Milliseconds of each request after one warm-up, the statements of one, its status."""
    response = client.get(path, query)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, query)
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(path, query)
        times.append((time.perf_counter() - started) * 1000)
    return times, len(queries), response.status_code


def main() -> None:
    from revops.tenancy.models import User

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        organization, built, computed = build()
        client = Client()
        client.force_login(User.objects.get(email=f"admin@{organization.slug}.bench"))
        home = f"/o/{organization.slug}/"
        pages = [
            ("dashboard, last 30 days", home, MONTH, True),
            ("dashboard, last 30 days, one channel", home, {**MONTH, "channel": "paid_search"},
             True),
            ("dashboard, last 90 days", home, {**MONTH, "start": (YESTERDAY - timedelta(
                days=89)).isoformat()}, True),
            ("dashboard, channel and segment (computed on demand)", home,
             {**MONTH, "channel": "paid_search", "segment": "Retail"}, False),
            ("journey map, last 30 days", f"{home}journey/", MONTH, False),
        ]  # fmt: skip
        results = [(label, *timed(client, path, query), targeted)
                   for label, path, query, targeted in pages]  # fmt: skip
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"organization: {LEADS:,} leads over two years; built in {built:.0f} s; two years of"
          f" facts and {TREND_WEEKS} weeks of windows computed in {computed:.0f} s")  # fmt: skip
    print(f"{REQUESTS} requests per page after a warm-up, in-process through the full stack;"
          f" {os.cpu_count()} CPUs")  # fmt: skip
    print()
    print(f"{'page':<52} {'status':>6} {'median':>9} {'p95':>9} {'queries':>8}   target")
    print("-" * 110)
    for label, times, queries, status, targeted in results:
        p95 = statistics.quantiles(times, n=20, method="inclusive")[18]
        target = (f"p95 < {TARGET_MS} ms: {'met' if p95 < TARGET_MS else 'MISSED'}"
                  if targeted else "")  # fmt: skip
        print(f"{label:<52} {status:>6} {statistics.median(times):7.1f}ms {p95:7.1f}ms"
              f" {queries:>8}   {target}")  # fmt: skip


if __name__ == "__main__":
    main()
