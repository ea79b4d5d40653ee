"""Every write to leads: lifecycle transitions, qualification, assignment, hand-off, feedback.

All functions run inside the caller's organization scope and take `now` where time matters, so
tests and imports control the clock.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, IntegerField, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from leads import selectors
from leads.models import (
    ALLOWED_TRANSITIONS,
    DEFAULT_REASONS,
    Campaign,
    EngagementEvent,
    FeedbackStatus,
    Lead,
    LeadFeedback,
    LeadTransition,
    Opportunity,
    OpportunityStatus,
    QualificationPolicy,
    Reason,
    ReasonKind,
    SalesRep,
    Stage,
    Touch,
)
from leads.qualification import bant_evaluate
from leads.scoring import score_compute
from revops.tenancy.context import current_organization
from revops.tenancy.copy import copy_insert
from revops.tenancy.models import Membership, Organization, Role, User
from sla import services as sla_services
from sla.models import TimerTarget

# Fields a client may set on a lead (create, update, upsert, import).
LEAD_FIELDS = (
    "full_name", "email", "phone", "title", "company_name", "company_domain", "industry",
    "company_size", "territory", "persona", "source", "campaign", "landing_page", "external_id",
    "budget_amount", "authority_role", "needs", "timeline_days",
)  # fmt: skip


# Written only by lead_transition, _qualify, lead_assign/lead_reassign and touch_log.
LIFECYCLE_FIELDS = (
    "stage", "stage_changed_at", "owner", "handed_off_at", "first_touch_at", "qualified_by_policy",
)  # fmt: skip


# --- qualification policy --------------------------------------------------------------------


POLICY_FIELDS = (
    "budget_minimum", "budget_currency", "authority_roles", "needs", "timeline_max_days",
    "criteria_required", "mql_score_threshold", "mql_manual_marking",
)  # fmt: skip


def policy_ensure() -> QualificationPolicy:
    """The current policy version, creating version 1 with sensible defaults the first time."""
    policy = selectors.policy_current()
    if policy is not None:
        return policy
    organization = current_organization()
    with transaction.atomic():
        policy, _ = QualificationPolicy.objects.get_or_create(
            version=1,
            defaults={
                "budget_minimum": Decimal("10000"),
                "budget_currency": organization.currency,
                "authority_roles": ["decision_maker", "economic_buyer", "champion"],
                "needs": ["Reporting", "Forecasting", "Lead routing", "Attribution"],
                "change_note": "Default policy",
            },
        )
    return policy


def policy_create_version(
    *, actor: User | None, change_note: str = "", **fields
) -> QualificationPolicy:
    """Save a change as a new immutable version; leads keep the version that qualified them."""
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a policy field." for name in unknown})
    current = policy_ensure()
    values = {name: getattr(current, name) for name in POLICY_FIELDS} | fields
    if not values["needs"]:
        raise ValidationError({"needs": "List at least one pain point you solve."})
    if not values["authority_roles"]:
        raise ValidationError({"authority_roles": "Choose at least one buying role."})
    if values["mql_score_threshold"] is None and not values["mql_manual_marking"]:
        raise ValidationError(
            {"mql_score_threshold": "Set a score threshold or allow marketing to mark MQLs."}
        )
    with transaction.atomic():
        # Versions are numbered under a lock on the organization, so two editors saving at once
        # take turns instead of both claiming version N+1.
        Organization.objects.select_for_update().filter(pk=current_organization().pk).first()
        latest = QualificationPolicy.objects.order_by("-version").first()
        policy = QualificationPolicy(
            version=latest.version + 1, created_by=actor, change_note=change_note[:300], **values
        )
        policy.full_clean(exclude=["organization"])
        policy.save()
    return policy


# --- reasons ----------------------------------------------------------------------------------


def reasons_ensure_defaults() -> None:
    """Give each reason list that is still empty the usual labels (editable afterwards), so a
    new organization can reject hand-offs and lose deals from day one."""
    present = set(Reason.objects.values_list("kind", flat=True).distinct())
    missing = [kind for kind in DEFAULT_REASONS if kind not in present]
    if not missing:
        return
    Reason.objects.bulk_create(
        [
            Reason(organization=current_organization(), kind=kind, label=label)
            for kind in missing
            for label in DEFAULT_REASONS[kind]
        ],
        ignore_conflicts=True,
    )


def _reason(kind: str, reason_id: int | None, field: str) -> Reason:
    reason = Reason.objects.filter(kind=kind, active=True, pk=reason_id).first()
    if reason is None:
        raise ValidationError({field: "Choose one of the organization's reasons."})
    return reason


# --- campaigns --------------------------------------------------------------------------------


def campaign_create(*, actor: User | None, name: str, channel: str, starts_on=None,
                    ends_on=None, budget=None) -> Campaign:  # fmt: skip
    name = name.strip()
    if Campaign.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A campaign with this name already exists."})
    campaign = Campaign(name=name, channel=channel, starts_on=starts_on, ends_on=ends_on,
                        budget=budget)  # fmt: skip
    campaign.full_clean(exclude=["organization"], validate_unique=False)
    campaign.save()
    return campaign


# --- lifecycle --------------------------------------------------------------------------------


def lead_transition(
    *,
    lead: Lead,
    to_stage: str,
    actor: User | None,
    reason: str = "",
    reason_label: str = "",
    policy: QualificationPolicy | None = None,
    now: datetime | None = None,
) -> Lead:
    """Move a lead to another stage if the lifecycle allows it, and record who, when and why."""
    now = now or timezone.now()
    if to_stage not in ALLOWED_TRANSITIONS.get(lead.stage, ()):
        labels = dict(Stage.choices)  # to_stage may be anything a client typed
        raise ValidationError(
            {"stage": f"A lead cannot move from {labels.get(lead.stage, lead.stage)} to "
                      f"{labels.get(to_stage, to_stage)}."}
        )  # fmt: skip
    from_stage = lead.stage
    # Claim the move: only one of two concurrent transitions from the same stage succeeds.
    moved = Lead.objects.filter(pk=lead.pk, stage=from_stage).update(
        stage=to_stage, stage_changed_at=now, updated_at=now
    )
    if moved != 1:
        raise ValidationError({"stage": "The lead changed stage meanwhile; reload and retry."})
    lead.stage, lead.stage_changed_at = to_stage, now
    LeadTransition.objects.create(
        lead=lead, from_stage=from_stage, to_stage=to_stage, actor=actor, at=now,
        reason=reason[:2000], reason_label=reason_label[:100], policy=policy,
    )  # fmt: skip
    if from_stage in (Stage.SQL, Stage.ACCEPTED):
        sla_services.follow_up_stage_changed(lead=lead, to_stage=to_stage, actor=actor, at=now)
    return lead


def _rescore(lead: Lead, now: datetime) -> None:
    rules = selectors.scoring_rules()
    events = lead.events.all() if lead.pk else []
    lead.score, lead.score_breakdown = score_compute(lead, rules, events, now)


def _progress(lead: Lead, *, actor: User | None, now: datetime) -> Lead:
    """Apply the shared definition: a high enough score makes an MQL; BANT makes an SQL."""
    policy = policy_ensure()
    if (
        lead.stage == Stage.NEW
        and policy.mql_score_threshold is not None
        and lead.score >= policy.mql_score_threshold
    ):
        lead_transition(
            lead=lead, to_stage=Stage.MQL, actor=None, policy=policy, now=now,
            reason=f"Score {lead.score} reached the MQL threshold {policy.mql_score_threshold}.",
        )  # fmt: skip
    if lead.stage == Stage.MQL:
        result = bant_evaluate(lead, policy)
        if result.qualifies:
            held = ", ".join(c.label for c in result.criteria if c.holds)
            _qualify(lead, policy=policy, actor=None, now=now,
                     reason=f"Meets policy v{policy.version}: {held}.")  # fmt: skip
    return lead


def _qualify(lead: Lead, *, policy: QualificationPolicy, actor: User | None, now: datetime,
             reason: str) -> None:  # fmt: skip
    lead_transition(lead=lead, to_stage=Stage.SQL, actor=actor, policy=policy, now=now,
                    reason=reason)  # fmt: skip
    # A new hand-off starts a new follow-up clock: earlier rounds' touches do not count.
    Lead.objects.filter(pk=lead.pk).update(
        qualified_by_policy=policy, handed_off_at=now, first_touch_at=None
    )
    lead.qualified_by_policy, lead.handed_off_at, lead.first_touch_at = policy, now, None
    lead_assign(lead=lead, actor=actor, now=now)


def _clean_lead_values(values: dict) -> dict:
    unknown = set(values) - set(LEAD_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a lead field." for name in sorted(unknown)})
    for name, value in values.items():
        field = Lead._meta.get_field(name)
        if value is None and field.blank and not field.null:
            values[name] = field.get_default()  # JSON null on a text or list field: empty
    campaign = values.get("campaign")
    if campaign is not None and getattr(campaign, "organization_id", None) != (
        current_organization().pk
    ):
        raise ValidationError({"campaign": "Choose one of the organization's campaigns."})
    for key in ("email", "external_id"):
        if values.get(key) is not None and not isinstance(values[key], str):
            raise ValidationError({key: "Send text."})
    if values.get("email"):
        values["email"] = values["email"].strip().lower()
    return values


def lead_create(*, actor: User | None, now: datetime | None = None, **values) -> Lead:
    now = now or timezone.now()
    values = _clean_lead_values(values)
    with transaction.atomic():
        lead = Lead(stage=Stage.NEW, stage_changed_at=now, **values)
        lead.clean_fields(exclude=["organization", "stage_changed_at"])
        _check_unique(lead)
        intake = NewLeadIntake(actor=actor, now=now)
        intake.add(lead)
        intake.write()
    return lead


def _check_unique(lead: Lead) -> None:
    """A duplicate email or external id is a field-level error, not an IntegrityError."""
    duplicates = Lead.objects.exclude(pk=lead.pk)
    if (
        lead.email
        and selectors.leads_with_emails([lead.email.lower()]).exclude(pk=lead.pk).exists()
    ):
        raise ValidationError({"email": "Another lead already has this email address."})
    if lead.external_id and duplicates.filter(external_id=lead.external_id).exists():
        raise ValidationError({"external_id": "Another lead already has this external id."})


def lead_update(*, lead: Lead, actor: User | None, now: datetime | None = None, **values) -> Lead:
    now = now or timezone.now()
    values = _clean_lead_values(values)
    with transaction.atomic():
        # Only the lifecycle services move a lead: start from the row's lifecycle columns and
        # never write a stale copy of them back.
        lead.refresh_from_db(fields=LIFECYCLE_FIELDS)
        for name, value in values.items():
            setattr(lead, name, value)
        lead.clean_fields(exclude=["organization"])
        _rescore(lead, now)
        _check_unique(lead)
        lead.save(update_fields=[*values, "score", "score_breakdown", "updated_at"])
        _progress(lead, actor=actor, now=now)
    return lead


def lead_upsert(*, actor: User | None, now: datetime | None = None, **values) -> tuple[Lead, bool]:
    """Create or update the lead with this external id, else this email. Returns (lead, created)."""
    values = _clean_lead_values(values)
    external_id, email = values.get("external_id") or "", values.get("email") or ""
    existing = None
    if external_id:
        existing = Lead.objects.filter(external_id=external_id).first()
    if existing is None and email:
        existing = selectors.leads_with_emails([email]).first()
    if existing is None:
        return lead_create(actor=actor, now=now, **values), True
    return lead_update(lead=existing, actor=actor, now=now, **values), False


def lead_mark_mql(*, lead: Lead, actor: User, reason: str = "", now=None) -> Lead:
    """Marketing marks a lead as marketing-qualified by hand (when the policy allows it)."""
    policy = policy_ensure()
    if not policy.mql_manual_marking:
        raise ValidationError({"stage": "The qualification policy does not allow manual MQLs."})
    now = now or timezone.now()
    with transaction.atomic():
        lead_transition(lead=lead, to_stage=Stage.MQL, actor=actor, policy=policy, now=now,
                        reason=reason or "Marked as MQL by marketing.")  # fmt: skip
        _progress(lead, actor=actor, now=now)
    return lead


def lead_force_qualify(*, lead: Lead, actor: User, reason: str, now=None) -> Lead:
    """Marketing hands an MQL to sales although it misses the policy; the reason is recorded."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why this lead should skip the policy."})
    if lead.stage != Stage.MQL:
        raise ValidationError({"stage": "Only an MQL can be force-qualified."})
    now = now or timezone.now()
    with transaction.atomic():
        _qualify(lead, policy=policy_ensure(), actor=actor, now=now,
                 reason=f"Force-qualified: {reason.strip()}")  # fmt: skip
    return lead


# --- assignment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    rep: SalesRep | None
    why: str

    @property
    def note(self) -> str:
        """The line the lead's timeline shows."""
        if self.rep is None:
            return f"Not assigned: {self.why}"
        return f"Assigned to {self.rep.user}: {self.why}"


def _open_sqls_by_owner(owner_ids: list[int]) -> dict[int, int]:
    """Open SQLs per rep, counted only for reps with a capacity: bounded by their capacities,
    however many SQLs uncapped reps hold."""
    if not owner_ids:
        return {}
    rows = (
        Lead.objects.filter(stage=Stage.SQL, owner_id__in=owner_ids)
        .values("owner_id")
        .annotate(open=Count("id"))
    )
    return {row["owner_id"]: row["open"] for row in rows}


class AssignmentPlanner:
    """Chooses owners for one or many SQLs in a transaction: rules by priority first, then
    round-robin (the eligible rep assigned longest ago), never past a rep's capacity.

    Rep rows are read FOR UPDATE SKIP LOCKED: concurrent hand-offs never wait on each other and
    never both take the same rep's turn.
    """

    def __init__(self):
        sales_user_ids = Membership.objects.filter(role=Role.SALES, user__is_active=True).values(
            "user_id"
        )
        self.reps = list(
            SalesRep.objects.filter(accepting_leads=True, user_id__in=sales_user_ids)
            .select_related("user")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by(F("last_assigned_at").asc(nulls_first=True), "id")
        )
        self.load = _open_sqls_by_owner([r.user_id for r in self.reps if r.capacity is not None])
        self.rules = list(selectors.assignment_rules())
        self._used: dict[int, SalesRep] = {}

    def pick(self, lead: Lead, now: datetime) -> Assignment:
        if not self.reps:
            return Assignment(None, "No sales rep is accepting leads.")
        available = [
            r for r in self.reps if r.capacity is None or self.load.get(r.user_id, 0) < r.capacity
        ]
        if not available:
            return Assignment(None, "Every sales rep is at capacity.")
        by_id = {r.pk: r for r in available}
        rule = next((r for r in self.rules if r.rep_id in by_id and _rule_matches(r, lead)), None)
        if rule is not None:
            rep, why = by_id[rule.rep_id], f"Assignment rule #{rule.pk}."
        else:
            rep, why = available[0], "Round-robin."
        self.load[rep.user_id] = self.load.get(rep.user_id, 0) + 1
        rep.last_assigned_at = now
        self.reps.remove(rep)
        self.reps.append(rep)  # its turn comes again after everyone else's
        self._used[rep.pk] = rep
        return Assignment(rep, why)

    def save(self) -> None:
        for rep in self._used.values():
            SalesRep.objects.filter(pk=rep.pk).update(last_assigned_at=rep.last_assigned_at)


def _rule_matches(rule, lead: Lead) -> bool:
    if rule.industry and rule.industry.lower() != lead.industry.lower():
        return False
    if rule.territory and rule.territory.lower() != lead.territory.lower():
        return False
    if rule.company_size_min is not None and (lead.company_size or 0) < rule.company_size_min:
        return False
    return not (
        rule.company_size_max is not None
        and (lead.company_size is None or lead.company_size > rule.company_size_max)
    )


def lead_assign(*, lead: Lead, actor: User | None, now: datetime | None = None) -> Assignment:
    """Give an SQL an owner. Without an available rep it stays unassigned (and says why)."""
    now = now or timezone.now()
    with transaction.atomic():
        planner = AssignmentPlanner()
        assignment = planner.pick(lead, now)
        planner.save()
        previous_owner_id = lead.owner_id
        if assignment.rep is not None:
            Lead.objects.filter(pk=lead.pk).update(owner=assignment.rep.user_id, updated_at=now)
            lead.owner_id = assignment.rep.user_id
        LeadTransition.objects.create(
            lead=lead, from_stage=lead.stage, to_stage=lead.stage, actor=actor, at=now,
            reason=assignment.note,
        )  # fmt: skip
        sla_services.follow_up_assigned(
            lead=lead, previous_owner_id=previous_owner_id, actor=actor, now=now
        )
    return assignment


def lead_reassign(*, lead: Lead, owner: User, actor: User, now=None) -> Lead:
    """Hand a lead to another rep. The hand-off clock keeps running: the lead waited anyway."""
    if not Membership.objects.filter(user=owner, role=Role.SALES).exists():
        raise ValidationError({"owner": "Choose a sales member of this organization."})
    now = now or timezone.now()
    previous = lead.owner
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(owner=owner, updated_at=now)
        lead.owner = owner
        LeadTransition.objects.create(
            lead=lead, from_stage=lead.stage, to_stage=lead.stage, actor=actor, at=now,
            reason=f"Reassigned from {previous or 'nobody'} to {owner}.",
        )  # fmt: skip
        sla_services.follow_up_assigned(
            lead=lead, previous_owner_id=previous.pk if previous else None, actor=actor, now=now
        )
    return lead


# --- hand-off ---------------------------------------------------------------------------------


def may_act_as_owner(*, lead: Lead, user: User, is_admin: bool) -> bool:
    """The owner's work (accept, reject, touch, deals) is theirs, or a RevOps admin's."""
    return is_admin or lead.owner_id == user.pk


def require_owner_or_admin(*, lead: Lead, user: User, is_admin: bool) -> None:
    if not may_act_as_owner(lead=lead, user=user, is_admin=is_admin):
        raise PermissionDenied("Only the lead's owner (or a RevOps admin) can do this.")


def _require_owner_or_admin(lead: Lead, actor: User) -> None:
    is_admin = lead.owner_id != actor.pk and (
        Membership.objects.filter(user=actor, role=Role.ADMIN).exists()
    )
    require_owner_or_admin(lead=lead, user=actor, is_admin=is_admin)


def lead_accept(*, lead: Lead, actor: User, now=None) -> Lead:
    _require_owner_or_admin(lead, actor)
    return lead_transition(lead=lead, to_stage=Stage.ACCEPTED, actor=actor, now=now,
                           reason="Accepted by sales.")  # fmt: skip


def lead_reject(*, lead: Lead, actor: User, reason_id: int, comment: str = "", now=None) -> Lead:
    """Sales rejects the hand-off; the lead and the reason land in marketing's inbox."""
    _require_owner_or_admin(lead, actor)
    reason = _reason(ReasonKind.REJECTION, reason_id, "reason_id")
    with transaction.atomic():
        lead_transition(lead=lead, to_stage=Stage.REJECTED, actor=actor, now=now,
                        reason=f"{reason.label}. {comment}".strip(),
                        reason_label=reason.label)  # fmt: skip
        item = LeadFeedback.objects.create(
            lead=lead, rater=actor, rating=1, tags=[reason.label], comment=comment,
            from_rejection=True,
        )  # fmt: skip
        sla_services.feedback_timers_start(item=item, now=lead.stage_changed_at)
    return lead


def touch_log(*, lead: Lead, actor: User, kind: str, note: str = "", at=None) -> Touch:
    """Log a call, email or meeting. The owner's first touch is recorded to the microsecond:
    it is what the sales follow-up SLA measures. Others may log touches too (a colleague
    covering); they never stop the owner's clock."""
    at = at or timezone.now()
    with transaction.atomic():
        touch = Touch(lead=lead, rep=actor, kind=kind, note=note, at=at)
        touch.full_clean(exclude=["organization", "lead", "rep"])
        touch.save()
        if lead.owner_id == actor.pk:
            # Conditional: an earlier touch logged later (back-dated) still wins.
            Lead.objects.filter(pk=lead.pk).filter(
                Q(first_touch_at__isnull=True) | Q(first_touch_at__gt=at)
            ).update(first_touch_at=at)
            lead.refresh_from_db(fields=["first_touch_at"])
            sla_services.follow_up_touched(lead=lead, at=at, actor=actor, now=timezone.now())
    return touch


# --- feedback ---------------------------------------------------------------------------------


def feedback_rate(*, lead: Lead, actor: User, rating: int, tag_ids=(), comment="",
                  now=None) -> LeadFeedback:  # fmt: skip
    """A rep's one-click lead-quality rating; it opens an item in marketing's inbox."""
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError({"rating": "Rate from 1 (junk) to 5 (excellent)."})
    tags = list(
        Reason.objects.filter(
            kind=ReasonKind.FEEDBACK, active=True, pk__in=list(tag_ids)
        ).values_list("label", flat=True)
    )
    if len(tags) != len(set(tag_ids)):
        raise ValidationError({"tag_ids": "Choose tags from the organization's list."})
    with transaction.atomic():
        item = LeadFeedback.objects.create(
            lead=lead, rater=actor, rating=rating, tags=tags, comment=comment[:5000]
        )
        sla_services.feedback_timers_start(item=item, now=now or item.created_at)
    return item


@transaction.atomic
def feedback_acknowledge(*, item: LeadFeedback, actor: User, response: str = "", now=None):
    now = now or timezone.now()
    claimed = LeadFeedback.objects.filter(pk=item.pk, status=FeedbackStatus.OPEN).update(
        status=FeedbackStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=actor,
        response=response or item.response, updated_at=now,
    )  # fmt: skip
    if claimed != 1:
        raise ValidationError({"status": "Only an open item can be acknowledged."})
    sla_services.feedback_stopped(
        item=item, targets=(TimerTarget.ACKNOWLEDGE,), at=now, actor=actor
    )
    item.refresh_from_db()
    return item


@transaction.atomic
def feedback_resolve(*, item: LeadFeedback, actor: User, response: str, now=None):
    if not response.strip():
        raise ValidationError({"response": "Say what marketing changed in response."})
    now = now or timezone.now()
    resolved = LeadFeedback.objects.filter(pk=item.pk).exclude(
        status=FeedbackStatus.RESOLVED
    ).update(
        status=FeedbackStatus.RESOLVED, resolved_at=now, resolved_by=actor, response=response,
        # Resolving an unacknowledged item acknowledges it at the same moment.
        acknowledged_at=Coalesce("acknowledged_at", Value(now)),
        acknowledged_by=Coalesce("acknowledged_by", Value(actor.pk), output_field=IntegerField()),
        updated_at=now,
    )  # fmt: skip
    if resolved != 1:
        raise ValidationError({"status": "This item is already resolved."})
    sla_services.feedback_stopped(
        item=item, targets=(TimerTarget.ACKNOWLEDGE, TimerTarget.RESOLVE), at=now, actor=actor
    )
    item.refresh_from_db()
    return item


# --- opportunities ----------------------------------------------------------------------------


def lead_convert(*, lead: Lead, actor: User, amount: Decimal, expected_close_on=None,
                 probability: int = 20, name: str = "", now=None) -> Opportunity:  # fmt: skip
    """An accepted lead becomes an opportunity."""
    now = now or timezone.now()
    with transaction.atomic():
        lead_transition(lead=lead, to_stage=Stage.OPPORTUNITY, actor=actor, now=now,
                        reason="Converted to an opportunity.")  # fmt: skip
        # A lead recycled after a lost deal reopens its one opportunity rather than adding one.
        opportunity = Opportunity.objects.filter(lead=lead).first() or Opportunity(lead=lead)
        opportunity.name = name or f"{lead.company_name or lead} opportunity"
        opportunity.amount, opportunity.currency = amount, current_organization().currency
        opportunity.expected_close_on, opportunity.probability = expected_close_on, probability
        opportunity.status = OpportunityStatus.OPEN
        opportunity.closed_at = opportunity.won_value = opportunity.loss_reason = None
        opportunity.full_clean(exclude=["organization", "lead"])
        opportunity.save()
    return opportunity


def opportunity_win(*, opportunity: Opportunity, actor: User, value: Decimal | None = None,
                    now=None) -> Opportunity:  # fmt: skip
    now = now or timezone.now()
    with transaction.atomic():
        lead_transition(lead=opportunity.lead, to_stage=Stage.WON, actor=actor, now=now,
                        reason="Deal won.")  # fmt: skip
        opportunity.status, opportunity.closed_at = OpportunityStatus.WON, now
        opportunity.won_value = opportunity.amount if value is None else value
        opportunity.probability = 100
        opportunity.save()
    return opportunity


def opportunity_lose(*, opportunity: Opportunity, actor: User, reason_id: int, now=None):
    reason = _reason(ReasonKind.LOSS, reason_id, "reason_id")
    now = now or timezone.now()
    with transaction.atomic():
        lead_transition(
            lead=opportunity.lead, to_stage=Stage.LOST, actor=actor, now=now,
            reason=f"Deal lost: {reason.label}.", reason_label=reason.label,
        )  # fmt: skip
        opportunity.status, opportunity.closed_at = OpportunityStatus.LOST, now
        opportunity.loss_reason, opportunity.probability = reason, 0
        opportunity.save()
    return opportunity


# --- engagement -------------------------------------------------------------------------------


def engagement_record(*, lead: Lead, kind: str, occurred_at=None, detail: str = "",
                      now=None) -> Lead:  # fmt: skip
    """An engagement event (form fill, pricing visit...): rescore and apply the MQL rule."""
    now = now or timezone.now()
    with transaction.atomic():
        event = EngagementEvent(lead=lead, kind=kind, occurred_at=occurred_at or now,
                                detail=detail[:300])  # fmt: skip
        event.full_clean(exclude=["organization", "lead"])
        event.save()
        _rescore(lead, now)
        Lead.objects.filter(pk=lead.pk).update(
            score=lead.score, score_breakdown=lead.score_breakdown, updated_at=now
        )
        _progress(lead, actor=None, now=now)
    return lead


# --- rescoring --------------------------------------------------------------------------------

# Stages where the score still decides something (the MQL rule).
SCORED_STAGES = (Stage.NEW, Stage.MQL, Stage.NURTURE)
RESCORE_CHUNK = 1000


def leads_rescore(*, now: datetime | None = None) -> int:
    """Recompute scores of leads the MQL rule still applies to (after a rule change, or daily
    as engagement decays); a NEW lead that now reaches the threshold becomes an MQL. Safe to
    run twice: it only writes scores that changed. Returns how many leads changed score."""
    now = now or timezone.now()
    rules = selectors.scoring_rules()
    changed = 0
    last_id = 0
    while True:
        chunk = list(
            Lead.objects.filter(stage__in=SCORED_STAGES, pk__gt=last_id)
            .prefetch_related("events")
            .order_by("pk")[:RESCORE_CHUNK]
        )
        if not chunk:
            return changed
        last_id = chunk[-1].pk
        updated = []
        for lead in chunk:
            score, breakdown = score_compute(lead, rules, lead.events.all(), now)
            if (score, breakdown) != (lead.score, lead.score_breakdown):
                lead.score, lead.score_breakdown = score, breakdown
                updated.append(lead)
        with transaction.atomic():
            Lead.objects.bulk_update(updated, ["score", "score_breakdown"], batch_size=500)
            for lead in updated:
                if lead.stage == Stage.NEW:
                    _progress(lead, actor=None, now=now)
        changed += len(updated)


# --- bulk intake ------------------------------------------------------------------------------

BULK_LIMIT = 1000


@dataclass
class BulkItemResult:
    index: int
    status: str  # created, updated, error
    lead_id: int | None = None
    errors: dict | None = None


def _error_dict(error: Exception) -> dict:
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return error.message_dict
        return {"non_field_errors": error.messages}
    return {"non_field_errors": [str(error)]}


def _bulk_key(values: dict) -> tuple[str, str]:
    """(external id, email) to match on; a non-text value matches nothing (validation says why)."""
    external_id, email = values.get("external_id"), values.get("email")
    return (
        external_id if isinstance(external_id, str) else "",
        email.strip().lower() if isinstance(email, str) else "",
    )


def leads_bulk_upsert(
    *, actor: User | None, rows: list[dict], now: datetime | None = None
) -> list[BulkItemResult]:
    """Create or update up to BULK_LIMIT leads in one transaction, reporting each item.

    New leads take the set-based path: validated one by one, then scored, qualified and assigned
    in memory against the policy, rules and reps read once, and written with a few bulk INSERTs.
    Rows matching an existing lead (external id, else email) go through `lead_update`. A bad row
    is reported with its field errors and does not stop the others.
    """
    if len(rows) > BULK_LIMIT:
        raise ValidationError({"leads": f"Send at most {BULK_LIMIT} leads per request."})
    now = now or timezone.now()
    results = [BulkItemResult(index=i, status="error") for i in range(len(rows))]
    with transaction.atomic():
        keys = [_bulk_key(row) if isinstance(row, dict) else ("", "") for row in rows]
        external_ids = {k[0] for k in keys if k[0]}
        emails = {k[1] for k in keys if k[1]}
        existing_by_external = {
            lead.external_id: lead for lead in Lead.objects.filter(external_id__in=external_ids)
        }
        existing_by_email = {
            lead.email.lower(): lead for lead in selectors.leads_with_emails(emails)
        }
        # Raw rows name campaigns by id; only this organization's ids resolve.
        campaign_ids = {
            row["campaign"] for row in rows
            if isinstance(row, dict) and isinstance(row.get("campaign"), int)
        }  # fmt: skip
        campaigns = {c.pk: c for c in Campaign.objects.filter(pk__in=campaign_ids)}
        seen: set[tuple[str, str]] = set()
        new_leads: list[tuple[int, Lead]] = []
        for index, row in enumerate(rows):
            result = results[index]
            if not isinstance(row, dict):
                result.errors = {"non_field_errors": ["Each lead must be an object."]}
                continue
            external_id, email = keys[index]
            duplicate = (external_id and ("x", external_id) in seen) or (
                email and ("e", email) in seen
            )
            if duplicate:
                result.errors = {"non_field_errors": ["The same lead appears twice in this batch."]}
                continue
            seen.update({("x", external_id)} if external_id else set())
            seen.update({("e", email)} if email else set())
            existing = existing_by_external.get(external_id) or existing_by_email.get(email)
            row = dict(row)
            if row.get("campaign") is not None and not isinstance(row["campaign"], Campaign):
                row["campaign"] = campaigns.get(row["campaign"])
                if row["campaign"] is None:
                    result.errors = {"campaign": ["No campaign of this organization has this id."]}
                    continue
            try:
                if existing is not None:
                    with transaction.atomic():  # a savepoint: a failing update leaves no trace
                        lead = lead_update(lead=existing, actor=actor, now=now, **row)
                    result.status, result.lead_id = "updated", lead.pk
                    continue
                # New rows are only validated here (no SQL), so they need no savepoint.
                lead = Lead(stage=Stage.NEW, stage_changed_at=now, **_clean_lead_values(dict(row)))
                lead.clean_fields(exclude=["organization", "stage_changed_at"])
            except (ValidationError, TypeError) as error:
                result.errors = _error_dict(error)
                continue
            new_leads.append((index, lead))
        intake = NewLeadIntake(actor=actor, now=now)
        for _index, lead in new_leads:
            intake.add(lead)
        intake.write()
        for index, lead in new_leads:
            results[index].status, results[index].lead_id = "created", lead.pk
    return results


class NewLeadIntake:
    """Score, qualify and assign new leads in memory, then write them with a few bulk INSERTs.

    The same rule as `_progress` (score threshold → MQL, policy met → SQL, assigned), applied
    before the first write, with the policy, scoring rules and reps read once per intake: one
    lead (`lead_create`) or a thousand (`leads_bulk_upsert`) cost the same handful of queries.
    """

    def __init__(self, *, actor: User | None, now: datetime):
        self.actor, self.now = actor, now
        self.organization = current_organization()
        self.policy = policy_ensure()
        self.rules = selectors.scoring_rules()
        self._planner: AssignmentPlanner | None = None
        self._leads: list[tuple[Lead, list[tuple]]] = []

    def add(self, lead: Lead) -> None:
        policy, now = self.policy, self.now
        lead.organization = self.organization
        lead.stage_changed_at = now
        lead.score, lead.score_breakdown = score_compute(lead, self.rules, [], now)
        steps = [("", Stage.NEW, "Created", None)]
        if policy.mql_score_threshold is not None and lead.score >= policy.mql_score_threshold:
            steps.append((Stage.NEW, Stage.MQL, f"Score {lead.score} reached the MQL threshold "
                          f"{policy.mql_score_threshold}.", policy))  # fmt: skip
            result = bant_evaluate(lead, policy)
            if result.qualifies:
                held = ", ".join(c.label for c in result.criteria if c.holds)
                steps.append((Stage.MQL, Stage.SQL,
                              f"Meets policy v{policy.version}: {held}.", policy))  # fmt: skip
                lead.qualified_by_policy, lead.handed_off_at = policy, now
                self._planner = self._planner or AssignmentPlanner()
                assignment = self._planner.pick(lead, now)
                if assignment.rep is not None:
                    lead.owner_id = assignment.rep.user_id
                steps.append((Stage.SQL, Stage.SQL, assignment.note, None))
        lead.stage = steps[-1][1]
        self._leads.append((lead, steps))

    def write(self) -> list[Lead]:
        leads = [lead for lead, _ in self._leads]
        copy_insert(Lead, leads)
        if self._planner is not None:
            self._planner.save()
        sla_services.follow_up_start_many(leads, now=self.now, actor=self.actor)
        copy_insert(
            LeadTransition,
            [
                LeadTransition(
                    organization=self.organization, lead=lead, from_stage=from_stage,
                    to_stage=to_stage, at=self.now, reason=reason, policy=policy,
                    actor=self.actor if from_stage == "" else None,  # later steps are automatic
                )
                for lead, steps in self._leads
                for from_stage, to_stage, reason, policy in steps
            ],
        )  # fmt: skip
        return leads
