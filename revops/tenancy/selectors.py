"""Reads of organizations, memberships, tokens and invitations."""

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from revops.tenancy.models import ApiToken, Invitation, Membership, Organization, User


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    """Every organization a user belongs to (the switcher and login need all of them)."""
    # Crosses organizations on purpose, but only ever for the one authenticated user.
    return Membership.objects.unscoped().filter(user=user).select_related("organization")


def membership_for(*, user: User, organization: Organization) -> Membership | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.for_organization(organization)
        .filter(user=user)
        .select_related("organization")
        .first()
    )


def organization_membership_by_slug(*, user: User, slug: str) -> Membership:
    """The user's membership in the organization named by a URL; 404 when not a member.

    "Not a member" and "no such organization" answer alike, so slugs cannot be probed.
    """
    membership = (
        memberships_for_user(user=user).filter(organization__slug=slug).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise Http404("No such organization.")
    return membership


def organization_members() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").order_by("role", "user__email")


def api_tokens() -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("user").order_by("revoked_at", "-created_at")


def api_token_by_secret(*, secret: str) -> ApiToken | None:
    """Authenticate a bearer secret. The token decides the organization, so no scope exists yet."""
    if not secret.startswith(ApiToken.PREFIX):
        return None
    return (
        ApiToken.objects.unscoped()
        .select_related("organization", "user")
        .filter(digest=ApiToken.digest_of(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def open_invitations() -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def invitation_by_secret(*, secret: str) -> Invitation | None:
    """The invitation behind an emailed link; the link decides the organization."""
    return (
        Invitation.objects.unscoped()
        .select_related("organization")
        .filter(digest=Invitation.digest_of(secret))
        .first()
    )
