"""Browser-side tenancy: the organization comes from the URL and must be one of the user's."""

import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from revops.tenancy import selectors
from revops.tenancy.authentication import SESSION_ORGANIZATION_KEY
from revops.tenancy.context import organization_scope
from revops.tenancy.permissions import membership_may


def organization_view(
    view=None, *, admin_writes: bool = False, admin_reads: bool = False, own_writes: bool = False
):
    """Decorate a view taking `org_slug`: 404 for non-members, 403 when the role may not act.

    The view runs inside the organization's scope and gets `request.organization` and
    `request.membership`.
    """

    def decorate(func):
        @login_required
        @functools.wraps(func)
        def wrapper(request, org_slug: str, *args, **kwargs):
            membership = selectors.organization_membership_by_slug(user=request.user, slug=org_slug)
            if not membership_may(
                membership,
                request.method,
                admin_writes=admin_writes,
                admin_reads=admin_reads,
                own_writes=own_writes,
            ):
                raise PermissionDenied("Your role does not allow this.")
            request.membership = membership
            request.organization = membership.organization
            if request.session.get(SESSION_ORGANIZATION_KEY) != org_slug:
                request.session[SESSION_ORGANIZATION_KEY] = org_slug  # written only on change
            # Times on the organization's pages read in its own time zone.
            with (
                organization_scope(membership.organization),
                timezone.override(membership.organization.timezone),
            ):
                return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
