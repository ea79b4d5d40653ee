"""The leads app's configuration API: scoring rules, sales reps, assignment rules, reason lists.

Every member reads; RevOps admins write. Changing scoring rules rescores open leads in the
background (`leads.tasks.leads_rescore`).
"""

from contextlib import nullcontext

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers

from leads.api import MemberPrimaryKeyRelatedField, ScopedPrimaryKeyRelatedField, _constraint_is_400
from leads.models import AssignmentRule, Reason, SalesRep, ScoringRule, ScoringRuleKind
from leads.tasks import leads_rescore
from revops.tenancy.api import TenantViewSet, UserSummarySerializer
from revops.tenancy.models import Membership, Role


class ScoringRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoringRule
        fields = ["id", "kind", "attribute", "value", "event_kind", "points", "half_life_days",
                  "active"]  # fmt: skip

    def validate(self, attrs):
        def current(name: str) -> str:
            return attrs.get(name, getattr(self.instance, name, ""))

        kind, attribute, event_kind = current("kind"), current("attribute"), current("event_kind")
        if kind == ScoringRuleKind.FIT and (not attribute or event_kind):
            raise serializers.ValidationError(
                {"attribute": ["A fit rule names an attribute (and no event kind)."]}
            )
        if kind == ScoringRuleKind.ENGAGEMENT and (not event_kind or attribute):
            raise serializers.ValidationError(
                {"event_kind": ["An engagement rule names an event kind (and no attribute)."]}
            )
        return attrs


class SalesRepSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)
    user_id = MemberPrimaryKeyRelatedField(source="user", write_only=True)

    class Meta:
        model = SalesRep
        fields = ["id", "user", "user_id", "accepting_leads", "capacity", "territory",
                  "last_assigned_at"]  # fmt: skip
        read_only_fields = ["last_assigned_at"]
        validators = []  # the (organization, user) constraint answers below

    def validate_user_id(self, user):
        if not Membership.objects.filter(user=user, role=Role.SALES).exists():
            raise serializers.ValidationError("Only sales members take leads.")
        return user


class AssignmentRuleSerializer(serializers.ModelSerializer):
    rep = ScopedPrimaryKeyRelatedField(model=SalesRep)

    class Meta:
        model = AssignmentRule
        fields = ["id", "priority", "industry", "company_size_min", "company_size_max",
                  "territory", "rep", "active"]  # fmt: skip

    def validate(self, attrs):
        low = attrs.get("company_size_min", getattr(self.instance, "company_size_min", None))
        high = attrs.get("company_size_max", getattr(self.instance, "company_size_max", None))
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"company_size_max": ["Must be at least company_size_min."]}
            )
        return attrs


class EditableReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reason
        fields = ["id", "kind", "label", "active"]
        validators = []


class AdminConfigViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    admin_writes = True
    model = None
    unique_constraint: tuple[str, str, str] | None = None  # (constraint, field, message)

    def get_queryset(self):
        return self.model.objects.order_by("id")

    def _saving(self):
        """A race past the serializer's checks still answers 400, not 500."""
        if self.unique_constraint is None:
            return nullcontext()
        return _constraint_is_400(*self.unique_constraint)

    def perform_create(self, serializer):
        with self._saving():
            super().perform_create(serializer)

    def perform_update(self, serializer):
        with self._saving():
            serializer.save()


class ScoringRuleViewSet(AdminConfigViewSet):
    """Points for fit attributes and for engagement events (which halve every half-life).
    Any change rescores the organization's open leads in the background."""

    model = ScoringRule
    serializer_class = ScoringRuleSerializer

    def _rescore(self):
        leads_rescore.delay_on_commit(self.organization.pk)

    def perform_create(self, serializer):
        super().perform_create(serializer)
        self._rescore()

    def perform_update(self, serializer):
        super().perform_update(serializer)
        self._rescore()

    def perform_destroy(self, instance):
        instance.delete()
        self._rescore()


class SalesRepViewSet(AdminConfigViewSet):
    """Sales members who take new SQLs: whether they accept leads, their capacity, territory."""

    model = SalesRep
    serializer_class = SalesRepSerializer
    unique_constraint = ("salesrep_unique_user", "user_id", "This member is already a rep.")

    def get_queryset(self):
        return SalesRep.objects.select_related("user").order_by("id")


class AssignmentRuleViewSet(AdminConfigViewSet):
    """Routing rules tried by priority before round-robin."""

    model = AssignmentRule
    serializer_class = AssignmentRuleSerializer

    def get_queryset(self):
        return AssignmentRule.objects.order_by("priority", "id")


@extend_schema(description="The organization's reason lists; deactivate rather than delete.")
class ReasonConfigViewSet(AdminConfigViewSet):
    model = Reason
    serializer_class = EditableReasonSerializer
    unique_constraint = ("reason_unique_label", "label", "This reason is already on the list.")
    http_method_names = ["get", "post", "patch", "head", "options"]


def register(router) -> None:
    router.register("scoring-rules", ScoringRuleViewSet, basename="scoring-rule")
    router.register("sales-reps", SalesRepViewSet, basename="sales-rep")
    router.register("assignment-rules", AssignmentRuleViewSet, basename="assignment-rule")
    router.register("reason-lists", ReasonConfigViewSet, basename="reason-list")
