"""The large organization the page benchmarks read (bench/pages.py, bench/huddle.py), kept in its
own database between runs.

Made by the metrics benchmark's generator (bench/metrics.py: 1,000,000 leads over two years,
200,000 opportunities, 300,000 follow-up timers, ratings, spend and sales cost), plus a breach
event for every breached timer, and the customers behind the unit economics (CLV, LTV:CAC): each
won deal a subscriber invoiced every 30 days (about 64,000 accounts, 12 % of them lost later) and
a gross margin; then two years of daily facts (31-day chunks, as `metrics_backfill` does), the
last quarter of weekly windows with their comparison days, and VACUUM (ANALYZE). Building takes
minutes, so the database is kept, named after a fingerprint of the generator, the metrics engine
and the size: a change to any of them builds a new one (and drops the old). BENCH_REBUILD=1
builds anew regardless.
"""

import hashlib
import inspect
import os
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection

from bench.metrics import (
    CHUNK_DAYS,
    FIRST_DAY,
    LEADS,
    TODAY,
    YESTERDAY,
    build_organization,
    chunks,
)

ROOT = Path(__file__).resolve().parent.parent
SLUG = "bench-large"
ZONE = "America/Chicago"
TREND_WEEKS = 13
# What the data is made of: a change to one of these files (or to `_build`) makes a new database.
SOURCES = ["bench/metrics.py", "metrics/compute.py", "metrics/windows.py"]
DATABASE_PREFIX = "bench_large_"
COMPLETE = "built"  # the database's comment once the build has finished

BREACHES_INSERT = """
INSERT INTO sla_slaevent (organization_id, created_at, updated_at, timer_id, kind, at, detail,
    explanation)
SELECT organization_id, breached_at, breached_at, id, 'breach', breached_at,
       'Follow-up deadline passed', ''
FROM sla_slatimer WHERE organization_id = %s AND breached_at IS NOT NULL
"""

# Every won deal becomes a subscriber from the day it closed; 12 % leave at a random later day
# (at least a month on, while the history lasts).
CUSTOMERS_INSERT = """
INSERT INTO metrics_account (organization_id, created_at, updated_at, name, external_id, industry,
    lead_id, mrr, subscribed_on, churned_on)
SELECT organization_id, closed_at, closed_at, 'Customer ' || id, '', industry, lead_id,
       round(won_value / 12, 2), since,
       CASE WHEN random() < 0.12 AND %(today)s - since > 45
            THEN since + 31 + floor(random() * (%(today)s - since - 31))::int END
FROM (SELECT o.*, l.industry, (o.closed_at AT TIME ZONE %(tz)s)::date AS since
      FROM leads_opportunity o JOIN leads_lead l ON l.id = o.lead_id
      WHERE o.organization_id = %(org)s AND o.status = 'won') won
"""
INVOICES_INSERT = """
INSERT INTO metrics_revenuetransaction (organization_id, created_at, updated_at, account_id,
    occurred_on, amount, quantity, external_id)
SELECT a.organization_id, invoice.at, invoice.at, a.id, invoice.at::date, a.mrr, 1, ''
FROM metrics_account a,
     generate_series(a.subscribed_on, coalesce(a.churned_on, %(yesterday)s), interval '30 days')
         AS invoice(at)
WHERE a.organization_id = %(org)s
ORDER BY invoice.at
"""
GROSS_MARGIN_PERCENT = 72


def _database_name() -> str:
    digest = hashlib.sha256(
        f"{LEADS} {SLUG} {ZONE} {TREND_WEEKS} {BREACHES_INSERT} {CUSTOMERS_INSERT}"
        f" {INVOICES_INSERT} {GROSS_MARGIN_PERCENT}".encode()
    )
    digest.update(inspect.getsource(_build).encode())
    for source in SOURCES:
        digest.update((ROOT / source).read_bytes())
    return f"{DATABASE_PREFIX}{digest.hexdigest()[:12]}"


def _drop_stale(keep: str) -> None:
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                       [f"{DATABASE_PREFIX}%"])  # fmt: skip
        for (name,) in cursor.fetchall():
            if name != keep:
                cursor.execute(f'DROP DATABASE "{name}"')


def _build():
    from metrics.compute import snapshot_replace
    from metrics.services import gross_margin_set
    from metrics.windows import windows_replace, with_comparison_days
    from revops.tenancy.context import organization_scope

    started = time.perf_counter()
    organization = build_organization(SLUG, ZONE, LEADS, 0.42)
    customers = {"org": organization.pk, "tz": ZONE, "today": TODAY, "yesterday": YESTERDAY}
    with connection.cursor() as cursor:
        cursor.execute(BREACHES_INSERT, [organization.pk])
        cursor.execute(CUSTOMERS_INSERT, customers)
        cursor.execute(INVOICES_INSERT, customers)
        cursor.execute("VACUUM (ANALYZE)")
    with organization_scope(organization):
        gross_margin_set(percent=GROSS_MARGIN_PERCENT)
    built = time.perf_counter() - started
    started = time.perf_counter()
    with organization_scope(organization):
        for first, last in chunks(FIRST_DAY, YESTERDAY, CHUNK_DAYS):
            snapshot_replace(first, last)
        weekly = [YESTERDAY - timedelta(weeks=weeks) for weeks in range(TREND_WEEKS)]
        windows_replace(with_comparison_days(weekly))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    print(f"built {LEADS:,} leads in {built:.0f} s; two years of facts and {TREND_WEEKS} weeks"
          f" of windows in {time.perf_counter() - started:.0f} s")  # fmt: skip


def large_organization():
    """Point the default connection at the kept database (building it when missing) and return
    its organization."""
    from revops.tenancy.models import Organization

    name = _database_name()
    _drop_stale(keep=name)
    connection.settings_dict["TEST"]["NAME"] = name
    connection.creation.create_test_db(verbosity=0, keepdb=True, serialize=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                       " WHERE datname = current_database()")  # fmt: skip
        complete = cursor.fetchone()[0] == COMPLETE
    if complete and os.environ.get("BENCH_REBUILD") != "1":
        print(f"kept database {name}: {LEADS:,} leads (BENCH_REBUILD=1 builds it anew)")
    else:  # new, or a build that stopped half-way: start from an empty database
        connection.close()
        _drop_stale(keep="")
        connection.creation.create_test_db(verbosity=0, keepdb=True, serialize=False)
        _build()
        with connection.cursor() as cursor:
            cursor.execute(f"COMMENT ON DATABASE \"{name}\" IS '{COMPLETE}'")
    return Organization.objects.get(slug=SLUG)


def timed_queries():
    """Each query's milliseconds, SQL and parameters, collected while the block runs."""
    spent = []

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(((time.perf_counter() - started) * 1000, sql, params))

    return spent, connection.execute_wrapper(wrapper)
