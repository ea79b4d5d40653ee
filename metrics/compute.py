"""Computing the additive daily facts of an organization, set-based, with pandas.

One SQL statement (a UNION ALL over the sources, each a set-based join) returns one row per
event of the date range (days in the organization's time zone): a stage entry, a closed deal's
count, value and cycle, a rating, a follow-up outcome, a day's spend or share of a sales cost,
with the event's dimension members. It streams out through COPY into pandas (categoricals), which
sums the events per (day, measure) overall and per member of each dimension; the facts go back
in through COPY. No Python loop touches the database row by row. `snapshot_replace` swaps a
range's facts in one transaction, so running it twice, or after a crash half-way, leaves the same
snapshot.

Dimensions are the lead's attributes when the snapshot is computed: channel (its source),
campaign (id), segment (industry) and rep (owner id), plus team (the owner's SalesRep team), and
for exits from the funnel the reason given.

Why this shape (measured with `make bench ARGS=metrics`, one organization of 1,000,000 leads and
a hundred of 10,000): summing in SQL (GROUP BY every member, or GROUPING SETS per dimension)
sorts the millions of joined rows once per dimension and costs several times the join itself;
summing the categories' integer codes in pandas/numpy takes a fraction of it. Rows travel as CSV
through COPY both ways, never as a Python object per row, so a two-year backfill of the large
organization peaks at a few hundred MB and the nightly run of a small one costs milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from leads.models import Stage
from metrics.models import MetricFact, MetricRun, RunStatus
from revops.dates import day_range
from revops.tenancy.context import current_organization
from revops.tenancy.copy import copy_frame, copy_out_csv

# The dimensions: each is also the events' column holding its member.
KEYS = ["channel", "campaign", "segment", "rep", "team", "reason"]
# Pairs of dimensions, for the charts that break one dimension down while another filters it
# (the dashboard's lead quality by source or campaign, win rate by segment): the dimension is
# the two names joined by "/" in this order, the member the two members joined by PAIR_SEPARATOR.
# Only the measures those charts read are paired (`is_cross_measure`), which keeps the pairs to
# about as many facts as the single dimensions.
PAIRS = [("campaign", "channel"), ("channel", "segment"), ("campaign", "segment"),
         ("channel", "team"), ("campaign", "team"), ("segment", "team")]  # fmt: skip
PAIR_SEPARATOR = "\x1f"  # ASCII unit separator: in no channel, campaign id, segment or team
# Stages a lead leaves the funnel by; their entries carry the reason given (dimension "reason").
EXIT_STAGES = [Stage.REJECTED, Stage.LOST, Stage.NURTURE, Stage.DISQUALIFIED]

# Every branch yields (day, measure, channel, campaign, segment, rep, team, reason, value);
# members as text, "" where the event has none (it then counts in the total only). A lead's
# members are its current attributes; its team is its owner's SalesRep team.
EVENTS_TEMPLATE = """
-- Stage moves: one measure per edge of the journey, moved_<from>_<to> ("start" for a lead's
-- creation), so both a stage's entries (the sum over its edges) and the flow between stages
-- add up over any range.
SELECT (t.at AT TIME ZONE %(tz)s)::date AS day,
       'moved_' || coalesce(nullif(t.from_stage, ''), 'start') || '_' || t.to_stage AS measure,
       l.source AS channel, coalesce(l.campaign_id::text, '') AS campaign, l.industry AS segment,
       coalesce(l.owner_id::text, '') AS rep, coalesce(r.team, '') AS team,
       CASE WHEN t.to_stage = ANY(%(exits)s)
            THEN coalesce(nullif(t.reason_label, ''), left(split_part(t.reason, E'\\n', 1), 100))
            ELSE '' END AS reason,
       1::float8 AS value
FROM leads_leadtransition t
JOIN leads_lead l ON l.organization_id = t.organization_id AND l.id = t.lead_id
LEFT JOIN leads_salesrep r ON r.organization_id = l.organization_id AND r.user_id = l.owner_id
WHERE t.organization_id = %(org)s AND t.at >= %(start)s AND t.at < %(end)s
  -- Every stage, named: PostgreSQL then reads the range of each from the (organization,
  -- to_stage, at) index instead of all the organization's transitions.
  AND t.to_stage = ANY(%(stages)s)
  AND t.from_stage <> t.to_stage  -- assignment notes keep the stage: no move
  {lead_filter}

UNION ALL
-- Closed deals by the day they closed: a count, and for wins the value and the days from the
-- lead's creation (its first transition) in wall-clock days of the organization's time zone (a
-- DST change adds or removes no hour).
SELECT (o.closed_at AT TIME ZONE %(tz)s)::date, v.measure, l.source,
       coalesce(l.campaign_id::text, ''), l.industry, coalesce(l.owner_id::text, ''),
       coalesce(r.team, ''), '', v.value
FROM leads_opportunity o
JOIN leads_lead l ON l.organization_id = o.organization_id AND l.id = o.lead_id
LEFT JOIN leads_salesrep r ON r.organization_id = l.organization_id AND r.user_id = l.owner_id
CROSS JOIN LATERAL (
    -- One probe of the (organization, lead, at) index per deal; no transition: no cycle.
    SELECT min(t.at) AS at FROM leads_leadtransition t
    WHERE t.organization_id = o.organization_id AND t.lead_id = o.lead_id
) created
CROSS JOIN LATERAL (VALUES
    (o.status || '_deals', 1::float8),
    ('won_value', CASE WHEN o.status = 'won' THEN coalesce(o.won_value, 0)::float8 END),
    ('won_cycle_days_sum', CASE WHEN o.status = 'won' THEN
        (extract(epoch FROM (o.closed_at AT TIME ZONE %(tz)s) - (created.at AT TIME ZONE %(tz)s))
         / 86400)::float8 END)
) AS v(measure, value)
WHERE o.organization_id = %(org)s AND o.status IN ('won', 'lost')
  AND o.closed_at >= %(start)s AND o.closed_at < %(end)s AND v.value IS NOT NULL
  {lead_filter}

UNION ALL
-- Lead-quality ratings given that day (a rejection's rating is not a rating of the lead).
SELECT (f.created_at AT TIME ZONE %(tz)s)::date, v.measure, l.source,
       coalesce(l.campaign_id::text, ''), l.industry, coalesce(l.owner_id::text, ''),
       coalesce(r.team, ''), '', v.value
FROM leads_leadfeedback f
JOIN leads_lead l ON l.organization_id = f.organization_id AND l.id = f.lead_id
LEFT JOIN leads_salesrep r ON r.organization_id = l.organization_id AND r.user_id = l.owner_id
CROSS JOIN LATERAL (VALUES ('feedback_ratings', 1::float8),
                           ('feedback_rating_sum', f.rating::float8)) AS v(measure, value)
WHERE f.organization_id = %(org)s AND f.created_at >= %(start)s AND f.created_at < %(end)s
  AND NOT f.from_rejection
  {lead_filter}

UNION ALL
-- Follow-up SLA outcomes by the day the deadline fell (docs/metrics.md, "SLA compliance"); the
-- rep is the timer's owner.
SELECT (s.due_at AT TIME ZONE %(tz)s)::date,
       CASE WHEN s.breached_at IS NOT NULL THEN 'follow_up_breached' ELSE 'follow_up_on_time' END,
       l.source, coalesce(l.campaign_id::text, ''), l.industry, coalesce(s.owner_id::text, ''),
       coalesce(r.team, ''), '', 1::float8
FROM sla_slatimer s
JOIN leads_lead l ON l.organization_id = s.organization_id AND l.id = s.lead_id
LEFT JOIN leads_salesrep r ON r.organization_id = s.organization_id AND r.user_id = s.owner_id
WHERE s.organization_id = %(org)s AND s.target = 'follow_up'
  AND s.due_at >= %(start)s AND s.due_at < %(end)s
  AND (s.breached_at IS NOT NULL OR s.state = 'met')
  {lead_filter}

UNION ALL
-- Spend dated that day, by the spend row's channel and campaign.
SELECT spent_on, 'marketing_spend', channel, coalesce(campaign_id::text, ''), '', '', '', '',
       amount::float8
FROM metrics_marketingspend
WHERE organization_id = %(org)s AND spent_on >= %(first)s AND spent_on <= %(last)s
  -- Spend has a channel and a campaign, no segment or team: filtered by those, it is none.
  AND %(segment)s = '' AND %(team)s = ''
  AND (%(channel)s = '' OR channel = %(channel)s)
  AND (%(campaign)s = '' OR campaign_id::text = %(campaign)s)

UNION ALL
-- A period's sales cost, spread evenly over its days; its team is the one it names, else its
-- rep's team.
SELECT d::date, 'sales_cost', '', '', '', coalesce(c.rep_id::text, ''),
       coalesce(nullif(c.team, ''), r.team, ''), '',
       (c.amount / (c.period_end - c.period_start + 1))::float8
FROM metrics_salescost c
LEFT JOIN leads_salesrep r ON r.organization_id = c.organization_id AND r.user_id = c.rep_id
CROSS JOIN LATERAL generate_series(greatest(c.period_start, %(first)s::date),
                                   least(c.period_end, %(last)s::date), interval '1 day') AS d
WHERE c.organization_id = %(org)s AND c.period_end >= %(first)s AND c.period_start <= %(last)s
  -- Sales cost has a team (and a rep), no channel, campaign or segment.
  AND %(channel)s = '' AND %(campaign)s = '' AND %(segment)s = ''
  AND (%(team)s = '' OR coalesce(nullif(c.team, ''), r.team, '') = %(team)s)

UNION ALL
-- Subscriptions (docs/metrics.md, "Unit economics"): their revenue booked that day, the accounts
-- subscribed that day (an account counts from the day it subscribed to the day before it
-- left), and the accounts that left. Customers have no lead members: filtered, they are none.
SELECT x.occurred_on, 'subscription_revenue', '', '', '', '', '', '', sum(x.amount)::float8
FROM metrics_revenuetransaction x
JOIN metrics_account a ON a.organization_id = x.organization_id AND a.id = x.account_id
WHERE x.organization_id = %(org)s AND x.occurred_on >= %(first)s AND x.occurred_on <= %(last)s
  AND a.subscribed_on IS NOT NULL {no_filter}
GROUP BY x.occurred_on

UNION ALL
-- Each day's subscribers, as a running sum: +1 from the day an account subscribed (or the
-- range's first day), -1 on the day it left.
SELECT d::date, 'subscriber_days', '', '', '', '', '', '',
       (sum(sum(coalesce(c.delta, 0))) OVER (ORDER BY d))::float8
FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
LEFT JOIN (
    SELECT greatest(subscribed_on, %(first)s::date) AS day, 1 AS delta
    FROM metrics_account
    WHERE organization_id = %(org)s AND subscribed_on <= %(last)s
      AND (churned_on IS NULL OR churned_on > %(first)s)
    UNION ALL
    SELECT churned_on, -1
    FROM metrics_account
    WHERE organization_id = %(org)s AND subscribed_on <= %(last)s
      AND churned_on > %(first)s AND churned_on <= %(last)s
) c ON c.day = d::date
WHERE TRUE {no_filter}
GROUP BY d

UNION ALL
SELECT churned_on, 'accounts_lost', '', '', '', '', '', '', count(*)::float8
FROM metrics_account
WHERE organization_id = %(org)s AND churned_on >= %(first)s AND churned_on <= %(last)s
  AND subscribed_on IS NOT NULL {no_filter}
GROUP BY churned_on
"""

CROSS_TOTALS = {"feedback_ratings", "feedback_rating_sum", "won_deals", "lost_deals"}


def pair_dimension(first: str, second: str) -> tuple[str, bool]:
    """The stored pair of two dimensions, and whether `first` is the pair's first member."""
    if (first, second) in PAIRS:
        return f"{first}/{second}", True
    if (second, first) in PAIRS:
        return f"{second}/{first}", False
    raise ValueError(f"No facts pair {first} with {second}.")


def is_cross_measure(measure: str) -> bool:
    """The measures stored per pair of dimensions: entries into MQL (its edges), ratings and
    closed deals."""
    return (measure.startswith("moved_") and measure.endswith("_mql")) or measure in CROSS_TOTALS


# Filters on the lead's members (docs/metrics.md, "Filters"): "" is no filter. The parameters are
# always bound, so one statement serves the nightly run and a filtered on-demand computation.
LEAD_FILTER = """AND (%(channel)s = '' OR l.source = %(channel)s)
  AND (%(campaign)s = '' OR l.campaign_id::text = %(campaign)s)
  AND (%(segment)s = '' OR l.industry = %(segment)s)
  AND (%(team)s = '' OR r.team = %(team)s)"""
NO_FILTER = "AND %(channel)s = '' AND %(campaign)s = '' AND %(segment)s = '' AND %(team)s = ''"
EVENTS = EVENTS_TEMPLATE.replace("{lead_filter}", LEAD_FILTER).replace("{no_filter}", NO_FILTER)

# The opportunities opened less those closed over a span, as the stage moves of EVENTS count
# them (moved_*_opportunity less moved_*_won and moved_*_lost), in one indexed count.
OPEN_BALANCE = (
    """
SELECT coalesce(sum(CASE WHEN t.to_stage = 'opportunity' THEN 1 ELSE -1 END), 0)
FROM leads_leadtransition t
JOIN leads_lead l ON l.organization_id = t.organization_id AND l.id = t.lead_id
LEFT JOIN leads_salesrep r ON r.organization_id = l.organization_id AND r.user_id = l.owner_id
WHERE t.organization_id = %(org)s AND t.at >= %(start)s AND t.at < %(end)s
  AND t.to_stage IN ('opportunity', 'won', 'lost') AND t.from_stage <> t.to_stage
  """
    + LEAD_FILTER
)


@dataclass(frozen=True)
class Filters:
    """Members to restrict the leads to ("" = any); a campaign's id as text."""

    channel: str = ""
    campaign: str = ""
    segment: str = ""
    team: str = ""

    def active(self) -> dict[str, str]:
        return {name: value for name, value in asdict(self).items() if value}


NO_FILTERS = Filters()

FACT_COLUMNS = ["day", "measure", "dimension", "member", "value"]


def _events(params: dict) -> pd.DataFrame:
    """The range's events, streamed out of PostgreSQL as CSV: members as categories."""
    buffer = copy_out_csv(EVENTS, params)
    if not buffer.getbuffer().nbytes:  # no event in the range
        return pd.DataFrame(columns=["day", "measure", *KEYS, "value"])
    return pd.read_csv(
        buffer, header=None, names=["day", "measure", *KEYS, "value"], na_filter=False,
        dtype={**dict.fromkeys(["day", "measure", *KEYS], "category"), "value": "float64"},
    )  # fmt: skip


def _facts(events: pd.DataFrame, *, pairs: bool) -> pd.DataFrame:
    """Sum the events per (day, measure): overall, per member of each dimension, and (`pairs`)
    for the cross measures per pair of members (PAIRS). A member "" (no campaign, no owner...)
    counts in the total only; sums of 0 are no fact.

    The sums run on the categories' integer codes, one combined key per dimension (np.unique
    and a weighted bincount): the same result as a groupby per dimension, without its fixed cost
    per call, which decides the nightly run of a small organization."""
    if events.empty:
        return pd.DataFrame(columns=FACT_COLUMNS)
    day, measure = events["day"].array, events["measure"].array  # Categoricals
    measures = len(measure.categories)
    cell = day.codes.astype(np.int64) * measures + measure.codes  # (day, measure) as one integer
    value = events["value"].to_numpy()

    def summed(dimension: str, cells, members: pd.Index, codes, weights) -> pd.DataFrame:
        groups, inverse = np.unique(cells * len(members) + codes, return_inverse=True)
        sums = np.bincount(inverse, weights=weights)
        member = groups % len(members)
        keep = (sums != 0) & ((members != "")[member] if dimension else True)
        kept = groups[keep] // len(members)
        return pd.DataFrame({
            "day": pd.Categorical.from_codes(kept // measures, dtype=day.dtype),
            "measure": pd.Categorical.from_codes(kept % measures, dtype=measure.dtype),
            "dimension": dimension,
            "member": members[member[keep]],
            "value": sums[keep],
        })  # fmt: skip

    parts = [summed("", cell, pd.Index([""]), 0, value)]
    for key in KEYS:
        members = events[key].array
        parts.append(summed(key, cell, members.categories, members.codes, value))
    cross = np.asarray([is_cross_measure(m) for m in measure.categories])[measure.codes]
    for first, second in PAIRS if pairs else []:
        a, b = events[first].array, events[second].array
        rows = cross & (a.categories != "")[a.codes] & (b.categories != "")[b.codes]
        # Every (first, second) pair of members as one category.
        left = np.repeat(np.asarray(a.categories.astype(str), dtype=object), len(b.categories))
        right = np.tile(np.asarray(b.categories.astype(str), dtype=object), len(a.categories))
        members = pd.Index(left + PAIR_SEPARATOR + right)
        codes = a.codes[rows].astype(np.int64) * len(b.categories) + b.codes[rows]
        parts.append(summed(f"{first}/{second}", cell[rows], members, codes, value[rows]))
    return pd.concat(parts, ignore_index=True)


def compute_facts(first_day: date, last_day: date, filters: Filters = NO_FILTERS, *,
                  pairs: bool = False) -> pd.DataFrame:  # fmt: skip
    """Every fact of the current organization for the days first_day..last_day (inclusive):
    columns day (ISO date), measure, dimension, member, value; of the leads (and inputs) that
    pass the filters, when given. `pairs`: the facts per pair of dimensions too (the snapshot
    stores them; a computation on demand for a filter needs none)."""
    organization = current_organization()
    start, end = day_range(first_day, last_day, organization.timezone)
    params = {"org": organization.pk, "tz": organization.timezone, "start": start, "end": end,
              "first": first_day, "last": last_day, "stages": Stage.values,
              "exits": EXIT_STAGES, **asdict(filters)}  # fmt: skip
    return _facts(_events(params), pairs=pairs)


def open_balance(first_day: date, last_day: date, filters: Filters = NO_FILTERS) -> float:
    """Opportunities opened less those closed (won or lost) on the days first_day..last_day, of
    the leads that pass the filters: what the facts' stage moves sum to, without the facts."""
    organization = current_organization()
    start, end = day_range(first_day, last_day, organization.timezone)
    with connection.cursor() as cursor:
        cursor.execute(OPEN_BALANCE, {"org": organization.pk, "start": start, "end": end,
                                      **asdict(filters)})  # fmt: skip
        return float(cursor.fetchone()[0])


def _write_facts(facts: pd.DataFrame) -> None:
    copy_frame(MetricFact, facts[FACT_COLUMNS], text_columns=("dimension", "member"))


def snapshot_replace(first_day: date, last_day: date, *, run: MetricRun | None = None) -> int:
    """Recompute the range and swap its facts in one transaction: a re-run is harmless."""
    if run is not None:
        MetricRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING,
                                                   started_at=timezone.now())  # fmt: skip
    facts = compute_facts(first_day, last_day, pairs=True)
    with transaction.atomic():
        MetricFact.objects.filter(day__gte=first_day, day__lte=last_day).delete()
        _write_facts(facts)
        if run is not None:
            MetricRun.objects.filter(pk=run.pk).update(
                status=RunStatus.DONE, finished_at=timezone.now(), facts_written=len(facts)
            )
    return len(facts)
