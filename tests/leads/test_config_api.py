"""Configuration endpoints: scoring rules, sales reps, assignment rules, reason lists."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads import services
from leads.models import Lead, Reason, SalesRep, ScoringRule, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role, User
from tests.base import TwoOrganizationsTestCase, make_member


class ConfigApiTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_b):
            cls.b_rep = SalesRep.objects.create(user=cls.charlie)
            cls.b_rule = ScoringRule.objects.create(kind="fit", attribute="industry", value="X",
                                                    points=5)  # fmt: skip

    def test_an_admin_configures_scoring_and_the_change_is_queued_for_rescoring(self):
        client = self.api_as(self.alice, self.org_a)
        with self.captureOnCommitCallbacks() as callbacks:
            response = client.post(
                "/api/v1/scoring-rules/",
                {"kind": "engagement", "event_kind": "demo_request", "points": 40,
                 "half_life_days": 14},
                format="json",
            )  # fmt: skip
        assert response.status_code == 201, response.content
        assert len(callbacks) == 1  # the rescore job, after commit
        bad = client.post(
            "/api/v1/scoring-rules/", {"kind": "fit", "event_kind": "form_fill", "points": 1},
            format="json",
        )  # fmt: skip
        assert bad.status_code == 400 and "attribute" in bad.json()

    def test_reps_must_be_sales_members_of_this_organization(self):
        client = self.api_as(self.alice, self.org_a)
        ok = client.post("/api/v1/sales-reps/", {"user_id": self.bob.pk, "capacity": 20}, "json")
        assert ok.status_code == 201, ok.content
        again = client.post("/api/v1/sales-reps/", {"user_id": self.bob.pk}, format="json")
        assert again.status_code == 400 and "user_id" in again.json()
        for user in (self.vera, self.charlie):  # a viewer here; a member elsewhere
            response = client.post("/api/v1/sales-reps/", {"user_id": user.pk}, format="json")
            assert response.status_code == 400 and "user_id" in response.json()

    def summary(self, user) -> dict:
        return {"id": user.pk, "email": user.email, "full_name": user.full_name}

    def test_an_admin_sets_a_reps_team_and_manager(self):
        client = self.api_as(self.alice, self.org_a)
        created = client.post(
            "/api/v1/sales-reps/",
            {"user_id": self.bob.pk, "team": " Enterprise ", "manager_id": self.vera.pk},
            format="json",
        )
        assert created.status_code == 201, created.content
        body = created.json()
        assert (body["team"], body["manager"]) == ("Enterprise", self.summary(self.vera))
        assert "manager_id" not in body  # written by id, read as the same shape as `user`
        url = f"/api/v1/sales-reps/{body['id']}/"
        changed = client.patch(url, {"team": "SMB", "manager_id": self.alice.pk}, format="json")
        assert changed.status_code == 200, changed.content
        assert client.get(url).json()["manager"] == self.summary(self.alice)
        (listed,) = client.get("/api/v1/sales-reps/").json()["results"]
        assert (listed["team"], listed["manager"]) == ("SMB", self.summary(self.alice))
        cleared = client.patch(url, {"manager_id": None}, format="json")
        assert cleared.status_code == 200 and cleared.json()["manager"] is None
        with organization_scope(self.org_a):
            rep = SalesRep.objects.get(pk=body["id"])
            assert (rep.team, rep.manager_id) == ("SMB", None)

    def test_a_manager_from_another_organization_is_refused_like_an_unknown_id(self):
        client = self.api_as(self.alice, self.org_a)
        with organization_scope(self.org_a):
            rep = SalesRep.objects.create(user=self.bob, manager=self.vera)
        url = f"/api/v1/sales-reps/{rep.pk}/"
        unknown = User.objects.order_by("-pk").first().pk + 1000
        errors = {}
        for manager_id in (self.charlie.pk, unknown):
            response = client.patch(url, {"manager_id": manager_id}, format="json")
            assert response.status_code == 400, response.content
            errors[manager_id] = response.json()["manager_id"][0].replace(str(manager_id), "?")
        assert errors[self.charlie.pk] == errors[unknown]  # nothing says charlie exists
        created = client.post(
            "/api/v1/sales-reps/",
            {"user_id": self.bob.pk, "manager_id": self.charlie.pk},
            format="json",
        )
        assert created.status_code == 400 and "manager_id" in created.json()
        with organization_scope(self.org_a):
            assert SalesRep.objects.get().manager_id == self.vera.pk

    def test_a_rep_cannot_manage_themself_and_a_manager_is_an_active_member(self):
        client = self.api_as(self.alice, self.org_a)
        mia = make_member(self.org_a, "mia@a.test", "Mia Manager", Role.SALES)
        User.objects.filter(pk=mia.pk).update(is_active=False)
        itself = client.post(
            "/api/v1/sales-reps/", {"user_id": self.bob.pk, "manager_id": self.bob.pk}, "json"
        )
        assert itself.status_code == 400
        assert itself.json() == {"manager_id": ["A rep cannot be their own manager."]}
        rep = client.post("/api/v1/sales-reps/", {"user_id": self.bob.pk}, format="json").json()
        url = f"/api/v1/sales-reps/{rep['id']}/"
        itself = client.patch(url, {"manager_id": self.bob.pk}, format="json")
        assert itself.json() == {"manager_id": ["A rep cannot be their own manager."]}
        inactive = client.patch(url, {"manager_id": mia.pk}, format="json")
        assert inactive.status_code == 400
        assert inactive.json() == {
            "manager_id": ["Choose an active member of this organization as the manager."]
        }
        too_long = client.patch(url, {"team": "x" * 101}, format="json")
        assert too_long.status_code == 400 and "team" in too_long.json()
        # A rep stays the member it was made for.
        moved = client.put(url, {"user_id": mia.pk, "capacity": 3}, format="json")
        assert moved.status_code == 400
        assert moved.json() == {
            "user_id": ["A rep stays the same member; add a new rep for someone else."]
        }
        with organization_scope(self.org_a):
            rep = SalesRep.objects.get()
            assert (rep.user_id, rep.capacity, rep.team, rep.manager_id) == (
                self.bob.pk, None, "", None,
            )  # fmt: skip

    def test_listing_reps_with_managers_does_not_grow_with_rows(self):
        client = self.api_as(self.alice, self.org_a)

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                response = client.get("/api/v1/sales-reps/")
            assert response.status_code == 200
            return len(captured)

        with organization_scope(self.org_a):
            SalesRep.objects.create(user=self.bob, manager=self.alice)
        queries()  # the token's first use records when it was used
        before = queries()
        for i in range(3):
            user = make_member(self.org_a, f"rep{i}@a.test", f"Rep {i}", Role.SALES)
            with organization_scope(self.org_a):
                SalesRep.objects.create(user=user, manager=self.vera)
        assert queries() == before
        assert len(client.get("/api/v1/sales-reps/").json()["results"]) == 4

    def test_viewers_and_sales_cannot_set_a_reps_team_or_manager(self):
        with organization_scope(self.org_a):
            rep = SalesRep.objects.create(user=self.bob, team="Enterprise")
        for user in (self.bob, self.vera):
            client = self.api_as(user, self.org_a)
            url = f"/api/v1/sales-reps/{rep.pk}/"
            assert client.get(url).json()["team"] == "Enterprise"  # every member reads
            response = client.patch(url, {"team": "Mine", "manager_id": user.pk}, format="json")
            assert response.status_code == 403, user
        with organization_scope(self.org_a):
            rep.refresh_from_db()
            assert (rep.team, rep.manager_id) == ("Enterprise", None)

    def test_assignment_rules_point_at_this_organizations_reps_only(self):
        client = self.api_as(self.alice, self.org_a)
        response = client.post(
            "/api/v1/assignment-rules/", {"industry": "Retail", "rep": self.b_rep.pk}, "json"
        )
        assert response.status_code == 400 and "rep" in response.json()
        with organization_scope(self.org_a):
            rep = SalesRep.objects.create(user=self.bob)
        inverted = client.post(
            "/api/v1/assignment-rules/",
            {"rep": rep.pk, "company_size_min": 500, "company_size_max": 10}, format="json",
        )  # fmt: skip
        assert inverted.status_code == 400 and "company_size_max" in inverted.json()

    def test_reason_lists_grow_and_switch_off_but_never_lose_their_last_reason(self):
        client = self.api_as(self.alice, self.org_a)
        created = client.post("/api/v1/reason-lists/", {"kind": "loss", "label": "Budget cut"},
                              format="json")  # fmt: skip
        assert created.status_code == 201
        duplicate = client.post("/api/v1/reason-lists/", {"kind": "loss", "label": "budget cut"},
                                format="json")  # fmt: skip
        assert duplicate.status_code == 400 and "label" in duplicate.json()
        url = f"/api/v1/reason-lists/{created.json()['id']}/"
        last = client.patch(url, {"active": False}, format="json")
        assert last.status_code == 400  # sales could no longer mark deals lost
        client.post("/api/v1/reason-lists/", {"kind": "loss", "label": "Price"}, format="json")
        assert client.patch(url, {"active": False}, format="json").status_code == 200
        renamed = client.patch(url, {"label": "Budget freeze"}, format="json")
        assert renamed.status_code == 400 and "label" in renamed.json()
        with organization_scope(self.org_a):
            reason = Reason.objects.get(pk=created.json()["id"])
            assert (reason.label, reason.active) == ("Budget cut", False)

    def test_other_tenants_config_is_404_and_non_admins_cannot_write(self):
        client = self.api_as(self.alice, self.org_a)
        assert client.get(f"/api/v1/sales-reps/{self.b_rep.pk}/").status_code == 404
        assert client.delete(f"/api/v1/scoring-rules/{self.b_rule.pk}/").status_code == 404
        assert client.get("/api/v1/scoring-rules/").json()["results"] == []
        for user in (self.bob, self.vera):
            response = self.api_as(user, self.org_a).post(
                "/api/v1/scoring-rules/",
                {"kind": "fit", "attribute": "industry", "value": "X", "points": 1}, "json",
            )  # fmt: skip
            assert response.status_code == 403
        with organization_scope(self.org_b):
            assert ScoringRule.objects.count() == 1


class RescoreTests(TwoOrganizationsTestCase):
    def test_a_new_rule_rescores_open_leads_and_promotes_those_over_the_threshold(self):
        with organization_scope(self.org_a):
            lead = services.lead_create(actor=self.alice, email="big@x.test", company_size=5000)
            assert lead.stage == Stage.NEW
            ScoringRule.objects.create(kind="fit", attribute="company_size_at_least",
                                       value="1000", points=70)  # fmt: skip
            assert services.leads_rescore() == 1
            lead.refresh_from_db()
            assert (lead.score, lead.stage) == (70, Stage.MQL)
            assert services.leads_rescore() == 0  # nothing left to change
        with organization_scope(self.org_b):
            assert not Lead.objects.exists()
