"""Writes to the leads configuration: scoring rules, sales reps, assignment rules, reason lists.

Each function runs inside the caller's organization scope, validates everything it is given and
raises `ValidationError` with a field dict, never `IntegrityError`: a duplicate, a bad shape, or
another organization's id (which the scoped managers simply do not find) all name the field.
Changing scoring rules rescores the organization's open leads in the background, after commit.

The REST endpoints in `leads.config_api` apply the same shape rules in their serializers; the
checks here are a superset (fit values, duplicates, the last active reason).
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from leads.models import (
    AssignmentRule,
    EngagementKind,
    FitAttribute,
    Reason,
    ReasonKind,
    SalesRep,
    ScoringRule,
    ScoringRuleKind,
)
from leads.tasks import leads_rescore
from revops.tenancy.context import current_organization
from revops.tenancy.integrity import constraint_as_field_error
from revops.tenancy.models import Membership, Role

# What each update may change; anything else is a programming error (TypeError), not input.
# A scoring rule's kind and target may change too (the REST API allows it): the whole resulting
# rule is validated either way. The settings page changes only values, points and half-lives.
SCORING_RULE_EDITABLE = frozenset(
    {"kind", "attribute", "value", "event_kind", "points", "half_life_days", "active"}
)
SALES_REP_EDITABLE = frozenset({"accepting_leads", "capacity", "territory", "team", "manager_id"})
ASSIGNMENT_RULE_EDITABLE = frozenset(
    {"priority", "industry", "company_size_min", "company_size_max", "territory", "rep_id",
     "active"}
)  # fmt: skip

# Rejecting a hand-off (`services.lead_reject`) and losing a deal (`services.opportunity_lose`)
# require an active reason of these kinds, so a list may not be switched off entirely.
REQUIRED_REASON_KINDS = frozenset({ReasonKind.REJECTION, ReasonKind.LOSS})


# --- helpers ----------------------------------------------------------------------------------


def _editable(changes: dict, allowed: frozenset[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"Cannot change {', '.join(sorted(unknown))}.")


def _text(value) -> str:
    """Trimmed text with inner runs of whitespace collapsed ("  Retail  EU " → "Retail EU")."""
    return " ".join(str(value or "").split())


def _full_clean(instance, *, exclude: list[str]) -> None:
    """The model's own field checks (lengths, choices, integer range) as field errors.

    `organization` is set on save from the scope; foreign keys are checked by the callers
    against scoped managers, because the model's check uses the unscoped base manager.
    """
    instance.full_clean(exclude=["organization", *exclude], validate_unique=False)


def _rescore_later() -> None:
    # After commit, so the worker reads the rules this transaction wrote.
    leads_rescore.delay_on_commit(current_organization().pk)


# --- scoring rules ----------------------------------------------------------------------------


def _scoring_rule_checked(*, pk: int | None, values: dict) -> dict:
    """The normalized values of a valid rule, or a ValidationError naming the fields."""
    values = {
        **values,
        "attribute": values.get("attribute") or "",
        "event_kind": values.get("event_kind") or "",
        "value": _text(values.get("value")),
    }
    kind, attribute, event_kind, value = (
        values["kind"], values["attribute"], values["event_kind"], values["value"]
    )  # fmt: skip
    errors: dict[str, str] = {}
    if kind == ScoringRuleKind.FIT:
        if attribute not in FitAttribute.values:
            errors["attribute"] = "A fit rule names the attribute it matches."
        if event_kind:
            errors["event_kind"] = "A fit rule has no event kind."
        if not value:
            errors["value"] = "Say which value the attribute must match."
        elif attribute == FitAttribute.COMPANY_SIZE_AT_LEAST and not value.isdigit():
            # `scoring._fit_matches` compares sizes only for a whole number.
            errors["value"] = "A company size is a whole number of employees."
    elif kind == ScoringRuleKind.ENGAGEMENT:
        if event_kind not in EngagementKind.values:
            errors["event_kind"] = "An engagement rule names the event it scores."
        if attribute:
            errors["attribute"] = "An engagement rule has no fit attribute."
        if value:
            errors["value"] = "An engagement rule has no value to match."
    else:
        errors["kind"] = "A scoring rule is either fit or engagement."
    if values.get("points") is None:
        errors["points"] = "Enter the points (negative points lower the score)."
    half_life = values.get("half_life_days")
    if half_life is None or half_life < 1:
        errors["half_life_days"] = "Points halve every one day or more."
    if errors:
        raise ValidationError(errors)

    if values.get("active", True):
        # `scoring.score_compute` keeps one engagement rule per event kind (the others are
        # silently ignored) and adds every matching fit rule, so an active twin is refused.
        if kind == ScoringRuleKind.FIT:
            twins = ScoringRule.objects.filter(
                kind=kind, attribute=attribute, value__iexact=value, active=True
            )
            field = "value"
            what = f"{FitAttribute(attribute).label} = {value}"
        else:
            twins = ScoringRule.objects.filter(kind=kind, event_kind=event_kind, active=True)
            field = "event_kind"
            what = EngagementKind(event_kind).label
        if twins.exclude(pk=pk).exists():
            raise ValidationError(
                {field: f"An active rule already scores {what}; change that rule instead."}
            )
    _full_clean(ScoringRule(pk=pk, **values), exclude=[])
    return values


def scoring_rule_create(
    *,
    kind: str,
    points: int | None,
    attribute: str = "",
    value: str = "",
    event_kind: str = "",
    half_life_days: int | None = 30,
    active: bool = True,
) -> ScoringRule:
    """Add a fit rule (attribute + value) or an engagement rule (event kind + half-life)."""
    values = _scoring_rule_checked(
        pk=None,
        values={
            "kind": kind, "attribute": attribute, "value": value, "event_kind": event_kind,
            "points": points, "half_life_days": half_life_days, "active": active,
        },
    )  # fmt: skip
    rule = ScoringRule(**values)
    with transaction.atomic():
        rule.save()
        _rescore_later()
    return rule


def scoring_rule_update(*, rule: ScoringRule, **changes) -> ScoringRule:
    """Change any of a rule's fields; the rule that results is validated as a whole.

    On a ValidationError `rule` is left as it was.
    """
    _editable(changes, SCORING_RULE_EDITABLE)
    current = {name: getattr(rule, name) for name in SCORING_RULE_EDITABLE}
    values = _scoring_rule_checked(pk=rule.pk, values=current | changes)
    for name, value in values.items():
        setattr(rule, name, value)
    with transaction.atomic():
        rule.save()
        _rescore_later()
    return rule


def scoring_rule_delete(*, rule: ScoringRule) -> None:
    with transaction.atomic():
        rule.delete()
        _rescore_later()


# --- sales reps -------------------------------------------------------------------------------


def sales_rep_save(
    *, rep: SalesRep | None = None, user_id: int | None = None, **changes
) -> SalesRep:
    """Make a sales member a rep (`user_id=`), or change an existing rep (`rep=`).

    `changes` may set `accepting_leads`, `capacity` (None: no limit), `territory`, `team` (the
    SLA report groups compliance by it) and `manager_id` (None: no manager; SLA breaches
    escalate to the manager, `sla.notify`).
    """
    if (rep is None) == (user_id is None):
        raise TypeError("Pass either rep= (to change) or user_id= (to add).")
    _editable(changes, SALES_REP_EDITABLE)
    errors: dict[str, str] = {}
    if rep is None:
        # Scoped: a member of another organization, or someone not in sales, is not found.
        member = (
            Membership.objects.filter(user_id=user_id, role=Role.SALES)
            .select_related("user")
            .first()
        )
        if member is None:
            errors["user"] = "Choose a sales member of this organization."
        elif SalesRep.objects.filter(user_id=user_id).exists():
            errors["user"] = "This member is already a rep."
        candidate = SalesRep(user=member.user if member else None)
    else:
        candidate = SalesRep(
            pk=rep.pk,
            user_id=rep.user_id,
            accepting_leads=rep.accepting_leads,
            capacity=rep.capacity,
            territory=rep.territory,
            team=rep.team,
            manager_id=rep.manager_id,
        )
    for name, value in changes.items():
        setattr(candidate, name, value)
    candidate.territory = _text(candidate.territory)
    candidate.team = _text(candidate.team)
    if candidate.capacity is not None and candidate.capacity < 0:
        errors["capacity"] = "Capacity cannot be negative; leave it empty for no limit."
    manager_id = candidate.manager_id
    # Only a newly chosen manager is checked for membership: a manager who has since left or
    # been deactivated must not block a change of capacity (notify skips inactive people).
    newly_chosen = manager_id is not None and (rep is None or manager_id != rep.manager_id)
    if manager_id is not None and manager_id == candidate.user_id:
        errors["manager"] = "A rep cannot be their own manager."
    elif newly_chosen and not (
        # Scoped: another organization's member is as absent as an id that does not exist.
        Membership.objects.filter(user_id=manager_id, user__is_active=True).exists()
    ):
        errors["manager"] = "Choose an active member of this organization as the manager."
    if errors:
        raise ValidationError(errors)
    _full_clean(candidate, exclude=["user", "manager", "last_assigned_at"])

    if rep is None:
        with constraint_as_field_error(
            "salesrep_unique_user", "user", "This member is already a rep."
        ):
            candidate.save()
        return candidate
    fields = ["accepting_leads", "capacity", "territory", "team", "manager_id"]
    for name in fields:
        setattr(rep, name, getattr(candidate, name))
    # Only these fields: the round-robin pointer is written concurrently by hand-offs.
    rep.save(update_fields=[*fields, "updated_at"])
    return rep


# --- assignment rules -------------------------------------------------------------------------


def _assignment_rule_checked(*, pk: int | None, values: dict) -> dict:
    values = {
        **values,
        "industry": _text(values.get("industry")),
        "territory": _text(values.get("territory")),
    }
    errors: dict[str, str] = {}
    # Scoped: another organization's rep id is exactly as absent as one that does not exist.
    if values.get("rep_id") is None or not SalesRep.objects.filter(pk=values["rep_id"]).exists():
        errors["rep"] = "Choose one of this organization's sales reps."
    priority = values.get("priority")
    if priority is None or priority < 0:
        errors["priority"] = "Priority is zero or more; lower numbers are tried first."
    low, high = values.get("company_size_min"), values.get("company_size_max")
    for field, size in (("company_size_min", low), ("company_size_max", high)):
        if size is not None and size < 0:
            errors[field] = "A company size cannot be negative."
    if low is not None and high is not None and high < low:
        errors["company_size_max"] = "The largest size must be at least the smallest."
    if errors:
        raise ValidationError(errors)
    _full_clean(AssignmentRule(pk=pk, **values), exclude=["rep"])
    return values


def assignment_rule_create(
    *,
    rep_id: int | None,
    priority: int | None = 100,
    industry: str = "",
    company_size_min: int | None = None,
    company_size_max: int | None = None,
    territory: str = "",
    active: bool = True,
) -> AssignmentRule:
    """Route SQLs that match every given criterion (blank = any) to `rep_id`."""
    values = _assignment_rule_checked(
        pk=None,
        values={
            "rep_id": rep_id, "priority": priority, "industry": industry,
            "company_size_min": company_size_min, "company_size_max": company_size_max,
            "territory": territory, "active": active,
        },
    )  # fmt: skip
    return AssignmentRule.objects.create(**values)


def assignment_rule_update(*, rule: AssignmentRule, **changes) -> AssignmentRule:
    """Change any of a rule's criteria, its rep, priority or active flag.

    On a ValidationError `rule` is left as it was.
    """
    _editable(changes, ASSIGNMENT_RULE_EDITABLE)
    current = {name: getattr(rule, name) for name in ASSIGNMENT_RULE_EDITABLE}
    values = _assignment_rule_checked(pk=rule.pk, values=current | changes)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.save()
    return rule


def assignment_rule_delete(*, rule: AssignmentRule) -> None:
    rule.delete()


# --- reason lists -----------------------------------------------------------------------------


def reason_add(*, kind: str, label: str) -> Reason:
    """Add a label to one of the lists. Reasons are never renamed or deleted: past rejections,
    lost deals and ratings keep pointing at them. Deactivate instead."""
    label = _text(label)
    errors: dict[str, str] = {}
    if kind not in ReasonKind.values:
        errors["kind"] = "Choose one of the reason lists."
    if not label:
        errors["label"] = "Enter the reason's label."
    if errors:
        raise ValidationError(errors)
    twin = Reason.objects.filter(kind=kind, label__iexact=label).first()
    if twin is not None:
        hint = "" if twin.active else " It is inactive: reactivate it instead."
        raise ValidationError({"label": f"“{twin.label}” is already on the list.{hint}"})
    reason = Reason(kind=kind, label=label)
    _full_clean(reason, exclude=[])
    with constraint_as_field_error(
        "reason_unique_label", "label", f"“{label}” is already on the list."
    ):
        reason.save()
    return reason


def reason_set_active(*, reason: Reason, active: bool) -> Reason:
    """Offer a reason again, or stop offering it (rows that use it keep it)."""
    with transaction.atomic():
        if reason.active and not active and reason.kind in REQUIRED_REASON_KINDS:
            # Locked: two admins switching off the last two reasons at once cannot both succeed.
            active_ids = set(
                Reason.objects.select_for_update()
                .filter(kind=reason.kind, active=True)
                .values_list("pk", flat=True)
            )
            if not active_ids - {reason.pk}:
                label = ReasonKind(reason.kind).label.lower()
                raise ValidationError(
                    {"active": f"Keep at least one active {label} reason: sales must pick one."}
                )
        if reason.active != active:
            reason.active = active
            reason.save(update_fields=["active", "updated_at"])
    return reason
