"""Reading the snapshot: sums of facts over any date range and filter, and the ratios built from
those sums (docs/metrics.md). A ratio with a zero or missing denominator is None: "no data"."""

from __future__ import annotations

from datetime import date

from django.db.models import Sum

from metrics.models import MetricFact


def totals(first_day: date, last_day: date, measures: list[str], *, dimension: str = "",
           member: str = "") -> dict[str, float]:  # fmt: skip
    """Each measure summed over the days, overall or for one member of one dimension."""
    rows = (
        MetricFact.objects.filter(
            day__gte=first_day,
            day__lte=last_day,
            measure__in=measures,
            dimension=dimension,
            member=member,
        )
        .values("measure")
        .annotate(total=Sum("value"))
    )
    found = {row["measure"]: row["total"] for row in rows}
    return {measure: found.get(measure, 0.0) for measure in measures}


def by_member(first_day: date, last_day: date, measures: list[str],
              dimension: str) -> dict[str, dict[str, float]]:  # fmt: skip
    """member → measure → sum, for every member of a dimension with any of the measures."""
    rows = (
        MetricFact.objects.filter(
            day__gte=first_day, day__lte=last_day, measure__in=measures, dimension=dimension
        )
        .values("member", "measure")
        .annotate(total=Sum("value"))
    )
    result: dict[str, dict[str, float]] = {}
    for row in rows:
        result.setdefault(row["member"], dict.fromkeys(measures, 0.0))[row["measure"]] = row[
            "total"
        ]
    return result


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not denominator or numerator is None:
        return None
    return numerator / denominator
