"""Setup shared by the SLA tests: a lead that passes BANT, the hand-off that makes it an SQL, and
organization A in Chicago with Bob as its rep and Mia as his manager."""

from datetime import datetime
from decimal import Decimal

from leads import services as lead_services
from leads.models import Lead, SalesRep, Stage
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role, User
from tests.base import TwoOrganizationsTestCase, make_member

# Values that qualify a lead under the default policy (budget, authority, need, timeline).
QUALIFYING = {
    "budget_amount": Decimal("50000"),
    "authority_role": "decision_maker",
    "needs": ["Forecasting"],
    "timeline_days": 30,
}


def sql_handed_off(*, actor: User, at: datetime | None, name: str, **extra) -> Lead:
    """A qualifying lead created and marked MQL by `actor` at `at` (now when None): assignment
    makes it an SQL, which starts the follow-up clock. Its email is `<name>@x.test` unless
    `extra` says otherwise; `extra` adds or overrides any other lead field."""
    values = {"full_name": name, "email": f"{name.lower()}@x.test", **QUALIFYING, **extra}
    lead = lead_services.lead_create(actor=actor, now=at, **values)
    lead_services.lead_mark_mql(lead=lead, actor=actor, now=at)
    lead.refresh_from_db()
    return lead


class SlaTestCase(TwoOrganizationsTestCase):
    """Acme in Chicago, in scope for the whole test, with the default reasons; Bob its rep and
    Mia (sales) his manager. `hand_off` makes an SQL assigned to Bob."""

    def setUp(self):
        self.org_a.timezone = "America/Chicago"
        self.org_a.save()
        self.enterContext(organization_scope(self.org_a))
        lead_services.reasons_ensure_defaults()
        self.mia = make_member(self.org_a, "mia@a.test", "Mia Manager", Role.SALES)
        SalesRep.objects.create(user=self.bob, manager=self.mia)

    def hand_off(self, at: datetime, name: str = "Ada") -> Lead:
        lead = sql_handed_off(actor=self.alice, at=at, name=name)
        assert (lead.stage, lead.owner) == (Stage.SQL, self.bob)
        return lead
