"""Writes for organizations, memberships, API tokens and invitations.

Every function runs inside the organization scope of the request or task that calls it.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from revops.tenancy.context import current_organization, organization_scope
from revops.tenancy.models import ApiToken, Invitation, Membership, Organization, Role, User

# Refresh last_used_at at most this often, so authenticating does not write on every request.
TOKEN_USAGE_RESOLUTION = timedelta(minutes=1)


def organization_create(
    *,
    name: str,
    slug: str,
    timezone_name: str = "UTC",
    currency: str = "USD",
    owner: User | None = None,
) -> Organization:
    organization = Organization(name=name, slug=slug, timezone=timezone_name, currency=currency)
    organization.full_clean()
    with transaction.atomic():
        organization.save()
        if owner is not None:
            with organization_scope(organization):
                Membership.objects.create(organization=organization, user=owner, role=Role.ADMIN)
    return organization


def organization_update(
    *, organization: Organization, name: str, timezone_name: str, currency: str
) -> Organization:
    if organization.pk != current_organization().pk:
        raise PermissionDenied("Another organization's settings.")
    organization.name = name
    organization.timezone = timezone_name
    organization.currency = currency
    organization.full_clean()
    organization.save(update_fields=["name", "timezone", "currency", "updated_at"])
    return organization


def membership_add(*, user: User, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(user=user, defaults={"role": role})
    return membership


def _ensure_an_admin_remains(*, excluding: Membership) -> None:
    others = Membership.objects.filter(role=Role.ADMIN).exclude(pk=excluding.pk)
    if not others.exists():
        raise ValidationError("An organization needs at least one RevOps admin.")


def membership_change_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"'{role}' is not a role."})
    with transaction.atomic():
        # Lock the organization's admins so two demotions cannot both pass the check.
        list(Membership.objects.filter(role=Role.ADMIN).select_for_update())
        if membership.role == Role.ADMIN and role != Role.ADMIN:
            _ensure_an_admin_remains(excluding=membership)
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    return membership


def membership_remove(*, membership: Membership) -> None:
    with transaction.atomic():
        list(Membership.objects.filter(role=Role.ADMIN).select_for_update())
        if membership.role == Role.ADMIN:
            _ensure_an_admin_remains(excluding=membership)
        # The person's tokens for this organization die with the membership.
        ApiToken.objects.filter(user_id=membership.user_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        membership.delete()


def api_token_create(*, user: User, name: str, created_by: User) -> tuple[ApiToken, str]:
    """Create a token; the secret is returned once and never stored."""
    if not Membership.objects.filter(user=user).exists():
        raise ValidationError({"user": "This person is not a member of the organization."})
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. the integration using it."})
    secret = ApiToken.generate_secret()
    token = ApiToken.objects.create(
        user=user,
        name=name[:80],
        hint=secret[: len(ApiToken.PREFIX) + 6],
        digest=ApiToken.digest_of(secret),
        created_by=created_by,
    )
    return token, secret


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token


def api_token_mark_used(*, token: ApiToken, now=None) -> None:
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_USAGE_RESOLUTION:
        ApiToken.objects.for_organization(token.organization_id).filter(pk=token.pk).update(
            last_used_at=now
        )


def invitation_create(*, email: str, role: str, invited_by: User) -> tuple[Invitation, str]:
    """Invite an email address; the emailed link carries a secret only its digest is kept of."""
    from revops.tenancy.tasks import invitation_send_email

    if role not in Role.values:
        raise ValidationError({"role": f"'{role}' is not a role."})
    email = email.strip().lower()
    if Membership.objects.filter(user__email__iexact=email).exists():
        raise ValidationError({"email": "This person is already a member."})
    secret = secrets.token_urlsafe(24)
    now = timezone.now()
    with transaction.atomic():
        # A new invitation for the same address replaces any still-open one.
        Invitation.objects.filter(
            email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            email=email,
            role=role,
            digest=Invitation.digest_of(secret),
            invited_by=invited_by,
            expires_at=now + timedelta(days=settings.INVITATION_VALID_DAYS),
        )
        invitation_send_email.delay_on_commit(
            invitation.organization_id, invitation.pk, invitation_url(secret)
        )
    return invitation, secret


def invitation_url(secret: str) -> str:
    return f"{settings.SITE_URL}/invite/{secret}/"


def invitation_revoke(*, invitation: Invitation) -> None:
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at", "updated_at"])


def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Turn an open invitation into a membership for `user` (whose email must match)."""
    now = timezone.now()
    if not invitation.is_open(now):
        raise ValidationError("This invitation has expired or was already used.")
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}."
        )
    with organization_scope(invitation.organization), transaction.atomic():
        claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
            accepted_at=now, accepted_by=user
        )
        if claimed != 1:
            raise ValidationError("This invitation was already used.")
        membership, _ = Membership.objects.get_or_create(
            user=user, defaults={"role": invitation.role}
        )
    return membership


def user_create(*, email: str, password: str, full_name: str = "") -> User:
    return User.objects.create_user(email=email, password=password, full_name=full_name)
