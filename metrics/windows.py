"""Non-additive figures: distributions (count, mean, median, 90th and 95th percentile) of
durations and amounts, which do not add up across days (docs/metrics.md, "Windowed figures").

One set-based query per source loads the observations of a span of days (one row per won deal,
met follow-up or stage move, with its dimension members) through COPY into pandas; each range is
then a mask and a groupby. The nightly run stores the standard windows (30, 90 and 365 days
ending yesterday) in `MetricWindow`; a dashboard asking for another range gets the same figures
from `window_figures`, computed on demand by this same code.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.db import transaction

from metrics.compute import LEAD_FILTER, NO_FILTERS, Filters
from metrics.models import MetricWindow
from metrics.selectors import clv_estimate
from revops.dates import day_range
from revops.tenancy.context import current_organization
from revops.tenancy.copy import copy_frame, copy_out_csv

STANDARD_WINDOWS = (30, 90, 365)
DIMENSIONS = ["channel", "campaign", "segment", "rep", "team"]
STAT_COLUMNS = ["count", "mean", "p50", "p90", "p95"]
WINDOW_COLUMNS = ["figure", "dimension", "member", *STAT_COLUMNS]

# Each branch: (day, figure, channel, campaign, segment, rep, team, value).
OBSERVATIONS_TEMPLATE = """
-- Won deals by the day they closed: days from the lead's creation (wall-clock days of the
-- organization's time zone) and the value won.
SELECT (o.closed_at AT TIME ZONE %(tz)s)::date AS day, v.figure, l.source,
       coalesce(l.campaign_id::text, ''), l.industry, coalesce(l.owner_id::text, ''),
       coalesce(r.team, ''), v.value
FROM leads_opportunity o
JOIN leads_lead l ON l.organization_id = o.organization_id AND l.id = o.lead_id
LEFT JOIN leads_salesrep r ON r.organization_id = l.organization_id AND r.user_id = l.owner_id
CROSS JOIN LATERAL (
    SELECT min(t.at) AS at FROM leads_leadtransition t
    WHERE t.organization_id = o.organization_id AND t.lead_id = o.lead_id
) created
CROSS JOIN LATERAL (VALUES
    ('days_to_win', extract(epoch FROM (o.closed_at AT TIME ZONE %(tz)s)
                                       - (created.at AT TIME ZONE %(tz)s)) / 86400),
    ('won_deal_value', coalesce(o.won_value, 0)::float8)
) AS v(figure, value)
WHERE o.organization_id = %(org)s AND o.status = 'won'
  AND o.closed_at >= %(start)s AND o.closed_at < %(end)s AND v.value IS NOT NULL
  {lead_filter}

UNION ALL
-- Lead response time: follow-ups met, by the day of the first touch; business hours (what the
-- SLA measures, pauses excluded) and wall-clock hours. The rep is the timer's owner.
SELECT (s.met_at AT TIME ZONE %(tz)s)::date, v.figure, l.source,
       coalesce(l.campaign_id::text, ''), l.industry, coalesce(s.owner_id::text, ''),
       coalesce(r.team, ''), v.value
FROM sla_slatimer s
JOIN leads_lead l ON l.organization_id = s.organization_id AND l.id = s.lead_id
LEFT JOIN leads_salesrep r ON r.organization_id = s.organization_id AND r.user_id = s.owner_id
CROSS JOIN LATERAL (VALUES
    ('response_hours', s.elapsed_us / 3.6e9),
    ('response_wall_hours', extract(epoch FROM s.met_at - s.started_at) / 3600)
) AS v(figure, value)
WHERE s.organization_id = %(org)s AND s.target = 'follow_up' AND s.state = 'met'
  AND s.met_at >= %(start)s AND s.met_at < %(end)s
  AND v.value IS NOT NULL  -- a timer met before business time was measured has none
  {lead_filter}

UNION ALL
-- Time in a stage: for each move in the span, the days since the lead entered the stage it
-- leaves (its previous move), by the day of the move: step_days_<from>_<to>.
SELECT (m.at AT TIME ZONE %(tz)s)::date, 'step_days_' || m.from_stage || '_' || m.to_stage,
       l.source, coalesce(l.campaign_id::text, ''), l.industry, coalesce(l.owner_id::text, ''),
       coalesce(r.team, ''), extract(epoch FROM m.at - m.entered_at) / 86400
FROM (
    SELECT t.lead_id, t.from_stage, t.to_stage, t.at,
           lag(t.at) OVER (PARTITION BY t.lead_id ORDER BY t.at, t.id) AS entered_at
    FROM leads_leadtransition t
    WHERE t.organization_id = %(org)s AND t.at < %(end)s
      AND t.lead_id IN (SELECT t.lead_id FROM leads_leadtransition t
                        {moved_leads_join}
                        WHERE t.organization_id = %(org)s AND t.at >= %(start)s
                          AND t.at < %(end)s AND t.from_stage <> t.to_stage
                          {lead_filter})
      AND t.from_stage <> t.to_stage  -- assignment notes keep the stage: not a move
) m
JOIN leads_lead l ON l.organization_id = %(org)s AND l.id = m.lead_id
LEFT JOIN leads_salesrep r ON r.organization_id = l.organization_id AND r.user_id = l.owner_id
WHERE m.at >= %(start)s AND m.entered_at IS NOT NULL
  {lead_filter}
"""
OBSERVATIONS = OBSERVATIONS_TEMPLATE.replace("{lead_filter}", "").replace("{moved_leads_join}", "")
# Filtered (the facts' lead filters, metrics.compute): the leads moving in the span are
# filtered before their moves are ordered, so the window function sees only theirs.
OBSERVATIONS_FILTERED = OBSERVATIONS_TEMPLATE.replace("{lead_filter}", LEAD_FILTER).replace(
    "{moved_leads_join}",
    "JOIN leads_lead l ON l.organization_id = t.organization_id AND l.id = t.lead_id "
    "LEFT JOIN leads_salesrep r ON r.organization_id = l.organization_id "
    "AND r.user_id = l.owner_id",
)


def observations(first_day: date, last_day: date, filters: Filters = NO_FILTERS) -> pd.DataFrame:
    """Every observation of the current organization dated first_day..last_day (inclusive), of
    the leads that pass the filters, when given."""
    organization = current_organization()
    start, end = day_range(first_day, last_day, organization.timezone)
    params = {"org": organization.pk, "tz": organization.timezone, "start": start, "end": end,
              **asdict(filters)}  # fmt: skip
    buffer = copy_out_csv(OBSERVATIONS_FILTERED if filters.active() else OBSERVATIONS, params)
    names = ["day", "figure", *DIMENSIONS, "value"]
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame(columns=names).astype({"day": "datetime64[ns]", "value": float})
    frame = pd.read_csv(buffer, header=None, names=names, na_filter=False, parse_dates=["day"],
                        dtype={**dict.fromkeys(["figure", *DIMENSIONS], "category"),
                               "value": "float64"})  # fmt: skip
    return frame


QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95}


def _group_stats(keys: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
    """Count, mean and linearly interpolated percentiles of `values` per integer key, from one
    sort (no per-group Python call: a night computes thousands of groups)."""
    order = np.lexsort((values, keys))
    keys, values = keys[order], values[order]
    groups, starts, counts = np.unique(keys, return_index=True, return_counts=True)
    stats = {"group": groups, "count": counts, "mean": np.add.reduceat(values, starts) / counts}
    for column, quantile in QUANTILES.items():
        position = starts + quantile * (counts - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, starts + counts - 1)
        stats[column] = values[low] + (values[high] - values[low]) * (position - low)
    return stats


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Count, mean and percentiles per figure: overall, and per member of each dimension (a
    member "" is in the overall figure only). Percentiles interpolate linearly, like
    PostgreSQL's percentile_cont."""
    if frame.empty:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    figures = frame["figure"].array  # Categorical
    figure_codes = figures.codes.astype(np.int64)
    values = frame["value"].to_numpy(dtype=np.float64)
    parts = []
    for dimension in ["", *DIMENSIONS]:
        if dimension:
            members = frame[dimension].array.categories
            member_codes = frame[dimension].array.codes.astype(np.int64)
            keep = (members != "")[member_codes]
        else:
            members, member_codes = pd.Index([""]), np.zeros(len(frame), dtype=np.int64)
            keep = np.ones(len(frame), dtype=bool)
        if not keep.any():
            continue
        stats = _group_stats((figure_codes * len(members) + member_codes)[keep], values[keep])
        group = stats.pop("group")
        parts.append(pd.DataFrame({
            "figure": np.asarray(figures.categories)[group // len(members)],
            "dimension": dimension,
            "member": np.asarray(members)[group % len(members)],
            **stats,
        }))  # fmt: skip
    result = pd.concat(parts, ignore_index=True)[WINDOW_COLUMNS]
    result[["figure", "member"]] = result[["figure", "member"]].astype(str)
    return result


def window_figures(first_day: date, last_day: date) -> pd.DataFrame:
    """On demand: the figures over any range (columns WINDOW_COLUMNS)."""
    return summarize(observations(first_day, last_day))


def standard_windows(as_of_days: list[date]) -> pd.DataFrame:
    """The standard windows ending on each day, from one load of the observations."""
    longest = max(STANDARD_WINDOWS)
    frame = observations(min(as_of_days) - timedelta(days=longest - 1), max(as_of_days))
    days = frame["day"].to_numpy()
    parts = []
    for as_of in as_of_days:
        end = np.datetime64(as_of)
        for window in STANDARD_WINDOWS:
            inside = (days > end - np.timedelta64(window, "D")) & (days <= end)
            parts.append(summarize(frame[inside]).assign(as_of=as_of, window_days=window))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def clv_window(as_of: date, window_days: int = max(STANDARD_WINDOWS)) -> pd.DataFrame:
    """The probabilistic CLV (BG/NBD + Gamma-Gamma) fitted on the window's purchases: its
    distribution over the customers; empty ("no data") without a margin or enough repeat buyers."""
    estimate = clv_estimate(as_of, first_day=as_of - timedelta(days=window_days - 1))
    if estimate is None:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    frame = pd.DataFrame({"figure": "clv", **dict.fromkeys(DIMENSIONS, ""),
                          "value": estimate.per_customer.to_numpy()})  # fmt: skip
    return summarize(frame.astype(dict.fromkeys(["figure", *DIMENSIONS], "category")))


def with_comparison_days(as_of_days: list[date]) -> list[date]:
    """The days, plus the last days of the periods that the standard windows ending on the
    latest of them are compared with (the scoreboard's previous period reads only stored
    windows), sorted."""
    last = max(as_of_days)
    return sorted({*as_of_days, *(last - timedelta(days=window) for window in STANDARD_WINDOWS)})


def windows_replace(as_of_days: list[date]) -> int:
    """Recompute and swap the stored windows ending on these days in one transaction. The CLV
    model is fitted for the last of the days only: a fit costs a few hundred milliseconds, and
    a backfill's weekly points need the percentiles, not a model per week."""
    last = max(as_of_days)
    figures = pd.concat(
        [standard_windows(as_of_days),
         clv_window(last).assign(as_of=last, window_days=max(STANDARD_WINDOWS))],
        ignore_index=True,
    )  # fmt: skip
    with transaction.atomic():
        MetricWindow.objects.filter(as_of__in=as_of_days).delete()
        copy_frame(MetricWindow, figures, text_columns=("dimension", "member"))
    return len(figures)
