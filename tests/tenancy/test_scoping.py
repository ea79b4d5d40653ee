"""The tenancy contract: tenant data is unreachable without a scope and confined to it."""

import pytest

from revops.tenancy import services
from revops.tenancy.context import (
    TenantScopeError,
    current_organization_or_none,
    organization_scope,
)
from revops.tenancy.models import ApiToken, Membership
from tests.base import TwoOrganizationsTestCase, make_user


class ScopedManagerTests(TwoOrganizationsTestCase):
    def test_query_without_a_scope_is_refused(self):
        with pytest.raises(TenantScopeError):
            list(Membership.objects.all())
        with pytest.raises(TenantScopeError):
            Membership.objects.filter(role="admin").exists()

    def test_scope_shows_only_its_own_organizations_rows(self):
        with organization_scope(self.org_a):
            emails = set(Membership.objects.values_list("user__email", flat=True))
        assert emails == {"alice@a.test", "bob@a.test", "vera@a.test"}
        with organization_scope(self.org_b):
            emails = set(Membership.objects.values_list("user__email", flat=True))
        assert emails == {"charlie@b.test"}

    def test_another_organizations_row_is_not_found_by_id(self):
        charlie_membership = Membership.objects.for_organization(self.org_b).get(user=self.charlie)
        with organization_scope(self.org_a), pytest.raises(Membership.DoesNotExist):
            Membership.objects.get(pk=charlie_membership.pk)

    def test_escape_hatches_cross_organizations_only_when_named(self):
        assert Membership.objects.unscoped().count() == 4
        assert Membership.objects.for_organization(self.org_b).count() == 1

    def test_save_takes_the_scope_organization_when_none_is_given(self):
        dora = make_user("dora@a.test", "Dora")
        with organization_scope(self.org_a):
            membership = Membership.objects.create(user=dora, role="marketing")
        assert membership.organization_id == self.org_a.pk

    def test_writing_another_organizations_row_inside_a_scope_is_refused(self):
        charlie_membership = Membership.objects.for_organization(self.org_b).get(user=self.charlie)
        charlie_membership.role = "viewer"
        with organization_scope(self.org_a), pytest.raises(TenantScopeError):
            charlie_membership.save()
        dora = make_user("dora@a.test", "Dora")
        with organization_scope(self.org_a), pytest.raises(TenantScopeError):
            Membership.objects.create(user=dora, role="sales", organization=self.org_b)
        assert Membership.objects.for_organization(self.org_b).get(user=self.charlie).role == (
            "admin"
        )

    def test_saving_without_any_organization_is_refused(self):
        with pytest.raises(TenantScopeError):
            Membership(user=make_user("eve@x.test", "Eve"), role="sales").save()

    def test_bulk_update_inside_a_scope_cannot_touch_another_organization(self):
        with organization_scope(self.org_a):
            changed = Membership.objects.update(role="viewer")
        assert changed == 3
        assert Membership.objects.for_organization(self.org_b).get().role == "admin"

    def test_scope_is_restored_after_an_exception_and_when_nested(self):
        with pytest.raises(ValueError), organization_scope(self.org_a):
            raise ValueError("boom")
        assert current_organization_or_none() is None
        with organization_scope(self.org_a):
            with organization_scope(self.org_b):
                assert current_organization_or_none() == self.org_b
            assert current_organization_or_none() == self.org_a

    def test_reverse_relations_follow_the_scope(self):
        with organization_scope(self.org_a):
            services.api_token_create(user=self.alice, name="a", created_by=self.alice)
        with organization_scope(self.org_b):
            assert not ApiToken.objects.filter(user=self.alice).exists()
        with organization_scope(self.org_a):
            assert ApiToken.objects.filter(user=self.alice).count() == 1
