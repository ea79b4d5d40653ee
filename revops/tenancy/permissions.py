"""Role checks shared by API views (DRF permissions) and browser views (`require_role`)."""

from rest_framework import permissions

from revops.tenancy.models import Membership, Role

SAFE_METHODS = permissions.SAFE_METHODS


def membership_may(
    membership: Membership | None,
    method: str,
    *,
    admin_writes: bool,
    admin_reads: bool = False,
    own_writes: bool = False,
) -> bool:
    """Members read; viewers never write; admin resources are written (or read) by admins alone.
    `own_writes` resources hold each member's own rows (their notifications), which every
    member, viewers included, may change."""
    if membership is None:
        return False
    if method in SAFE_METHODS:
        return membership.role == Role.ADMIN or not admin_reads
    if own_writes:
        return True
    if admin_writes or admin_reads:
        return membership.role == Role.ADMIN
    return membership.can_write


class IsOrganizationMember(permissions.BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view):
        membership = getattr(request, "membership", None)
        return membership_may(
            membership,
            request.method,
            admin_writes=getattr(view, "admin_writes", False),
            admin_reads=getattr(view, "admin_reads", False),
            own_writes=getattr(view, "own_writes", False),
        )
