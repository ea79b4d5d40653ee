"""The weekly revenue huddle page's server time at 1,000,000 leads (target: p95 < 150 ms).

The large organization of bench/large.py (two years, 1,000,000 leads, 200,000 opportunities,
ratings, follow-up timers and their breaches, two years of facts; kept between runs), with the
clock frozen at the data's end (Monday 1 June 2026, 09:00 in Chicago).

Measured through Django's test client (middleware, view, template; no network), each request a
full page. The test environment is not set up (`setup_test_environment` would instrument
template rendering, and the client would then copy every template's context, which costs more
than rendering a page of includes like this one): what is timed is what a server does.

1. this week's huddle, its figures recomputed from the snapshot and the live indexed reads and
   stored (each request finds them older than FIGURES_FRESH_FOR: the expensive case);
2. this week's huddle opened again within the minute: the stored figures;
3. last week's huddle, frozen: its stored record only.

Median and p95 over the runs, the query count, the slowest queries of one opening, and the plans
(EXPLAIN ANALYZE) of the slowest queries of a recomputation.

    make bench ARGS=huddle        # BENCH_METRICS_LEADS=100000 for a quicker run
"""

import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")

import django

django.setup()

from django.db import connection
from django.test import Client

from bench.large import ZONE, large_organization, timed_queries
from bench.metrics import TODAY
from huddle.models import Huddle

RUNS = int(os.environ.get("BENCH_HUDDLE_RUNS", "60"))
PROFILE = os.environ.get("BENCH_HUDDLE_PROFILE") == "1"
TARGET_MS = 150.0
NOW = datetime.combine(TODAY, datetime.min.time(), tzinfo=ZoneInfo(ZONE)).replace(hour=9)


def explain(sql: str, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"\n  plan of {' '.join(sql.split())[:100]}")
    for line in plan[:14]:
        print(f"    {line}")


def measure(client: Client, url: str, label: str, before=None, plans: int = 0) -> None:
    times = []
    client.get(url)  # warm: the session's first page in the organization writes its key
    for _ in range(RUNS):
        if before:
            before()
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    if before:
        before()
    spent, wrapper = timed_queries()
    with wrapper:
        client.get(url)
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1]
    verdict = "met" if p95 < TARGET_MS else "MISSED"
    in_sql = sum(ms for ms, _sql, _params in spent)
    print(f"\n{label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms (target < {TARGET_MS:.0f} ms: "
          f"{verdict}); {len(spent)} queries, {in_sql:.1f} ms in SQL")  # fmt: skip
    slowest = sorted(spent, key=lambda row: row[0], reverse=True)
    for ms, sql, _params in slowest[:6]:
        print(f"  {ms:7.1f} ms  {' '.join(sql.split())[:150]}")
    for _ms, sql, params in slowest[:plans]:
        if sql.lstrip().upper().startswith("SELECT"):
            explain(sql, params)
    if PROFILE and before:
        profile(client, url, before)


def profile(client: Client, url: str, before) -> None:
    """Where the Python time of ten openings goes (BENCH_HUDDLE_PROFILE=1)."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    for _ in range(10):
        before()
        profiler.enable()
        client.get(url)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
        r"huddle|metrics|sla|leads|template/base.py:.*render\b", 30
    )
    print("\n  profile of ten openings (cumulative)")
    print("\n".join("    " + line[:160] for line in out.getvalue().splitlines() if line.strip()))


def main() -> None:
    from revops.tenancy.models import User

    organization = large_organization()
    try:
        client = Client()
        client.force_login(User.objects.get(email=f"admin@{organization.slug}.bench"))
        base = f"/o/{organization.slug}/huddle/"
        this_week, last_week = f"{base}{TODAY}/", f"{base}{TODAY - timedelta(days=7)}/"
        # Last week's huddle, held on its Monday: its record is frozen by now.
        with mock.patch("django.utils.timezone.now", side_effect=lambda: NOW - timedelta(days=7)):
            assert client.get(last_week).status_code == 200

        def age():  # the stored figures are two minutes old: this opening recomputes them
            Huddle.objects.for_organization(organization).filter(week_start=TODAY).update(
                figures_at=NOW - timedelta(minutes=2)
            )

        with mock.patch("django.utils.timezone.now", side_effect=lambda: NOW):
            measure(client, this_week, "this week's huddle, figures recomputed", before=age,
                    plans=5)  # fmt: skip
            measure(client, this_week, "this week's huddle, opened again within the minute")
            measure(client, last_week, "last week's huddle (frozen)")
    finally:
        connection.close()


if __name__ == "__main__":
    main()
