"""Server time of the dashboard and the journey map for an organization of 1,000,000 leads (the
huddle has its own, `bench/huddle.py`, with the clock set to the data's last week).

The large organization of bench/large.py (1,000,000 leads over two years, 200,000
opportunities, 300,000 SLA timers, spend and sales cost, its two years of daily facts and last
quarter of weekly windows; kept between runs). Each page is requested through Django's whole
stack in-process (test client, logged in as the organization's admin; no network, no browser,
and no test environment: `setup_test_environment` would instrument template rendering, which
costs more than rendering), REQUESTS times after a warm-up; the report prints the median and 95th
percentile in milliseconds and the SQL statements of one request. Target (issue 6): p95 under
150 ms for the dashboard with no filter or one (two filters are computed on demand: measured,
not targeted).

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

from bench.large import large_organization, timed_queries
from bench.metrics import YESTERDAY

REQUESTS = int(os.environ.get("BENCH_PAGES_REQUESTS", "40"))
TARGET_MS = 150
MONTH = {"range": "custom", "start": (YESTERDAY - timedelta(days=29)).isoformat(),
         "end": YESTERDAY.isoformat()}  # fmt: skip


def timed(client: Client, path: str, query: dict) -> tuple[list[float], int, int]:
    """Milliseconds of each request after one warm-up, the statements of one, its status."""
    client.get(path, query)
    spent, counting = timed_queries()
    with counting:
        response = client.get(path, query)
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(path, query)
        times.append((time.perf_counter() - started) * 1000)
    return times, len(spent), response.status_code


def main() -> None:
    from revops.tenancy.models import User

    organization = large_organization()
    try:
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
