"""Metrics engine costs: the nightly snapshot and a two-year backfill, for one large organization
and for a hundred small ones.

In a throw-away database, made server-side (INSERT ... SELECT generate_series, then VACUUM
(ANALYZE)) by one generator with a size knob:

- one organization with 1,000,000 leads over two years (lead creation grows mildly towards
  today), 200,000 of them opportunities: every lead enters `new`; 70 % become MQLs, 30 % SQLs
  (handed off to one of 50 reps in 5 teams, with an assignment note and a follow-up SLA timer),
  25 % are accepted; some are disqualified, nurtured or rejected on the way; 85 % of the
  opportunities close (35 % won with a value, 50 % lost with a reason), the recent ones are still
  open. Leads come from 40 campaigns (70 %) or unpaid channels, in 12 industries; a tenth of
  the SQLs get a lead-quality rating; marketing spend per campaign per day, sales cost per rep
  and team per month;
- 100 organizations of 10,000 leads (2,000 opportunities) each, from the same generator, whose
  organization shape follows the size: 5 reps in one team and 4 campaigns each.

Every measured computation runs in a fresh Python process (as a Celery worker would run it, with
Django set up and pandas imported), so its peak memory is its own: the kernel's peak resident set
size (ru_maxrss from wait4) of that process, next to the same figure for an idle process that
only set Django up and entered the organization's scope. Times are wall-clock inside the child,
from the first query to the commit, split into the engine's phases (metrics/compute.py): the
events query (run, COPY out, CSV parse), the sums in pandas, the facts' COPY in, and the rest
(deleting the range's old facts, the commit).

1. Large organization: a backfill of two years in one call and in 31-day chunks (what
   `metrics_backfill` does), then the nightly job (the last 7 days, replacing facts that exist).
   Targets: < 60 s and < 2 GB peak.
2. The 100 small organizations, one after another in one process (a worker draining the fan-out):
   nightly and two-year backfill, total time against the large organization's. Same leads in
   total; the facts written differ (a fact is a day's sum for one member of one dimension, and a
   small organization's events rarely share a day and a member), so the report prints both the
   time ratio and the time per fact written: linear in rows, not in organizations.

    make bench ARGS=metrics     # BENCH_METRICS_LEADS=100000 BENCH_METRICS_ORGS=10: quicker
"""

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")

import django

django.setup()

from django.db import connection

LEADS = int(os.environ.get("BENCH_METRICS_LEADS", "1000000"))
SMALL_ORGS = int(os.environ.get("BENCH_METRICS_ORGS", "100"))
SMALL_LEADS = int(os.environ.get("BENCH_METRICS_SMALL_LEADS", "10000"))
OPPORTUNITY_SHARE = 5  # one lead in five becomes an opportunity
# An organization's shape grows with its leads: 1,000,000 leads keep 50 reps in 5 teams and run
# 40 campaigns; 10,000 leads, 5 reps in one team and 4 campaigns (each with daily spend).
LEADS_PER_REP, LEADS_PER_CAMPAIGN, REPS_PER_TEAM = 20_000, 25_000, 10
TEAMS = ["East", "West", "Central", "Enterprise", "Mid-market"]
CHANNELS = ["paid_search", "social", "email", "events", "partner", "referral", "organic_search"]
UNPAID = ["organic_search", "direct", "referral", "other"]  # leads without a campaign
INDUSTRIES = ["Software", "Retail", "Finance", "Health", "Education", "Manufacturing",
              "Logistics", "Media", "Energy", "Government", "Hospitality", "Telecom"]  # fmt: skip
ZONES = ["America/Chicago", "Europe/Berlin", "Asia/Kolkata", "UTC", "America/Los_Angeles"]
# The data ends at the start of TODAY (UTC); the nightly job computes the 7 days before it.
TODAY = date(2026, 6, 1)
YESTERDAY = TODAY - timedelta(days=1)
HISTORY_DAYS = 730
FIRST_DAY = TODAY - timedelta(days=HISTORY_DAYS)
NIGHTLY_FIRST = TODAY - timedelta(days=7)
CHUNK_DAYS = 31
TIME_TARGET_S, MEMORY_TARGET_MB = 60.0, 2048.0


# --- the generator ------------------------------------------------------------------------------

PLAN = """
CREATE TEMP TABLE bench_plan AS
WITH draws AS (
    SELECT n, random() AS r_created, random() AS r_campaign, random() AS r_source,
           random() AS r_industry, random() AS r_owner, random() AS r_funnel,
           random() AS r_outcome, random() AS g1, random() AS g2, random() AS g3, random() AS g4,
           random() AS g5, random() AS g6, random() AS r_amount, random() AS r_feedback,
           random() AS r_sla, random() AS r_reason
    FROM generate_series(0, %(leads)s - 1) AS n
), funnel AS (
    SELECT *,
           -- Every k-th lead becomes an opportunity; the others stop earlier.
           CASE WHEN n %% %(every)s = 0 THEN 4 WHEN r_funnel < 0.06 THEN 3
                WHEN r_funnel < 0.125 THEN 2 WHEN r_funnel < 0.625 THEN 1 ELSE 0 END AS depth,
           -- Mild growth: density at the end 4/3 of the average. Converting leads are created
           -- at least 30 days before the end, so each reaches its opportunity in the history.
           %(start)s + power(r_created, 0.75)
               * (CASE WHEN n %% %(every)s = 0 THEN %(span)s - interval '30 days'
                       ELSE %(span)s END) AS created
    FROM draws
), timed AS (
    SELECT *,
           CASE WHEN depth >= 1 THEN created + CASE WHEN g1 < 0.4 THEN interval '0'
                ELSE g1 * interval '3 days' END END AS t_mql
    FROM funnel
), timed2 AS (
    SELECT *, t_mql + g2 * g2 * interval '10 days' AS t_sql_all FROM timed
), timed3 AS (
    SELECT *,
           CASE WHEN depth >= 2 THEN t_sql_all END AS t_sql,
           CASE WHEN depth >= 3 THEN t_sql_all + g3 * interval '2 days' END AS t_acc
    FROM timed2
), timed4 AS (
    SELECT *, CASE WHEN depth >= 4 THEN t_acc + g4 * interval '14 days' END AS t_opp FROM timed3
)
SELECT %(base)s + row_number() OVER (ORDER BY created, n) AS lead_id, n, created, t_mql, t_sql,
       t_acc, t_opp, depth, r_amount, r_feedback, r_sla, r_reason, g6,
       CASE WHEN depth = 4 AND r_outcome < 0.85
            THEN t_opp + interval '7 days' + g5 * g5 * interval '150 days' END AS t_close,
       CASE WHEN depth = 4 AND r_outcome < 0.35 THEN 'won'
            WHEN depth = 4 AND r_outcome < 0.85 THEN 'lost' END AS outcome,
       CASE WHEN depth = 0 AND r_outcome < 0.3 THEN 'disqualified'
            WHEN depth = 1 AND r_outcome < 0.25 THEN 'nurture'
            WHEN depth = 2 AND r_outcome < 0.5 THEN 'rejected'
            WHEN depth = 3 AND r_outcome < 0.3 THEN 'nurture' END AS side,
       CASE WHEN r_campaign < 0.7 THEN (%(campaigns)s::bigint[])[1 + floor(r_campaign / 0.7
            * %(n_campaigns)s)::int] END AS campaign_id,
       CASE WHEN r_campaign < 0.7 THEN (%(campaign_channels)s::text[])[1 + floor(r_campaign / 0.7
            * %(n_campaigns)s)::int]
            ELSE (%(unpaid)s::text[])[1 + floor(r_source * %(n_unpaid)s)::int] END AS source,
       (%(industries)s::text[])[1 + floor(power(r_industry, 1.5) * %(n_industries)s)::int]
           AS industry,
       CASE WHEN depth >= 2 THEN (%(reps)s::bigint[])[1 + floor(r_owner * %(n_reps)s)::int] END
           AS owner_id
FROM timed4
"""

# Each lead's steps, those before the end of the history only, in the order they happened.
STEPS = """
CREATE TEMP TABLE bench_steps AS
SELECT p.lead_id, s.from_stage, s.to_stage, s.at, s.reason
FROM bench_plan p CROSS JOIN LATERAL (VALUES
    ('', 'new', p.created, ''),
    ('new', 'mql', p.t_mql, 'Qualified by the policy'),
    ('mql', 'sql', p.t_sql, 'Handed off'),
    ('sql', 'sql', p.t_sql + interval '1 second', 'Assigned'),
    ('sql', 'accepted', p.t_acc, ''),
    ('accepted', 'opportunity', p.t_opp, ''),
    ('opportunity', p.outcome, p.t_close, ''),
    (CASE p.depth WHEN 0 THEN 'new' WHEN 1 THEN 'mql' WHEN 2 THEN 'sql' ELSE 'accepted' END,
     p.side, coalesce(p.t_acc, p.t_sql, p.t_mql, p.created) + interval '1 minute'
           + p.g6 * interval '20 days', '')
) AS s(from_stage, to_stage, at, reason)
WHERE s.to_stage IS NOT NULL AND s.at IS NOT NULL AND s.at < %(end)s
ORDER BY s.at, p.lead_id
"""

LEADS_INSERT = """
WITH last_step AS (
    SELECT DISTINCT ON (lead_id) lead_id, to_stage, at FROM bench_steps
    WHERE from_stage <> to_stage ORDER BY lead_id, at DESC
)
INSERT INTO leads_lead (id, organization_id, created_at, updated_at, full_name, email, phone,
    title, company_name, company_domain, industry, company_size, territory, persona, source,
    landing_page, external_id, stage, stage_changed_at, handed_off_at, first_touch_at, score,
    score_breakdown, authority_role, needs, campaign_id, owner_id)
SELECT p.lead_id, %(org)s, p.created, s.at, 'Lead ' || p.n, 'lead' || p.n || %(domain)s, '', '',
       'Company ' || (p.n %% 20000), '', p.industry, 10 + (p.n %% 5000), '', '', p.source, '',
       '', s.to_stage, s.at,
       CASE WHEN p.t_sql < %(end)s THEN p.t_sql END,
       CASE WHEN p.t_acc < %(end)s THEN p.t_acc END,
       (p.n %% 100), '[]', '', '{}', p.campaign_id,
       CASE WHEN p.t_sql < %(end)s THEN p.owner_id END
FROM bench_plan p JOIN last_step s ON s.lead_id = p.lead_id
ORDER BY p.lead_id
"""

TRANSITIONS_INSERT = """
INSERT INTO leads_leadtransition (organization_id, created_at, updated_at, from_stage, to_stage,
    at, reason, reason_label, lead_id)
SELECT %(org)s, at, at, from_stage, to_stage, at, reason,
       -- Exits carry one of five listed reasons, as a rejection or a loss would.
       CASE WHEN to_stage IN ('rejected', 'lost', 'nurture', 'disqualified')
            THEN (ARRAY['Price', 'Timing', 'No budget', 'Competitor', 'Wrong contact'])
                 [lead_id %% 5 + 1]
            ELSE '' END,
       lead_id
FROM bench_steps
"""

OPPORTUNITIES_INSERT = """
INSERT INTO leads_opportunity (organization_id, created_at, updated_at, name, amount, currency,
    expected_close_on, probability, status, closed_at, won_value, lead_id, loss_reason_id)
SELECT %(org)s, t_opp, coalesce(closed, t_opp), 'Deal ' || n, amount, %(currency)s,
       (t_opp + interval '60 days')::date, 20, coalesce(status, 'open'), closed,
       CASE WHEN status = 'won' THEN amount END, lead_id,
       CASE WHEN status = 'lost' THEN (%(losses)s::bigint[])[1 + floor(r_reason * 5)::int] END
FROM (
    SELECT *, round((2000 + r_amount * r_amount * 98000)::numeric, -2) AS amount,
           CASE WHEN t_close < %(end)s THEN t_close END AS closed,
           CASE WHEN t_close < %(end)s THEN outcome END AS status
    FROM bench_plan WHERE depth = 4
) deals
ORDER BY t_opp
"""

FEEDBACK_INSERT = """
INSERT INTO leads_leadfeedback (organization_id, created_at, updated_at, rating, tags, comment,
    from_rejection, status, response, lead_id, rater_id)
SELECT %(org)s, at, at, 1 + floor(r_feedback * 50)::int, '{}', '',
       coalesce(side = 'rejected', false), 'open', '',
       lead_id, owner_id
FROM (SELECT *, t_sql + g6 * interval '3 days' AS at FROM bench_plan
      WHERE t_sql IS NOT NULL AND r_feedback < 0.1) rated
WHERE at < %(end)s
ORDER BY at
"""

# Follow-up timers of the hand-offs: 80 % met in time, 10 % met late, 10 % still breached;
# those whose deadline has not come yet are running.
TIMERS_INSERT = """
INSERT INTO sla_slatimer (organization_id, created_at, updated_at, target, state, started_at,
    target_us, due_at, warn_at, next_check_at, breached_at, met_at, paused_us, lead_id, owner_id,
    policy_id)
SELECT %(org)s, t_sql, t_sql, 'follow_up',
       CASE WHEN due >= %(end)s THEN 'running' WHEN r_sla < 0.9 THEN 'met' ELSE 'breached' END,
       t_sql, 14400000000, due, due - interval '1 hour',
       CASE WHEN due >= %(end)s THEN due - interval '1 hour' END,
       CASE WHEN due < %(end)s AND r_sla >= 0.8 THEN due END,
       CASE WHEN due >= %(end)s THEN NULL WHEN r_sla < 0.8 THEN t_sql + r_sla / 0.8 * interval
            '4 hours' WHEN r_sla < 0.9 THEN due + interval '2 hours' END,
       0, lead_id, owner_id, %(policy)s
FROM (SELECT *, t_sql + interval '4 hours' AS due FROM bench_plan
      WHERE t_sql < %(end)s) handed
ORDER BY t_sql
"""

SPEND_INSERT = """
INSERT INTO metrics_marketingspend (organization_id, created_at, updated_at, spent_on, channel,
    campaign_id, amount, currency, note)
SELECT %(org)s, %(end)s, %(end)s, d::date, c.channel, c.id, round((50 + random() * 200)::numeric,
       2), %(currency)s, ''
FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d,
     unnest(%(campaigns)s::bigint[], %(campaign_channels)s::text[]) AS c(id, channel)
ORDER BY d
"""

COST_INSERT = """
INSERT INTO metrics_salescost (organization_id, created_at, updated_at, period_start, period_end,
    team, rep_id, category, amount, currency, note)
SELECT %(org)s, %(end)s, %(end)s, m::date, (m + interval '1 month' - interval '1 day')::date,
       who.team, who.rep, who.category, who.amount, %(currency)s, ''
FROM generate_series(date_trunc('month', %(first)s::date), %(last)s::date, interval '1 month')
         AS m,
     (SELECT '' AS team, unnest(%(reps)s::bigint[]) AS rep, 'salary' AS category,
             7000.00 AS amount
      UNION ALL
      SELECT unnest(%(teams)s::text[]), NULL, 'tools', 900.00) AS who
"""


def build_organization(slug: str, zone: str, leads: int, seed: float):
    """An organization, its people, campaigns, reasons and policies (through the ORM), then its
    history (server-side, one statement per table)."""
    from leads.models import Campaign, Reason, SalesRep
    from leads.services import reasons_ensure_defaults
    from revops.tenancy.context import organization_scope
    from revops.tenancy.models import Membership, Organization, Role, User
    from sla import services as sla_services
    from sla.models import SlaKind

    rep_count = max(5, leads // LEADS_PER_REP)
    teams = TEAMS[: max(1, min(len(TEAMS), rep_count // REPS_PER_TEAM))]
    organization = Organization.objects.create(name=slug.title(), slug=slug, timezone=zone)
    people = User.objects.bulk_create(
        User(email=f"{who}@{slug}.bench", password="!")  # noqa: S106 (unusable)
        for who in ["admin", *(f"rep{r}" for r in range(rep_count))]
    )
    reps = people[1:]
    with organization_scope(organization):
        Membership.objects.bulk_create(
            Membership(organization=organization, user=user,
                       role=Role.ADMIN if user is people[0] else Role.SALES)
            for user in people
        )  # fmt: skip
        SalesRep.objects.bulk_create(
            SalesRep(organization=organization, user=rep, team=teams[r % len(teams)])
            for r, rep in enumerate(reps)
        )
        campaigns = Campaign.objects.bulk_create(
            Campaign(organization=organization, name=f"Campaign {c}",
                     channel=CHANNELS[c % len(CHANNELS)])
            for c in range(max(4, leads // LEADS_PER_CAMPAIGN))
        )  # fmt: skip
        reasons_ensure_defaults()
        losses = list(Reason.objects.filter(kind="loss").values_list("pk", flat=True))
        policy = sla_services.policies_ensure()[SlaKind.FOLLOW_UP]
    end = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
    params = {
        "org": organization.pk, "leads": leads, "every": OPPORTUNITY_SHARE,
        "start": end - timedelta(days=HISTORY_DAYS), "span": timedelta(days=HISTORY_DAYS),
        "end": end, "first": FIRST_DAY, "last": YESTERDAY, "domain": f"@{slug}.bench",
        "currency": organization.currency, "policy": policy.pk, "losses": losses,
        "campaigns": [c.pk for c in campaigns], "n_campaigns": len(campaigns),
        "campaign_channels": [c.channel for c in campaigns],
        "unpaid": UNPAID, "n_unpaid": len(UNPAID),
        "industries": INDUSTRIES, "n_industries": len(INDUSTRIES),
        "reps": [rep.pk for rep in reps], "n_reps": len(reps), "teams": teams,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '256MB'")  # the generator's sorts, not the engine's
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute("SELECT coalesce(max(id), 0) FROM leads_lead")
        params["base"] = cursor.fetchone()[0]
        cursor.execute(PLAN, params)
        cursor.execute(STEPS, params)
        for statement in (LEADS_INSERT, TRANSITIONS_INSERT, OPPORTUNITIES_INSERT,
                          FEEDBACK_INSERT, TIMERS_INSERT, SPEND_INSERT, COST_INSERT):  # fmt: skip
            cursor.execute(statement, params)
        # Ids were chosen here; the identity sequence moves past them for the next inserts.
        cursor.execute("SELECT setval(pg_get_serial_sequence('leads_lead', 'id'),"
                       " (SELECT max(id) FROM leads_lead))")  # fmt: skip
        cursor.execute("DROP TABLE bench_plan, bench_steps")
        cursor.execute("RESET work_mem")
    return organization


def table_counts(organization_ids: list[int]) -> dict[str, int]:
    tables = {
        "leads": "leads_lead", "transitions": "leads_leadtransition",
        "opportunities": "leads_opportunity", "feedback": "leads_leadfeedback",
        "SLA timers": "sla_slatimer",
    }  # fmt: skip
    counts = {}
    with connection.cursor() as cursor:
        for label, table in tables.items():
            cursor.execute(
                f"SELECT count(*) FROM {table} WHERE organization_id = ANY(%s)",  # noqa: S608
                [organization_ids],
            )
            counts[label] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'won'), count(*) FILTER (WHERE status ="
            " 'lost') FROM leads_opportunity WHERE organization_id = ANY(%s)",
            [organization_ids],
        )
        counts["won"], counts["lost"] = cursor.fetchone()
    return counts


# --- measuring in a fresh process ---------------------------------------------------------------


def chunks(first: date, last: date, days: int) -> list[tuple[date, date]]:
    ranges, start = [], first
    while start <= last:
        ranges.append((start, min(start + timedelta(days=days - 1), last)))
        start += timedelta(days=days)
    return ranges


def measure(organization_ids: list[int], ranges: list[tuple[date, date]] | None, *,
            windows: bool = False) -> dict:  # fmt: skip
    """Run the computation in a fresh process; its figures, and its peak RSS in MB from wait4.
    ranges None: the idle baseline (Django set up, compute imported, scope entered). windows: then
    the standard windows ending on the last day, as the nightly task does."""
    spec = {"organizations": organization_ids, "windows": windows,
            "ranges": None if ranges is None else [[a.isoformat(), b.isoformat()]
                                                   for a, b in ranges]}  # fmt: skip
    env = {**os.environ, "BENCH_METRICS_DATABASE": connection.settings_dict["NAME"]}
    child = subprocess.Popen(  # noqa: S603 (this very script, our arguments)
        [sys.executable, __file__, "--child", json.dumps(spec)], env=env, stdout=subprocess.PIPE
    )
    output = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"measuring child failed with status {child.returncode}")
    result = json.loads(output)
    result["peak_mb"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    return result


def child_main(spec: dict) -> None:
    """In the fresh process: compute, timing the engine's phases, and print the figures."""
    connection.settings_dict["NAME"] = os.environ["BENCH_METRICS_DATABASE"]
    from metrics import compute
    from revops.tenancy.context import organization_scope
    from revops.tenancy.models import Organization

    phases = defaultdict(float)
    _time_phases(compute, phases)
    organizations = list(Organization.objects.filter(pk__in=spec["organizations"]))
    facts, started = 0, time.perf_counter()
    for organization in organizations:
        with organization_scope(organization):
            if spec["ranges"] is None:
                from leads.models import SalesRep

                SalesRep.objects.count()  # a connection, and the scope, as a task holds them
                continue
            for first, last in spec["ranges"]:
                facts += compute.snapshot_replace(date.fromisoformat(first),
                                                  date.fromisoformat(last))  # fmt: skip
            if spec["windows"]:
                from metrics.windows import windows_replace

                windows_started = time.perf_counter()
                windows_replace([date.fromisoformat(spec["ranges"][-1][1])])
                phases[WINDOWS_PHASE] += time.perf_counter() - windows_started
    seconds = time.perf_counter() - started
    json.dump({"seconds": seconds, "facts": facts, "phases": phases}, sys.stdout)


# The engine's phases (metrics/compute.py), each wrapped with a timer in the child: same calls,
# same results. What is left of the total is deleting the range's old facts and the commit (with
# the facts' deferred foreign-key checks).
PHASES = {
    "_events": "SQL: events (query, COPY out, CSV parse)",
    "_facts": "pandas: sums per day, measure, member",
    "_write_facts": "write: facts COPY in",
}
WINDOWS_PHASE = "windows: medians, percentiles (30/90/365 d)"
OTHER_PHASE = "delete old facts, commit"


def _time_phases(compute, phases: dict) -> None:
    def timed(function, label):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[label] += time.perf_counter() - started

        return wrapper

    for name, label in PHASES.items():
        setattr(compute, name, timed(getattr(compute, name), label))


# --- the run ------------------------------------------------------------------------------------


def build_all() -> tuple[object, list, dict]:
    timings = {}
    started = time.perf_counter()
    large = build_organization("bench-large", "America/New_York", LEADS, 0.42)
    timings["large"] = time.perf_counter() - started
    started = time.perf_counter()
    small = [build_organization(f"bench-small-{i}", ZONES[i % len(ZONES)], SMALL_LEADS,
                                (i + 1) / (SMALL_ORGS + 2)) for i in range(SMALL_ORGS)]  # fmt: skip
    timings["small"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # As in steady state (autovacuum would have run): statistics and visibility map fresh.
        cursor.execute("VACUUM (ANALYZE)")
        timings["vacuum"] = time.perf_counter() - started
        cursor.execute(
            "SELECT current_setting('server_version'),"
            " current_setting('shared_buffers'), current_setting('work_mem')"
        )
        version, buffers, work_mem = cursor.fetchone()
    timings["server"] = f"PostgreSQL {version}, shared_buffers {buffers}, work_mem {work_mem}"
    return large, small, timings


def run_measurements(large, small) -> dict:
    backfill = [(FIRST_DAY, YESTERDAY)]
    nightly = [(NIGHTLY_FIRST, YESTERDAY)]
    small_ids = [organization.pk for organization in small]
    return {
        "baseline": measure([large.pk], None),
        "large_backfill": measure([large.pk], backfill),
        "large_chunked": measure([large.pk], chunks(FIRST_DAY, YESTERDAY, CHUNK_DAYS)),
        "large_nightly": measure([large.pk], nightly, windows=True),
        "small_backfill": measure(small_ids, backfill),
        "small_nightly": measure(small_ids, nightly, windows=True),
    }


def check_facts(large) -> list[tuple[str, float, float]]:
    """The snapshot adds up to the raw rows: two years of facts (days in the organization's time
    zone) against plain counts of the tables over the same instants."""
    from zoneinfo import ZoneInfo

    from metrics import selectors
    from revops.tenancy.context import organization_scope

    zone = ZoneInfo(large.timezone)
    start = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(TODAY, datetime.min.time(), tzinfo=zone)
    bounds = {"org": large.pk, "start": start, "end": end}
    with organization_scope(large), connection.cursor() as cursor:
        sums = selectors.totals(FIRST_DAY, YESTERDAY, ["entered_new", "entered_opportunity",
                                                       "won_deals", "won_value"])  # fmt: skip
        by_rep = selectors.by_member(FIRST_DAY, YESTERDAY, ["entered_sql"], "rep")
        cursor.execute(
            "SELECT count(*) FILTER (WHERE to_stage = 'new'),"
            " count(*) FILTER (WHERE to_stage = 'opportunity') FROM leads_leadtransition"
            " WHERE organization_id = %(org)s AND at >= %(start)s AND at < %(end)s",
            bounds,
        )
        new, opportunities = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), coalesce(sum(won_value), 0)::float8 FROM leads_opportunity"
            " WHERE organization_id = %(org)s AND status = 'won' AND closed_at >= %(start)s"
            " AND closed_at < %(end)s",
            bounds,
        )
        won, value = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM leads_leadtransition t JOIN leads_lead l ON l.id = t.lead_id"
            " WHERE t.organization_id = %(org)s AND t.to_stage = 'sql' AND t.from_stage = 'mql'"
            " AND l.owner_id IS NOT NULL AND t.at >= %(start)s AND t.at < %(end)s",
            bounds,
        )
        sql_with_owner = cursor.fetchone()[0]
    return [
        ("leads entered 'new' (facts / transitions)", sums["entered_new"], new),
        ("entered opportunity (facts / transitions)", sums["entered_opportunity"],
         opportunities),
        ("won deals (facts / opportunities won)", sums["won_deals"], won),
        ("won value (facts / opportunities won)", sums["won_value"], value),
        ("SQLs summed over reps (facts / transitions)",
         sum(row["entered_sql"] for row in by_rep.values()), sql_with_owner),
    ]  # fmt: skip


# --- report -------------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_report(counts, small_counts, build_timings, results, checks) -> None:
    print(
        f"large organization: {counts['leads']:,} leads, {counts['transitions']:,} transitions,"
        f" {counts['opportunities']:,} opportunities ({counts['won']:,} won,"
        f" {counts['lost']:,} lost), {counts['feedback']:,} ratings,"
        f" {counts['SLA timers']:,} SLA timers; built in {build_timings['large']:.0f} s"
    )
    print(f"{SMALL_ORGS} small organizations: {small_counts['leads']:,} leads,"
          f" {small_counts['transitions']:,} transitions,"
          f" {small_counts['opportunities']:,} opportunities in total;"
          f" built in {build_timings['small']:.0f} s;"
          f" VACUUM (ANALYZE) {build_timings['vacuum']:.0f} s")  # fmt: skip
    print(f"server: {build_timings['server']}; {os.cpu_count()} CPUs")
    baseline = results["baseline"]["peak_mb"]
    print(f"peak RSS of an idle process (Django set up, engine imported, scope entered):"
          f" {baseline:.0f} MB")  # fmt: skip
    print()
    print(f"{'computation (each in a fresh process)':<46} {'time':>8} {'peak RSS':>9}"
          f" {'above idle':>10} {'facts':>11} {'us/fact':>8}   target")  # fmt: skip
    print("-" * 118)
    rows = [
        ("large: nightly (last 7 days, then windows)", "large_nightly", True),
        ("large: backfill, 2 years in one call", "large_backfill", True),
        (f"large: backfill, 2 years in {CHUNK_DAYS}-day chunks", "large_chunked", True),
        (f"{SMALL_ORGS} small: nightly, one after another", "small_nightly", False),
        (f"{SMALL_ORGS} small: backfill 2 years, one after another", "small_backfill", False),
    ]
    for label, key, targeted in rows:
        figures = results[key]
        target = ""
        if targeted:
            met = figures["seconds"] < TIME_TARGET_S and figures["peak_mb"] < MEMORY_TARGET_MB
            target = (f"< {TIME_TARGET_S:.0f} s, < {MEMORY_TARGET_MB / 1024:.0f} GB: "
                      f"{verdict(met)}")  # fmt: skip
        per_fact = figures["seconds"] / max(1, figures["facts"]) * 1e6
        print(f"{label:<46} {figures['seconds']:7.1f}s {figures['peak_mb']:7.0f}MB"
              f" {figures['peak_mb'] - baseline:8.0f}MB {figures['facts']:>11,} {per_fact:8.1f}"
              f"   {target}")  # fmt: skip
    print()
    print(
        f"{SMALL_ORGS} small vs the large one (same leads in total:"
        f" {small_counts['leads'] / counts['leads']:.2f}x)"
    )
    for kind in ("nightly", "backfill"):
        small, large = results[f"small_{kind}"], results[f"large_{kind}"]
        time_ratio = small["seconds"] / large["seconds"]
        facts_ratio = small["facts"] / max(1, large["facts"])
        per_fact = time_ratio / facts_ratio
        print(
            f"  {kind + ':':<10} time {time_ratio:5.2f}x (about the same, <= 2x:"
            f" {verdict(time_ratio <= 2)}); facts written {facts_ratio:5.2f}x; time per fact"
            f" {per_fact:4.2f}x (linear in rows, <= 1.5x: {verdict(per_fact <= 1.5)});"
            f" {small['seconds'] / SMALL_ORGS * 1000:.0f} ms per small organization"
        )
    print()
    print("where the time goes (s)")
    keys = ["large_nightly", "large_backfill", "large_chunked", "small_nightly", "small_backfill"]
    print(f"{'phase':<42}" + "".join(f"{key.replace('_', ' '):>15}" for key in keys))
    for phase in [*PHASES.values(), WINDOWS_PHASE, OTHER_PHASE]:
        figures = []
        for key in keys:
            spent = results[key]["phases"]
            other = results[key]["seconds"] - sum(spent.values())
            figures.append(other if phase == OTHER_PHASE else spent.get(phase, 0.0))
        print(f"{phase:<42}" + "".join(f"{figure:15.2f}" for figure in figures))
    print()
    print("checks: two years of the large organization's facts against its rows")
    for label, figure, expected in checks:
        ok = abs(figure - expected) <= 1e-6 * max(1.0, abs(expected))
        print(f"  {label:<50} {figure:>16,.2f} {expected:>16,.2f}   {verdict(ok)}")


def main() -> None:
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        large, small, build_timings = build_all()
        counts = table_counts([large.pk])
        small_counts = table_counts([organization.pk for organization in small])
        results = run_measurements(large, small)
        # The last large computation was the nightly run over a full backfill: all two years.
        checks = check_facts(large)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print_report(counts, small_counts, build_timings, results, checks)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_main(json.loads(sys.argv[2]))
    else:
        main()
