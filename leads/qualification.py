"""The shared definition of a qualified lead, evaluated two ways that must agree:

- `bant_evaluate` explains one lead (the lead page's checklist);
- `bant_criteria_held` counts the criteria in SQL (how many MQLs a policy version would qualify).
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, IntegerField, Q, Value, When
from django.db.models.expressions import Combinable

from leads.models import AuthorityRole, Lead, QualificationPolicy


@dataclass(frozen=True)
class Criterion:
    key: str  # budget, authority, need, timeline
    label: str
    holds: bool
    explanation: str


@dataclass(frozen=True)
class BantResult:
    criteria: tuple[Criterion, ...]
    required: int

    @property
    def held(self) -> int:
        return sum(c.holds for c in self.criteria)

    @property
    def qualifies(self) -> bool:
        return self.held >= self.required


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


def bant_evaluate(lead: Lead, policy: QualificationPolicy) -> BantResult:
    currency = policy.budget_currency
    if lead.budget_amount is None:
        budget = Criterion("budget", "Budget", False, "No budget stated.")
    elif lead.budget_amount >= policy.budget_minimum:
        budget = Criterion(
            "budget",
            "Budget",
            True,
            f"{_money(lead.budget_amount, currency)} ≥ {_money(policy.budget_minimum, currency)}.",
        )
    else:
        budget = Criterion(
            "budget",
            "Budget",
            False,
            f"{_money(lead.budget_amount, currency)} is below "
            f"{_money(policy.budget_minimum, currency)}.",
        )

    role_labels = ", ".join(AuthorityRole(r).label for r in policy.authority_roles) or "none"
    if not lead.authority_role:
        authority = Criterion("authority", "Authority", False, "Buying role unknown.")
    elif lead.authority_role in policy.authority_roles:
        authority = Criterion(
            "authority", "Authority", True, f"{AuthorityRole(lead.authority_role).label}."
        )
    else:
        authority = Criterion(
            "authority",
            "Authority",
            False,
            f"{AuthorityRole(lead.authority_role).label} is not one of: {role_labels}.",
        )

    matched = sorted(set(lead.needs) & set(policy.needs))
    if matched:
        need = Criterion("need", "Need", True, f"Names {', '.join(matched)}.")
    elif lead.needs:
        need = Criterion(
            "need", "Need", False, f"{', '.join(lead.needs)}: none of the pain points we solve."
        )
    else:
        need = Criterion("need", "Need", False, "No pain point named.")

    if lead.timeline_days is None:
        timeline = Criterion("timeline", "Timeline", False, "No purchase timeline stated.")
    elif lead.timeline_days <= policy.timeline_max_days:
        timeline = Criterion(
            "timeline",
            "Timeline",
            True,
            f"Buying within {lead.timeline_days} days (≤ {policy.timeline_max_days}).",
        )
    else:
        timeline = Criterion(
            "timeline",
            "Timeline",
            False,
            f"Buying in {lead.timeline_days} days, later than {policy.timeline_max_days}.",
        )
    return BantResult((budget, authority, need, timeline), policy.criteria_required)


def _one_if(condition: Q) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def bant_criteria_held(policy: QualificationPolicy) -> Combinable:
    """SQL expression: how many of the four criteria a lead meets under `policy`."""
    never = Q(pk__in=[])
    return (
        _one_if(Q(budget_amount__gte=policy.budget_minimum))
        + _one_if(Q(authority_role__in=policy.authority_roles) if policy.authority_roles else never)
        + _one_if(Q(needs__overlap=policy.needs) if policy.needs else never)
        + _one_if(Q(timeline_days__lte=policy.timeline_max_days))
    )
