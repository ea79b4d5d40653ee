"""What the SLA API reads and writes, and how it looks on the wire.

Serializers only parse and shape: every write goes through `sla/services.py` (or
`sla/config_services.py` for webhooks), every read starts from `sla/selectors.py` or a scoped
default manager. Conventions of this API:

- Business time is shown in seconds (timers store integer microseconds); a timer's elapsed and
  remaining time are computed for the instant of the request.
- A calendar's working hours are an object with one text per weekday, Monday first:
  `{"monday": "09:00-12:00, 13:00-17:00", ..., "sunday": ""}` ("" = closed that day).
- A compliance percentage with nothing to count is null ("no data"), never 0.
"""

from datetime import date, datetime, timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from leads.api import ScopedPrimaryKeyRelatedField
from revops.tenancy.api import UserSummarySerializer
from sla import services
from sla.calendar import format_hours, parse_hours
from sla.models import (
    OPEN_TIMER_STATES,
    BusinessCalendar,
    EventKind,
    Notification,
    PeriodState,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    SlaTimer,
    TimerState,
    TimerTarget,
    VolumePeriod,
    VolumePeriodResult,
    WebhookEndpoint,
    compiled_calendar,
    default_working_hours,
)

MICRO = 1_000_000
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A year of minutes. Deadlines are computed by adding the target to the start: far larger
# targets would land past the year 9999 and could not be stored at all.
MAX_TARGET_MINUTES = 366 * 24 * 60
MAX_VOLUME_TARGET = 1_000_000
# VolumePeriodResult.segment holds the segment value.
MAX_SEGMENT_LENGTH = 100
MAX_SEGMENTS = 200
# Compliance over at most this many days per request, between these dates (local midnights far
# outside them do not convert to UTC at all).
MAX_RANGE_DAYS = 3 * 366
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)


def _seconds(microseconds: int | None) -> float | None:
    return None if microseconds is None else microseconds / MICRO


def _duration_seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


# --- calendars --------------------------------------------------------------------------------


class HoursField(serializers.CharField):
    """One weekday's working intervals, e.g. "09:00-12:00, 13:00-17:00"; "" when closed."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False, allow_blank=True, max_length=200, trim_whitespace=True,
            help_text='Comma-separated HH:MM-HH:MM intervals in local time; "" = closed.',
            **kwargs,
        )  # fmt: skip

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            parse_hours(text)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from error
        return text


class WorkingHoursSerializer(serializers.Serializer):
    """Working intervals per weekday, Monday first. Reads show all seven days; writes may
    send only the days that change (on create, days left out are closed)."""

    monday = HoursField()
    tuesday = HoursField()
    wednesday = HoursField()
    thursday = HoursField()
    friday = HoursField()
    saturday = HoursField()
    sunday = HoursField()

    def to_representation(self, week: dict) -> dict:
        # The model stores {"0": [[540, 1020]], ...} in minutes, Monday = "0".
        return {name: format_hours(week.get(str(day), [])) for day, name in enumerate(WEEKDAYS)}


def week_texts(week: dict) -> dict[str, str]:
    return WorkingHoursSerializer().to_representation(week)


class CalendarSerializer(serializers.ModelSerializer):
    working_hours = WorkingHoursSerializer(
        required=False,
        help_text="Leave out on create for Monday to Friday, 09:00-17:00.",
    )

    class Meta:
        model = BusinessCalendar
        fields = [
            "id", "name", "timezone", "always_open", "working_hours", "holiday_country",
            "holiday_subdivision", "custom_holidays", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "timezone": {"required": False, "help_text": "IANA name; the organization's zone "
                         "when left out on create."},
            "holiday_country": {"help_text": "ISO code of the `holidays` package, e.g. US, DE."},
            "holiday_subdivision": {"help_text": "e.g. CA for California, BY for Bavaria."},
            "custom_holidays": {"max_length": 1000, "help_text": "Extra closed dates."},
        }  # fmt: skip
        # The (organization, name) constraint is the service's to report, per field.
        validators = []

    def calendar_values(self, *, default_timezone: str) -> services.CalendarValues:
        """The complete calendar this request asks for: what was sent, over what it is now."""
        data, current = self.validated_data, self.instance

        def value(name: str, default):
            if name in data:
                return data[name]
            return getattr(current, name) if current is not None else default

        if current is not None:
            week = week_texts(current.working_hours)
        elif "working_hours" in data:
            week = dict.fromkeys(WEEKDAYS, "")
        else:
            week = week_texts(default_working_hours())
        week.update(data.get("working_hours", {}))
        return services.CalendarValues(
            name=value("name", ""),
            timezone=value("timezone", default_timezone),
            always_open=value("always_open", False),
            hours_by_weekday=[week[name] for name in WEEKDAYS],
            holiday_country=value("holiday_country", ""),
            holiday_subdivision=value("holiday_subdivision", ""),
            custom_holidays=tuple(value("custom_holidays", ())),
        )


# --- policies ---------------------------------------------------------------------------------


class SlaPolicySerializer(serializers.ModelSerializer):
    """One immutable version of one of the organization's three commitments."""

    calendar_name = serializers.CharField(source="calendar.name", read_only=True)
    created_by = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = SlaPolicy
        fields = [
            "id", "kind", "version", "enabled", "calendar", "calendar_name", "target_minutes",
            "resolve_target_minutes", "warn_percent", "stop_on", "volume_target",
            "volume_period", "segment_field", "segment_targets", "notify_on_warning",
            "notify_on_breach", "escalation_emails", "email_notifications", "rebased_running",
            "rebased_count", "change_note", "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class SlaPolicyWriteSerializer(serializers.ModelSerializer):
    """A change to one kind's current policy, saved as its next version. Omitted settings keep
    the current version's value."""

    kind = serializers.ChoiceField(choices=SlaKind.choices)
    calendar = ScopedPrimaryKeyRelatedField(
        model=BusinessCalendar, required=False, help_text="One of the organization's calendars."
    )
    segment_targets = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_VOLUME_TARGET),
        required=False,
        help_text='SQL volume per segment value, e.g. {"Healthcare": 10}.',
    )
    rebase_running = serializers.BooleanField(
        default=False,
        help_text="Move running and paused timers of this kind onto the new version "
        "(their deadlines are recomputed). Otherwise they keep the version they started with.",
    )

    class Meta:
        model = SlaPolicy
        fields = ["kind", *services.POLICY_FIELDS, "rebase_running", "change_note"]
        extra_kwargs = {
            "target_minutes": {"min_value": 1, "max_value": MAX_TARGET_MINUTES},
            "resolve_target_minutes": {"min_value": 1, "max_value": MAX_TARGET_MINUTES},
            "warn_percent": {"min_value": 1, "max_value": 100},
            "volume_target": {"min_value": 1, "max_value": MAX_VOLUME_TARGET},
            "escalation_emails": {"max_length": 50},
        }
        validators = []

    def validate_segment_targets(self, targets: dict) -> dict:
        if len(targets) > MAX_SEGMENTS:
            raise serializers.ValidationError(f"At most {MAX_SEGMENTS} segments.")
        for name in targets:
            if not name.strip() or len(name) > MAX_SEGMENT_LENGTH:
                raise serializers.ValidationError(
                    f"Segment values are 1 to {MAX_SEGMENT_LENGTH} characters."
                )
        return targets


class SlaPolicyFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=SlaKind.choices, required=False,
        help_text="Every version of this kind, newest first, instead of the current three.",
    )  # fmt: skip


# --- timers -----------------------------------------------------------------------------------


def timer_elapsed_us(timer: SlaTimer, now: datetime) -> int | None:
    """Business time the timer has run, pauses excluded: stored once it stopped, else computed
    up to now (or to the pause). Closed form on the cached calendar; no query."""
    if timer.elapsed_us is not None:
        return timer.elapsed_us
    if timer.state not in OPEN_TIMER_STATES:
        return None
    until = timer.paused_at if timer.state == TimerState.PAUSED else now
    calendar = compiled_calendar(timer.policy.calendar)
    return max(0, calendar.business_us(timer.started_at, until) - timer.paused_us)


class TimerSerializer(serializers.ModelSerializer):
    """A timer with its clock as of the request (`context["now"]`)."""

    policy_kind = serializers.ChoiceField(
        source="policy.kind", choices=SlaKind.choices, read_only=True
    )
    policy_version = serializers.IntegerField(source="policy.version", read_only=True)
    lead_name = serializers.CharField(source="lead.full_name", read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    met_late = serializers.BooleanField(
        read_only=True, help_text="Met, but after its deadline: the breach stays on record."
    )
    is_open = serializers.BooleanField(read_only=True)
    target_seconds = serializers.SerializerMethodField(help_text="Allowed business time.")
    paused_seconds = serializers.SerializerMethodField(
        help_text="Business time spent paused (before the current pause, if paused)."
    )
    elapsed_seconds = serializers.SerializerMethodField(
        help_text="Business time run so far (or until it stopped), pauses excluded."
    )
    remaining_seconds = serializers.SerializerMethodField(
        help_text="Business time left before the deadline; negative once it has passed; "
        "null for a timer that has stopped."
    )

    class Meta:
        model = SlaTimer
        fields = [
            "id", "policy", "policy_kind", "policy_version", "target", "lead", "lead_name",
            "feedback", "owner", "state", "started_at", "due_at", "warn_at", "warned_at",
            "breached_at", "met_at", "cancelled_at", "paused_at", "met_late", "is_open",
            "target_seconds", "paused_seconds", "elapsed_seconds", "remaining_seconds",
        ]  # fmt: skip
        read_only_fields = fields

    def _elapsed(self, timer: SlaTimer) -> int | None:
        # Two fields read it; compute it once per timer.
        if not hasattr(timer, "_api_elapsed_us"):
            timer._api_elapsed_us = timer_elapsed_us(timer, self.context["now"])
        return timer._api_elapsed_us

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_target_seconds(self, timer: SlaTimer) -> float:
        return _seconds(timer.target_us)

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_paused_seconds(self, timer: SlaTimer) -> float:
        return _seconds(timer.paused_us)

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_elapsed_seconds(self, timer: SlaTimer) -> float | None:
        return _seconds(self._elapsed(timer))

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_remaining_seconds(self, timer: SlaTimer) -> float | None:
        elapsed = self._elapsed(timer)
        if not timer.is_open or elapsed is None:
            return None
        return _seconds(timer.target_us - elapsed)


class SlaEventSerializer(serializers.ModelSerializer):
    actor = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = SlaEvent
        fields = ["id", "kind", "at", "actor", "detail", "explanation"]
        read_only_fields = fields


class TimerDetailSerializer(TimerSerializer):
    events = SlaEventSerializer(many=True, read_only=True, help_text="Oldest first.")

    class Meta(TimerSerializer.Meta):
        fields = [*TimerSerializer.Meta.fields, "events"]
        read_only_fields = fields


class TimerFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=TimerState.choices, required=False)
    target = serializers.ChoiceField(choices=TimerTarget.choices, required=False)
    owner = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="The owner's user id."
    )
    lead = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


class PauseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why the clock stops.")


# --- breaches ---------------------------------------------------------------------------------


class TimerSummarySerializer(serializers.ModelSerializer):
    lead_name = serializers.CharField(source="lead.full_name", read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    met_late = serializers.BooleanField(read_only=True)

    class Meta:
        model = SlaTimer
        fields = ["id", "target", "state", "lead", "lead_name", "feedback", "owner",
                  "started_at", "due_at", "met_at", "met_late"]  # fmt: skip
        read_only_fields = fields


class PeriodSerializer(serializers.ModelSerializer):
    """Marketing's SQL delivery for one week or month (and segment)."""

    policy_version = serializers.IntegerField(source="policy.version", read_only=True)
    pacing = serializers.FloatField(
        read_only=True, allow_null=True,
        help_text="Delivered ÷ expected to date; null before anything is expected.",
    )  # fmt: skip

    class Meta:
        model = VolumePeriodResult
        fields = [
            "id", "policy", "policy_version", "segment", "starts_at", "ends_at", "target",
            "delivered", "expected", "pacing", "state", "checked_at", "closed_at",
        ]  # fmt: skip
        read_only_fields = fields


class BreachSerializer(serializers.ModelSerializer):
    """A breach-log entry: a timer or a volume period that missed its commitment."""

    policy_kind = serializers.SerializerMethodField()
    policy_version = serializers.SerializerMethodField()
    timer = TimerSummarySerializer(read_only=True, allow_null=True)
    period = PeriodSerializer(read_only=True, allow_null=True)
    explained_by = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = SlaEvent
        fields = ["id", "at", "detail", "policy_kind", "policy_version", "timer", "period",
                  "explanation", "explained_by"]  # fmt: skip
        read_only_fields = fields

    @staticmethod
    def _policy(event: SlaEvent) -> SlaPolicy:
        return event.timer.policy if event.timer_id else event.period.policy

    @extend_schema_field(serializers.ChoiceField(choices=SlaKind.choices))
    def get_policy_kind(self, event: SlaEvent) -> str:
        return self._policy(event).kind

    @extend_schema_field(OpenApiTypes.INT)
    def get_policy_version(self, event: SlaEvent) -> int:
        return self._policy(event).version


class BreachFilterSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Breaches at or after.")
    until = serializers.DateTimeField(required=False, help_text="Breaches before.")
    target = serializers.ChoiceField(choices=TimerTarget.choices, required=False)

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["until"] <= attrs["since"]:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return attrs


class ExplainSerializer(serializers.Serializer):
    explanation = serializers.CharField(max_length=2000, help_text="What happened.")


# --- volume periods ---------------------------------------------------------------------------


class PacingSeriesSerializer(serializers.Serializer):
    """Cumulative SQLs per day of the period against the expected pace (the pacing chart)."""

    days = serializers.ListField(child=serializers.CharField(), help_text="Local dates.")
    delivered = serializers.ListField(
        child=serializers.IntegerField(allow_null=True), help_text="null for days to come."
    )
    expected = serializers.ListField(child=serializers.FloatField())
    target = serializers.IntegerField()


class PeriodDetailSerializer(PeriodSerializer):
    series = PacingSeriesSerializer(read_only=True)

    class Meta(PeriodSerializer.Meta):
        fields = [*PeriodSerializer.Meta.fields, "series"]
        read_only_fields = fields


class PeriodFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=PeriodState.choices, required=False)


# --- compliance -------------------------------------------------------------------------------


class ComplianceQuerySerializer(serializers.Serializer):
    """Whole local days, both included. Needs `context["today"]` (the organization's date)."""

    start = serializers.DateField(required=False, help_text="Default: 29 days before end.")
    end = serializers.DateField(required=False, help_text="Default: today.")
    period = serializers.ChoiceField(
        choices=VolumePeriod.choices, default=VolumePeriod.WEEK, help_text="Trend buckets."
    )

    def validate(self, attrs):
        end = attrs.get("end") or self.context["today"]
        start = attrs.get("start") or end - timedelta(days=29)
        outside = [name for name, day in (("start", start), ("end", end))
                   if not EARLIEST <= day <= LATEST]  # fmt: skip
        if outside:
            message = f"Choose a date from {EARLIEST} to {LATEST}."
            raise serializers.ValidationError({name: [message] for name in outside})
        if start > end:
            raise serializers.ValidationError({"start": ["Must not be after end."]})
        if (end - start).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError(
                {"start": [f"Ask for at most {MAX_RANGE_DAYS} days at a time."]}
            )
        return {**attrs, "start": start, "end": end}


class ComplianceRowSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="The target, the rep's email, or the team.")
    on_time = serializers.IntegerField()
    breached = serializers.IntegerField()
    counted = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True, help_text="null: nothing counted.")


class TrendRowSerializer(serializers.Serializer):
    period_start = serializers.DateField(help_text="First local day of the week or month.")
    target = serializers.ChoiceField(choices=TimerTarget.choices)
    on_time = serializers.IntegerField()
    breached = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True)


class FirstTouchSerializer(serializers.Serializer):
    """Time to first touch of follow-ups met in the range, in seconds; null with no data."""

    count = serializers.IntegerField()
    business_p50_seconds = serializers.FloatField(allow_null=True)
    business_p95_seconds = serializers.FloatField(allow_null=True)
    wall_p50_seconds = serializers.FloatField(allow_null=True)
    wall_p95_seconds = serializers.FloatField(allow_null=True)

    def to_representation(self, times) -> dict:
        return {
            "count": times.count,
            "business_p50_seconds": _duration_seconds(times.business_p50),
            "business_p95_seconds": _duration_seconds(times.business_p95),
            "wall_p50_seconds": _duration_seconds(times.wall_p50),
            "wall_p95_seconds": _duration_seconds(times.wall_p95),
        }


@extend_schema_serializer(many=False)  # `GET sla/compliance/` is one object, not a list
class ComplianceSerializer(serializers.Serializer):
    """Compliance counts a timer in the range its deadline fell in, once its outcome is known:
    on time ÷ (on time + breached). See `sla/selectors.py`."""

    start = serializers.DateField()
    end = serializers.DateField()
    period = serializers.ChoiceField(choices=VolumePeriod.choices)
    by_target = ComplianceRowSerializer(many=True)
    by_owner = ComplianceRowSerializer(many=True, help_text="Follow-ups, per rep.")
    by_team = ComplianceRowSerializer(many=True, help_text="Follow-ups, per sales team.")
    trend = TrendRowSerializer(many=True)
    first_touch = FirstTouchSerializer()
    volume = PeriodDetailSerializer(many=True, help_text="Current SQL-volume periods.")


# --- notifications and webhooks ---------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    event_kind = serializers.ChoiceField(
        source="event.kind", choices=EventKind.choices, read_only=True
    )
    event_at = serializers.DateTimeField(source="event.at", read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "title", "body", "url", "event_kind", "event_at", "read_at",
                  "created_at"]  # fmt: skip
        read_only_fields = fields


class NotificationFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, help_text="1: unread ones only.")


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread.")


class WebhookSerializer(serializers.ModelSerializer):
    signed = serializers.SerializerMethodField(help_text="Whether requests carry a signature.")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "name", "url", "format", "on_warning", "on_breach", "active", "signed",
                  "created_at"]  # fmt: skip
        read_only_fields = ["id", "signed", "created_at"]
        extra_kwargs = {"url": {"help_text": "An http:// or https:// address."}}
        validators = []  # the service reports duplicate names per field

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_signed(self, endpoint: WebhookEndpoint) -> bool:
        return bool(endpoint.secret)


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="Signs each generic request (X-RevOps-Signature: t=…,v1=HMAC-SHA256). Shown "
        "only in this response; empty for Slack.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookSerializer.Meta.read_only_fields, "secret"]


class WebhookSwitchSerializer(serializers.ModelSerializer):
    """An endpoint's address and format are fixed; add a new one to change them."""

    class Meta:
        model = WebhookEndpoint
        fields = ["on_warning", "on_breach", "active"]
