"""Setup shared by the huddle tests: organization A in Chicago (Bob its rep, Mia his manager, from
SlaTestCase) and a week of pipeline, feedback and SLA activity built through the services.

The huddle under test is the week of Monday 10 March 2025 (the day after the United States'
daylight-saving change). Opened on Wednesday 12 March at 15:00 it reviews Wednesday 5 to Tuesday
11 March:

- Ada, Bea, Cy and Dee become SQLs on Thursday 6 March at 10:00, handed to Bob;
- Bob calls Ada, Cy and Dee within the hour; Bea is never called (her follow-up breaches at 11:00,
  the business calendar's one hour) and he rejects her on Friday ("No budget"), which opens an
  item in marketing's inbox whose acknowledgement (48 h) and resolution (5 days) clocks run out;
- Ada (12,000), Cy and Dee become opportunities that Thursday; Cy is won on Monday 10 March for
  8,000, Dee lost ("Price"); Ada stays open and quiet, stalled after the 5 days configured;
- Bob rates Ada 4 and Cy 2 on Friday 7 March (Ada and Cy came from the "Spring webinar"
  campaign, Bea from "Trade show", Dee from none); marketing acknowledges Ada's rating on
  Saturday and resolves it on Monday, and leaves Cy's open: both of its clocks run out;
- the monthly revenue target is 24,000.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from huddle import services
from leads import services as lead_services
from leads.models import Campaign, Lead, LeadFeedback, Reason, ReasonKind
from metrics.compute import snapshot_replace
from sla.sweep import sweep
from tests.sla.base import SlaTestCase, sql_handed_off

CHICAGO = ZoneInfo("America/Chicago")
WEEK = date(2025, 3, 10)  # a Monday
OPENED = datetime(2025, 3, 12, 15, 0, tzinfo=CHICAGO)  # Wednesday of that week


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=CHICAGO)


class HuddleTestCase(SlaTestCase):
    def url(self, name: str, *args, org=None) -> str:
        from django.urls import reverse

        return reverse(name, args=[(org or self.org_a).slug, *args])

    def week_url(self, week: date, org=None) -> str:
        return self.url("huddle_week", week.isoformat(), org=org)

    def sql(self, name: str, when: datetime, campaign: Campaign | None = None) -> Lead:
        return sql_handed_off(actor=self.alice, at=when, name=name, company_name=f"{name} Corp",
                              campaign=campaign)  # fmt: skip

    def deal(self, lead: Lead, when: datetime, amount: str):
        lead_services.touch_log(lead=lead, actor=self.bob, kind="call", at=when)
        lead_services.lead_accept(lead=lead, actor=self.bob, now=when + timedelta(minutes=10))
        return lead_services.lead_convert(lead=lead, actor=self.bob, amount=Decimal(amount),
                                          now=when + timedelta(hours=2))  # fmt: skip

    def build_week(self) -> None:
        """The week described in the module docstring, and the snapshot of March."""
        spring = lead_services.campaign_create(actor=self.alice, name="Spring webinar",
                                               channel="events")  # fmt: skip
        show = lead_services.campaign_create(actor=self.alice, name="Trade show", channel="events")
        thursday = at(6, 10)
        self.ada = self.sql("Ada", thursday, spring)
        self.bea = self.sql("Bea", thursday, show)
        self.cy = self.sql("Cy", thursday, spring)
        self.dee = self.sql("Dee", thursday)
        self.ada_deal = self.deal(self.ada, at(6, 10, 20), "12000")
        cy_deal = self.deal(self.cy, at(6, 10, 25), "9000")
        dee_deal = self.deal(self.dee, at(6, 10, 30), "5000")
        no_budget = Reason.objects.get(kind=ReasonKind.REJECTION, label="No budget")
        price = Reason.objects.get(kind=ReasonKind.LOSS, label="Price")
        lead_services.lead_reject(lead=self.bea, actor=self.bob, reason_id=no_budget.pk,
                                  now=at(7, 9))  # fmt: skip
        # Inbox items are dated by their row's creation, which the services stamp themselves.
        LeadFeedback.objects.filter(lead=self.bea).update(created_at=at(7, 9))
        lead_services.opportunity_win(opportunity=cy_deal, actor=self.bob, value=Decimal(8000),
                                      now=at(10, 11))  # fmt: skip
        lead_services.opportunity_lose(opportunity=dee_deal, actor=self.bob, reason_id=price.pk,
                                       now=at(10, 12))  # fmt: skip
        for lead, rating in ((self.ada, 4), (self.cy, 2)):
            item = lead_services.feedback_rate(lead=lead, actor=self.bob, rating=rating,
                                               now=at(7, 12))  # fmt: skip
            LeadFeedback.objects.filter(pk=item.pk).update(created_at=at(7, 12))
            if lead == self.ada:
                lead_services.feedback_acknowledge(item=item, actor=self.alice, now=at(8, 10))
                lead_services.feedback_resolve(item=item, actor=self.alice, now=at(10, 10),
                                               response="Persona list fixed")  # fmt: skip
        sweep(OPENED)
        services.settings_save(stalled_after_days=5, monthly_revenue_target=Decimal(24000))
        self.snapshot()

    def snapshot(self) -> None:
        snapshot_replace(date(2025, 3, 1), date(2025, 3, 23))
