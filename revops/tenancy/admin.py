"""Django admin for superusers. Admin crosses organizations, so it uses the escape hatch."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from revops.tenancy.models import ApiToken, Invitation, Membership, Organization, User


class UnscopedAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        return self.model.objects.unscoped().select_related("organization")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "full_name", "password"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "currency", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(UnscopedAdmin):
    list_display = ["user", "organization", "role"]
    list_filter = ["role", "organization"]
    raw_id_fields = ["user", "organization"]


@admin.register(ApiToken)
class ApiTokenAdmin(UnscopedAdmin):
    list_display = ["name", "hint", "user", "organization", "last_used_at", "revoked_at"]
    readonly_fields = ["digest", "hint"]
    raw_id_fields = ["user", "organization", "created_by"]


@admin.register(Invitation)
class InvitationAdmin(UnscopedAdmin):
    list_display = ["email", "role", "organization", "expires_at", "accepted_at", "revoked_at"]
    readonly_fields = ["digest"]
    raw_id_fields = ["organization", "invited_by", "accepted_by"]
