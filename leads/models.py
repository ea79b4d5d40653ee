"""Leads: one lifecycle, the shared qualification policy, the hand-off and the feedback loop."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from revops.tenancy.models import CURRENCY_CHOICES, TenantModel


class Stage(models.TextChoices):
    NEW = "new", "New"
    MQL = "mql", "MQL"
    SQL = "sql", "SQL"
    ACCEPTED = "accepted", "Accepted"
    OPPORTUNITY = "opportunity", "Opportunity"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    NURTURE = "nurture", "Nurture"
    REJECTED = "rejected", "Rejected by sales"
    DISQUALIFIED = "disqualified", "Disqualified"


# The lifecycle: every other move is refused. Nurture recycles a lead back to marketing.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Stage.NEW: frozenset({Stage.MQL, Stage.NURTURE, Stage.DISQUALIFIED}),
    Stage.MQL: frozenset({Stage.SQL, Stage.NURTURE, Stage.DISQUALIFIED}),
    Stage.SQL: frozenset({Stage.ACCEPTED, Stage.REJECTED, Stage.NURTURE, Stage.DISQUALIFIED}),
    Stage.ACCEPTED: frozenset({Stage.OPPORTUNITY, Stage.NURTURE, Stage.DISQUALIFIED}),
    Stage.OPPORTUNITY: frozenset({Stage.WON, Stage.LOST}),
    Stage.REJECTED: frozenset({Stage.MQL, Stage.NURTURE, Stage.DISQUALIFIED}),
    Stage.NURTURE: frozenset({Stage.MQL, Stage.DISQUALIFIED}),
    Stage.LOST: frozenset({Stage.NURTURE}),
    Stage.WON: frozenset(),
    Stage.DISQUALIFIED: frozenset({Stage.NURTURE}),
}


class SourceChannel(models.TextChoices):
    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    SOCIAL = "social", "Social"
    EMAIL = "email", "Email"
    REFERRAL = "referral", "Referral"
    DIRECT = "direct", "Direct"
    EVENTS = "events", "Events"
    PARTNER = "partner", "Partner"
    OTHER = "other", "Other"


class AuthorityRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", "Decision maker"
    ECONOMIC_BUYER = "economic_buyer", "Economic buyer"
    CHAMPION = "champion", "Champion"
    INFLUENCER = "influencer", "Influencer"
    USER = "user", "User"


class Campaign(TenantModel):
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=20, choices=SourceChannel.choices)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["-starts_on", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="campaign_unique_name"),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(starts_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class QualificationPolicy(TenantModel):
    """One immutable version of the organization's shared definition of a qualified lead."""

    version = models.PositiveIntegerField()
    # Budget: the lead's stated budget is at least this much (in the organization's currency).
    budget_minimum = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    budget_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    # Authority: the contact's buying role is one of these.
    authority_roles = ArrayField(
        models.CharField(max_length=20, choices=AuthorityRole.choices),
        default=list,
    )
    # Need: the lead names at least one of these pain points.
    needs = ArrayField(models.CharField(max_length=80), default=list)
    # Timeline: purchase expected within this many days.
    timeline_max_days = models.PositiveIntegerField(default=90)
    # How many of the four criteria must hold (4 = all).
    criteria_required = models.PositiveSmallIntegerField(default=4)
    # The MQL rule: a score threshold (null = no automatic MQL) and/or marketing's explicit mark.
    mql_score_threshold = models.PositiveIntegerField(null=True, blank=True, default=50)
    mql_manual_marking = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    change_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "version"], name="policy_unique_version"
            ),
            models.CheckConstraint(
                condition=models.Q(criteria_required__gte=1, criteria_required__lte=4),
                name="policy_criteria_required_1_to_4",
            ),
        ]

    def __str__(self) -> str:
        return f"Qualification policy v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("A qualification policy version is immutable; create a new one.")
        super().save(*args, **kwargs)


class Lead(TenantModel):
    # The person
    full_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=200, blank=True)
    # The company
    company_name = models.CharField(max_length=200, blank=True)
    company_domain = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    company_size = models.PositiveIntegerField(null=True, blank=True, help_text="Employees")
    territory = models.CharField(max_length=100, blank=True)
    persona = models.CharField(max_length=100, blank=True)
    # Where it came from
    source = models.CharField(max_length=20, choices=SourceChannel.choices, default="other")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    landing_page = models.CharField(max_length=500, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    # Lifecycle
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    stage_changed_at = models.DateTimeField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    handed_off_at = models.DateTimeField(null=True, blank=True)
    first_touch_at = models.DateTimeField(null=True, blank=True)
    qualified_by_policy = models.ForeignKey(
        QualificationPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Score for the MQL rule: fit points plus decayed engagement points.
    score = models.IntegerField(default=0)
    score_breakdown = models.JSONField(default=list, blank=True)
    # BANT as stated by the lead or found out by marketing
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    authority_role = models.CharField(max_length=20, choices=AuthorityRole.choices, blank=True)
    needs = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    timeline_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Purchase expected within this many days"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "organization", "external_id",
                condition=~models.Q(external_id=""),
                name="lead_unique_external_id",
            ),
            models.UniqueConstraint(
                models.F("organization"), Lower("email"),
                condition=~models.Q(email=""),
                name="lead_unique_email",
            ),
            models.CheckConstraint(
                condition=models.Q(stage__in=Stage.values), name="lead_stage_valid"
            ),
        ]  # fmt: skip
        indexes = [
            # Lead list filters and the funnel: by stage, newest first.
            models.Index(fields=["organization", "stage", "-created_at"], name="lead_by_stage"),
            # A rep's queue: their SQLs, oldest hand-off first.
            models.Index(
                fields=["organization", "owner", "stage", "handed_off_at"], name="lead_by_owner"
            ),
            models.Index(fields=["organization", "campaign"], name="lead_by_campaign"),
            models.Index(fields=["organization", "source"], name="lead_by_source"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or f"Lead {self.pk}"


class LeadTransition(TenantModel):
    """Every stage change: from, to, who, when, why, and the policy version when relevant."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField()
    reason = models.TextField(blank=True)
    # The reason chosen from the organization's list (a rejection or loss reason), so drop-off
    # can be counted per reason; free-text reasons leave it blank.
    reason_label = models.CharField(max_length=100, blank=True)
    policy = models.ForeignKey(
        QualificationPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["organization", "lead", "at"], name="transition_by_lead"),
            # Funnel metrics count transitions into a stage over a period.
            models.Index(fields=["organization", "to_stage", "at"], name="transition_by_stage"),
        ]


class ReasonKind(models.TextChoices):
    REJECTION = "rejection", "Hand-off rejection"
    LOSS = "loss", "Deal loss"
    FEEDBACK = "feedback", "Lead-quality tag"
    DISQUALIFICATION = "disqualification", "Disqualification"


DEFAULT_REASONS = {
    ReasonKind.REJECTION: ["No budget", "Wrong contact", "Duplicate", "Bad data", "Not interested"],
    ReasonKind.LOSS: ["Price", "Competitor", "No decision", "Timing", "Missing feature"],
    ReasonKind.FEEDBACK: [
        "Wrong persona", "Too small", "No real need", "Bad contact data", "Great fit",
        "Ready to buy",
    ],
    ReasonKind.DISQUALIFICATION: ["Student or job seeker", "Competitor", "Spam", "Out of market"],
}  # fmt: skip


class Reason(TenantModel):
    """The organization's configurable lists of reasons (rejection, loss, feedback tags...)."""

    kind = models.CharField(max_length=20, choices=ReasonKind.choices)
    label = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "label"], name="reason_unique_label"
            ),
        ]

    def __str__(self) -> str:
        return self.label


class ScoringRuleKind(models.TextChoices):
    FIT = "fit", "Fit"
    ENGAGEMENT = "engagement", "Engagement"


class FitAttribute(models.TextChoices):
    INDUSTRY = "industry", "Industry"
    COMPANY_SIZE_AT_LEAST = "company_size_at_least", "Company size at least"
    PERSONA = "persona", "Persona"
    TITLE_CONTAINS = "title_contains", "Title contains"


class EngagementKind(models.TextChoices):
    FORM_FILL = "form_fill", "Form fill"
    EMAIL_CLICK = "email_click", "Email click"
    PRICING_VISIT = "pricing_visit", "Pricing-page visit"
    DEMO_REQUEST = "demo_request", "Demo request"
    WEBINAR = "webinar", "Webinar attended"
    CONTENT_DOWNLOAD = "content_download", "Content download"


class ScoringRule(TenantModel):
    """Points for a fit attribute, or for an engagement event (which decay with age)."""

    kind = models.CharField(max_length=12, choices=ScoringRuleKind.choices)
    # Fit: which attribute and the value it must match. Engagement: the event kind.
    attribute = models.CharField(max_length=30, blank=True, choices=FitAttribute.choices)
    value = models.CharField(max_length=100, blank=True)
    event_kind = models.CharField(max_length=20, blank=True, choices=EngagementKind.choices)
    points = models.IntegerField()
    # Engagement points halve every this many days.
    half_life_days = models.PositiveIntegerField(default=30)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "attribute", "event_kind"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="fit") & ~models.Q(attribute="") & models.Q(event_kind=""))
                | (models.Q(kind="engagement") & ~models.Q(event_kind="") & models.Q(attribute="")),
                name="scoring_rule_shape",
            ),
            models.CheckConstraint(
                condition=models.Q(half_life_days__gte=1), name="scoring_rule_half_life_positive"
            ),
        ]

    def __str__(self) -> str:
        target = (
            self.event_kind
            if self.kind == ScoringRuleKind.ENGAGEMENT
            else (f"{self.attribute}={self.value}")
        )
        return f"{target}: {self.points:+d}"


class EngagementEvent(TenantModel):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=EngagementKind.choices)
    occurred_at = models.DateTimeField()
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["organization", "lead", "occurred_at"], name="event_by_lead"),
        ]


class SalesRep(TenantModel):
    """A sales member's assignment settings: whether they take new SQLs, and how many."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    accepting_leads = models.BooleanField(default=True)
    # Most open SQLs (awaiting acceptance) at once; null = no limit.
    capacity = models.PositiveIntegerField(null=True, blank=True)
    territory = models.CharField(max_length=100, blank=True)
    team = models.CharField(max_length=100, blank=True)
    # Escalations (an SLA breach) also go to the rep's manager.
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    # Round-robin pointer: the rep assigned longest ago goes next.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="salesrep_unique_user"),
        ]

    def __str__(self) -> str:
        return str(self.user)


class AssignmentRule(TenantModel):
    """Route matching SQLs to a rep before round-robin; first matching rule by priority wins."""

    priority = models.PositiveIntegerField(default=100)
    industry = models.CharField(max_length=100, blank=True)
    company_size_min = models.PositiveIntegerField(null=True, blank=True)
    company_size_max = models.PositiveIntegerField(null=True, blank=True)
    territory = models.CharField(max_length=100, blank=True)
    rep = models.ForeignKey(SalesRep, on_delete=models.CASCADE, related_name="rules")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "id"]


class TouchKind(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"


class Touch(TenantModel):
    """A rep's logged follow-up. The owner's first touch stops the sales follow-up SLA."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="touches")
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=TouchKind.choices)
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["organization", "lead", "at"], name="touch_by_lead")]


class OpportunityStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Opportunity(TenantModel):
    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="opportunity")
    name = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    expected_close_on = models.DateField(null=True, blank=True)
    probability = models.PositiveSmallIntegerField(default=20, help_text="Percent")
    status = models.CharField(
        max_length=8, choices=OpportunityStatus.choices, default=OpportunityStatus.OPEN
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    won_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    loss_reason = models.ForeignKey(
        Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(probability__lte=100), name="opportunity_probability_percent"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="opportunity_amount_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "closed_at"], name="opp_by_status")
        ]

    def __str__(self) -> str:
        return self.name


class FeedbackStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class LeadFeedback(TenantModel):
    """A rep's one-click lead-quality rating; an item in marketing's feedback inbox."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="feedback")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    rating = models.PositiveSmallIntegerField(help_text="1 (junk) to 5 (excellent)")
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    comment = models.TextField(blank=True)
    # Rejections land in the inbox too, as feedback with the rejection reason as its tag.
    from_rejection = models.BooleanField(default=False)
    status = models.CharField(
        max_length=14, choices=FeedbackStatus.choices, default=FeedbackStatus.OPEN
    )
    response = models.TextField(blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_to_5"
            ),
        ]
        indexes = [
            # The inbox: open items first, newest first.
            models.Index(fields=["organization", "status", "-created_at"], name="feedback_inbox"),
        ]


class InboundWebhook(TenantModel):
    """The organization's signed intake endpoint for marketing tools' form submissions."""

    # Kept readable: the server must recompute each HMAC (as Stripe and GitHub do).
    signing_secret = models.CharField(max_length=64)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="inboundwebhook_one_per_org"),
        ]


class InboundDelivery(TenantModel):
    """One accepted webhook request: replay protection and idempotent retries."""

    signature = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=200, blank=True)
    lead = models.ForeignKey(Lead, on_delete=models.SET_NULL, null=True, related_name="+")
    created_lead = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # A captured request sent again is refused: its signature was already used.
            models.UniqueConstraint(
                fields=["organization", "signature"], name="delivery_unique_signature"
            ),
            # A retry with the same Idempotency-Key returns the first result.
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="delivery_unique_idempotency_key",
            ),
        ]


class ImportStatus(models.TextChoices):
    DRAFT = "draft", "Uploaded, columns to map"
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class LeadImport(TenantModel):
    """A CSV upload being imported in the background, with its progress and rejected rows.

    The file's text is kept in the row, not on a web server's disk, so any worker can process it.
    """

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    filename = models.CharField(max_length=255)
    content = models.TextField()
    # CSV header → lead field ("" = ignored); first_name/last_name are joined into full_name.
    mapping = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.DRAFT
    )
    total_rows = models.PositiveIntegerField(default=0)
    # Rows handled so far; a chunk's rows and this counter commit together, so a re-run resumes.
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)  # [{"line": 7, "reason": "email: Enter a valid..."}]
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def percent(self) -> int:
        return 100 if not self.total_rows else round(100 * self.processed_rows / self.total_rows)
