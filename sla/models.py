"""Service level agreements: calendars, versioned policies, timers, volume periods, the events they
record, and the notifications those events send."""

from datetime import date
from functools import cached_property

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models

from revops.tenancy.models import TenantModel, validate_timezone
from sla.calendar import Calendar


def default_working_hours() -> dict:
    """Monday to Friday, 09:00-17:00, as {"0": [[540, 1020]], ...} (minutes, Monday = "0")."""
    return {str(day): [[540, 1020]] if day < 5 else [] for day in range(7)}


class BusinessCalendar(TenantModel):
    """When the clock runs: working intervals per weekday in a time zone, minus holidays."""

    name = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    always_open = models.BooleanField(default=False, help_text="24/7: every hour counts.")
    working_hours = models.JSONField(default=default_working_hours)
    holiday_country = models.CharField(max_length=3, blank=True)
    holiday_subdivision = models.CharField(max_length=10, blank=True)
    custom_holidays = ArrayField(models.DateField(), default=list, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="calendar_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    def weekday_intervals(self) -> list[list[tuple[int, int]]]:
        return [
            [tuple(interval) for interval in self.working_hours.get(str(day), [])]
            for day in range(7)
        ]

    @cached_property
    def compiled(self) -> Calendar:
        return compiled_calendar(self)


_COMPILED: dict[tuple, Calendar] = {}


def compiled_calendar(calendar: BusinessCalendar) -> Calendar:
    """Compiled calendars are cached per version of the row (its id and last change)."""
    key = (calendar.pk, calendar.updated_at)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = Calendar(
            calendar.timezone,
            week=calendar.weekday_intervals(),
            always_open=calendar.always_open,
            holiday_country=calendar.holiday_country,
            holiday_subdivision=calendar.holiday_subdivision,
            custom_holidays=frozenset(
                d if isinstance(d, date) else date.fromisoformat(d)
                for d in calendar.custom_holidays
            ),
        )
        if len(_COMPILED) > 1000:
            _COMPILED.clear()
        _COMPILED[key] = compiled
    return compiled


class SlaKind(models.TextChoices):
    FOLLOW_UP = "follow_up", "Sales follow-up"
    FEEDBACK = "feedback", "Marketing feedback response"
    SQL_VOLUME = "sql_volume", "Marketing SQL volume"


class StopOn(models.TextChoices):
    FIRST_TOUCH = "first_touch", "The owner's first logged touch"
    ACCEPTANCE = "acceptance", "Acceptance of the hand-off"


class VolumePeriod(models.TextChoices):
    WEEK = "week", "Week"
    MONTH = "month", "Month"


class SegmentField(models.TextChoices):
    NONE = "", "Whole organization"
    SOURCE = "source", "Source channel"
    INDUSTRY = "industry", "Industry"
    TERRITORY = "territory", "Territory"


class Recipient(models.TextChoices):
    OWNER = "owner", "The lead's owner"
    MANAGER = "manager", "The owner's manager"
    ADMINS = "admins", "RevOps admins"
    MARKETING = "marketing", "Marketing team"
    SALES = "sales", "Sales team"


class SlaPolicy(TenantModel):
    """One immutable version of one of the organization's three commitments."""

    kind = models.CharField(max_length=12, choices=SlaKind.choices)
    version = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    # Follow-up: to the first touch (or acceptance). Feedback: to acknowledgement.
    target_minutes = models.PositiveIntegerField(null=True, blank=True)
    # Feedback only: the second target, to resolution.
    resolve_target_minutes = models.PositiveIntegerField(null=True, blank=True)
    # Warn when this share of the allowed time has passed (or, for volume, when delivery
    # falls below this share of the expected pace).
    warn_percent = models.PositiveSmallIntegerField(default=75)
    stop_on = models.CharField(
        max_length=12, choices=StopOn.choices, default=StopOn.FIRST_TOUCH, blank=True
    )
    # SQL volume: the number of SQLs per period, overall or per segment value.
    volume_target = models.PositiveIntegerField(null=True, blank=True)
    volume_period = models.CharField(
        max_length=6, choices=VolumePeriod.choices, default=VolumePeriod.MONTH, blank=True
    )
    segment_field = models.CharField(
        max_length=12, choices=SegmentField.choices, default="", blank=True
    )
    segment_targets = models.JSONField(default=dict, blank=True)  # {"Healthcare": 10, ...}
    notify_on_warning = ArrayField(
        models.CharField(max_length=12, choices=Recipient.choices), default=list, blank=True
    )
    notify_on_breach = ArrayField(
        models.CharField(max_length=12, choices=Recipient.choices), default=list, blank=True
    )
    # A breach also goes to these addresses, and to the owner's manager (escalation).
    escalation_emails = ArrayField(models.EmailField(), default=list, blank=True)
    email_notifications = models.BooleanField(default=True)
    # The admin's choice when this version was made: move running timers onto it, or not.
    rebased_running = models.BooleanField(default=False)
    rebased_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    change_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "version"], name="slapolicy_unique_version"
            ),
            models.CheckConstraint(
                condition=models.Q(warn_percent__gte=1, warn_percent__lte=100),
                name="slapolicy_warn_percent_1_to_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"

    def save(self, *args, **kwargs):
        # Only the rebase bookkeeping may change after creation (same transaction).
        if self.pk is not None and set(kwargs.get("update_fields") or ()) - {
            "rebased_count", "updated_at"
        }:  # fmt: skip
            raise ValidationError("An SLA policy version is immutable; create a new one.")
        super().save(*args, **kwargs)


class TimerTarget(models.TextChoices):
    FOLLOW_UP = "follow_up", "First follow-up"
    ACKNOWLEDGE = "acknowledge", "Acknowledge feedback"
    RESOLVE = "resolve", "Resolve feedback"


class TimerState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    MET = "met", "Met"
    BREACHED = "breached", "Breached"
    CANCELLED = "cancelled", "Cancelled"


OPEN_TIMER_STATES = (TimerState.RUNNING, TimerState.PAUSED, TimerState.BREACHED)


class SlaTimer(TenantModel):
    """One commitment on one subject: a hand-off round's follow-up, or a feedback item's
    acknowledgement or resolution. Deadlines are computed when it starts (and on pause, resume
    or re-base), stored, and read by the sweep through a partial index."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, related_name="timers")
    target = models.CharField(max_length=12, choices=TimerTarget.choices)
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, null=True, blank=True, related_name="sla_timers"
    )
    feedback = models.ForeignKey(
        "leads.LeadFeedback", on_delete=models.CASCADE, null=True, blank=True,
        related_name="sla_timers",
    )  # fmt: skip
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    state = models.CharField(max_length=10, choices=TimerState.choices)
    started_at = models.DateTimeField()
    target_us = models.BigIntegerField(help_text="Allowed business time, microseconds")
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField()
    # What the sweep looks at next: warn_at until the warning is recorded, then due_at.
    next_check_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    # Sticky: the deadline a breach passed. A timer met late keeps it.
    breached_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_us = models.BigIntegerField(default=0, help_text="Business time spent paused")
    elapsed_us = models.BigIntegerField(
        null=True, blank=True, help_text="Business time from start to stop, pauses excluded"
    )

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lead__isnull=False) | models.Q(feedback__isnull=False),
                name="slatimer_has_subject",
            ),
            # One open follow-up clock per lead; a new hand-off round opens a new one.
            models.UniqueConstraint(
                fields=["organization", "lead", "target"],
                condition=models.Q(state__in=OPEN_TIMER_STATES, feedback__isnull=True),
                name="slatimer_one_open_per_lead",
            ),
            models.UniqueConstraint(
                fields=["organization", "feedback", "target"],
                condition=models.Q(feedback__isnull=False),
                name="slatimer_one_per_feedback",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=TimerState.values), name="slatimer_state_valid"
            ),
        ]
        indexes = [
            # The sweep: running timers by their next check, nothing else.
            models.Index(
                fields=["next_check_at"],
                condition=models.Q(state="running"),
                name="slatimer_sweep",
            ),
            models.Index(fields=["organization", "state", "due_at"], name="slatimer_by_state"),
            models.Index(fields=["organization", "owner", "state"], name="slatimer_by_owner"),
            models.Index(fields=["organization", "lead"], name="slatimer_by_lead"),
            models.Index(fields=["organization", "due_at"], name="slatimer_by_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_target_display()} timer {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_TIMER_STATES

    @property
    def met_late(self) -> bool:
        return self.state == TimerState.MET and self.breached_at is not None


class PeriodState(models.TextChoices):
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    MET = "met", "Met"
    BREACHED = "breached", "Short of target"


OPEN_PERIOD_STATES = (PeriodState.ON_TRACK, PeriodState.AT_RISK)


class VolumePeriodResult(TenantModel):
    """Marketing's SQL delivery for one week or month (and segment): pacing while it runs, the
    result recorded once when it ends."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, related_name="periods")
    segment = models.CharField(max_length=100, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    target = models.PositiveIntegerField()
    delivered = models.PositiveIntegerField(default=0)
    expected = models.FloatField(default=0)
    state = models.CharField(
        max_length=10, choices=PeriodState.choices, default=PeriodState.ON_TRACK
    )
    next_check_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "segment"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "segment", "starts_at"], name="volumeperiod_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_check_at"],
                condition=models.Q(state__in=["on_track", "at_risk"]),
                name="volumeperiod_sweep",
            ),
        ]

    @property
    def pacing(self) -> float | None:
        return None if not self.expected else self.delivered / self.expected


class EventKind(models.TextChoices):
    STARTED = "started", "Started"
    WARNING = "warning", "At risk"
    BREACH = "breach", "Breached"
    MET = "met", "Met"
    PAUSED = "paused", "Paused"
    RESUMED = "resumed", "Resumed"
    REBASED = "rebased", "Re-based on a new policy version"
    REASSIGNED = "reassigned", "Reassigned"
    CANCELLED = "cancelled", "Cancelled"


class SlaEvent(TenantModel):
    """The record of what happened to a timer or volume period. Warnings and breaches are
    unique per subject: recorded once, whoever races."""

    timer = models.ForeignKey(
        SlaTimer, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    period = models.ForeignKey(
        VolumePeriodResult, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    kind = models.CharField(max_length=12, choices=EventKind.choices)
    # When it happened: a breach happened at the deadline, whenever the sweep noticed.
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    detail = models.CharField(max_length=500, blank=True)
    # A breach's explanation, given afterwards by the owner or a manager.
    explanation = models.TextField(blank=True)
    explained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "timer", "kind"],
                condition=models.Q(kind__in=["warning", "breach"], timer__isnull=False),
                name="slaevent_once_per_timer",
            ),
            models.UniqueConstraint(
                fields=["organization", "period", "kind"],
                condition=models.Q(kind__in=["warning", "breach", "met"], period__isnull=False),
                name="slaevent_once_per_period",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "kind", "-at"], name="slaevent_by_kind"),
            models.Index(fields=["organization", "timer"], name="slaevent_by_timer"),
        ]


class Notification(TenantModel):
    """An in-app notification: the bell's unread count."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(SlaEvent, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "event", "user"], name="notification_once_per_user"
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "user", "-created_at"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            ),
            models.Index(fields=["organization", "user", "-created_at"], name="notification_list"),
        ]


class WebhookFormat(models.TextChoices):
    SLACK = "slack", "Slack-compatible (incoming webhook)"
    GENERIC = "generic", "Signed JSON"


class WebhookEndpoint(TenantModel):
    """Where the organization wants SLA events posted."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    format = models.CharField(max_length=8, choices=WebhookFormat.choices)
    # Signs the generic payload (HMAC-SHA256); readable so each request can be signed.
    secret = models.CharField(max_length=64, blank=True)
    on_warning = models.BooleanField(default=True)
    on_breach = models.BooleanField(default=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="webhook_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Waiting"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Gave up"


class OutboxMessage(TenantModel):
    """A message to send after the event's transaction commits: claimed with a lease, retried
    with backoff, marked sent once."""

    event = models.ForeignKey(SlaEvent, on_delete=models.CASCADE, related_name="outbox")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=254, blank=True)  # an email address
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=8, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "event", "channel", "recipient"],
                condition=models.Q(channel="email"),
                name="outbox_email_once",
            ),
            models.UniqueConstraint(
                fields=["organization", "event", "channel", "endpoint"],
                condition=models.Q(channel="webhook"),
                name="outbox_webhook_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="pending"),
                name="outbox_due",
            ),
            models.Index(
                fields=["lease_until"], condition=models.Q(state="sending"), name="outbox_leased"
            ),
        ]
