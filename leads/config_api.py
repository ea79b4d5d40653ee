"""The leads app's configuration API: scoring rules, sales reps, assignment rules, reason lists.

Every member reads; RevOps admins write, through `leads/config_services.py` like the settings
page. Changing scoring rules rescores open leads in the background.
"""

from contextlib import contextmanager, nullcontext

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers

from leads import config_services
from leads.api import MemberPrimaryKeyRelatedField, ScopedPrimaryKeyRelatedField
from leads.models import AssignmentRule, Reason, SalesRep, ScoringRule, ScoringRuleKind
from revops.tenancy.api import TenantViewSet, UserSummarySerializer
from revops.tenancy.integrity import constraint_as_field_error
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
    manager = UserSummarySerializer(read_only=True, allow_null=True)
    # Scoped: another organization's user is "does not exist", like an unknown id. Whether the
    # member is active and not the rep is `config_services.sales_rep_save`'s to say.
    manager_id = MemberPrimaryKeyRelatedField(
        source="manager", write_only=True, required=False, allow_null=True,
        help_text="The member SLA breaches escalate to (any role, not the rep); null for none.",
    )  # fmt: skip

    class Meta:
        model = SalesRep
        fields = ["id", "user", "user_id", "accepting_leads", "capacity", "territory", "team",
                  "manager", "manager_id", "last_assigned_at"]  # fmt: skip
        read_only_fields = ["last_assigned_at"]
        validators = []  # `config_services.sales_rep_save` answers a duplicate rep

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
        return constraint_as_field_error(*self.unique_constraint)

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

    def perform_create(self, serializer):
        serializer.instance = config_services.scoring_rule_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = config_services.scoring_rule_update(
            rule=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        config_services.scoring_rule_delete(rule=instance)


class SalesRepViewSet(AdminConfigViewSet):
    """Sales members who take new SQLs: whether they accept leads, their capacity, territory,
    team (the SLA report groups by it) and manager (SLA breaches escalate to them)."""

    model = SalesRep
    serializer_class = SalesRepSerializer
    # The service names its fields as the settings page does; the API's ids end in `_id`.
    service_fields = {"user": "user_id", "manager": "manager_id"}

    def get_queryset(self):
        return SalesRep.objects.select_related("user", "manager").order_by("id")

    def _service_values(self, validated_data: dict) -> dict:
        values = dict(validated_data)
        if "manager" in values:
            manager = values.pop("manager")
            values["manager_id"] = manager.pk if manager else None
        return values

    @contextmanager
    def _service_errors(self):
        try:
            yield
        except DjangoValidationError as error:
            raise serializers.ValidationError(
                {self.service_fields.get(name, name): texts
                 for name, texts in error.message_dict.items()}
            ) from error  # fmt: skip

    def perform_create(self, serializer):
        values = self._service_values(serializer.validated_data)
        user = values.pop("user")
        with self._service_errors():
            serializer.instance = config_services.sales_rep_save(user_id=user.pk, **values)

    def perform_update(self, serializer):
        rep = serializer.instance
        values = self._service_values(serializer.validated_data)
        user = values.pop("user", None)
        if user is not None and user.pk != rep.user_id:
            raise serializers.ValidationError(
                {"user_id": ["A rep stays the same member; add a new rep for someone else."]}
            )
        with self._service_errors():
            serializer.instance = config_services.sales_rep_save(rep=rep, **values)


class AssignmentRuleViewSet(AdminConfigViewSet):
    """Routing rules tried by priority before round-robin."""

    model = AssignmentRule
    serializer_class = AssignmentRuleSerializer

    def get_queryset(self):
        return AssignmentRule.objects.order_by("priority", "id")


class ReasonConfigViewSet(AdminConfigViewSet):
    """The organization's reason lists. Reasons are never renamed or deleted (past records
    point at them): add new ones and switch old ones off."""

    model = Reason
    serializer_class = EditableReasonSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = config_services.reason_add(kind=data["kind"], label=data["label"])

    def perform_update(self, serializer):
        if {"kind", "label"} & set(self.request.data):
            raise serializers.ValidationError(
                {"label": ["A reason cannot be renamed; add a new one and switch this one off."]}
            )
        if "active" in serializer.validated_data:
            config_services.reason_set_active(
                reason=serializer.instance, active=serializer.validated_data["active"]
            )


def register(router) -> None:
    router.register("scoring-rules", ScoringRuleViewSet, basename="scoring-rule")
    router.register("sales-reps", SalesRepViewSet, basename="sales-rep")
    router.register("assignment-rules", AssignmentRuleViewSet, basename="assignment-rule")
    router.register("reason-lists", ReasonConfigViewSet, basename="reason-list")
