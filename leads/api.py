"""The leads REST API: leads and their lifecycle, campaigns, the feedback inbox, the
qualification policy and the reason lists.

Thin by rule: serializers parse and shape; every write is a function of `leads/services.py`, every
read starts from `leads/selectors.py` or a scoped default manager. Every viewset inherits
`TenantViewSet`, so the request runs inside its credential's organization: another
organization's object is a 404, and writable ids (campaign, owner, reasons, tags) resolve only
among the organization's own rows (`ScopedPrimaryKeyRelatedField`).

Who may do what (viewers never write; the base permission refuses them everywhere):

| action | roles |
|---|---|
| read anything | every member |
| create, update, upsert, rate, record events, disqualify, nurture | every writer |
| mark MQL, force-qualify, reassign, campaigns, answer the feedback inbox | admin, marketing |
| accept, reject (checked by the services), touch, convert, win, lose | the owner, or an admin |
| a new qualification policy version | admin |
"""

from django.db.models import Q, prefetch_related_objects
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from leads import selectors, services
from leads.models import (
    ALLOWED_TRANSITIONS,
    Campaign,
    EngagementKind,
    FeedbackStatus,
    Lead,
    LeadFeedback,
    LeadTransition,
    Opportunity,
    QualificationPolicy,
    Reason,
    ReasonKind,
    SourceChannel,
    Stage,
    Touch,
)
from leads.qualification import bant_evaluate
from revops.tenancy.api import TenantViewSet, UserSummarySerializer
from revops.tenancy.integrity import constraint_as_field_error
from revops.tenancy.models import Membership, Role, User
from revops.tenancy.permissions import IsOrganizationMember

# --- permissions ------------------------------------------------------------------------------

# Marketing's actions: mark MQLs, force-qualify, reassign, campaigns, the feedback inbox.
MARKETING_ROLES = frozenset({Role.ADMIN, Role.MARKETING})


class MarketingWrites(BasePermission):
    """On top of `IsOrganizationMember`: writes by RevOps admins and marketing only."""

    message = "Only RevOps admins and marketing can do this."

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        membership = getattr(request, "membership", None)
        return membership is not None and membership.role in MARKETING_ROLES


# Listed in full: a view's permission_classes replace the defaults, and IsOrganizationMember
# must run first so anonymous callers get 401 and viewers 403.
MARKETING_ONLY = [IsOrganizationMember, MarketingWrites]


def _require_owner_or_admin(request, lead: Lead) -> None:
    services.require_owner_or_admin(
        lead=lead, user=request.user, is_admin=request.membership.is_admin
    )


# --- fields -----------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.INT)
class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """An id that resolves only among the current organization's rows of `model`.

    The queryset is built when a value is validated, inside the request's scope: a class-level
    `queryset=Model.objects.all()` would raise at import (no scope yet). Another organization's
    id answers exactly like an id that does not exist. `limit_to` narrows further (a reason's
    kind); the services check such rules again, this only makes the error name the field.
    """

    def __init__(self, *, model, limit_to: dict | None = None, **kwargs):
        self.model = model
        self.limit_to = limit_to or {}
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.filter(**self.limit_to)


class MemberPrimaryKeyRelatedField(ScopedPrimaryKeyRelatedField):
    """A user id that resolves only among the current organization's members.

    Users are global, so the scope comes from their membership rows (a scoped manager).
    """

    def __init__(self, **kwargs):
        super().__init__(model=User, **kwargs)

    def get_queryset(self):
        return User.objects.filter(pk__in=Membership.objects.values("user_id"))


def _valid(serializer_class, data, **kwargs) -> dict:
    """Parse a request body (or query) with `serializer_class`; a 400 naming the fields if bad."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- serializers: reading ---------------------------------------------------------------------


class LeadSerializer(serializers.ModelSerializer):
    """A lead as lists show it (campaign and owner are joined by `selectors.leads_list`)."""

    campaign_name = serializers.CharField(source="campaign.name", read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields = [
            "id", "full_name", "email", "phone", "title", "company_name", "company_domain",
            "industry", "company_size", "territory", "persona", "source", "campaign",
            "campaign_name", "landing_page", "external_id", "stage", "stage_changed_at", "owner",
            "handed_off_at", "first_touch_at", "score", "budget_amount", "authority_role",
            "needs", "timeline_days", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class LeadSummarySerializer(serializers.ModelSerializer):
    """The lead behind a feedback item, as the inbox shows it."""

    campaign_name = serializers.CharField(source="campaign.name", read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields = [
            "id", "full_name", "email", "company_name", "source", "campaign", "campaign_name",
            "stage",
        ]  # fmt: skip
        read_only_fields = fields


class CriterionSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True, help_text="budget, authority, need or timeline")
    label = serializers.CharField(read_only=True)
    holds = serializers.BooleanField(read_only=True)
    explanation = serializers.CharField(read_only=True)


class BantSerializer(serializers.Serializer):
    """The BANT checklist of one lead against the current policy version."""

    policy_version = serializers.IntegerField(read_only=True)
    required = serializers.IntegerField(read_only=True, help_text="Criteria that must hold.")
    held = serializers.IntegerField(read_only=True)
    qualifies = serializers.BooleanField(read_only=True)
    criteria = CriterionSerializer(many=True, read_only=True)


class TransitionSerializer(serializers.ModelSerializer):
    actor = UserSummarySerializer(read_only=True, allow_null=True)
    policy_version = serializers.IntegerField(
        source="policy.version", read_only=True, allow_null=True
    )

    class Meta:
        model = LeadTransition
        fields = ["id", "from_stage", "to_stage", "actor", "at", "reason", "policy_version"]
        read_only_fields = fields


class TouchSerializer(serializers.ModelSerializer):
    """A logged call, email or meeting (also the body of `POST leads/{id}/touches/`)."""

    rep = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Touch
        fields = ["id", "kind", "note", "rep", "at"]
        read_only_fields = ["id", "rep", "at"]
        extra_kwargs = {"note": {"max_length": 5000}}


class FeedbackSerializer(serializers.ModelSerializer):
    """A lead-quality rating: an item of marketing's feedback inbox."""

    lead = LeadSummarySerializer(read_only=True)
    rater = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = LeadFeedback
        fields = [
            "id", "lead", "rater", "rating", "tags", "comment", "from_rejection", "status",
            "response", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class OpportunitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Opportunity
        fields = [
            "id", "name", "amount", "currency", "expected_close_on", "probability", "status",
            "closed_at", "won_value", "loss_reason", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class LeadDetailSerializer(LeadSerializer):
    """One lead with its checklist, score breakdown, timeline, touches, feedback and deal."""

    qualified_by_policy_version = serializers.IntegerField(
        source="qualified_by_policy.version", read_only=True, allow_null=True
    )
    bant = BantSerializer(read_only=True)
    next_stages = serializers.SerializerMethodField(
        help_text="Stages the lifecycle allows this lead to move to."
    )
    transitions = TransitionSerializer(many=True, read_only=True)
    touches = TouchSerializer(many=True, read_only=True)
    feedback = FeedbackSerializer(many=True, read_only=True)
    opportunity = OpportunitySerializer(read_only=True, allow_null=True)

    class Meta(LeadSerializer.Meta):
        fields = [
            *LeadSerializer.Meta.fields, "score_breakdown", "qualified_by_policy_version",
            "bant", "next_stages", "transitions", "touches", "feedback", "opportunity",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_next_stages(self, lead: Lead) -> list[str]:
        return sorted(ALLOWED_TRANSITIONS[lead.stage])


DUPLICATE_CAMPAIGN = "A campaign with this name already exists."


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "name", "channel", "starts_on", "ends_on", "budget", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"budget": {"min_value": 0}}

    def validate_name(self, name: str) -> str:
        # `organization` is not a serializer field, so DRF cannot see the per-organization
        # unique constraint; the scoped manager checks this organization only.
        others = Campaign.objects.filter(name__iexact=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise ValidationError(DUPLICATE_CAMPAIGN)
        return name

    def validate(self, attrs):
        starts_on = attrs.get("starts_on", getattr(self.instance, "starts_on", None))
        ends_on = attrs.get("ends_on", getattr(self.instance, "ends_on", None))
        if starts_on and ends_on and ends_on < starts_on:
            raise ValidationError({"ends_on": "A campaign cannot end before it starts."})
        return attrs


class PolicySerializer(serializers.ModelSerializer):
    created_by = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = QualificationPolicy
        fields = [
            "id", "version", "budget_minimum", "budget_currency", "authority_roles", "needs",
            "timeline_max_days", "criteria_required", "mql_score_threshold",
            "mql_manual_marking", "change_note", "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


@extend_schema_serializer(many=False)  # `GET qualification-policy/` is one object, not a list
class CurrentPolicySerializer(PolicySerializer):
    would_qualify = serializers.IntegerField(
        read_only=True, help_text="How many current MQLs meet this version."
    )

    class Meta(PolicySerializer.Meta):
        fields = [*PolicySerializer.Meta.fields, "would_qualify"]
        read_only_fields = fields


class ReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reason
        fields = ["id", "kind", "label"]
        read_only_fields = fields


# --- serializers: what clients send -----------------------------------------------------------


class LeadWriteSerializer(serializers.ModelSerializer):
    """The fields a client may set on a lead; omitted fields keep their value."""

    campaign = ScopedPrimaryKeyRelatedField(model=Campaign, required=False, allow_null=True)

    class Meta:
        model = Lead
        fields = list(services.LEAD_FIELDS)
        # Duplicate emails and external ids are the service's to report, per field.
        validators = []


class BulkLeadsSerializer(serializers.Serializer):
    leads = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=services.BULK_LIMIT,
        help_text="Lead objects with the fields of a single create.",
    )  # fmt: skip


class BulkItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "updated", "error"])
    lead_id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), allow_null=True
    )


class LeadFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, max_length=200, help_text="Search in name, email and company."
    )
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    owner = serializers.IntegerField(required=False, help_text="The owner's user id.")
    source = serializers.ChoiceField(choices=SourceChannel.choices, required=False)
    campaign = serializers.IntegerField(required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)

    @staticmethod
    def apply(leads, filters: dict):
        if term := filters.get("q", "").strip():
            leads = leads.filter(
                Q(full_name__icontains=term)
                | Q(email__icontains=term)
                | Q(company_name__icontains=term)
            )
        for name, lookup in [
            ("stage", "stage"),
            ("owner", "owner_id"),
            ("source", "source"),
            ("campaign", "campaign_id"),
            ("created_after", "created_at__gte"),
            ("created_before", "created_at__lt"),
        ]:
            if name in filters:
                leads = leads.filter(**{lookup: filters[name]})
        return leads


class FeedbackFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=FeedbackStatus.choices, required=False)
    campaign = serializers.IntegerField(required=False)
    source = serializers.ChoiceField(choices=SourceChannel.choices, required=False)
    tag = serializers.CharField(required=False, max_length=100)


class ReasonFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReasonKind.choices, required=False)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class RequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why; kept on the lead's timeline.")


class RejectSerializer(serializers.Serializer):
    reason_id = ScopedPrimaryKeyRelatedField(
        model=Reason, limit_to={"kind": ReasonKind.REJECTION, "active": True}
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class LoseSerializer(serializers.Serializer):
    reason_id = ScopedPrimaryKeyRelatedField(
        model=Reason, limit_to={"kind": ReasonKind.LOSS, "active": True}
    )


class AssignSerializer(serializers.Serializer):
    owner = MemberPrimaryKeyRelatedField(help_text="A sales member's user id.")


class ConvertSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    expected_close_on = serializers.DateField(required=False, allow_null=True)
    probability = serializers.IntegerField(
        required=False, default=20, min_value=0, max_value=100, help_text="Percent"
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class WinSerializer(serializers.Serializer):
    value = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        help_text="The won value; the opportunity's amount when omitted.",
    )


class RateSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5, help_text="1 (junk) to 5")
    tag_ids = ScopedPrimaryKeyRelatedField(
        model=Reason,
        limit_to={"kind": ReasonKind.FEEDBACK, "active": True},
        many=True,
        required=False,
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class EngagementEventSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EngagementKind.choices)
    occurred_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    detail = serializers.CharField(required=False, allow_blank=True, max_length=300)


class FeedbackResponseSerializer(serializers.Serializer):
    response = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class FeedbackResolveSerializer(serializers.Serializer):
    response = serializers.CharField(max_length=5000, help_text="What marketing changed.")


class PolicyWriteSerializer(serializers.ModelSerializer):
    """A change to the current policy; omitted fields keep the current version's value."""

    class Meta:
        model = QualificationPolicy
        fields = [*services.POLICY_FIELDS, "change_note"]
        extra_kwargs = {
            "budget_minimum": {"min_value": 0},
            "criteria_required": {"min_value": 1, "max_value": 4},
        }


# --- leads ------------------------------------------------------------------------------------


class LeadCursorPagination(CursorPagination):
    """Newest first. The id breaks ties between leads created in the same instant (imports),
    so walking the pages never repeats or skips a lead, even while new leads arrive."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound as error:
            # A mangled cursor is bad input, not a missing page.
            raise ValidationError({self.cursor_query_param: [str(error.detail)]}) from error


class LeadViewSet(mixins.ListModelMixin, TenantViewSet):
    """Leads: list, read, create, update, upsert, and the lifecycle's actions."""

    serializer_class = LeadSerializer
    pagination_class = LeadCursorPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.leads_list()

    def _detail(self, lead_id: int) -> dict:
        lead = selectors.lead_detail(lead_id)
        if lead is None:
            raise NotFound("No such lead.")
        # The timeline names each transition's policy version; the deal is shown when there
        # is one. One query each instead of one per row.
        prefetch_related_objects([lead], "transitions__policy", "opportunity")
        policy = services.policy_ensure()
        result = bant_evaluate(lead, policy)
        lead.bant = {
            "policy_version": policy.version,
            "required": result.required,
            "held": result.held,
            "qualifies": result.qualifies,
            "criteria": result.criteria,
        }
        return LeadDetailSerializer(lead).data

    @extend_schema(parameters=[LeadFilterSerializer])
    def list(self, request, *args, **kwargs):
        filters = _valid(LeadFilterSerializer, request.query_params)
        leads = LeadFilterSerializer.apply(self.get_queryset(), filters)
        page = self.paginate_queryset(leads)
        return self.get_paginated_response(LeadSerializer(page, many=True).data)

    @extend_schema(responses=LeadDetailSerializer)
    def retrieve(self, request, pk: int):
        return Response(self._detail(pk))

    @extend_schema(request=LeadWriteSerializer, responses={201: LeadDetailSerializer})
    def create(self, request):
        values = _valid(LeadWriteSerializer, request.data)
        lead = services.lead_create(actor=request.user, **values)
        return Response(self._detail(lead.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=LeadWriteSerializer, responses=LeadDetailSerializer)
    def partial_update(self, request, pk: int):
        lead = self.get_object()
        values = _valid(LeadWriteSerializer, request.data, partial=True)
        services.lead_update(lead=lead, actor=request.user, **values)
        return Response(self._detail(lead.pk))

    @extend_schema(
        request=LeadWriteSerializer,
        responses={200: LeadDetailSerializer, 201: LeadDetailSerializer},
        description="Update the lead with this external_id, else this email, or create it "
        "(201 created, 200 updated). Send at least one of the two.",
    )
    @action(detail=False, methods=["post"])
    def upsert(self, request):
        values = _valid(LeadWriteSerializer, request.data)
        if not values.get("external_id") and not values.get("email"):
            raise ValidationError({"external_id": ["Send an external_id or an email to match."]})
        lead, created = services.lead_upsert(actor=request.user, **values)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(self._detail(lead.pk), status=code)

    @extend_schema(
        request=BulkLeadsSerializer,
        responses=BulkItemSerializer(many=True),
        description=f"Create or update up to {services.BULK_LIMIT} leads in one pass. Each item "
        "is matched like `upsert` and reported on its own (created, updated, or error with field "
        "messages); one bad item does not stop the others. Campaigns are given by id.",
    )
    @action(detail=False, methods=["post"], permission_classes=MARKETING_ONLY)
    def bulk(self, request):
        rows = _valid(BulkLeadsSerializer, request.data)["leads"]
        results = services.leads_bulk_upsert(actor=request.user, rows=rows)
        return Response(BulkItemSerializer(results, many=True).data)

    # --- marketing's actions

    @extend_schema(request=OptionalReasonSerializer, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"], url_path="mark-mql", permission_classes=MARKETING_ONLY)
    def mark_mql(self, request, pk: int):
        lead = self.get_object()
        data = _valid(OptionalReasonSerializer, request.data)
        services.lead_mark_mql(lead=lead, actor=request.user, reason=data.get("reason", ""))
        return Response(self._detail(lead.pk))

    @extend_schema(request=RequiredReasonSerializer, responses=LeadDetailSerializer)
    @action(
        detail=True, methods=["post"], url_path="force-qualify", permission_classes=MARKETING_ONLY
    )
    def force_qualify(self, request, pk: int):
        lead = self.get_object()
        data = _valid(RequiredReasonSerializer, request.data)
        services.lead_force_qualify(lead=lead, actor=request.user, reason=data["reason"])
        return Response(self._detail(lead.pk))

    @extend_schema(request=AssignSerializer, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"], permission_classes=MARKETING_ONLY)
    def assign(self, request, pk: int):
        lead = self.get_object()
        data = _valid(AssignSerializer, request.data)
        services.lead_reassign(lead=lead, owner=data["owner"], actor=request.user)
        return Response(self._detail(lead.pk))

    # --- the owner's actions

    @extend_schema(request=None, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk: int):
        lead = self.get_object()
        services.lead_accept(lead=lead, actor=request.user)  # owner or admin, else 403
        return Response(self._detail(lead.pk))

    @extend_schema(request=RejectSerializer, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk: int):
        lead = self.get_object()
        data = _valid(RejectSerializer, request.data)
        services.lead_reject(
            lead=lead,
            actor=request.user,
            reason_id=data["reason_id"].pk,
            comment=data.get("comment", ""),
        )
        return Response(self._detail(lead.pk))

    @extend_schema(
        methods=["get"], request=None, responses=TouchSerializer(many=True),
        description="The lead's logged touches, newest first.",
    )  # fmt: skip
    @extend_schema(
        methods=["post"], request=TouchSerializer, responses={201: TouchSerializer},
        description="Log a call, email or meeting. The owner's first touch stops the SLA.",
    )  # fmt: skip
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a lead has a few
    def touches(self, request, pk: int):
        lead = self.get_object()
        if request.method in SAFE_METHODS:
            touches = lead.touches.select_related("rep")
            return Response(TouchSerializer(touches, many=True).data)
        _require_owner_or_admin(request, lead)
        data = _valid(TouchSerializer, request.data)
        touch = services.touch_log(
            lead=lead, actor=request.user, kind=data["kind"], note=data.get("note", "")
        )
        return Response(TouchSerializer(touch).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConvertSerializer, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"])
    def convert(self, request, pk: int):
        lead = self.get_object()
        _require_owner_or_admin(request, lead)
        data = _valid(ConvertSerializer, request.data)
        # A lead recycled through nurture after a lost deal still has that deal, and
        # `lead_convert` inserts a second one against the one-per-lead constraint (see the
        # report). Until the service reopens the deal, say so instead of answering a 500.
        with constraint_as_field_error(
            "leads_opportunity_lead_id_key", "stage", "This lead already has an opportunity."
        ):
            services.lead_convert(lead=lead, actor=request.user, **data)
        return Response(self._detail(lead.pk))

    def _open_opportunity(self, lead: Lead) -> Opportunity:
        opportunity = getattr(lead, "opportunity", None)  # the reverse one-to-one, or None
        if opportunity is None:
            raise ValidationError({"stage": ["This lead has no opportunity to close."]})
        return opportunity

    @extend_schema(request=WinSerializer, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"])
    def win(self, request, pk: int):
        lead = self.get_object()
        _require_owner_or_admin(request, lead)
        data = _valid(WinSerializer, request.data)
        services.opportunity_win(
            opportunity=self._open_opportunity(lead), actor=request.user, value=data.get("value")
        )
        return Response(self._detail(lead.pk))

    @extend_schema(request=LoseSerializer, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"])
    def lose(self, request, pk: int):
        lead = self.get_object()
        _require_owner_or_admin(request, lead)
        data = _valid(LoseSerializer, request.data)
        services.opportunity_lose(
            opportunity=self._open_opportunity(lead),
            actor=request.user,
            reason_id=data["reason_id"].pk,
        )
        return Response(self._detail(lead.pk))

    # --- any writer

    def _move(self, request, to_stage: str):
        lead = self.get_object()
        data = _valid(RequiredReasonSerializer, request.data)
        services.lead_transition(
            lead=lead, to_stage=to_stage, actor=request.user, reason=data["reason"]
        )
        return Response(self._detail(lead.pk))

    @extend_schema(request=RequiredReasonSerializer, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"])
    def disqualify(self, request, pk: int):
        return self._move(request, Stage.DISQUALIFIED)

    @extend_schema(request=RequiredReasonSerializer, responses=LeadDetailSerializer)
    @action(detail=True, methods=["post"])
    def nurture(self, request, pk: int):
        return self._move(request, Stage.NURTURE)

    @extend_schema(request=RateSerializer, responses={201: FeedbackSerializer})
    @action(detail=True, methods=["post"])
    def feedback(self, request, pk: int):
        lead = self.get_object()
        data = _valid(RateSerializer, request.data)
        item = services.feedback_rate(
            lead=lead,
            actor=request.user,
            rating=data["rating"],
            tag_ids=[tag.pk for tag in data.get("tag_ids", [])],
            comment=data.get("comment", ""),
        )
        return Response(FeedbackSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=EngagementEventSerializer,
        responses=LeadDetailSerializer,
        description="Record an engagement event; answers the rescored (maybe promoted) lead.",
    )
    @action(detail=True, methods=["post"])
    def events(self, request, pk: int):
        lead = self.get_object()
        data = _valid(EngagementEventSerializer, request.data)
        services.engagement_record(lead=lead, **data)
        return Response(self._detail(lead.pk))


# --- campaigns --------------------------------------------------------------------------------


class CampaignViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    """Campaigns. Every member reads; RevOps admins and marketing write."""

    serializer_class = CampaignSerializer
    permission_classes = MARKETING_ONLY

    def get_queryset(self):
        return Campaign.objects.order_by("-starts_on", "name", "id")

    # `validate_name` answers the usual duplicate; the constraint decides a race between two.
    def perform_create(self, serializer):
        with constraint_as_field_error("campaign_unique_name", "name", DUPLICATE_CAMPAIGN):
            super().perform_create(serializer)

    def perform_update(self, serializer):
        with constraint_as_field_error("campaign_unique_name", "name", DUPLICATE_CAMPAIGN):
            serializer.save()


# --- the feedback inbox -----------------------------------------------------------------------


class FeedbackViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Marketing's feedback inbox: ratings and rejections from sales, to acknowledge and resolve."""

    serializer_class = FeedbackSerializer
    permission_classes = MARKETING_ONLY

    def get_queryset(self):
        return selectors.feedback_inbox()

    @extend_schema(parameters=[FeedbackFilterSerializer])
    def list(self, request, *args, **kwargs):
        filters = _valid(FeedbackFilterSerializer, request.query_params)
        items = selectors.feedback_inbox(
            status=filters.get("status"),
            campaign_id=filters.get("campaign"),
            source=filters.get("source"),
            tag=filters.get("tag"),
        )
        page = self.paginate_queryset(items)
        return self.get_paginated_response(FeedbackSerializer(page, many=True).data)

    @extend_schema(request=FeedbackResponseSerializer, responses=FeedbackSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk: int):
        item = self.get_object()
        data = _valid(FeedbackResponseSerializer, request.data)
        item = services.feedback_acknowledge(
            item=item, actor=request.user, response=data.get("response", "")
        )
        return Response(FeedbackSerializer(item).data)

    @extend_schema(request=FeedbackResolveSerializer, responses=FeedbackSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk: int):
        item = self.get_object()
        data = _valid(FeedbackResolveSerializer, request.data)
        item = services.feedback_resolve(item=item, actor=request.user, response=data["response"])
        return Response(FeedbackSerializer(item).data)


# --- the qualification policy -----------------------------------------------------------------


class QualificationPolicyViewSet(TenantViewSet):
    """The organization's shared definition of a qualified lead. Editing it (admins only)
    saves a new immutable version; leads keep the version that qualified them."""

    admin_writes = True
    serializer_class = CurrentPolicySerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.policy_history()

    def _current(self, policy: QualificationPolicy) -> dict:
        policy.would_qualify = selectors.policy_would_qualify(policy)
        return CurrentPolicySerializer(policy).data

    @extend_schema(responses=CurrentPolicySerializer)
    def list(self, request):
        return Response(self._current(services.policy_ensure()))

    @extend_schema(request=PolicyWriteSerializer, responses={201: CurrentPolicySerializer})
    def create(self, request):
        values = _valid(PolicyWriteSerializer, request.data)
        policy = services.policy_create_version(actor=request.user, **values)
        return Response(self._current(policy), status=status.HTTP_201_CREATED)

    @extend_schema(responses=PolicySerializer(many=True))
    @action(detail=False, methods=["get"])
    def history(self, request):
        return Response(PolicySerializer(selectors.policy_history(), many=True).data)


# --- reasons ----------------------------------------------------------------------------------


class ReasonViewSet(mixins.ListModelMixin, TenantViewSet):
    """The organization's active reason lists (rejection, loss, feedback tags, disqualification)."""

    serializer_class = ReasonSerializer

    def get_queryset(self):
        return Reason.objects.filter(active=True).order_by("kind", "label")

    @extend_schema(parameters=[ReasonFilterSerializer])
    def list(self, request, *args, **kwargs):
        kind = _valid(ReasonFilterSerializer, request.query_params).get("kind")
        reasons = selectors.reasons(kind) if kind else self.get_queryset()
        page = self.paginate_queryset(reasons)
        return self.get_paginated_response(ReasonSerializer(page, many=True).data)


router = DefaultRouter(trailing_slash=True, use_regex_path=False)
router.include_root_view = False
router.register("leads", LeadViewSet, basename="lead")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("feedback", FeedbackViewSet, basename="feedback")
router.register("qualification-policy", QualificationPolicyViewSet, basename="qualification-policy")
router.register("reasons", ReasonViewSet, basename="reason")
