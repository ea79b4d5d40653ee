import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from revops.tenancy import selectors, services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import ApiToken, Invitation, Membership, Role
from tests.base import TwoOrganizationsTestCase, make_user


class MembershipServiceTests(TwoOrganizationsTestCase):
    def test_the_last_admin_cannot_be_demoted_or_removed(self):
        with organization_scope(self.org_b):
            membership = Membership.objects.get(user=self.charlie)
            with pytest.raises(ValidationError, match="at least one RevOps admin"):
                services.membership_change_role(membership=membership, role=Role.SALES)
            with pytest.raises(ValidationError):
                services.membership_remove(membership=membership)
            assert Membership.objects.get(user=self.charlie).role == Role.ADMIN

    def test_removing_a_member_revokes_their_tokens_here_but_not_elsewhere(self):
        with organization_scope(self.org_b):
            services.membership_add(user=self.bob, role=Role.SALES)
            services.api_token_create(user=self.bob, name="b", created_by=self.bob)
        with organization_scope(self.org_a):
            services.api_token_create(user=self.bob, name="a", created_by=self.bob)
            services.membership_remove(membership=Membership.objects.get(user=self.bob))
            assert ApiToken.objects.get(user=self.bob).revoked_at is not None
        with organization_scope(self.org_b):
            assert ApiToken.objects.get(user=self.bob).revoked_at is None

    def test_a_user_can_belong_to_several_organizations(self):
        with organization_scope(self.org_b):
            services.membership_add(user=self.alice, role=Role.VIEWER)
        slugs = {m.organization.slug for m in selectors.memberships_for_user(user=self.alice)}
        assert slugs == {"acme-test", "globex-test"}


class ApiTokenServiceTests(TwoOrganizationsTestCase):
    def test_only_the_digest_is_stored_and_the_secret_authenticates(self):
        with organization_scope(self.org_a):
            token, secret = services.api_token_create(
                user=self.bob, name="CRM sync", created_by=self.alice
            )
        assert secret.startswith("rvh_") and len(secret) > 40
        stored = ApiToken.objects.for_organization(self.org_a).get(pk=token.pk)
        assert secret not in {stored.digest, stored.hint, stored.name}
        assert selectors.api_token_by_secret(secret=secret) == token
        assert selectors.api_token_by_secret(secret=secret + "x") is None

    def test_revoked_token_no_longer_authenticates(self):
        with organization_scope(self.org_a):
            token, secret = services.api_token_create(user=self.bob, name="x", created_by=self.bob)
            services.api_token_revoke(token=token)
        assert selectors.api_token_by_secret(secret=secret) is None

    def test_a_token_is_only_for_a_member(self):
        with organization_scope(self.org_a), pytest.raises(ValidationError):
            services.api_token_create(user=self.charlie, name="x", created_by=self.alice)


class InvitationServiceTests(TwoOrganizationsTestCase):
    def test_accepting_creates_the_membership_once(self):
        with organization_scope(self.org_a):
            invitation, _secret = services.invitation_create(
                email="Dora@A.test", role=Role.MARKETING, invited_by=self.alice
            )
        dora = make_user("dora@a.test", "Dora")
        membership = services.invitation_accept(invitation=invitation, user=dora)
        assert (membership.organization_id, membership.role) == (self.org_a.pk, Role.MARKETING)
        invitation.refresh_from_db()
        with pytest.raises(ValidationError):
            services.invitation_accept(invitation=invitation, user=dora)

    def test_an_invitation_is_for_its_email_only(self):
        with organization_scope(self.org_a):
            invitation, _ = services.invitation_create(
                email="dora@a.test", role=Role.SALES, invited_by=self.alice
            )
        with pytest.raises(ValidationError, match=r"for dora@a\.test"):
            services.invitation_accept(invitation=invitation, user=self.charlie)

    def test_an_expired_invitation_cannot_be_accepted(self):
        with organization_scope(self.org_a):
            invitation, _ = services.invitation_create(
                email="dora@a.test", role=Role.SALES, invited_by=self.alice
            )
            Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
        invitation.refresh_from_db()
        with pytest.raises(ValidationError, match="expired"):
            services.invitation_accept(invitation=invitation, user=make_user("dora@a.test", "D"))

    def test_reinviting_replaces_the_open_invitation(self):
        with organization_scope(self.org_a):
            services.invitation_create(email="dora@a.test", role=Role.SALES, invited_by=self.alice)
            services.invitation_create(email="dora@a.test", role=Role.VIEWER, invited_by=self.alice)
            assert [i.role for i in selectors.open_invitations()] == [Role.VIEWER]

    def test_inviting_an_existing_member_is_refused(self):
        with organization_scope(self.org_a), pytest.raises(ValidationError, match="already"):
            services.invitation_create(email="bob@a.test", role=Role.SALES, invited_by=self.alice)
