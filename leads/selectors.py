"""Reads for lead pages, the API and the services' decisions."""

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Lower

from leads.models import (
    AssignmentRule,
    Campaign,
    FeedbackStatus,
    Lead,
    LeadFeedback,
    Opportunity,
    OpportunityStatus,
    QualificationPolicy,
    Reason,
    SalesRep,
    ScoringRule,
    Stage,
)
from leads.qualification import bant_criteria_held
from revops.tenancy.models import User


def policy_current() -> QualificationPolicy | None:
    return QualificationPolicy.objects.order_by("-version").first()


def policy_history() -> QuerySet[QualificationPolicy]:
    return QualificationPolicy.objects.select_related("created_by").order_by("-version")


def policy_would_qualify(policy: QualificationPolicy) -> int:
    """How many current MQLs meet `policy` (counted in one SQL statement)."""
    return (
        Lead.objects.filter(stage=Stage.MQL)
        .alias(held=bant_criteria_held(policy))
        .filter(held__gte=policy.criteria_required)
        .count()
    )


def scoring_rules() -> list[ScoringRule]:
    return list(ScoringRule.objects.filter(active=True))


def assignment_rules() -> QuerySet[AssignmentRule]:
    return AssignmentRule.objects.filter(active=True).order_by("priority", "id")


def reasons(kind: str) -> QuerySet[Reason]:
    return Reason.objects.filter(kind=kind, active=True).order_by("label")


def campaigns() -> QuerySet[Campaign]:
    return Campaign.objects.order_by("name")


def campaigns_with_counts() -> QuerySet[Campaign]:
    """Campaigns with how many leads they brought, handed to sales, and won: one grouped query."""
    return Campaign.objects.annotate(
        lead_count=Count("leads"),
        handed_off_count=Count("leads", filter=Q(leads__handed_off_at__isnull=False)),
        won_count=Count("leads", filter=Q(leads__stage=Stage.WON)),
    ).order_by("-starts_on", "name")


def leads_with_emails(emails) -> QuerySet[Lead]:
    """Leads whose email is one of `emails` (lower-case), through the unique index on
    (organization, lower(email)); `email__iexact` would compare UPPER() and scan the table."""
    # `email <> ''` repeats the partial index's condition, without which PostgreSQL ignores it.
    return (
        Lead.objects.exclude(email="")
        .alias(email_key=Lower("email"))
        .filter(email_key__in=list(emails))
    )


def members_q(*, channel: str = "", campaign: str | int = "", segment: str = "", team: str = "",
              path: str = "") -> Q:  # fmt: skip
    """Leads of these members ("" = any), as the metrics count them (metrics.compute's
    LEAD_FILTER is the same in SQL): a channel is the lead's source, a segment its industry, a
    team its owner's SalesRep team. `path` leads from the queried model to the lead ("lead__")."""
    q = Q()
    if channel:
        q &= Q(**{f"{path}source": channel})
    if campaign:
        q &= Q(**{f"{path}campaign_id": campaign})
    if segment:
        q &= Q(**{f"{path}industry": segment})
    if team:
        q &= Q(**{f"{path}owner_id__in": SalesRep.objects.filter(team=team).values("user_id")})
    return q


def leads_list() -> QuerySet[Lead]:
    return Lead.objects.select_related("campaign", "owner")


def lead_detail(pk: int) -> Lead | None:
    return (
        Lead.objects.select_related("campaign", "owner", "qualified_by_policy")
        .prefetch_related(
            "transitions__actor", "transitions__policy", "touches__rep", "feedback__rater"
        )
        .filter(pk=pk)
        .first()
    )


def open_opportunity(*, lead: Lead) -> Opportunity | None:
    return Opportunity.objects.filter(lead=lead, status=OpportunityStatus.OPEN).first()


def rep_queue(*, rep: User) -> QuerySet[Lead]:
    """A rep's SQLs awaiting their first touch or acceptance, oldest hand-off first."""
    return (
        Lead.objects.filter(owner=rep, stage=Stage.SQL)
        .select_related("campaign")
        .order_by("handed_off_at", "id")
    )


# Open items first, then acknowledged, then resolved.
INBOX_ORDER = Case(
    When(status=FeedbackStatus.OPEN, then=Value(0)),
    When(status=FeedbackStatus.ACKNOWLEDGED, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def feedback_inbox(*, status: str | None = None, campaign_id=None, source=None, tag=None):
    items = LeadFeedback.objects.select_related(
        "lead__campaign", "rater", "acknowledged_by", "resolved_by"
    ).order_by(INBOX_ORDER, "-created_at", "-id")
    if status in FeedbackStatus.values:
        items = items.filter(status=status)
    if campaign_id:
        items = items.filter(lead__campaign_id=campaign_id)
    if source:
        items = items.filter(lead__source=source)
    if tag:
        items = items.filter(tags__contains=[tag])
    return items
