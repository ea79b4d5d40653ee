"""The "Lead routing & scoring" settings page: scoring rules, sales reps, assignment rules and
reason lists. Members read it, admins change it, and nothing crosses the tenant boundary."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from leads import config_services, selectors, services
from leads.models import (
    AssignmentRule,
    Lead,
    Reason,
    ReasonKind,
    SalesRep,
    ScoringRule,
)
from leads.tasks import leads_rescore
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role, User
from sla.models import EventKind, Notification, SlaEvent
from sla.sweep import sweep
from tests.base import TwoOrganizationsTestCase, make_member

A = "/o/acme-test/settings/leads"
B = "/o/globex-test/settings/leads"
RESCORING = "Open leads are being rescored in the background."
NOT_A_MANAGER = "Choose an active member of this organization as the manager."
OWN_MANAGER = "A rep cannot be their own manager."
NO_SUCH_USER = 10**9


class LeadSettingsTestCase(TwoOrganizationsTestCase):
    """Organization A: bob is a rep, sid is a sales member who is not one yet; a fit rule, an
    engagement rule, an assignment rule to bob, and the default reason lists.
    Organization B: the same kinds of rows, which A's people must never reach."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.sid = make_member(cls.org_a, "sid@a.test", "Sid Sales", Role.SALES)
        cls.gus = make_member(cls.org_b, "gus@b.test", "Gus Sales", Role.SALES)
        with organization_scope(cls.org_a):
            services.reasons_ensure_defaults()
            cls.rep = config_services.sales_rep_save(user_id=cls.bob.pk, capacity=20)
            cls.fit_rule = config_services.scoring_rule_create(
                kind="fit", attribute="industry", value="Retail", points=10
            )
            cls.engagement_rule = config_services.scoring_rule_create(
                kind="engagement", event_kind="demo_request", points=40, half_life_days=14
            )
            cls.assignment_rule = config_services.assignment_rule_create(
                rep_id=cls.rep.pk, priority=10, industry="Retail"
            )
            cls.reason = Reason.objects.get(kind=ReasonKind.LOSS, label="Price")
        with organization_scope(cls.org_b):
            services.reasons_ensure_defaults()
            cls.b_rep = config_services.sales_rep_save(user_id=cls.gus.pk)
            cls.b_rule = config_services.scoring_rule_create(
                kind="fit", attribute="persona", value="CFO", points=5
            )
            cls.b_assignment_rule = config_services.assignment_rule_create(rep_id=cls.b_rep.pk)
            cls.b_reason = Reason.objects.get(kind=ReasonKind.LOSS, label="Price")

    def setUp(self):
        # Tests read and assert on tenant rows directly, as organization A.
        self.scope = organization_scope(self.org_a)
        self.scope.__enter__()
        self.addCleanup(self.scope.__exit__, None, None, None)
        self.before = self.snapshot()

    def snapshot(self) -> dict:
        """Every configuration row of organization A, as values."""
        return {
            "scoring": list(
                ScoringRule.objects.order_by("pk").values_list(
                    "pk", "kind", "attribute", "value", "event_kind", "points",
                    "half_life_days", "active",
                )
            ),
            "reps": list(
                SalesRep.objects.order_by("pk").values_list(
                    "pk", "user_id", "accepting_leads", "capacity", "territory", "team",
                    "manager_id",
                )
            ),
            "assignment": list(
                AssignmentRule.objects.order_by("pk").values_list(
                    "pk", "priority", "industry", "company_size_min", "company_size_max",
                    "territory", "rep_id", "active",
                )
            ),
            "reasons": list(Reason.objects.order_by("pk").values_list("pk", "label", "active")),
        }  # fmt: skip

    def assert_nothing_changed(self):
        assert self.snapshot() == self.before
        with organization_scope(self.org_b):
            assert ScoringRule.objects.get().points == 5
            assert AssignmentRule.objects.get().active
            assert Reason.objects.get(pk=self.b_reason.pk).active

    def posts(self, prefix: str = A, *, rule=None, rep=None, assignment=None, reason=None):
        rule = rule or self.fit_rule.pk
        rep = rep or self.rep.pk
        assignment = assignment or self.assignment_rule.pk
        reason = reason or self.reason.pk
        return [
            f"{prefix}/scoring-rules/fit/",
            f"{prefix}/scoring-rules/engagement/",
            f"{prefix}/scoring-rules/{rule}/",
            f"{prefix}/scoring-rules/{rule}/active/",
            f"{prefix}/scoring-rules/{rule}/delete/",
            f"{prefix}/reps/",
            f"{prefix}/reps/{rep}/",
            f"{prefix}/reps/{rep}/accepting/",
            f"{prefix}/assignment-rules/",
            f"{prefix}/assignment-rules/{assignment}/",
            f"{prefix}/assignment-rules/{assignment}/active/",
            f"{prefix}/assignment-rules/{assignment}/delete/",
            f"{prefix}/reasons/loss/",
            f"{prefix}/reasons/{reason}/active/",
        ]

    def any_data(self) -> dict:
        """A body every action would accept, so only the access rules can refuse it."""
        return {
            "fit-attribute": "persona", "fit-value": "Hijack", "fit-points": 5,
            "engagement-event_kind": "webinar", "engagement-points": 5,
            "engagement-half_life_days": 10,
            "edit-value": "Hijack", "edit-points": 99, "edit-half_life_days": 3,
            "edit-capacity": 1, "edit-territory": "Hijack", "edit-priority": 1,
            "edit-team": "Hijack", "edit-manager": self.alice.pk,
            "edit-industry": "Hijack", "edit-rep": self.rep.pk,
            "active": "0",
            "rep-user": self.sid.pk, "rep-capacity": 5, "rep-territory": "Hijack",
            "rep-team": "Hijack", "rep-manager": self.alice.pk,
            "assignment-priority": 1, "assignment-industry": "Hijack",
            "assignment-rep": self.rep.pk,
            "loss-label": "Hijack",
        }  # fmt: skip

    def page(self, user, query: str = "") -> str:
        response = self.browser_as(user).get(f"{A}/{query}")
        assert response.status_code == 200
        return response.content.decode()


class AccessTests(LeadSettingsTestCase):
    def test_anonymous_is_sent_to_the_login_page(self):
        client = Client()
        response = client.get(f"{A}/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
        for url in self.posts():
            response = client.post(url, self.any_data())
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/?next="), url
        self.assert_nothing_changed()

    def test_a_member_of_another_organization_gets_404_on_the_page_and_every_action(self):
        client = self.browser_as(self.charlie)
        assert client.get(f"{A}/").status_code == 404
        assert client.get(f"{A}/?edit=scoring-{self.fit_rule.pk}").status_code == 404
        for url in self.posts():
            assert client.post(url, self.any_data()).status_code == 404, url
            assert client.get(url).status_code == 404, url
        self.assert_nothing_changed()

    def test_organization_a_rows_are_not_found_through_organization_b(self):
        client = self.browser_as(self.charlie)
        row_urls = [url for url in self.posts(B) if any(c.isdigit() for c in url)]
        assert len(row_urls) == 9
        for url in row_urls:
            assert client.post(url, self.any_data()).status_code == 404, url
        self.assert_nothing_changed()
        # An edit link with an A row's id opens nothing; charlie sees only B's rows.
        response = client.get(f"{B}/?edit=scoring-{self.fit_rule.pk}")
        page = response.content.decode()
        assert response.status_code == 200
        assert 'id="row-edit"' not in page
        assert "CFO" in page and "Retail" not in page and "Bob Sales" not in page

    def test_viewers_and_sales_read_the_page_but_every_post_is_refused(self):
        for user in (self.vera, self.bob):
            page = self.page(user)
            assert "Retail" in page and "Bob Sales" in page and "Price" in page
            for action in ["Add fit rule", "Add rep", "Add assignment rule", "Deactivate", "Edit<"]:
                assert action not in page, (user, action)
            assert "Only RevOps admins change these settings" in page
            assert 'id="row-edit"' not in self.page(user, f"?edit=scoring-{self.fit_rule.pk}")
            client = self.browser_as(user)
            for url in self.posts():
                assert client.post(url, self.any_data()).status_code == 403, (user, url)
        self.assert_nothing_changed()

    def test_the_nav_links_the_page_for_admins_only(self):
        link = f'href="{A}/">Lead settings</a>'
        assert link in self.page(self.alice)
        assert link not in self.page(self.vera)

    def test_actions_only_take_post_and_the_page_only_reads(self):
        client = self.browser_as(self.alice)
        assert client.get(f"{A}/scoring-rules/{self.fit_rule.pk}/delete/").status_code == 405
        assert client.post(f"{A}/", self.any_data()).status_code == 405
        self.assert_nothing_changed()


class ScoringRuleTests(LeadSettingsTestCase):
    def test_an_admin_adds_a_fit_rule_and_open_leads_are_rescored(self):
        lead = services.lead_create(actor=self.alice, email="h@x.test", industry="Healthcare")
        assert lead.score == 0
        client = self.browser_as(self.alice)
        # The broker is replaced by running the task here, to see what the queued job does.
        run_now = mock.patch.object(
            leads_rescore, "delay", side_effect=lambda *args: leads_rescore.apply(args=args)
        )
        with run_now as delay, self.captureOnCommitCallbacks(execute=True) as callbacks:
            response = client.post(
                f"{A}/scoring-rules/fit/",
                {"fit-attribute": "industry", "fit-value": " healthcare ", "fit-points": "30"},
            )
        assert response.status_code == 302
        assert response["Location"] == f"{A}/#scoring"
        assert len(callbacks) == 1
        delay.assert_called_once_with(self.org_a.pk)
        rule = ScoringRule.objects.get(attribute="industry", value="healthcare")
        assert (rule.kind, rule.points, rule.active) == ("fit", 30, True)
        assert Lead.objects.get(pk=lead.pk).score == 30
        page = client.get(response["Location"]).content.decode()
        assert RESCORING in page and "healthcare" in page

    def test_an_admin_adds_an_engagement_rule(self):
        with self.captureOnCommitCallbacks() as callbacks:
            response = self.browser_as(self.alice).post(
                f"{A}/scoring-rules/engagement/",
                {"engagement-event_kind": "webinar", "engagement-points": "12",
                 "engagement-half_life_days": "21"},
            )  # fmt: skip
        assert response.status_code == 302
        assert len(callbacks) == 1
        rule = ScoringRule.objects.get(event_kind="webinar")
        assert (rule.kind, rule.attribute, rule.points, rule.half_life_days) == (
            "engagement", "", 12, 21,
        )  # fmt: skip

    def assert_refused(self, url: str, data: dict, *texts: str) -> str:
        with self.captureOnCommitCallbacks() as callbacks:
            response = self.browser_as(self.alice).post(url, data)
        page = response.content.decode()
        assert response.status_code == 400, page
        assert "Nothing was saved" in page
        for text in texts:
            assert text in page, text
        assert callbacks == []  # nothing to rescore
        self.assert_nothing_changed()
        return page

    def test_a_fit_rule_without_an_attribute_is_refused_on_the_form(self):
        page = self.assert_refused(
            f"{A}/scoring-rules/fit/",
            {"fit-attribute": "", "fit-value": "Retail", "fit-points": "5"},
            "A fit rule names the attribute it matches.",
        )
        # The error sits on the field, and what was typed is still there.
        select = re.search(r'<select name="fit-attribute"[^>]*>', page).group()
        assert 'aria-invalid="true"' in select and "autofocus" in select
        assert 'name="fit-value" value="Retail"' in page

    def test_bad_fit_values_and_half_lives_are_refused(self):
        self.assert_refused(
            f"{A}/scoring-rules/fit/",
            {"fit-attribute": "company_size_at_least", "fit-value": "big", "fit-points": "5"},
            "A company size is a whole number of employees.",
        )
        self.assert_refused(
            f"{A}/scoring-rules/fit/",
            {"fit-attribute": "persona", "fit-value": "  ", "fit-points": "5"},
            "Say which value the attribute must match.",
        )
        self.assert_refused(
            f"{A}/scoring-rules/engagement/",
            {"engagement-event_kind": "webinar", "engagement-points": "5",
             "engagement-half_life_days": "0"},
            "Points halve every one day or more.",
        )  # fmt: skip
        self.assert_refused(
            f"{A}/scoring-rules/engagement/",
            {"engagement-event_kind": "webinar", "engagement-points": "9" * 12,
             "engagement-half_life_days": "5"},
            "Ensure this value is less than or equal to",
        )  # fmt: skip

    def test_an_active_twin_rule_is_refused(self):
        self.assert_refused(
            f"{A}/scoring-rules/fit/",
            {"fit-attribute": "industry", "fit-value": "RETAIL", "fit-points": "3"},
            "An active rule already scores Industry = RETAIL",
        )
        self.assert_refused(
            f"{A}/scoring-rules/engagement/",
            {"engagement-event_kind": "demo_request", "engagement-points": "5",
             "engagement-half_life_days": "7"},
            "An active rule already scores Demo request",
        )  # fmt: skip

    def test_the_edit_link_opens_the_row_in_place(self):
        page = self.page(self.alice, f"?edit=scoring-{self.engagement_rule.pk}")
        assert 'id="row-edit"' in page
        assert 'name="edit-half_life_days" value="14"' in page
        assert f'action="{A}/scoring-rules/{self.engagement_rule.pk}/"' in page

    def test_an_admin_edits_a_rule_and_it_is_rescored_once(self):
        client = self.browser_as(self.alice)
        with self.captureOnCommitCallbacks() as callbacks:
            response = client.post(
                f"{A}/scoring-rules/{self.engagement_rule.pk}/",
                {"edit-points": "25", "edit-half_life_days": "7", "edit-value": "ignored"},
            )
        assert response.status_code == 302 and len(callbacks) == 1
        self.engagement_rule.refresh_from_db()
        assert (self.engagement_rule.points, self.engagement_rule.half_life_days) == (25, 7)
        assert self.engagement_rule.value == ""  # an engagement rule has no value to change
        with self.captureOnCommitCallbacks() as callbacks:
            client.post(
                f"{A}/scoring-rules/{self.fit_rule.pk}/", {"edit-points": "-5", "edit-value": "Pet"}
            )
        assert len(callbacks) == 1
        self.fit_rule.refresh_from_db()
        assert (self.fit_rule.value, self.fit_rule.points) == ("Pet", -5)

    def test_a_bad_edit_reopens_the_row_with_its_error(self):
        page = self.assert_refused(
            f"{A}/scoring-rules/{self.engagement_rule.pk}/",
            {"edit-points": "25", "edit-half_life_days": "0"},
            "Points halve every one day or more.",
        )
        assert 'id="row-edit"' in page and 'name="edit-half_life_days" value="0"' in page

    def test_deactivate_reactivate_and_delete_each_rescore_once(self):
        client = self.browser_as(self.alice)
        url = f"{A}/scoring-rules/{self.fit_rule.pk}"
        for active, expected in (("0", False), ("1", True)):
            with self.captureOnCommitCallbacks() as callbacks:
                response = client.post(f"{url}/active/", {"active": active})
            assert response.status_code == 302 and len(callbacks) == 1
            assert ScoringRule.objects.get(pk=self.fit_rule.pk).active is expected
        with self.captureOnCommitCallbacks() as callbacks:
            response = client.post(f"{url}/delete/")
        assert response.status_code == 302 and len(callbacks) == 1
        assert not ScoringRule.objects.filter(pk=self.fit_rule.pk).exists()
        assert RESCORING in client.get(response["Location"]).content.decode()

    def test_reactivating_a_rule_that_has_an_active_twin_is_refused_in_its_row(self):
        config_services.scoring_rule_update(rule=self.fit_rule, active=False)
        twin = config_services.scoring_rule_create(
            kind="fit", attribute="industry", value="retail", points=1
        )
        self.before = self.snapshot()
        page = self.assert_refused(
            f"{A}/scoring-rules/{self.fit_rule.pk}/active/",
            {"active": "1"},
            "An active rule already scores Industry = Retail",
        )
        assert 'class="row-error"' in page
        assert ScoringRule.objects.get(pk=twin.pk).active


class SalesRepTests(LeadSettingsTestCase):
    def test_only_sales_members_without_a_rep_are_offered(self):
        response = self.browser_as(self.alice).get(f"{A}/")
        choices = dict(response.context["rep_form"].fields["user"].choices)
        assert set(choices) == {"", self.sid.pk}

    def test_an_admin_adds_a_sales_member_as_a_rep(self):
        response = self.browser_as(self.alice).post(
            f"{A}/reps/",
            {"rep-user": self.sid.pk, "rep-capacity": "15", "rep-territory": " EMEA ",
             "rep-team": " Mid  market ", "rep-manager": self.alice.pk,
             "rep-accepting_leads": "on"},
        )  # fmt: skip
        assert response.status_code == 302 and response["Location"] == f"{A}/#reps"
        rep = SalesRep.objects.get(user=self.sid)
        assert (rep.accepting_leads, rep.capacity, rep.territory) == (True, 15, "EMEA")
        assert (rep.team, rep.manager_id) == ("Mid market", self.alice.pk)

    def test_a_rep_twice_a_non_sales_member_or_another_organizations_user_is_refused(self):
        client = self.browser_as(self.alice)
        for user in (self.bob, self.vera, self.charlie, self.gus):
            response = client.post(f"{A}/reps/", {"rep-user": user.pk})
            assert response.status_code == 400, user
            assert "Choose a sales member of this organization" in response.content.decode()
        self.assert_nothing_changed()

    def test_a_negative_capacity_is_refused(self):
        client = self.browser_as(self.alice)
        response = client.post(f"{A}/reps/", {"rep-user": self.sid.pk, "rep-capacity": "-1"})
        assert response.status_code == 400
        assert "Capacity cannot be negative" in response.content.decode()
        response = client.post(f"{A}/reps/{self.rep.pk}/", {"edit-capacity": "-3"})
        page = response.content.decode()
        assert response.status_code == 400
        assert "Capacity cannot be negative" in page and 'id="row-edit"' in page
        self.assert_nothing_changed()

    def test_an_admin_edits_capacity_and_territory_and_pauses_a_rep(self):
        client = self.browser_as(self.alice)
        response = client.post(
            f"{A}/reps/{self.rep.pk}/", {"edit-capacity": "", "edit-territory": "Nordics"}
        )
        assert response.status_code == 302
        self.rep.refresh_from_db()
        assert (self.rep.capacity, self.rep.territory) == (None, "Nordics")
        response = client.post(f"{A}/reps/{self.rep.pk}/accepting/", {"active": "0"})
        assert response.status_code == 302
        assert not SalesRep.objects.get(pk=self.rep.pk).accepting_leads
        page = client.get(f"{A}/").content.decode()
        assert "Bob Sales gets no new leads until resumed." in page and "Resume leads" in page
        client.post(f"{A}/reps/{self.rep.pk}/accepting/", {"active": "1"})
        assert SalesRep.objects.get(pk=self.rep.pk).accepting_leads

    def test_any_active_member_but_the_rep_is_offered_as_manager(self):
        gone = make_member(self.org_a, "gone@a.test", "Gone Admin", Role.ADMIN)
        User.objects.filter(pk=gone.pk).update(is_active=False)
        response = self.browser_as(self.alice).get(f"{A}/?edit=rep-{self.rep.pk}")
        (row,) = [rep for rep in response.context["reps"] if rep.pk == self.rep.pk]
        offered = dict(row.edit_form.fields["manager"].choices)
        assert set(offered) == {"", self.alice.pk, self.vera.pk, self.sid.pk}
        # Adding a rep: who the rep will be is not chosen yet, so bob is offered too.
        offered = dict(response.context["rep_form"].fields["manager"].choices)
        assert set(offered) == {"", self.alice.pk, self.bob.pk, self.vera.pk, self.sid.pk}

    def test_an_admin_sets_a_reps_team_and_manager_and_the_table_shows_them(self):
        client = self.browser_as(self.alice)
        page = self.page(self.alice, f"?edit=rep-{self.rep.pk}")
        assert 'name="edit-team"' in page and 'name="edit-manager"' in page
        response = client.post(
            f"{A}/reps/{self.rep.pk}/",
            {"edit-capacity": "20", "edit-team": "  Enterprise   EMEA ",
             "edit-manager": self.vera.pk},
        )  # fmt: skip
        assert response.status_code == 302 and response["Location"] == f"{A}/#reps"
        self.rep.refresh_from_db()
        assert (self.rep.capacity, self.rep.team, self.rep.manager_id) == (
            20, "Enterprise EMEA", self.vera.pk,
        )  # fmt: skip
        page = self.page(self.alice)
        row = re.search(rf'<tr id="rep-{self.rep.pk}".*?</tr>', page, re.S).group()
        assert "<td>Enterprise EMEA</td>" in row and "<td>Vera Viewer</td>" in row
        # The row opens with them selected; choosing "No manager" removes the manager.
        page = self.page(self.alice, f"?edit=rep-{self.rep.pk}")
        assert 'name="edit-team" value="Enterprise EMEA"' in page
        assert f'<option value="{self.vera.pk}" selected>' in page
        response = client.post(
            f"{A}/reps/{self.rep.pk}/", {"edit-team": "Enterprise EMEA", "edit-manager": ""}
        )
        assert response.status_code == 302
        self.rep.refresh_from_db()
        assert (self.rep.team, self.rep.manager_id) == ("Enterprise EMEA", None)

    def test_another_organizations_user_or_the_rep_themself_is_refused_as_manager(self):
        client = self.browser_as(self.alice)
        # Another organization's people answer exactly like an id that does not exist.
        for manager_id in (self.charlie.pk, self.gus.pk, NO_SUCH_USER):
            response = client.post(
                f"{A}/reps/{self.rep.pk}/", {"edit-capacity": "20", "edit-manager": manager_id}
            )
            page = response.content.decode()
            assert response.status_code == 400, manager_id
            assert NOT_A_MANAGER in page and 'id="row-edit"' in page
            response = client.post(
                f"{A}/reps/", {"rep-user": self.sid.pk, "rep-manager": manager_id}
            )
            assert response.status_code == 400, manager_id
            assert NOT_A_MANAGER in response.content.decode()
        # The rep is not offered as their own manager, and the service refuses it when adding.
        response = client.post(f"{A}/reps/{self.rep.pk}/", {"edit-manager": self.bob.pk})
        assert response.status_code == 400
        response = client.post(f"{A}/reps/", {"rep-user": self.sid.pk, "rep-manager": self.sid.pk})
        page = response.content.decode()
        assert response.status_code == 400 and OWN_MANAGER in page
        select = re.search(r'<select name="rep-manager"[^>]*>', page).group()
        assert 'aria-invalid="true"' in select
        self.assert_nothing_changed()

    def test_a_team_longer_than_100_characters_is_refused(self):
        response = self.browser_as(self.alice).post(
            f"{A}/reps/{self.rep.pk}/", {"edit-team": "x" * 101}
        )
        assert response.status_code == 400
        assert "at most 100 characters" in response.content.decode()
        self.assert_nothing_changed()

    def test_viewers_and_sales_cannot_set_a_team_or_manager(self):
        for user in (self.vera, self.bob):
            client = self.browser_as(user)
            response = client.post(
                f"{A}/reps/{self.rep.pk}/", {"edit-team": "Mine", "edit-manager": user.pk}
            )
            assert response.status_code == 403, user
            response = client.post(
                f"{A}/reps/", {"rep-user": self.sid.pk, "rep-team": "Mine", "rep-manager": user.pk}
            )
            assert response.status_code == 403, user
        self.assert_nothing_changed()


class AssignmentRuleTests(LeadSettingsTestCase):
    def rule_data(self, **overrides) -> dict:
        data = {
            "assignment-priority": "5", "assignment-industry": "Healthcare",
            "assignment-company_size_min": "50", "assignment-company_size_max": "500",
            "assignment-territory": "EMEA", "assignment-rep": self.rep.pk,
        }  # fmt: skip
        return data | overrides

    def test_an_admin_adds_a_rule(self):
        response = self.browser_as(self.alice).post(f"{A}/assignment-rules/", self.rule_data())
        assert response.status_code == 302 and response["Location"] == f"{A}/#assignment"
        rule = AssignmentRule.objects.get(industry="Healthcare")
        assert (rule.priority, rule.company_size_min, rule.company_size_max, rule.territory,
                rule.rep_id, rule.active) == (5, 50, 500, "EMEA", self.rep.pk, True)  # fmt: skip

    def test_min_above_max_is_refused(self):
        response = self.browser_as(self.alice).post(
            f"{A}/assignment-rules/",
            self.rule_data(**{"assignment-company_size_min": "900"}),
        )
        assert response.status_code == 400
        assert "The largest size must be at least the smallest." in response.content.decode()
        self.assert_nothing_changed()

    def test_another_organizations_rep_is_refused(self):
        client = self.browser_as(self.alice)
        response = client.post(
            f"{A}/assignment-rules/", self.rule_data(**{"assignment-rep": self.b_rep.pk})
        )
        assert response.status_code == 400
        assert "Choose one of this organization&#x27;s sales reps." in response.content.decode()
        response = client.post(
            f"{A}/assignment-rules/{self.assignment_rule.pk}/",
            {"edit-priority": "1", "edit-rep": self.b_rep.pk},
        )
        assert response.status_code == 400
        self.assert_nothing_changed()

    def test_an_admin_edits_deactivates_and_deletes_a_rule(self):
        client = self.browser_as(self.alice)
        url = f"{A}/assignment-rules/{self.assignment_rule.pk}/"
        page = self.page(self.alice, f"?edit=assignment-{self.assignment_rule.pk}")
        assert 'name="edit-industry" value="Retail"' in page
        response = client.post(
            url, {"edit-priority": "3", "edit-industry": "", "edit-company_size_min": "10",
                  "edit-rep": self.rep.pk},
        )  # fmt: skip
        assert response.status_code == 302
        rule = AssignmentRule.objects.get(pk=self.assignment_rule.pk)
        assert (rule.priority, rule.industry, rule.company_size_min) == (3, "", 10)
        assert client.post(f"{url}active/", {"active": "0"}).status_code == 302
        assert not AssignmentRule.objects.get(pk=rule.pk).active
        assert client.post(f"{url}delete/").status_code == 302
        assert not AssignmentRule.objects.filter(pk=rule.pk).exists()
        assert SalesRep.objects.filter(pk=self.rep.pk).exists()


class ReasonListTests(LeadSettingsTestCase):
    def test_an_admin_adds_a_reason(self):
        response = self.browser_as(self.alice).post(
            f"{A}/reasons/loss/", {"loss-label": "  Budget   cut "}
        )
        assert response.status_code == 302 and response["Location"] == f"{A}/#reasons"
        assert Reason.objects.get(kind=ReasonKind.LOSS, label="Budget cut").active

    def test_a_duplicate_reason_is_refused_whatever_its_case(self):
        response = self.browser_as(self.alice).post(
            f"{A}/reasons/rejection/", {"rejection-label": "duplicate"}
        )
        assert response.status_code == 400
        assert "“Duplicate” is already on the list." in response.content.decode()
        self.assert_nothing_changed()

    def test_the_same_label_may_sit_on_another_list(self):
        response = self.browser_as(self.alice).post(
            f"{A}/reasons/feedback/", {"feedback-label": "Price"}
        )
        assert response.status_code == 302
        assert Reason.objects.filter(label="Price").count() == 2

    def test_an_unknown_list_is_not_found(self):
        response = self.browser_as(self.alice).post(f"{A}/reasons/nonsense/", {"x-label": "X"})
        assert response.status_code == 404

    def test_an_admin_deactivates_and_reactivates_a_reason(self):
        client = self.browser_as(self.alice)
        url = f"{A}/reasons/{self.reason.pk}/active/"
        assert client.post(url, {"active": "0"}).status_code == 302
        assert not Reason.objects.get(pk=self.reason.pk).active
        assert self.reason not in selectors.reasons(ReasonKind.LOSS)
        assert client.post(url, {"active": "1"}).status_code == 302
        assert Reason.objects.get(pk=self.reason.pk).active

    def test_the_last_active_rejection_reason_stays_on(self):
        last, *others = Reason.objects.filter(kind=ReasonKind.REJECTION)
        for reason in others:
            config_services.reason_set_active(reason=reason, active=False)
        self.before = self.snapshot()
        response = self.browser_as(self.alice).post(
            f"{A}/reasons/{last.pk}/active/", {"active": "0"}
        )
        assert response.status_code == 400
        assert "Keep at least one active hand-off rejection reason" in response.content.decode()
        self.assert_nothing_changed()


class ConfigServiceTests(LeadSettingsTestCase):
    """The services refuse what a hand-made call could send past the page's choices."""

    def assert_invalid(self, call, field: str) -> None:
        try:
            call()
        except ValidationError as error:
            assert field in error.message_dict, error.message_dict
        else:
            raise AssertionError("accepted")
        self.assert_nothing_changed()

    def test_another_organizations_ids_are_field_errors(self):
        self.assert_invalid(lambda: config_services.sales_rep_save(user_id=self.gus.pk), "user")
        self.assert_invalid(
            lambda: config_services.assignment_rule_create(rep_id=self.b_rep.pk), "rep"
        )
        self.assert_invalid(
            lambda: config_services.assignment_rule_update(
                rule=self.assignment_rule, rep_id=self.b_rep.pk
            ),
            "rep",
        )

    def test_duplicates_are_field_errors_not_integrity_errors(self):
        self.assert_invalid(lambda: config_services.sales_rep_save(user_id=self.bob.pk), "user")
        self.assert_invalid(lambda: config_services.reason_add(kind="loss", label="PRICE"), "label")

    def test_a_refused_update_leaves_the_instance_as_it_was(self):
        rule = self.engagement_rule
        self.assert_invalid(
            lambda: config_services.scoring_rule_update(rule=rule, half_life_days=0),
            "half_life_days",
        )
        assert rule.half_life_days == 14
        self.assert_invalid(
            lambda: config_services.scoring_rule_update(rule=rule, kind="fit"), "attribute"
        )
        with self.assertRaises(TypeError):
            config_services.scoring_rule_update(rule=rule, organization=self.org_b)

    def test_team_is_trimmed_and_any_active_member_may_manage_a_rep(self):
        rep = config_services.sales_rep_save(
            rep=self.rep, team="  Mid   market ", manager_id=self.vera.pk
        )
        assert (rep.team, rep.manager) == ("Mid market", self.vera)  # a viewer may manage
        stored = SalesRep.objects.get(pk=self.rep.pk)
        assert (stored.team, stored.manager_id, stored.capacity) == ("Mid market", self.vera.pk, 20)
        added = config_services.sales_rep_save(user_id=self.sid.pk, manager_id=self.bob.pk)
        assert SalesRep.objects.get(pk=added.pk).manager_id == self.bob.pk
        # A manager deactivated since does not block the rep's other settings...
        User.objects.filter(pk=self.vera.pk).update(is_active=False)
        config_services.sales_rep_save(rep=rep, capacity=5)
        assert SalesRep.objects.get(pk=rep.pk).manager_id == self.vera.pk
        # ...and None removes the manager.
        config_services.sales_rep_save(rep=rep, manager_id=None)
        assert SalesRep.objects.get(pk=rep.pk).manager_id is None

    def test_a_manager_is_an_active_member_of_this_organization_and_not_the_rep(self):
        gone = make_member(self.org_a, "gone@a.test", "Gone Admin", Role.ADMIN)
        User.objects.filter(pk=gone.pk).update(is_active=False)
        refusals = {}
        for manager_id in (self.charlie.pk, self.gus.pk, NO_SUCH_USER, gone.pk, self.bob.pk):
            try:
                config_services.sales_rep_save(rep=self.rep, manager_id=manager_id)
            except ValidationError as error:
                refusals[manager_id] = error.message_dict
        # Another organization's user reads exactly like one that does not exist.
        assert refusals == {
            self.charlie.pk: {"manager": [NOT_A_MANAGER]},
            self.gus.pk: {"manager": [NOT_A_MANAGER]},
            NO_SUCH_USER: {"manager": [NOT_A_MANAGER]},
            gone.pk: {"manager": [NOT_A_MANAGER]},
            self.bob.pk: {"manager": [OWN_MANAGER]},
        }
        assert self.rep.manager_id is None  # refused changes leave the instance as it was
        self.assert_invalid(
            lambda: config_services.sales_rep_save(user_id=self.sid.pk, manager_id=self.sid.pk),
            "manager",
        )
        self.assert_invalid(
            lambda: config_services.sales_rep_save(user_id=self.sid.pk, manager_id=self.gus.pk),
            "manager",
        )
        self.assert_invalid(
            lambda: config_services.sales_rep_save(rep=self.rep, team="x" * 101), "team"
        )
        with self.assertRaises(TypeError):
            config_services.sales_rep_save(rep=self.rep, manager=self.alice)

    def test_a_breach_escalates_to_the_manager_set_here(self):
        # Tuesday 24 November 2026, 10:00 in Chicago: inside business hours.
        tuesday_10 = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
        self.org_a.timezone = "America/Chicago"
        self.org_a.save()
        # Vera is a viewer: no breach reaches her role, only her being bob's manager.
        config_services.sales_rep_save(rep=self.rep, manager_id=self.vera.pk)
        lead = services.lead_create(
            actor=self.alice, full_name="Ada", email="ada@x.test", now=tuesday_10,
            budget_amount=Decimal("50000"), authority_role="decision_maker",
            needs=["Forecasting"], timeline_days=30,
        )  # fmt: skip
        services.lead_mark_mql(lead=lead, actor=self.alice, now=tuesday_10)
        assert Lead.objects.get(pk=lead.pk).owner == self.bob
        assert sweep(tuesday_10 + timedelta(hours=5)).breaches == 1
        breach = SlaEvent.objects.get(kind=EventKind.BREACH, timer__lead=lead)
        notified = set(
            Notification.objects.filter(event=breach).values_list("user__email", flat=True)
        )
        assert {"bob@a.test", "vera@a.test"} <= notified


class QueryCountTests(LeadSettingsTestCase):
    def count_queries(self, client, url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return len(captured)

    def grow(self, n: int) -> None:
        for i in range(n):
            user = make_member(self.org_a, f"grow{i}@a.test", f"Grow {i}", Role.SALES)
            with organization_scope(self.org_a):
                rep = config_services.sales_rep_save(user_id=user.pk, capacity=i)
                config_services.assignment_rule_create(rep_id=rep.pk, priority=i)
                config_services.scoring_rule_create(
                    kind="fit", attribute="persona", value=f"Persona {i}", points=i
                )
                config_services.reason_add(kind="feedback", label=f"Tag {i}")
                lead = services.lead_create(actor=self.alice, email=f"grow{i}@x.test")
                Lead.objects.filter(pk=lead.pk).update(stage="sql", owner=user)

    def test_the_page_does_not_grow_with_rows(self):
        client = self.browser_as(self.alice)
        urls = [f"{A}/", f"{A}/?edit=assignment-{self.assignment_rule.pk}"]
        client.get(urls[0])  # the first visit stores the organization in the session
        before = [self.count_queries(client, url) for url in urls]
        self.grow(4)
        after = [self.count_queries(client, url) for url in urls]
        assert before == after
        # Session, user, membership, switcher, the reason-defaults check, then one per list.
        assert before[0] <= 11, before
