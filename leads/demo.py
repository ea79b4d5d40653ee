"""Believable synthetic leads for a demo organization, made through the services.

`seed_leads_demo(organization, now)` plays the last 180 days of a funnel forward in time order:
leads arrive from campaigns, engage, become MQLs (by score or by marketing's hand), qualify and
are assigned, get touched, accepted or rejected, converted, won or lost; reps rate leads and
marketing works through its feedback inbox. Every move goes through `leads.services` with an
explicit `now=`, so transitions, owners and first touches are exactly what the product records.

Deterministic for an organization and a `now`: all randomness comes from
`random.Random(organization.slug)`, and steps run in (time, sequence) order. A step that falls
after `now` is not played, so recent leads are naturally still early in the funnel.
"""

from __future__ import annotations

import heapq
import itertools
import random
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Max, Min, OuterRef, Subquery
from django.db.models.functions import Coalesce

from leads import selectors, services
from leads.models import (
    AssignmentRule,
    Campaign,
    EngagementEvent,
    EngagementKind,
    Lead,
    LeadFeedback,
    LeadTransition,
    Opportunity,
    QualificationPolicy,
    Reason,
    ReasonKind,
    SalesRep,
    ScoringRule,
    SourceChannel,
    Stage,
    Touch,
)
from leads.scoring import score_compute
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Membership, Organization, Role, User
from sla.calendar import Calendar
from sla.demo import configure_sla_demo, finish_sla_demo

DAYS = 180
LEADS = 400
REP_CAPACITY = 40

# (name, channel, budget, starts days ago, runs for days); 8 of these per organization.
CAMPAIGNS = [
    ("Search: forecasting software", SourceChannel.PAID_SEARCH, 24_000, 178, 170),
    ("Search: lead routing", SourceChannel.PAID_SEARCH, 12_000, 120, 110),
    ("LinkedIn lead-gen forms", SourceChannel.SOCIAL, 18_000, 170, 120),
    ("Pipeline Forecasting webinar series", SourceChannel.EVENTS, 6_000, 160, 140),
    ("RevOps Summit booth", SourceChannel.EVENTS, 30_000, 95, 3),
    ("Partner co-marketing", SourceChannel.PARTNER, 9_000, 150, 150),
    ("Monthly RevOps newsletter", SourceChannel.EMAIL, 2_500, 180, 180),
    ("Customer referral programme", SourceChannel.REFERRAL, 5_000, 175, 175),
    ("State of RevOps report", SourceChannel.ORGANIC_SEARCH, 8_000, 140, 140),
    ("Retargeting ads", SourceChannel.SOCIAL, 7_500, 60, 60),
]
# How good the leads from a channel usually are (0..1): drives BANT, engagement and outcomes.
CHANNEL_QUALITY = {
    SourceChannel.REFERRAL: 0.75,
    SourceChannel.EVENTS: 0.62,
    SourceChannel.PARTNER: 0.6,
    SourceChannel.DIRECT: 0.55,
    SourceChannel.ORGANIC_SEARCH: 0.5,
    SourceChannel.PAID_SEARCH: 0.45,
    SourceChannel.EMAIL: 0.4,
    SourceChannel.SOCIAL: 0.3,
}
LANDING_PAGES = {
    SourceChannel.PAID_SEARCH: "/lp/forecasting",
    SourceChannel.SOCIAL: "/lp/revops-checklist",
    SourceChannel.EVENTS: "/events",
    SourceChannel.ORGANIC_SEARCH: "/reports/state-of-revops",
    SourceChannel.EMAIL: "/newsletter",
    SourceChannel.REFERRAL: "/referral",
    SourceChannel.PARTNER: "/partners",
    SourceChannel.DIRECT: "/pricing",
}

FIT_RULES = [
    ("industry", "Software", 15),
    ("industry", "Financial services", 10),
    ("persona", "RevOps", 15),
    ("persona", "Sales leader", 10),
    ("title_contains", "VP", 10),
    ("title_contains", "Head", 8),
    ("company_size_at_least", "200", 10),
    ("title_contains", "Student", -30),
]
ENGAGEMENT_RULES = [  # (event kind, points, half-life in days)
    (EngagementKind.DEMO_REQUEST, 40, 30),
    (EngagementKind.PRICING_VISIT, 20, 14),
    (EngagementKind.FORM_FILL, 15, 30),
    (EngagementKind.WEBINAR, 12, 30),
    (EngagementKind.CONTENT_DOWNLOAD, 8, 21),
    (EngagementKind.EMAIL_CLICK, 4, 7),
]

NAMES = {
    "acme": (
        [
            "Avery",
            "Blake",
            "Cameron",
            "Dana",
            "Elliot",
            "Frankie",
            "Harper",
            "Jordan",
            "Kendall",
            "Logan",
            "Morgan",
            "Parker",
            "Quinn",
            "Reese",
            "Riley",
            "Rowan",
            "Sawyer",
            "Skyler",
            "Taylor",
            "Tatum",
            "Emerson",
            "Hayden",
            "Jamie",
            "Kai",
            "Lane",
            "Marley",
            "Oakley",
            "Peyton",
            "Remy",
            "Sage",
        ],
        [
            "Anderson",
            "Brooks",
            "Carter",
            "Diaz",
            "Ellis",
            "Foster",
            "Garcia",
            "Hughes",
            "Irving",
            "Jensen",
            "Kim",
            "Lopez",
            "Mitchell",
            "Nguyen",
            "Ortiz",
            "Patel",
            "Ramirez",
            "Sullivan",
            "Turner",
            "Walker",
            "Young",
            "Bennett",
            "Coleman",
            "Hayes",
            "Price",
            "Reed",
            "Russell",
            "Ward",
            "Wright",
            "Zimmerman",
        ],
    ),
    "globex": (
        [
            "Anna",
            "Ben",
            "Clara",
            "David",
            "Elena",
            "Felix",
            "Greta",
            "Hannah",
            "Jonas",
            "Katrin",
            "Lars",
            "Lena",
            "Lukas",
            "Marie",
            "Max",
            "Nina",
            "Oskar",
            "Paula",
            "Sven",
            "Sophie",
            "Tobias",
            "Ute",
            "Jan",
            "Ines",
            "Malte",
            "Frida",
            "Emil",
            "Ida",
            "Nils",
            "Johanna",
        ],
        [
            "Bauer",
            "Becker",
            "Berg",
            "Fischer",
            "Hansen",
            "Hoffmann",
            "Jansen",
            "Koch",
            "Krüger",
            "Lindqvist",
            "Meyer",
            "Müller",
            "Nielsen",
            "Peeters",
            "Richter",
            "Schmidt",
            "Schneider",
            "Schulz",
            "Vogel",
            "Wagner",
            "Weber",
            "Wolf",
            "Dubois",
            "Janssen",
            "Larsen",
            "Svensson",
            "de Vries",
            "Keller",
            "Brandt",
            "Lang",
        ],
    ),
}
TERRITORIES = {
    "acme": ["US East", "US West", "US Central", "Canada"],
    "globex": ["DACH", "Nordics", "Benelux", "UK & Ireland", "France"],
}
COMPANY_WORDS = (
    [
        "North",
        "Bright",
        "Blue",
        "Iron",
        "Silver",
        "Clear",
        "Swift",
        "Cedar",
        "Harbor",
        "Summit",
        "Atlas",
        "Nova",
        "Pine",
        "Granite",
        "Orbit",
        "Lumen",
        "Vector",
        "Maple",
        "Beacon",
        "Cobalt",
    ],
    [
        "wind",
        "line",
        "peak",
        "field",
        "stone",
        "bridge",
        "works",
        "labs",
        "logic",
        "scale",
        "point",
        "grid",
        "path",
        "wave",
    ],
    ["Analytics", "Systems", "Group", "Software", "Logistics", "Health", "Retail", "Capital", ""],
)
INDUSTRIES = [
    ("Software", 5),
    ("Financial services", 3),
    ("Retail", 2),
    ("Manufacturing", 2),
    ("Healthcare", 2),
    ("Logistics", 1),
    ("Education", 1),
    ("Media", 1),
]
COMPANY_SIZES = [8, 20, 45, 90, 180, 350, 700, 1500, 4000, 12000]
# persona: (titles, authority role for each title)
PERSONAS = {
    "RevOps": (
        ["VP Revenue Operations", "Head of RevOps", "RevOps Manager", "Sales Ops Analyst"],
        ["decision_maker", "decision_maker", "champion", "user"],
    ),
    "Sales leader": (
        ["VP Sales", "Head of Sales", "Sales Director", "Sales Manager"],
        ["decision_maker", "decision_maker", "economic_buyer", "champion"],
    ),
    "Marketing leader": (
        ["CMO", "Head of Demand Generation", "Marketing Manager", "Marketing Coordinator"],
        ["economic_buyer", "champion", "influencer", "user"],
    ),
    "Finance": (
        ["CFO", "Finance Director", "FP&A Analyst"],
        ["economic_buyer", "influencer", "user"],
    ),
    "IT": (["CTO", "IT Manager", "Data Engineer"], ["decision_maker", "influencer", "user"]),
    "Student": (["Student", "MBA Student"], ["user", "user"]),
}
ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "å": "a", "é": "e"})
POLICY_NEEDS = ["Reporting", "Forecasting", "Lead routing", "Attribution"]
OTHER_NEEDS = ["Data hygiene", "Territory planning", "Commission tracking", "Chat widget"]
MARKETING_RESPONSES = [
    "Thanks, passing this on to the campaign owner.",
    "Seen. Checking the form and the list this came from.",
    "Agreed, we will look at the targeting.",
]
MARKETING_FIXES = [
    "Added a company-size question to the form.",
    "Excluded students and job seekers from the audience.",
    "Tightened the job-title targeting on this campaign.",
    "Deduplicated the list before the next send.",
    "Raised the score threshold for this source.",
]


@dataclass
class _Story:
    """One lead's life: its object (kept current by the services) and what drives its fate."""

    quality: float
    channel: str
    created_at: datetime
    bant_ready: bool
    lead: Lead | None = None
    values: dict = field(default_factory=dict)
    followed_up: bool = False
    opportunity: Opportunity | None = None
    events: list[EngagementEvent] = field(default_factory=list)  # all, newest first
    unsaved: list[EngagementEvent] = field(default_factory=list)  # not written yet


class _Funnel:
    def __init__(self, organization: Organization, now: datetime):
        self.organization = organization
        self.now = now
        self.start = now - timedelta(days=DAYS)
        self.rng = random.Random(organization.slug)  # noqa: S311  (demo data, not secrets)
        self.zone = zoneinfo.ZoneInfo(organization.timezone)
        self.names = NAMES.get(organization.slug, NAMES["acme"])
        self.territories = TERRITORIES.get(organization.slug, TERRITORIES["acme"])
        self._queue: list = []
        self._sequence = itertools.count()
        self._emails: set[str] = set()
        self.feedback_at: dict[int, datetime] = {}
        self.unsaved_scores: set[int] = set()  # leads whose stored score lags their events
        self.office: Calendar | None = None  # the follow-up SLA's hours, which reps keep

    # --- setup ------------------------------------------------------------------------------

    def configure(self) -> None:
        services.reasons_ensure_defaults()
        self.threshold = services.policy_ensure().mql_score_threshold
        self.reasons = {
            kind: {r.label: r for r in Reason.objects.filter(kind=kind)} for kind in ReasonKind
        }
        members = Membership.objects.select_related("user").order_by("user__email")
        by_role: dict[str, list[User]] = {}
        for membership in members:
            by_role.setdefault(membership.role, []).append(membership.user)
        self.sales = by_role.get(Role.SALES, [])
        self.marketing = by_role.get(Role.MARKETING) or by_role.get(Role.ADMIN, [])
        self.admins = by_role.get(Role.ADMIN, [])
        self.users = {u.pk: u for users in by_role.values() for u in users}
        reps = [
            SalesRep.objects.create(user=user, capacity=REP_CAPACITY, territory=territory)
            for user, territory in zip(self.sales, itertools.cycle(self.territories))
        ]
        if reps:
            # Big companies go to the first rep (the "enterprise" rep) before round-robin.
            AssignmentRule.objects.create(priority=10, company_size_min=2000, rep=reps[0])
        for attribute, value, points in FIT_RULES:
            ScoringRule.objects.create(kind="fit", attribute=attribute, value=value, points=points)
        for kind, points, half_life in ENGAGEMENT_RULES:
            ScoringRule.objects.create(
                kind="engagement", event_kind=kind, points=points, half_life_days=half_life
            )
        self.rules = selectors.scoring_rules()
        scale = Decimal("0.9") if self.organization.currency == "EUR" else Decimal(1)
        self.campaigns = []
        for name, channel, budget, ago, runs in sorted(self.rng.sample(CAMPAIGNS, 8)):
            starts = (self.now - timedelta(days=ago)).date()
            self.campaigns.append(
                Campaign.objects.create(
                    name=name,
                    channel=channel,
                    budget=(Decimal(budget) * scale).quantize(Decimal(100)),
                    starts_on=starts,
                    ends_on=starts + timedelta(days=runs),
                )
            )

    # --- the clock ----------------------------------------------------------------------------

    def at(self, when: datetime, step: Callable, subject: _Story | LeadFeedback, *args) -> None:
        heapq.heappush(self._queue, (when, next(self._sequence), step, subject, args))

    def play(self) -> None:
        while self._queue:
            when, _, step, subject, args = heapq.heappop(self._queue)
            if when > self.now:
                continue  # not happened yet: the lead waits where it is
            step(subject, when, *args)
            if not isinstance(subject, _Story):
                continue
            story, lead = subject, subject.lead
            if lead.stage == Stage.SQL and not story.followed_up:
                story.followed_up = True
                if lead.owner_id is None:
                    self.at(when + self.hours(1, 6), self.reassign, story)
                else:
                    self.at(self.first_touch_at(when), self.first_touch, story)

    # --- randomness -----------------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def hours(self, low: float, high: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(low, high))

    def days(self, low: float, high: float) -> timedelta:
        return timedelta(days=self.rng.uniform(low, high))

    def first_touch_at(self, handed_off: datetime) -> datetime:
        """Reps work office hours (the follow-up SLA's calendar): most call within the business
        hour of the hand-off, some leads wait a day or more (the SLA's business)."""
        bucket = self.rng.random()
        if bucket < 0.55:
            delay = timedelta(minutes=self.rng.uniform(3, 60))
        elif bucket < 0.85:
            delay = self.hours(1, 6)
        elif bucket < 0.95:
            delay = self.hours(6, 16)
        else:
            delay = self.hours(16, 40)
        return self.office.add(handed_off, delay)

    def arrival(self) -> datetime:
        """A working-hours moment in the organization's time zone, more of them lately."""
        day = int(DAYS * self.rng.random() ** 0.85)
        local = (self.now - timedelta(days=day)).astimezone(self.zone)
        if local.weekday() >= 5 and self.chance(0.7):
            local += timedelta(days=7 - local.weekday())  # weekend forms wait for Monday
        local = local.replace(hour=self.rng.randint(7, 18), minute=self.rng.randint(0, 59))
        return min(local.astimezone(self.now.tzinfo), self.now - timedelta(minutes=5))

    # --- leads ----------------------------------------------------------------------------------

    def new_story(self) -> _Story:
        rng = self.rng
        campaign = rng.choice(self.campaigns) if self.campaigns and self.chance(0.75) else None
        channel = (
            campaign.channel
            if campaign
            else rng.choice([SourceChannel.DIRECT, SourceChannel.ORGANIC_SEARCH])
        )
        quality = min(1.0, max(0.0, CHANNEL_QUALITY[channel] + rng.gauss(0, 0.18)))
        story = _Story(
            quality=quality,
            channel=channel,
            created_at=self.arrival(),
            bant_ready=self.chance(quality * 0.75),
        )
        story.values = self.lead_values(story, campaign)
        return story

    def lead_values(self, story: _Story, campaign: Campaign | None) -> dict:
        rng, q = self.rng, story.quality
        first, last = rng.choice(self.names[0]), rng.choice(self.names[1])
        company = (
            rng.choice(COMPANY_WORDS[0])
            + rng.choice(COMPANY_WORDS[1])
            + " "
            + rng.choice(COMPANY_WORDS[2])
        ).strip()
        domain = company.split()[0].lower() + ".example"
        local = f"{first}.{last}".lower().replace(" ", "").translate(ASCII)
        email = self.unique_email(local, domain)
        weights = [3 + 4 * q, 2 + 2 * q, 2, 1, 1, 1.5 * (1 - q)]
        persona = rng.choices(list(PERSONAS), weights=weights)[0]
        titles, roles = PERSONAS[persona]
        index = min(int(rng.random() ** (0.5 + q) * len(titles)), len(titles) - 1)
        size = rng.choice(COMPANY_SIZES[2:] if q > 0.6 else COMPANY_SIZES)
        values = {
            "full_name": f"{first} {last}",
            "email": email,
            "title": titles[index],
            "persona": persona,
            "company_name": company,
            "company_domain": domain,
            "industry": rng.choices([i for i, _ in INDUSTRIES], [w for _, w in INDUSTRIES])[0],
            "company_size": int(size * rng.uniform(0.8, 1.25)),
            "territory": rng.choice(self.territories),
            "source": story.channel,
            "campaign": campaign,
            "landing_page": LANDING_PAGES.get(story.channel, ""),
        }
        if story.channel in (SourceChannel.PAID_SEARCH, SourceChannel.SOCIAL):
            values["external_id"] = f"form-{len(self._emails):05d}"
        values |= self.bant(story, roles[index])
        return values

    def bant(self, story: _Story, role: str) -> dict:
        """What the lead told us. BANT-ready leads meet the default policy on all four."""
        rng, ready = self.rng, story.bant_ready
        values: dict = {}
        if ready or self.chance(0.6):
            budget = rng.choice([12, 20, 35, 60, 120]) if ready else rng.choice([2, 5, 8, 15, 40])
            values["budget_amount"] = Decimal(budget * 1000)
        if ready:
            values["authority_role"] = rng.choice(["decision_maker", "economic_buyer", "champion"])
        elif self.chance(0.7):
            values["authority_role"] = role
        if ready or self.chance(0.75):
            pool = POLICY_NEEDS if ready else POLICY_NEEDS + OTHER_NEEDS * 2
            values["needs"] = rng.sample(pool, rng.randint(1, 2))
        if ready or self.chance(0.7):
            values["timeline_days"] = rng.choice(
                [14, 30, 45, 60, 90] if ready else [30, 60, 120, 180, 365]
            )
        return values

    def unique_email(self, local: str, domain: str) -> str:
        email = f"{local}@{domain}"
        for n in itertools.count(2):
            if email not in self._emails:
                break
            email = f"{local}{n}@{domain}"
        self._emails.add(email)
        return email

    # --- steps ----------------------------------------------------------------------------------

    def create(self, story: _Story, when: datetime) -> None:
        story.lead = services.lead_create(actor=None, now=when, **story.values)
        rng, q = self.rng, story.quality
        moment = when
        kinds = list(EngagementKind)
        weights = [2, 4, 1 + 3 * q, 0.3 + 2.5 * q, 2, 3]  # form, click, pricing, demo, webinar, dl
        if story.channel != SourceChannel.DIRECT:
            self.at(when, self.engage, story, EngagementKind.FORM_FILL)
        for _ in range(rng.choices(range(6), weights=[2, 3, 3, 2 + 2 * q, 1 + 2 * q, 2 * q])[0]):
            moment += self.hours(2, 24 * 6)
            self.at(moment, self.engage, story, rng.choices(kinds, weights=weights)[0])
        self.at(moment + self.days(1, 4), self.review, story)

    def engage(self, story: _Story, when: datetime, kind: str) -> None:
        """Record an engagement event, through the service whenever it can move the lead.

        Only a NEW lead moves on engagement, and only when its score reaches the threshold.
        Events that cannot do that (most of them) are written in bulk at the end with the score
        `engagement_record` would have stored: every transition stays real, and seeding needs
        about a third fewer queries. Engagement after a lead left NEW is not played at all.
        """
        lead = story.lead
        if lead.stage != Stage.NEW:
            return
        event = EngagementEvent(organization=self.organization, lead=lead, kind=kind,
                                occurred_at=when)  # fmt: skip
        events = [event, *story.events]
        score, breakdown = score_compute(lead, self.rules, events, when)
        if self.threshold is not None and score >= self.threshold:
            self.write_events(story)
            services.engagement_record(lead=lead, kind=kind, occurred_at=when, now=when)
            story.events.insert(0, event)
            return
        story.events, lead.score, lead.score_breakdown = events, score, breakdown
        story.unsaved.append(event)
        self.unsaved_scores.add(lead.pk)

    def write_events(self, story: _Story) -> None:
        """Before a service rescores the lead from the database, give it every event."""
        if story.unsaved:
            EngagementEvent.objects.bulk_create(story.unsaved)
            story.unsaved.clear()
        self.unsaved_scores.discard(story.lead.pk)

    def write_all_events(self, stories: list[_Story]) -> None:
        unsaved = [event for story in stories for event in story.unsaved]
        EngagementEvent.objects.bulk_create(unsaved, batch_size=1000)
        leads = [s.lead for s in stories if s.lead and s.lead.pk in self.unsaved_scores]
        Lead.objects.bulk_update(leads, ["score", "score_breakdown"], batch_size=500)

    def review(self, story: _Story, when: datetime) -> None:
        """Marketing looks at leads that did not qualify on their own."""
        lead, q, marketer = story.lead, story.quality, self.rng.choice(self.marketing)
        if lead.stage == Stage.NEW:
            if lead.persona == "Student" and self.chance(0.8):
                self.disqualify(story, when, "Student or job seeker", marketer)
            elif self.chance(0.15 + 0.5 * q):
                services.lead_mark_mql(lead=lead, actor=marketer, now=when,
                                       reason="Good fit; marked by marketing.")  # fmt: skip
                if lead.stage == Stage.MQL:
                    self.at(when + self.days(1, 5), self.review, story)
            elif self.chance(0.35):
                self.nurture(story, when, marketer, "Not ready to talk to sales yet.")
            elif self.chance(0.15):
                self.disqualify(story, when, self.rng.choice(["Spam", "Out of market"]), marketer)
        elif lead.stage == Stage.MQL:
            roll = self.rng.random()
            if roll < 0.3 * (0.5 + q):
                # A discovery call fills in what the form did not ask.
                story.bant_ready = True
                self.write_events(story)
                services.lead_update(lead=lead, actor=marketer, now=when, **self.bant(story, ""))
            elif roll < 0.38:
                services.lead_force_qualify(lead=lead, actor=marketer, now=when,
                                            reason="Asked for a call at the booth.")  # fmt: skip
            elif roll < 0.68:
                self.nurture(story, when, marketer, "Missing BANT; back to nurture.")

    def nurture(self, story: _Story, when: datetime, actor: User, reason: str) -> None:
        services.lead_transition(lead=story.lead, to_stage=Stage.NURTURE, actor=actor, now=when,
                                 reason=reason)  # fmt: skip
        if self.chance(0.3):
            self.at(when + self.days(20, 70), self.recycle, story)

    def disqualify(self, story: _Story, when: datetime, label: str, actor: User) -> None:
        services.lead_transition(lead=story.lead, to_stage=Stage.DISQUALIFIED, actor=actor,
                                 now=when, reason=label)  # fmt: skip

    def recycle(self, story: _Story, when: datetime) -> None:
        """A nurtured lead shows up at a webinar and marketing sends it round again."""
        if story.lead.stage != Stage.NURTURE:
            return
        self.write_events(story)
        services.engagement_record(lead=story.lead, kind=EngagementKind.WEBINAR, now=when)
        story.followed_up = False
        services.lead_mark_mql(lead=story.lead, actor=self.rng.choice(self.marketing), now=when,
                               reason="Re-engaged after nurture.")  # fmt: skip
        if story.lead.stage == Stage.MQL:
            self.at(when + self.days(1, 5), self.review, story)

    def reassign(self, story: _Story, when: datetime) -> None:
        if story.lead.stage == Stage.SQL and story.lead.owner_id is None and self.sales:
            services.lead_reassign(lead=story.lead, owner=self.rng.choice(self.sales),
                                   actor=self.rng.choice(self.admins), now=when)  # fmt: skip
            self.at(self.first_touch_at(when), self.first_touch, story)

    def first_touch(self, story: _Story, when: datetime) -> None:
        lead = story.lead
        if lead.stage != Stage.SQL or lead.owner_id is None:
            return
        if len(self.sales) > 1 and self.chance(0.04):
            # The owner is away: an admin hands the lead to a colleague first.
            colleague = self.rng.choice([u for u in self.sales if u.pk != lead.owner_id])
            services.lead_reassign(lead=lead, owner=colleague, actor=self.rng.choice(self.admins),
                                   now=when - timedelta(minutes=1))  # fmt: skip
        owner = self.users[lead.owner_id]
        kind = self.rng.choice(["call", "call", "email"])
        services.touch_log(
            lead=lead,
            actor=owner,
            kind=kind,
            at=when,
            note="Left a voicemail." if kind == "call" else "Intro email.",
        )
        if self.chance(0.25):
            self.at(when + self.hours(20, 30), self.follow_up, story)
        self.at(when + self.hours(2, 120), self.decide, story)  # sales takes its time

    def follow_up(self, story: _Story, when: datetime) -> None:
        lead = story.lead
        services.touch_log(lead=lead, actor=self.users[lead.owner_id], kind="email", at=when,
                           note="Follow-up email.")  # fmt: skip

    def decide(self, story: _Story, when: datetime) -> None:
        lead, q = story.lead, story.quality
        if lead.stage != Stage.SQL:
            return
        owner = self.users[lead.owner_id]
        if self.chance(0.5 + 0.45 * q):
            services.lead_accept(lead=lead, actor=owner, now=when)
            self.at(when + self.days(2, 21), self.work, story)
        else:
            label = self.rejection_label(lead)
            services.lead_reject(
                lead=lead,
                actor=owner,
                now=when,
                comment="",
                reason_id=self.reasons[ReasonKind.REJECTION][label].pk,
            )
            item = LeadFeedback.objects.filter(lead=lead).latest("id")
            self.feedback_opened(item, when)
            self.at(when + self.days(1, 4), self.after_rejection, story)
        if self.chance(0.45):
            self.at(when + self.hours(0.1, 3), self.rate, story)

    def rejection_label(self, lead: Lead) -> str:
        if lead.persona == "Student":
            return "Wrong contact"
        if lead.budget_amount is None or lead.budget_amount < 10_000:
            return self.rng.choice(["No budget", "No budget", "Not interested"])
        return self.rng.choice(["Not interested", "Bad data", "Duplicate", "Wrong contact"])

    def rate(self, story: _Story, when: datetime) -> None:
        lead, q = story.lead, story.quality
        rating = max(1, min(5, round(1 + 4 * q + self.rng.gauss(0, 0.8))))
        if rating <= 2:
            labels = self.rng.sample(
                ["Wrong persona", "Too small", "No real need", "Bad contact data"],
                self.rng.randint(1, 2),
            )
        elif rating >= 4:
            labels = [self.rng.choice(["Great fit", "Ready to buy"])]
        else:
            labels = []
        tags = [self.reasons[ReasonKind.FEEDBACK][label].pk for label in labels]
        item = services.feedback_rate(lead=lead, actor=self.users[lead.owner_id], rating=rating,
                                      tag_ids=tags, now=when)  # fmt: skip
        self.feedback_opened(item, when)

    def feedback_opened(self, item: LeadFeedback, when: datetime) -> None:
        self.feedback_at[item.pk] = when  # the services stamp created_at with the real clock
        if self.chance(0.75):
            self.at(when + self.hours(2, 72), self.acknowledge, item)

    def acknowledge(self, item: LeadFeedback, when: datetime) -> None:
        services.feedback_acknowledge(item=item, actor=self.rng.choice(self.marketing), now=when,
                                      response=self.rng.choice(MARKETING_RESPONSES))  # fmt: skip
        if self.chance(0.6):
            self.at(when + self.days(1, 10), self.resolve, item)

    def resolve(self, item: LeadFeedback, when: datetime) -> None:
        services.feedback_resolve(item=item, actor=self.rng.choice(self.marketing), now=when,
                                  response=self.rng.choice(MARKETING_FIXES))  # fmt: skip

    def after_rejection(self, story: _Story, when: datetime) -> None:
        if story.lead.stage != Stage.REJECTED:
            return
        marketer = self.rng.choice(self.marketing)
        roll = self.rng.random()
        if roll < 0.55:
            self.nurture(story, when, marketer, "Rejected by sales; back to nurture.")
        elif roll < 0.7:
            self.disqualify(story, when, "Out of market", marketer)

    def work(self, story: _Story, when: datetime) -> None:
        """The accepted lead after discovery: an opportunity, or not now."""
        lead, q = story.lead, story.quality
        if lead.stage != Stage.ACCEPTED:
            return
        owner = self.users[lead.owner_id]
        services.touch_log(lead=lead, actor=owner, kind="meeting", at=when - self.hours(1, 48),
                           note="Discovery meeting.")  # fmt: skip
        if self.chance(0.25 + 0.4 * q):
            close = when + self.days(14, 80)
            story.opportunity = services.lead_convert(
                lead=lead, actor=owner, now=when, amount=self.deal_amount(lead),
                expected_close_on=close.date(), probability=self.rng.choice([20, 30, 40, 50]),
            )  # fmt: skip
            self.at(close + self.days(-10, 15), self.close, story)
        elif self.chance(0.6):
            self.nurture(story, when, owner, "No project this quarter.")
        elif self.chance(0.25):
            self.disqualify(story, when, "Out of market", owner)

    def deal_amount(self, lead: Lead) -> Decimal:
        size = lead.company_size or 50
        low, high = next(
            band
            for limit, band in [
                (50, (4_000, 12_000)),
                (250, (10_000, 40_000)),
                (1_000, (25_000, 90_000)),
                (10**9, (60_000, 250_000)),
            ]
            if size < limit
        )
        return Decimal(round(self.rng.uniform(low, high) / 500) * 500)

    def close(self, story: _Story, when: datetime) -> None:
        opportunity, q = story.opportunity, story.quality
        owner = self.users[story.lead.owner_id]
        if self.chance(0.2 + 0.4 * q):
            discount = self.rng.choice([None, None, Decimal("0.9"), Decimal("0.95")])
            value = (
                None if discount is None else (opportunity.amount * discount).quantize(Decimal(1))
            )
            services.opportunity_win(opportunity=opportunity, actor=owner, value=value, now=when)
        else:
            label = self.rng.choices(
                ["Price", "Competitor", "No decision", "Timing", "Missing feature"],
                weights=[3, 3, 3, 2, 1],
            )[0]
            services.opportunity_lose(
                opportunity=opportunity,
                actor=owner,
                now=when,
                reason_id=self.reasons[ReasonKind.LOSS][label].pk,
            )
            if self.chance(0.3):
                self.at(when + self.days(7, 30), self.keep_in_touch, story)

    def keep_in_touch(self, story: _Story, when: datetime) -> None:
        if story.lead.stage == Stage.LOST:
            self.nurture(story, when, self.rng.choice(self.marketing),
                         "Lost deal; keep in touch for next year.")  # fmt: skip

    # --- timestamps -----------------------------------------------------------------------------

    def backdate(self) -> None:
        """created_at/updated_at are stamped by the real clock; align them with the story."""
        history = LeadTransition.objects.filter(lead=OuterRef("pk")).values("lead")
        Lead.objects.update(
            created_at=Subquery(history.annotate(first=Min("at")).values("first")),
            updated_at=Subquery(history.annotate(last=Max("at")).values("last")),
        )
        LeadTransition.objects.update(created_at=F("at"), updated_at=F("at"))
        Touch.objects.update(created_at=F("at"), updated_at=F("at"))
        EngagementEvent.objects.update(created_at=F("occurred_at"), updated_at=F("occurred_at"))
        converted = LeadTransition.objects.filter(
            lead=OuterRef("lead"), to_stage=Stage.OPPORTUNITY
        ).order_by("-at")
        Opportunity.objects.update(created_at=Subquery(converted.values("at")[:1]))
        Opportunity.objects.update(updated_at=Coalesce("closed_at", "created_at"))
        items = list(LeadFeedback.objects.all())
        for item in items:
            item.created_at = self.feedback_at[item.pk]
            item.updated_at = item.resolved_at or item.acknowledged_at or item.created_at
        LeadFeedback.objects.bulk_update(items, ["created_at", "updated_at"], batch_size=500)
        setup = self.start - timedelta(days=14)
        for model in (Campaign, ScoringRule, SalesRep, AssignmentRule, Reason):
            model.objects.update(created_at=setup, updated_at=setup)
        # A queryset update: QualificationPolicy.save() refuses changes to a saved version.
        QualificationPolicy.objects.update(created_at=setup, updated_at=setup)


def seed_leads_demo(organization: Organization, now: datetime) -> int:
    """Give `organization` ~180 days of lead history; returns how many leads were created.

    Idempotent: an organization that already has leads is left alone.
    """
    with organization_scope(organization), transaction.atomic():
        if Lead.objects.exists():
            return 0
        funnel = _Funnel(organization, now)
        funnel.configure()
        setup = funnel.start - timedelta(days=14)
        funnel.office = configure_sla_demo(
            start=funnel.start, manager=funnel.admins[0] if funnel.admins else None
        )
        stories = [funnel.new_story() for _ in range(LEADS)]
        for story in stories:
            funnel.at(story.created_at, funnel.create, story)
        funnel.play()
        funnel.write_all_events(stories)
        funnel.backdate()
        finish_sla_demo(now=now, setup=setup)
        return Lead.objects.count()
