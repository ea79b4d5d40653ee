"""Computing the additive daily facts of an organization, set-based, with pandas.

Each source is one grouped SQL query over the date range (days in the organization's time zone),
returning a row per day and combination of dimension members; pandas then writes one fact per
(day, measure, dimension, member) for the overall figure and each dimension. No Python loop
touches the database row by row. `snapshot_replace` swaps a range's facts in one transaction, so
running it twice, or after a crash half-way, leaves the same snapshot.

Dimensions are the lead's attributes when the snapshot is computed: channel (its source),
campaign (id), segment (industry) and rep (owner id), plus team (the owner's SalesRep team).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from leads.models import SalesRep
from metrics.models import MetricFact, MetricRun, RunStatus
from revops.tenancy.context import current_organization
from revops.tenancy.copy import copy_insert

LEAD_DIMENSIONS = {"channel": "source", "campaign": "campaign_id", "segment": "industry",
                   "rep": "owner_id"}  # fmt: skip
KEYS = ["source", "campaign_id", "industry", "owner_id"]

STAGE_ENTRIES = """
    SELECT (t.at AT TIME ZONE %(tz)s)::date AS day, 'entered_' || t.to_stage AS measure,
           l.source, l.campaign_id, l.industry, l.owner_id, count(*)::float8 AS value
    FROM leads_leadtransition t JOIN leads_lead l ON l.id = t.lead_id
    WHERE t.organization_id = %(org)s AND t.at >= %(start)s AND t.at < %(end)s
      AND t.from_stage <> t.to_stage
    GROUP BY 1, 2, 3, 4, 5, 6
"""

# Closed deals by the day they closed: counts, won value, and days from the lead's creation
# (wall-clock days of the organization's time zone: a DST change adds or removes no hour).
CLOSED_DEALS = """
    SELECT (o.closed_at AT TIME ZONE %(tz)s)::date AS day, o.status,
           l.source, l.campaign_id, l.industry, l.owner_id,
           count(*)::float8 AS deals,
           coalesce(sum(o.won_value), 0)::float8 AS won_value,
           sum(extract(epoch FROM (o.closed_at AT TIME ZONE %(tz)s)
                                  - (created.at AT TIME ZONE %(tz)s)) / 86400)::float8
               AS cycle_days
    FROM leads_opportunity o
    JOIN leads_lead l ON l.id = o.lead_id
    JOIN LATERAL (
        SELECT min(t.at) AS at FROM leads_leadtransition t
        WHERE t.organization_id = o.organization_id AND t.lead_id = o.lead_id
    ) created ON true
    WHERE o.organization_id = %(org)s AND o.status IN ('won', 'lost')
      AND o.closed_at >= %(start)s AND o.closed_at < %(end)s
    GROUP BY 1, 2, 3, 4, 5, 6
"""

FEEDBACK = """
    SELECT (f.created_at AT TIME ZONE %(tz)s)::date AS day,
           l.source, l.campaign_id, l.industry, l.owner_id,
           count(*)::float8 AS ratings, sum(f.rating)::float8 AS rating_sum
    FROM leads_leadfeedback f JOIN leads_lead l ON l.id = f.lead_id
    WHERE f.organization_id = %(org)s AND f.created_at >= %(start)s AND f.created_at < %(end)s
      AND NOT f.from_rejection
    GROUP BY 1, 2, 3, 4, 5
"""

# Follow-up SLA outcomes by the day the deadline fell (docs/metrics.md, "SLA compliance").
SLA_OUTCOMES = """
    SELECT (s.due_at AT TIME ZONE %(tz)s)::date AS day,
           l.source, l.campaign_id, l.industry, s.owner_id,
           count(*) FILTER (WHERE s.state = 'met' AND s.breached_at IS NULL)::float8 AS on_time,
           count(*) FILTER (WHERE s.breached_at IS NOT NULL)::float8 AS breached
    FROM sla_slatimer s JOIN leads_lead l ON l.id = s.lead_id
    WHERE s.organization_id = %(org)s AND s.target = 'follow_up'
      AND s.due_at >= %(start)s AND s.due_at < %(end)s
    GROUP BY 1, 2, 3, 4, 5
"""

SPEND = """
    SELECT spent_on AS day, channel AS source, campaign_id, sum(amount)::float8 AS value
    FROM metrics_marketingspend
    WHERE organization_id = %(org)s AND spent_on >= %(first)s AND spent_on <= %(last)s
    GROUP BY 1, 2, 3
"""

# A period's sales cost, spread evenly over its days.
SALES_COST = """
    SELECT d::date AS day, c.team, c.rep_id AS owner_id,
           sum(c.amount / (c.period_end - c.period_start + 1))::float8 AS value
    FROM metrics_salescost c,
         generate_series(greatest(c.period_start, %(first)s::date),
                         least(c.period_end, %(last)s::date), interval '1 day') AS d
    WHERE c.organization_id = %(org)s AND c.period_end >= %(first)s
      AND c.period_start <= %(last)s
    GROUP BY 1, 2, 3
"""


def _frame(sql: str, params: dict) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


def _explode(frame: pd.DataFrame, measures: dict[str, str | None],
             dimensions: dict[str, str], teams: dict[int, str]) -> pd.DataFrame:  # fmt: skip
    """Wide rows (day, value columns, dimension columns) → long facts, overall and per member of
    each dimension. `measures` maps a value column to its measure name (None: the row's own
    `measure` column names it). A rep's team is their SalesRep team unless the row names one."""
    columns = ["day", "measure", "dimension", "member", "value"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.copy()
    dimensions = dict(dimensions)
    if "owner_id" in frame:
        owner_team = frame["owner_id"].map(lambda owner: teams.get(owner, "") if owner else "")
        if "team" in frame:  # a cost booked to a team names it; else the rep's team
            owner_team = owner_team.where(frame["team"] == "", frame["team"])
        frame["team"] = owner_team
        dimensions["team"] = "team"
    parts = []
    for column, measure in measures.items():
        named = frame if measure is None else frame.assign(measure=measure)
        for dimension, key in {"": None, **dimensions}.items():
            keys = ["day", "measure"] + ([key] if key else [])
            summed = named.groupby(keys, dropna=False)[column].sum().reset_index()
            summed["dimension"] = dimension
            summed["member"] = summed[key].map(_member) if key else ""
            summed = summed.rename(columns={column: "value"})
            parts.append(summed[summed["member"] != ""][columns] if key else summed[columns])
    facts = pd.concat(parts, ignore_index=True)
    return facts[facts["value"] != 0]


def _member(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def compute_facts(first_day: date, last_day: date) -> pd.DataFrame:
    """Every fact of the current organization for the days first_day..last_day (inclusive)."""
    organization = current_organization()
    tz = ZoneInfo(organization.timezone)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    params = {"org": organization.pk, "tz": organization.timezone, "start": start, "end": end,
              "first": first_day, "last": last_day}  # fmt: skip
    teams = dict(SalesRep.objects.values_list("user_id", "team"))
    closed = _frame(CLOSED_DEALS, params)
    parts = [
        _explode(_frame(STAGE_ENTRIES, params), {"value": None}, LEAD_DIMENSIONS, teams),
        _explode(closed[closed["status"] == "won"] if len(closed) else closed,
                 {"deals": "won_deals", "won_value": "won_value",
                  "cycle_days": "won_cycle_days_sum"}, LEAD_DIMENSIONS, teams),
        _explode(closed[closed["status"] == "lost"] if len(closed) else closed,
                 {"deals": "lost_deals"}, LEAD_DIMENSIONS, teams),
        _explode(_frame(FEEDBACK, params),
                 {"ratings": "feedback_ratings", "rating_sum": "feedback_rating_sum"},
                 LEAD_DIMENSIONS, teams),
        _explode(_frame(SLA_OUTCOMES, params),
                 {"on_time": "follow_up_on_time", "breached": "follow_up_breached"},
                 LEAD_DIMENSIONS, teams),
        _explode(_frame(SPEND, params), {"value": "marketing_spend"},
                 {"channel": "source", "campaign": "campaign_id"}, teams),
        _explode(_frame(SALES_COST, params), {"value": "sales_cost"}, {"rep": "owner_id"}, teams),
    ]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def snapshot_replace(first_day: date, last_day: date, *, run: MetricRun | None = None) -> int:
    """Recompute the range and swap its facts in one transaction: a re-run is harmless."""
    organization = current_organization()
    if run is not None:
        MetricRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING,
                                                   started_at=timezone.now())  # fmt: skip
    facts = compute_facts(first_day, last_day)
    rows = [
        MetricFact(
            organization=organization,
            day=day,
            measure=measure,
            dimension=dimension,
            member=member[:200],
            value=float(value),
        )
        for day, measure, dimension, member, value in facts[
            ["day", "measure", "dimension", "member", "value"]
        ].itertuples(index=False)
    ]
    with transaction.atomic():
        MetricFact.objects.filter(day__gte=first_day, day__lte=last_day).delete()
        copy_insert(MetricFact, rows)
        if run is not None:
            MetricRun.objects.filter(pk=run.pk).update(
                status=RunStatus.DONE, finished_at=timezone.now(), facts_written=len(rows)
            )
    return len(rows)
