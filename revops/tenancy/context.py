"""The current organization: set at the edge (URL, API token, task argument), read everywhere.

A ContextVar rather than a thread-local so each request, task or async context sees its own value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from revops.tenancy.models import Organization


class TenantScopeError(RuntimeError):
    """Tenant data was touched outside an organization scope, or across organizations."""


_current_organization: ContextVar[Organization | None] = ContextVar(
    "current_organization", default=None
)


def current_organization_or_none() -> Organization | None:
    return _current_organization.get()


def current_organization() -> Organization:
    organization = _current_organization.get()
    if organization is None:
        raise TenantScopeError("No organization scope is active.")
    return organization


@contextmanager
def organization_scope(organization: Organization) -> Iterator[Organization]:
    """Run a block as `organization`; nested scopes restore the outer one on exit."""
    if organization is None or organization.pk is None:
        raise TenantScopeError("organization_scope() needs a saved organization.")
    token = _current_organization.set(organization)
    try:
        yield organization
    finally:
        _current_organization.reset(token)
