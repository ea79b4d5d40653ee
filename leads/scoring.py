"""Lead score for the MQL rule: fit points plus engagement points that halve every half-life."""

from collections.abc import Iterable
from datetime import datetime

from leads.models import EngagementEvent, FitAttribute, Lead, ScoringRule, ScoringRuleKind


def _fit_matches(rule: ScoringRule, lead: Lead) -> bool:
    value = rule.value.strip().lower()
    match rule.attribute:
        case FitAttribute.INDUSTRY:
            return lead.industry.strip().lower() == value
        case FitAttribute.PERSONA:
            return lead.persona.strip().lower() == value
        case FitAttribute.TITLE_CONTAINS:
            return bool(value) and value in lead.title.lower()
        case FitAttribute.COMPANY_SIZE_AT_LEAST:
            return (
                lead.company_size is not None
                and value.isdigit()
                and (lead.company_size >= int(value))
            )
    return False


def score_compute(
    lead: Lead, rules: Iterable[ScoringRule], events: Iterable[EngagementEvent], now: datetime
) -> tuple[int, list[dict]]:
    """The score and its breakdown: one line per rule that contributed, rounded at the end."""
    breakdown: list[dict] = []
    total = 0.0
    rules = [r for r in rules if r.active]
    for rule in rules:
        if rule.kind == ScoringRuleKind.FIT and _fit_matches(rule, lead):
            breakdown.append({"rule": str(rule), "kind": "fit", "points": rule.points})
            total += rule.points
    engagement = {r.event_kind: r for r in rules if r.kind == ScoringRuleKind.ENGAGEMENT}
    for event in events:
        rule = engagement.get(event.kind)
        if rule is None:
            continue
        age_days = max(0.0, (now - event.occurred_at).total_seconds() / 86400)
        points = rule.points * 0.5 ** (age_days / rule.half_life_days)
        breakdown.append(
            {
                "rule": str(rule),
                "kind": "engagement",
                "event": event.kind,
                "occurred_at": event.occurred_at.isoformat(),
                "points": round(points, 1),
            }
        )
        total += points
    return round(total), breakdown
