"""API authentication. Each credential resolves to (user, membership): the organization with it.

The membership is looked up on every request, so a demoted or removed member loses access at
once, whatever tokens they hold.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from revops.tenancy import selectors, services

ORGANIZATION_HEADER = "X-Organization"
SESSION_ORGANIZATION_KEY = "active_organization_slug"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; the token decides the organization."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as 'Bearer <token>'."))
        token = selectors.api_token_by_secret(secret=header[1])
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        membership = selectors.membership_for(user=token.user, organization=token.organization)
        if membership is None:
            raise exceptions.AuthenticationFailed(_("The token's owner left the organization."))
        services.api_token_mark_used(token=token)
        request.membership = membership
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class OrganizationSessionAuthentication(authentication.SessionAuthentication):
    """The browser's own calls: the session's user, in the organization named by the
    `X-Organization` header (a slug) or else the one the user last opened in the browser."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _auth = result
        slug = request.headers.get(ORGANIZATION_HEADER) or request.session.get(
            SESSION_ORGANIZATION_KEY
        )
        if not slug:
            raise exceptions.ValidationError(
                {ORGANIZATION_HEADER: ["Name the organization (its slug) in this header."]}
            )
        membership = selectors.memberships_for_user(user=user).filter(organization__slug=slug)
        membership = membership.first()
        if membership is None:
            raise exceptions.NotFound(_("No such organization."))
        request.membership = membership
        return user, None
