"""The API base every app builds on, and the organization's own endpoints.

`TenantViewSet` enters the organization scope of the authenticated credential for the whole
request, so every queryset, object lookup and save is confined to that organization: another
organization's object answers 404, exactly like one that does not exist.
"""

from contextlib import ExitStack

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from revops.tenancy import selectors, services
from revops.tenancy.context import TenantScopeError, organization_scope
from revops.tenancy.models import ApiToken, Invitation, Membership, Organization, Role


def exception_handler(exc, context):
    """Domain errors raised by services become 4xx answers with field-level messages."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = ValidationError(detail)
    elif isinstance(exc, DjangoPermissionDenied | TenantScopeError):
        exc = PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)


class TenantAPIMixin:
    """Run the whole request inside the scope of the organization its credential belongs to."""

    admin_writes = False
    admin_reads = False

    def dispatch(self, request, *args, **kwargs):
        # Authentication runs inside super().dispatch(); the scope it opens in initial() is
        # closed here whatever happens, so it can never leak into the thread's next request.
        with ExitStack() as self._scope_stack:
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticates and checks permissions
        self._scope_stack.enter_context(organization_scope(request.membership.organization))

    @property
    def organization(self) -> Organization:
        return self.request.membership.organization


class TenantViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    """Querysets come from the model's scoped manager; creates get the organization injected."""

    # Typed ids in the URL; also lets the schema generator type them without a queryset (it
    # runs outside any organization scope, where querysets refuse to exist).
    lookup_value_converter = "int"

    def perform_create(self, serializer):
        serializer.save(organization=self.organization)


# --- the organization's own endpoints ------------------------------------------------------


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    full_name = serializers.CharField(read_only=True)


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "timezone", "currency", "created_at"]
        read_only_fields = ["id", "slug", "created_at"]


class OrganizationView(TenantAPIMixin, APIView):
    """The organization the credential belongs to. Admins may change its settings."""

    admin_writes = True
    serializer_class = OrganizationSerializer

    def get(self, request):
        return Response(OrganizationSerializer(self.organization).data)

    def patch(self, request):
        serializer = OrganizationSerializer(self.organization, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        organization = services.organization_update(
            organization=self.organization,
            name=serializer.validated_data.get("name", self.organization.name),
            timezone_name=serializer.validated_data.get("timezone", self.organization.timezone),
            currency=serializer.validated_data.get("currency", self.organization.currency),
        )
        return Response(OrganizationSerializer(organization).data)


class MembershipSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]
        read_only_fields = ["id", "user", "created_at"]


class MembershipViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    """Members and their roles. Admins change roles and remove members."""

    admin_writes = True
    serializer_class = MembershipSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.organization_members()

    def perform_update(self, serializer):
        services.membership_change_role(
            membership=serializer.instance, role=serializer.validated_data["role"]
        )

    def perform_destroy(self, instance):
        services.membership_remove(membership=instance)


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "expires_at", "created_at"]
        read_only_fields = ["id", "expires_at", "created_at"]


class InvitationCreatedSerializer(InvitationSerializer):
    url = serializers.CharField(read_only=True, help_text="The link to send; shown only once.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "url"]


class InvitationViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, TenantViewSet
):
    """Open invitations. Creating one emails the link; deleting one revokes it."""

    admin_writes = True
    admin_reads = True
    serializer_class = InvitationSerializer

    def get_queryset(self):
        return selectors.open_invitations()

    @extend_schema(responses={201: InvitationCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, secret = services.invitation_create(
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
            invited_by=request.user,
        )
        invitation.url = services.invitation_url(secret)
        return Response(InvitationCreatedSerializer(invitation).data, status=201)

    def perform_destroy(self, instance):
        services.invitation_revoke(invitation=instance)


class ApiTokenSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)
    user_id = serializers.IntegerField(
        write_only=True, required=False, help_text="Whose token; defaults to the caller."
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "hint",
            "user",
            "user_id",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "hint", "created_at", "last_used_at", "revoked_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret; shown only once.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, TenantViewSet
):
    """API tokens of the organization's members (admins only)."""

    admin_writes = True
    admin_reads = True
    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        return selectors.api_tokens()

    @extend_schema(responses={201: ApiTokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_id = serializer.validated_data.get("user_id", request.user.pk)
        membership = selectors.organization_members().filter(user_id=user_id).first()
        if membership is None:
            raise ValidationError({"user_id": ["No member of this organization has this id."]})
        token, secret = services.api_token_create(
            user=membership.user, name=serializer.validated_data["name"], created_by=request.user
        )
        token.token = secret
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiTokenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.api_token_revoke(token=self.get_object())
        return Response(ApiTokenSerializer(token).data)


class WhoAmIView(TenantAPIMixin, APIView):
    """The caller, their organization and role: a quick check that a token works."""

    @extend_schema(
        responses=inline_serializer(
            "WhoAmI",
            {
                "user": UserSummarySerializer(),
                "organization": OrganizationSerializer(),
                "role": serializers.ChoiceField(choices=Role.choices),
            },
        )
    )
    def get(self, request):
        return Response(
            {
                "user": UserSummarySerializer(request.user).data,
                "organization": OrganizationSerializer(self.organization).data,
                "role": request.membership.role,
            }
        )
