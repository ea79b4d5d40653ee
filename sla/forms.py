"""Forms of the SLA settings pages. They parse what people type ("1h 30m", "09:00-12:00,
13:00-17:00", one date a line) and offer choices; `sla.services` and `sla.config_services` decide
what is valid, so the pages and the services' other callers agree.

Django marks a field with errors `aria-invalid` and points `aria-describedby` at "<id>_error";
the templates give the error text that id.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from zoneinfo import available_timezones

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from sla.calendar import format_hours, parse_hours
from sla.models import (
    BusinessCalendar,
    Recipient,
    SegmentField,
    SlaKind,
    SlaPolicy,
    StopOn,
    VolumePeriod,
    WebhookFormat,
)
from sla.services import CalendarValues

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_TARGET_MINUTES = 9999 * 60


# --- durations: "1h 30m" ----------------------------------------------------------------------

_UNIT = {
    "h": 60, "hr": 60, "hrs": 60, "hour": 60, "hours": 60,
    "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1,
}  # fmt: skip
_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-z]+)")
DURATION_HELP = "e.g. 1h, 45m, 1h 30m or 48h (a bare number is minutes)."


def parse_duration(text: str) -> int:
    """'1h 30m', '1 business hour', '90', '1:30', '1.5h' → minutes. Raises ValueError."""
    text = " ".join(text.lower().replace("business", " ").replace("and", " ").split())
    if not text:
        raise ValueError("empty")
    if text.isdigit():
        return int(text)
    clock = re.fullmatch(r"(\d+)(?::(?=\d\d$)|\s*h\s*)(\d\d?)", text)  # "1:30", "1h30"
    if clock:
        hours, minutes = int(clock.group(1)), int(clock.group(2))
        if minutes >= 60:
            raise ValueError(text)
        return hours * 60 + minutes
    total, end = 0.0, 0
    for match in _PART.finditer(text):
        if text[end : match.start()].strip(" ,") or match.group(2) not in _UNIT:
            raise ValueError(text)
        total += float(match.group(1).replace(",", ".")) * _UNIT[match.group(2)]
        end = match.end()
    if end == 0 or text[end:].strip(" ,"):
        raise ValueError(text)
    if total != int(total):
        raise ValueError("Give whole minutes.")
    return int(total)


def duration_input(minutes: int | None) -> str:
    """Minutes as typed into the form: 90 → '1h 30m'."""
    if not minutes:
        return ""
    hours, rest = divmod(minutes, 60)
    return " ".join(
        part for part in (f"{hours}h" if hours else "", f"{rest}m" if rest else "") if part
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def duration_words(minutes: int | None, *, business: bool) -> str:
    """Minutes as people say them: '1 business hour', '45 business minutes', '48 hours',
    '1 hour 30 minutes of business time'."""
    if not minutes:
        return "—"
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        words = f"{_plural(hours, 'hour')} {_plural(rest, 'minute')}"
        return f"{words} of business time" if business else words
    n, unit = (hours, "hour") if hours else (rest, "minute")
    return _plural(n, f"business {unit}" if business else unit)


class DurationField(forms.CharField):
    """Hours and minutes in one friendly text box; cleans to whole minutes."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", DURATION_HELP)
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return duration_input(value) if isinstance(value, int) else value

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return None
        try:
            minutes = parse_duration(text)
        except ValueError:
            raise ValidationError(
                f"Write the time as hours and minutes, {DURATION_HELP[:-1]}", code="invalid"
            ) from None
        if minutes <= 0:
            raise ValidationError("Allow more than no time at all.", code="min")
        if minutes > MAX_TARGET_MINUTES:
            raise ValidationError("Allow at most 9999 hours.", code="max")
        return minutes


# --- policies ---------------------------------------------------------------------------------

# Who can be told about each kind: volume periods and feedback items have no owner.
TEAM_RECIPIENTS = (Recipient.ADMINS, Recipient.MARKETING, Recipient.SALES)
KIND_RECIPIENTS = {
    SlaKind.FOLLOW_UP: tuple(Recipient),
    SlaKind.FEEDBACK: TEAM_RECIPIENTS,
    SlaKind.SQL_VOLUME: TEAM_RECIPIENTS,
}
COMMON_FIELDS = ("enabled", "calendar", "warn_percent", "notify_on_warning", "notify_on_breach",
                 "escalation_emails", "email_notifications")  # fmt: skip
KIND_FIELDS = {
    SlaKind.FOLLOW_UP: ("target_minutes", "stop_on"),
    SlaKind.FEEDBACK: ("target_minutes", "resolve_target_minutes"),
    SlaKind.SQL_VOLUME: ("volume_target", "volume_period", "segment_field", "segment_targets"),
}
LABELS = {
    SlaKind.FOLLOW_UP: {
        "enabled": "Measure sales' follow-up",
        "target_minutes": "Follow up within",
        "warn_percent": "Warn when this share of the time is used (%)",
    },
    SlaKind.FEEDBACK: {
        "enabled": "Measure marketing's response to feedback",
        "target_minutes": "Acknowledge within",
        "resolve_target_minutes": "Resolve within",
        "warn_percent": "Warn when this share of the time is used (%)",
    },
    SlaKind.SQL_VOLUME: {
        "enabled": "Measure marketing's SQL volume",
        "warn_percent": "At risk below this share of the expected pace (%)",
    },
}


def sorted_targets(targets: dict | None) -> list[tuple[str, int]]:
    """Segment targets by name (the database keeps JSON keys in its own order)."""
    return sorted((targets or {}).items(), key=lambda item: item[0].lower())


def _split_emails(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


class PolicyForm(forms.Form):
    """A new version of one SLA policy, prefilled from the current one. Only the fields of the
    form's kind exist; the service copies the rest from the current version."""

    enabled = forms.BooleanField(required=False)
    calendar = forms.TypedChoiceField(
        coerce=int,
        label="Business calendar",
        error_messages={"invalid_choice": "Choose one of the organization's calendars."},
    )
    target_minutes = DurationField(label="Allowed time")
    resolve_target_minutes = DurationField(
        required=False,
        label="Resolve within",
        help_text=f"{DURATION_HELP[:-1]}; leave empty for no resolution target.",
    )
    warn_percent = forms.IntegerField(min_value=1, max_value=100, label="Warn at (%)")
    stop_on = forms.ChoiceField(
        choices=StopOn.choices, widget=forms.RadioSelect, label="The clock stops at"
    )
    volume_target = forms.IntegerField(
        required=False,
        min_value=1,
        label="SQLs per period",
        help_text="For the whole organization (when no segment is chosen).",
    )
    volume_period = forms.ChoiceField(choices=VolumePeriod.choices, label="Period")
    segment_field = forms.ChoiceField(
        required=False, choices=SegmentField.choices, label="Targets per"
    )
    segment_targets = forms.CharField(
        required=False,
        label="Target per segment",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Healthcare: 10\nRetail: 6"}),
        help_text="One segment a line, as “Healthcare: 10”.",
    )
    notify_on_warning = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="At risk: tell"
    )
    notify_on_breach = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Breached: tell"
    )
    escalation_emails = forms.CharField(
        required=False,
        label="Escalation emails",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "head-of-sales@example.com"}),
        help_text="Every breach is also emailed here. Separate addresses by commas or lines.",
    )
    email_notifications = forms.BooleanField(
        required=False, label="Email the people told (they always get an in-app notification)"
    )
    change_note = forms.CharField(
        required=False, max_length=300, label="What changed and why",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Faster follow-up for Q4"}),
    )  # fmt: skip
    rebase_running = forms.BooleanField(
        required=False, label="Re-base running timers onto this version"
    )
    # The version the form was filled from: a save on top of someone else's newer version
    # would silently undo their change.
    based_on = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, kind: str, calendars: list[BusinessCalendar], **kwargs):
        kwargs.setdefault("prefix", kind)
        super().__init__(*args, **kwargs)
        self.kind = kind
        keep = {*COMMON_FIELDS, *KIND_FIELDS[kind], "change_note", "based_on"}
        if kind != SlaKind.SQL_VOLUME:
            keep.add("rebase_running")
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        for name, label in LABELS[kind].items():
            self.fields[name].label = label
        self.calendars = {calendar.pk: calendar for calendar in calendars}
        self.fields["calendar"].choices = [
            (c.pk, f"{c.name} ({'24/7' if c.always_open else c.timezone})") for c in calendars
        ]
        recipients = list(KIND_RECIPIENTS[kind])
        # A value saved through the API stays offered, so saving here does not drop it silently.
        for name in ("notify_on_warning", "notify_on_breach"):
            recipients += [
                Recipient(value)
                for value in self.initial.get(name, ())
                if value in Recipient.values and value not in recipients
            ]
        for name in ("notify_on_warning", "notify_on_breach"):
            self.fields[name].choices = [(r.value, r.label) for r in recipients]
        if kind == SlaKind.FOLLOW_UP:
            self.fields[
                "notify_on_breach"
            ].help_text = "A breach also reaches the owner's manager and the escalation emails."

    @classmethod
    def initial_from(cls, policy: SlaPolicy) -> dict:
        initial = {
            name: getattr(policy, name) for name in (*COMMON_FIELDS, *KIND_FIELDS[policy.kind])
        }
        initial["calendar"] = policy.calendar_id
        initial["based_on"] = policy.version
        initial["escalation_emails"] = "\n".join(policy.escalation_emails)
        initial["segment_targets"] = "\n".join(
            f"{segment}: {target}" for segment, target in sorted_targets(policy.segment_targets)
        )
        return initial

    def clean_escalation_emails(self) -> list[str]:
        emails, seen, bad = [], set(), []
        for email in _split_emails(self.cleaned_data["escalation_emails"]):
            try:
                validate_email(email)
            except ValidationError:
                bad.append(email)
                continue
            if email.lower() not in seen:
                seen.add(email.lower())
                emails.append(email)
        if bad:
            raise ValidationError(f"Not an email address: {', '.join(bad)}.", code="invalid")
        return emails

    def clean_segment_targets(self) -> dict[str, int]:
        targets, errors = {}, []
        for number, line in enumerate(self.cleaned_data["segment_targets"].splitlines(), 1):
            if not line.strip():
                continue
            segment, colon, count = line.rpartition(":")
            segment = " ".join(segment.split())
            if not colon or not segment:
                errors.append(f"Line {number}: write it as “Healthcare: 10”.")
            elif not count.strip().isdigit() or int(count) < 1:
                errors.append(f"Line {number}: “{count.strip()}” is not a whole number above 0.")
            elif segment.lower() in {s.lower() for s in targets}:
                errors.append(f"Line {number}: {segment} is listed twice.")
            elif len(segment) > 100:
                errors.append(f"Line {number}: keep the segment under 100 characters.")
            else:
                targets[segment] = int(count)
        if errors:
            raise ValidationError(errors)
        return targets

    def clean_calendar(self) -> BusinessCalendar:
        return self.calendars[self.cleaned_data["calendar"]]

    def clean(self):
        data = super().clean()
        if (
            self.kind == SlaKind.SQL_VOLUME
            and not data.get("segment_field")
            and data.get("segment_targets")
        ):
            self.add_error(
                "segment_targets",
                "These targets are per segment: choose what they are per, or clear them.",
            )
        return data

    def policy_values(self) -> dict:
        """What `services.policy_create_version` takes as the new version's settings."""
        names = (*COMMON_FIELDS, *KIND_FIELDS[self.kind])
        return {name: self.cleaned_data[name] for name in names if name in self.cleaned_data}

    def changes_from(self, policy: SlaPolicy) -> list[str]:
        """The settings this form would change: none means saving makes a copy."""
        return [
            name
            for name, value in self.policy_values().items()
            if (value.pk if name == "calendar" else value)
            != getattr(policy, "calendar_id" if name == "calendar" else name)
        ]


# --- calendars --------------------------------------------------------------------------------


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


def _words(camel: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", camel)


@functools.cache
def country_choices() -> list[tuple[str, str]]:
    """Two-letter codes the `holidays` package knows, by name."""
    from holidays import list_supported_countries

    try:  # the package's registry names each country's class: "UnitedStates"
        from holidays.registry import COUNTRIES

        names = {spec[1]: _words(spec[0]) for spec in COUNTRIES.values()}
    except ImportError:  # pragma: no cover - an older or newer layout: codes alone
        names = {}
    codes = [code for code in list_supported_countries() if len(code) == 2]
    return sorted(((code, f"{names.get(code, code)} ({code})") for code in codes),
                  key=lambda choice: choice[1])  # fmt: skip


@functools.cache
def subdivision_choices(country: str) -> list[tuple[str, str]]:
    """The country's subdivisions by name ("California (CA)"), for the select."""
    from holidays import country_holidays, list_supported_countries

    codes = list_supported_countries().get(country, [])
    if not codes:
        return []
    aliases = country_holidays(country).get_subdivision_aliases()
    return [(code, f"{aliases[code][0]} ({code})" if aliases.get(code) else code) for code in codes]


class CalendarForm(forms.Form):
    name = forms.CharField(max_length=100)
    timezone = forms.ChoiceField(label="Time zone")
    always_open = forms.BooleanField(
        required=False, label="Open 24/7: every hour counts (working hours are ignored)"
    )
    holiday_country = forms.ChoiceField(required=False, label="Public holidays of")
    holiday_subdivision = forms.CharField(
        required=False, max_length=10, label="Region", widget=forms.Select
    )
    custom_holidays = forms.CharField(
        required=False,
        label="Other days off",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "2026-12-24\n2026-12-31"}),
        help_text="One date a line, as YYYY-MM-DD: company days off the country list lacks.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices()
        self.fields["holiday_country"].choices = [("", "None"), *country_choices()]
        for day, weekday in enumerate(WEEKDAYS):
            self.fields[f"working_hours_{day}"] = forms.CharField(
                required=False,
                max_length=200,
                label=weekday,
                widget=forms.TextInput(attrs={"placeholder": "closed"}),
            )
        country = (self.data.get(self.add_prefix("holiday_country")) if self.is_bound
                   else self.initial.get("holiday_country")) or ""  # fmt: skip
        self.fields["holiday_subdivision"].widget.choices = [
            ("", "Whole country" if country else "—"),
            *subdivision_choices(country.upper()),
        ]

    @classmethod
    def initial_from(cls, calendar: BusinessCalendar) -> dict:
        initial = {
            "name": calendar.name,
            "timezone": calendar.timezone,
            "always_open": calendar.always_open,
            "holiday_country": calendar.holiday_country,
            "holiday_subdivision": calendar.holiday_subdivision,
            "custom_holidays": "\n".join(
                (d if isinstance(d, date) else date.fromisoformat(d)).isoformat()
                for d in calendar.custom_holidays
            ),
        }
        for day, intervals in enumerate(calendar.weekday_intervals()):
            initial[f"working_hours_{day}"] = format_hours(intervals)
        return initial

    def weekday_fields(self):
        return [self[f"working_hours_{day}"] for day in range(7)]

    def clean(self):
        data = super().clean()
        # Parsed here too, so each weekday's mistake shows on its own line at once.
        for day in range(7):
            name = f"working_hours_{day}"
            if name in data:
                try:
                    parse_hours(data[name])
                except ValueError as error:
                    self.add_error(name, str(error))
        return data

    def clean_custom_holidays(self) -> tuple[date, ...]:
        days, errors = [], []
        for number, line in enumerate(self.cleaned_data["custom_holidays"].splitlines(), 1):
            text = line.strip()
            if not text:
                continue
            try:
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                    raise ValueError(text)
                days.append(date.fromisoformat(text))
            except ValueError:
                errors.append(f"Line {number}: “{text}” is not a date like 2026-12-24.")
        if errors:
            raise ValidationError(errors)
        return tuple(sorted(set(days)))

    def values(self) -> CalendarValues:
        data = self.cleaned_data
        return CalendarValues(
            name=data["name"],
            timezone=data["timezone"],
            always_open=data["always_open"],
            hours_by_weekday=[data.get(f"working_hours_{day}", "") for day in range(7)],
            holiday_country=data["holiday_country"],
            holiday_subdivision=data["holiday_subdivision"],
            custom_holidays=data["custom_holidays"],
        )


# --- webhooks ---------------------------------------------------------------------------------


class WebhookForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "#revops-alerts"})
    )
    url = forms.CharField(
        max_length=500,
        label="URL",
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.slack.com/services/…"}),
    )
    format = forms.ChoiceField(
        choices=[(WebhookFormat.SLACK, "Slack"), (WebhookFormat.GENERIC, "Signed JSON")],
        initial=WebhookFormat.SLACK,
    )
    on_warning = forms.BooleanField(required=False, initial=True, label="At-risk warnings")
    on_breach = forms.BooleanField(required=False, initial=True, label="Breaches")


class SwitchForm(forms.Form):
    """The state a switch asks for, stated rather than flipped: a double submit changes nothing."""

    on = forms.TypedChoiceField(choices=[("1", "on"), ("0", "off")], coerce=lambda v: v == "1")
