"""SLA engine costs: the minute sweep's idle tick, a burst of due timers, business-time arithmetic.

In a throw-away database: four organizations, each with an admin, a sales manager, five reps
and a webhook endpoint, and the default policies (follow-up: one business hour, warn at 75 %).

1. Idle tick: `sweep(now)` with 100,000 and then 1,000,000 running timers, none due (their next
   checks lie 1 to 30 days ahead). The sweep reads through the partial index, so the tick
   should cost the same at both sizes. Median and p95 over 50 ticks.
2. Burst: 10,000 more timers fall due at once (half reach their warning, half their breach)
   among the million; one `sweep(now)` claims them and records the events, notifications and
   outbox rows. Target < 5 s.
3. Arithmetic: business time over 90-day spans (Mon-Fri 09:00-12:00/13:00-17:00, US holidays,
   America/Chicago, across the November DST change): closed form per call against a loop that
   asks `is_working` for every second of one span. Target >= 50,000x.

Rows are made server-side (INSERT ... SELECT generate_series), then VACUUM (ANALYZE).

    make bench ARGS=sla          # BENCH_SLA_TIMERS=200000 for a quicker run
"""

import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")

import django

django.setup()

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, setup_test_environment

from leads.models import SalesRep
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Membership, Organization, Role, User
from sla import services
from sla.calendar import Calendar
from sla.models import (
    Channel,
    EventKind,
    Notification,
    OutboxMessage,
    SlaEvent,
    SlaKind,
    SlaTimer,
    TimerState,
    WebhookEndpoint,
)
from sla.sweep import sweep

TIMERS = int(os.environ.get("BENCH_SLA_TIMERS", "1000000"))
FIRST_TIMERS = min(100_000, TIMERS)
DUE = int(os.environ.get("BENCH_SLA_DUE", "10000"))
TICKS = 50
ZONES = ["America/Chicago", "Europe/Berlin", "Asia/Kolkata", "UTC"]
REPS = 5
# A Tuesday, 16:00 UTC: what the sweep is told "now" is.
NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
BURST_TARGET_S = 5.0
RATIO_TARGET = 50_000
CALL_SAMPLES = 20_000


def setup_organizations() -> list[tuple[Organization, list[int]]]:
    """Organizations with their people and default policies; (organization, rep user ids)."""
    built = []
    for index, zone in enumerate(ZONES):
        organization = Organization.objects.create(
            name=f"Bench {index}", slug=f"bench-{index}", timezone=zone
        )
        people = User.objects.bulk_create(
            User(email=f"{who}{index}@bench.test", password="!")  # noqa: S106 (unusable)
            for who in ["admin", "manager", *(f"rep{r}-" for r in range(REPS))]
        )
        admin, manager, reps = people[0], people[1], people[2:]
        with organization_scope(organization):
            Membership.objects.create(user=admin, role=Role.ADMIN)
            Membership.objects.create(user=manager, role=Role.SALES)
            for rep in reps:
                Membership.objects.create(user=rep, role=Role.SALES)
                SalesRep.objects.create(user=rep, manager=manager)
            WebhookEndpoint.objects.create(
                name="Ops", url="https://hooks.bench.test/sla", format="generic", secret="s" * 32
            )
            services.policies_ensure()
        built.append((organization, [rep.pk for rep in reps]))
    return built


def load_timers(organizations, first: int, last: int, *, due: bool = False) -> None:
    """Leads n in [first, last), each an assigned SQL with a running follow-up timer, spread
    over the organizations, made in one statement per organization. Not due: the next check
    lies 1 to 30 days after NOW. Due: even n have reached their warning, odd n have passed
    their deadline (warned earlier), all within the hour before NOW."""
    tag = "due" if due else "run"
    if due:
        timing = (
            "CASE WHEN n %% 2 = 0 THEN %(now)s - (n %% 3600) * interval '1 second'"
            " ELSE %(now)s - interval '2 hours' END AS warn_at,"
            " CASE WHEN n %% 2 = 0 THEN %(now)s + interval '1 hour'"
            " ELSE %(now)s - (n %% 3600) * interval '1 second' END AS due_at,"
            " CASE WHEN n %% 2 = 0 THEN NULL ELSE %(now)s - interval '2 hours' END AS warned_at"
        )
    else:  # a deterministic scatter over 29 days (Knuth's multiplicative hash)
        timing = (
            "%(now)s + interval '1 day'"
            " + (n * 2654435761 %% 4294967296) / 4294967296.0 * interval '29 days' AS warn_at,"
            " NULL::timestamptz AS due_at, NULL::timestamptz AS warned_at"
        )
    per_organization = -(-(last - first) // len(organizations))
    with connection.cursor() as cursor:
        for index, (organization, reps) in enumerate(organizations):
            low = first + index * per_organization
            high = min(last, low + per_organization)
            if low >= high:
                continue
            with organization_scope(organization):
                policy = services.current_policies()[SlaKind.FOLLOW_UP]
            cursor.execute(
                "WITH leads AS ("  # noqa: S608 (timing is one of two constants)
                " INSERT INTO leads_lead (organization_id, email, stage, stage_changed_at,"
                " created_at, updated_at, full_name, phone, title, company_name, company_domain,"
                " industry, territory, persona, source, landing_page, external_id, score,"
                " score_breakdown, authority_role, needs, owner_id, handed_off_at)"
                " SELECT %(org)s, %(tag)s || n || '@bench.test', 'sql', %(now)s, %(now)s,"
                " %(now)s, 'Lead ' || n, '', '', 'Company ' || (n %% 5000), '', 'Software', '',"
                " '', 'other', '', '', 0, '[]', '', '{}', (%(reps)s::bigint[])[1 + n %% %(k)s],"
                " %(now)s FROM generate_series(%(low)s::bigint, %(high)s - 1) AS n"
                " RETURNING id, owner_id, email),"
                " numbered AS (SELECT id, owner_id,"
                " substr(split_part(email, '@', 1), 4)::bigint AS n FROM leads),"
                f" timed AS (SELECT id, owner_id, {timing} FROM numbered)"
                " INSERT INTO sla_slatimer (organization_id, created_at, updated_at, policy_id,"
                " target, lead_id, owner_id, state, started_at, target_us, due_at, warn_at,"
                " next_check_at, warned_at, paused_us)"
                " SELECT %(org)s, %(now)s, %(now)s, %(policy)s, 'follow_up', id, owner_id,"
                " 'running', %(now)s - interval '3 hours', 3600000000,"
                " COALESCE(due_at, warn_at + interval '15 minutes'), warn_at,"
                " CASE WHEN warned_at IS NULL THEN warn_at"
                " ELSE COALESCE(due_at, warn_at + interval '15 minutes') END, warned_at, 0"
                " FROM timed",
                {"org": organization.pk, "tag": tag, "now": NOW, "reps": reps, "k": len(reps),
                 "low": low, "high": high, "policy": policy.pk},
            )  # fmt: skip
        # As in steady state (autovacuum would have run): statistics and visibility map fresh,
        # and no vacuum of the new rows competing with the measurements.
        cursor.execute("VACUUM (ANALYZE)")


def time_ticks() -> tuple[float, float, int]:
    """Median and p95 (ms) of idle sweep ticks at NOW; and a check that nothing was due."""
    for _ in range(3):  # warm caches and plans
        sweep(NOW)
    durations, recorded = [], 0
    for _ in range(TICKS):
        start = time.perf_counter()
        report = sweep(NOW)
        durations.append((time.perf_counter() - start) * 1000)
        recorded += report.warnings + report.breaches
    durations.sort()
    return statistics.median(durations), durations[int(len(durations) * 0.95)], recorded


def claim_query_cost() -> tuple[float, int]:
    """The sweep's claim query, as one idle tick sends it, under EXPLAIN ANALYZE: execution
    time (ms) and buffers touched. Flat if the partial index does its job."""
    with CaptureQueriesContext(connection) as captured:
        sweep(NOW)
    claim = next(q["sql"] for q in captured.captured_queries if "FOR UPDATE" in q["sql"]
                 and '"sla_slatimer"' in q["sql"].split(" WHERE ")[0])  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {claim}")
        plan = cursor.fetchone()[0][0]
    buffers = plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
    return plan["Execution Time"], buffers


def running_timers() -> int:
    return SlaTimer.objects.unscoped().filter(state=TimerState.RUNNING).count()


def bench_burst() -> dict:
    start = time.perf_counter()
    report = sweep(NOW)
    seconds = time.perf_counter() - start
    events = SlaEvent.objects.unscoped()
    outbox = OutboxMessage.objects.unscoped()
    return {
        "seconds": seconds,
        "warnings": report.warnings,
        "breaches": report.breaches,
        "failed": len(report.failed),
        "lag": report.lag_seconds,
        "warning_events": events.filter(kind=EventKind.WARNING).count(),
        "breach_events": events.filter(kind=EventKind.BREACH).count(),
        "breached_timers": SlaTimer.objects.unscoped().filter(state=TimerState.BREACHED).count(),
        "notifications": Notification.objects.unscoped().count(),
        "emails": outbox.filter(channel=Channel.EMAIL).count(),
        "webhooks": outbox.filter(channel=Channel.WEBHOOK).count(),
    }


def expected_fan_out(organizations) -> tuple[int, int]:
    """Notifications (and as many emails) the burst should make, from the policies' recipient
    lists: a warning goes to the owner; a breach to the owner, their manager and the admins."""
    warnings, breaches = (DUE + 1) // 2, DUE // 2
    admins = Membership.objects.unscoped().filter(role=Role.ADMIN).count() // len(organizations)
    with organization_scope(organizations[0][0]):
        policy = services.current_policies()[SlaKind.FOLLOW_UP]
    assert policy.notify_on_warning == ["owner"], policy.notify_on_warning
    assert set(policy.notify_on_breach) == {"owner", "manager", "admins"}
    per_breach = 1 + 1 + admins
    return warnings + breaches * per_breach, warnings + breaches * per_breach


# --- business-time arithmetic -----------------------------------------------------------------


def bench_calendar() -> dict:
    lunch = [(540, 720), (780, 1020)]
    calendar = Calendar(
        "America/Chicago", week=[lunch] * 5 + [[], []], holiday_country="US"
    )  # fmt: skip
    span = timedelta(days=90)
    # Starts scattered over October 2026: every span crosses 1 November (fall back),
    # Veterans Day, Thanksgiving and Christmas.
    rng = random.Random(5)
    base = datetime(2026, 10, 1, tzinfo=UTC)
    starts = [base + timedelta(seconds=rng.randrange(31 * 86_400)) for _ in range(CALL_SAMPLES)]
    calendar.business_us(base, base + span)  # load the holidays and the zone's transitions
    durations = []
    for start in starts:
        end = start + span
        t0 = time.perf_counter_ns()
        calendar.business_us(start, end)
        durations.append(time.perf_counter_ns() - t0)
    per_call_s = statistics.median(durations) / 1e9
    # The per-second loop, once, over the first span (seconds-aligned start).
    start = datetime(2026, 10, 15, 13, 37, 11, tzinfo=UTC)
    end, second = start + span, timedelta(seconds=1)
    t0 = time.perf_counter()
    working_seconds, instant = 0, start
    while instant < end:
        if calendar.is_working(instant):
            working_seconds += 1
        instant += second
    loop_s = time.perf_counter() - t0
    closed = calendar.business_us(start, end)
    assert closed == working_seconds * 1_000_000, (closed, working_seconds)
    return {
        "per_call_s": per_call_s,
        "p95_call_s": sorted(durations)[int(len(durations) * 0.95)] / 1e9,
        "loop_s": loop_s,
        "ratio": loop_s / per_call_s,
        "hours": closed / 3_600_000_000,
        "add_s": _time_add(calendar, starts[:2000], closed),
    }


def _time_add(calendar: Calendar, starts, amount_us: int) -> float:
    durations = []
    for start in starts:
        t0 = time.perf_counter_ns()
        end = calendar.add_us(start, amount_us)
        durations.append(time.perf_counter_ns() - t0)
        assert calendar.business_us(start, end) == amount_us
    return statistics.median(durations) / 1e9


# --- report -----------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        organizations = setup_organizations()
        t0 = time.perf_counter()
        load_timers(organizations, 0, FIRST_TIMERS)
        first_load = time.perf_counter() - t0
        small = (running_timers(), *time_ticks(), *claim_query_cost())
        t0 = time.perf_counter()
        load_timers(organizations, FIRST_TIMERS, TIMERS)
        second_load = time.perf_counter() - t0
        large = (running_timers(), *time_ticks(), *claim_query_cost())
        load_timers(organizations, 0, DUE, due=True)
        burst = bench_burst()
        notifications_expected, emails_expected = expected_fan_out(organizations)
        arithmetic = bench_calendar()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"loaded {FIRST_TIMERS:,} leads+timers in {first_load:.1f} s, "
          f"{TIMERS - FIRST_TIMERS:,} more in {second_load:.1f} s "
          f"({len(organizations)} organizations)")  # fmt: skip
    print()
    print(f"{'measure':<52} {'figure':>16}   target")
    print("-" * 84)
    for count, median, p95, recorded, claim_ms, claim_buffers in (small, large):
        assert recorded == 0, "an idle tick recorded something"
        print(f"{f'idle sweep tick, {count:,} running timers (median)':<52} "
              f"{median:13.2f} ms")  # fmt: skip
        print(f"{f'idle sweep tick, {count:,} running timers (p95)':<52} {p95:13.2f} ms")
        print(f"{'  its claim query in PostgreSQL (EXPLAIN ANALYZE)':<52} {claim_ms:13.3f} ms   "
              f"{claim_buffers} buffers")  # fmt: skip
    growth = large[1] / small[1]
    flat = growth < 1.5 and large[5] <= small[5] + 2
    print(f"{'  tick growth, 10x the timers (median ratio)':<52} {growth:14.2f}x   "
          f"flat: {verdict(flat)}")  # fmt: skip
    met = burst["seconds"] < BURST_TARGET_S and burst["failed"] == 0
    print(f"{f'{DUE:,} timers due at once: one sweep':<52} {burst['seconds']:14.2f} s   "
          f"< {BURST_TARGET_S:.0f} s: {verdict(met)}")  # fmt: skip
    print(f"{'  per due timer':<52} {burst['seconds'] / DUE * 1e3:13.3f} ms")
    checks = [
        ("warnings recorded (sweep report / events)",
         f"{burst['warnings']:,} / {burst['warning_events']:,}", (DUE + 1) // 2),
        ("breaches recorded (sweep report / events)",
         f"{burst['breaches']:,} / {burst['breach_events']:,}", DUE // 2),
        ("timers now breached", f"{burst['breached_timers']:,}", DUE // 2),
        ("in-app notifications", f"{burst['notifications']:,}", notifications_expected),
        ("outbox: emails", f"{burst['emails']:,}", emails_expected),
        ("outbox: webhooks (one endpoint per organization)", f"{burst['webhooks']:,}", DUE),
    ]  # fmt: skip
    for label, figure, expected in checks:
        ok = figure.split(" / ")[-1].replace(",", "") == str(expected)
        print(f"{'  ' + label:<52} {figure:>16}   expected {expected:,}: {verdict(ok)}")
    print(f"{'  sweep lag after the burst':<52} {burst['lag']:14.1f} s")
    print(f"{'business time, 90-day span (median per call)':<52} "
          f"{arithmetic['per_call_s'] * 1e6:13.1f} us")  # fmt: skip
    print(f"{'business time, 90-day span (p95 per call)':<52} "
          f"{arithmetic['p95_call_s'] * 1e6:13.1f} us")  # fmt: skip
    print(f"{'add the same 90-day amount (median per call)':<52} "
          f"{arithmetic['add_s'] * 1e6:13.1f} us")  # fmt: skip
    print(f"{'per-second is_working loop, one 90-day span':<52} {arithmetic['loop_s']:14.1f} s   "
          f"({arithmetic['hours']:.0f} business hours, same result)")  # fmt: skip
    ratio = arithmetic["ratio"]
    print(f"{'  closed form vs per-second loop':<52} {ratio:14,.0f}x   "
          f">= {RATIO_TARGET:,}x: {verdict(ratio >= RATIO_TARGET)}")  # fmt: skip


if __name__ == "__main__":
    main()
