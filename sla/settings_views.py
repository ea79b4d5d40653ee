"""The SLA settings pages: policies (one card per kind, each change a new version), business
calendars (with a holiday and deadline preview), and outgoing webhooks.

Every member reads the policies and calendars; RevOps admins change them
(`organization_view(admin_writes=True)` answers 403 to anyone else's POST). Webhook endpoints
carry URLs and signing secrets, so only admins see them at all (`admin_reads=True`), as with API
tokens. Views translate: forms parse, `sla.services` and `sla.config_services` validate and
write. A refused save re-renders the page with status 400 and the error beside its field.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from revops.tenancy.access import organization_view
from sla import config_services, services
from sla.calendar import Calendar, format_hours, parse_hours
from sla.forms import (
    WEEKDAYS,
    CalendarForm,
    PolicyForm,
    SwitchForm,
    WebhookForm,
    country_choices,
    duration_words,
    sorted_targets,
)
from sla.models import (
    BusinessCalendar,
    Channel,
    OutboxMessage,
    Recipient,
    SlaKind,
    SlaPolicy,
    SlaTimer,
    TimerState,
    WebhookEndpoint,
    compiled_calendar,
)

KIND_INTROS = {
    SlaKind.FOLLOW_UP: (
        "Sales' promise: the clock starts when an SQL is assigned to a rep and stops at the "
        "owner's first logged touch (or at acceptance, if chosen). Reassigning the lead keeps it "
        "running: the lead waited anyway."
    ),
    SlaKind.FEEDBACK: (
        "Marketing's promise: the clock starts when sales files lead-quality feedback and stops "
        "when marketing acknowledges it; a second target runs until it is resolved."
    ),
    SlaKind.SQL_VOLUME: (
        "Marketing's promise: a number of SQLs each week or month, overall or per segment. Pacing "
        "is checked as the period runs; a shortfall at the period's end is a breach."
    ),
}
SWITCHES = {"active": "active", "on-warning": "on_warning", "on-breach": "on_breach"}
SWITCH_LABELS = {"active": "On", "on_warning": "At-risk warnings", "on_breach": "Breaches"}
SWITCH_WORDS = {
    "active": ("switched on", "switched off"),
    "on_warning": ("gets at-risk warnings", "gets no at-risk warnings"),
    "on_breach": ("gets breaches", "gets no breaches"),
}
NEW_SECRET_SESSION_KEY = "sla_new_webhook_secret"  # noqa: S105 (a session key name)
OPEN = (TimerState.RUNNING, TimerState.PAUSED)


def _row_or_404(queryset, pk: int):
    # Scoped managers: another organization's row is exactly as absent as a missing one.
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise Http404("No such row.")
    return row


def _add_errors(form, error: ValidationError) -> None:
    """Put a service's field errors on the form's fields (or on the form when it has none)."""
    for field, texts in getattr(error, "message_dict", {"__all__": error.messages}).items():
        form.add_error(field if field in form.fields else None, texts)


def _focus_first_error(form) -> None:
    """Open the refused page at the field to fix (the browser scrolls to an autofocus input)."""
    name = next((name for name in form.errors if name in form.fields), None)
    if name is not None:
        form.fields[name].widget.attrs["autofocus"] = True


def _local(instant: datetime, tz_name: str) -> str:
    """'Tue 24 Nov, 11:00 CST': a deadline in the calendar's own time zone."""
    return instant.astimezone(ZoneInfo(tz_name)).strftime("%a %-d %b, %H:%M %Z")


def _labels(values, choices) -> str:
    names = dict(choices)
    return ", ".join(str(names.get(value, value)) for value in values) or "nobody"


# --- policies ---------------------------------------------------------------------------------


def _target_words(minutes, calendar: BusinessCalendar) -> str:
    return duration_words(minutes, business=not calendar.always_open)


def _facts(policy: SlaPolicy) -> list[tuple[str, str]]:
    """The version's settings as a person reads them."""
    calendar = policy.calendar
    facts = [("Status", "On" if policy.enabled else "Off")]
    if policy.kind == SlaKind.FOLLOW_UP:
        facts += [
            ("Target", _target_words(policy.target_minutes, calendar)),
            ("Stops at", policy.get_stop_on_display()),
        ]
    elif policy.kind == SlaKind.FEEDBACK:
        facts += [
            ("Acknowledge", f"within {_target_words(policy.target_minutes, calendar)}"),
            ("Resolve", f"within {_target_words(policy.resolve_target_minutes, calendar)}"
             if policy.resolve_target_minutes else "no target"),
        ]  # fmt: skip
    else:
        period = policy.get_volume_period_display().lower()
        if policy.segment_field:
            targets = ", ".join(f"{k}: {v}" for k, v in sorted_targets(policy.segment_targets))
            facts.append(("Target", f"per {policy.get_segment_field_display().lower()} "
                                    f"each {period}: {targets}"))  # fmt: skip
        else:
            facts.append(("Target", f"{policy.volume_target} SQLs each {period}"))
    warn = (
        f"below {policy.warn_percent}% of the expected pace"
        if policy.kind == SlaKind.SQL_VOLUME
        else f"at {policy.warn_percent}% of the allowed time"
    )
    facts += [
        ("Calendar", f"{calendar.name} ({'24/7' if calendar.always_open else calendar.timezone})"),
        ("At risk", warn),
        ("At risk: tell", _labels(policy.notify_on_warning, Recipient.choices)),
        ("Breached: tell", _labels(policy.notify_on_breach, Recipient.choices)),
        ("Escalation", ", ".join(policy.escalation_emails) or "—"),
        ("Email", "on" if policy.email_notifications else "off (in-app only)"),
    ]
    return facts


def _summary(policy: SlaPolicy) -> str:
    """One line per history row."""
    if not policy.enabled:
        return "Off"
    facts = dict(_facts(policy))
    first = facts.get("Target") or facts.get("Acknowledge", "")
    return f"{first} · {policy.calendar.name} · warn {policy.warn_percent}%"


def _policies_page(request, *, status: int = 200, refused: dict | None = None):
    refused = refused or {}
    services.policies_ensure()
    calendars = list(BusinessCalendar.objects.order_by("name"))
    history: dict[str, list[SlaPolicy]] = defaultdict(list)
    for policy in SlaPolicy.objects.select_related("calendar", "created_by").order_by(
        "kind", "-version"
    ):
        policy.summary = _summary(policy)
        history[policy.kind].append(policy)
    open_timers = dict(
        SlaTimer.objects.filter(state__in=OPEN)
        .values("policy__kind")
        .annotate(n=Count("id"))
        .values_list("policy__kind", "n")
    )
    cards = []
    for kind, label in SlaKind.choices:
        current = history[kind][0]
        form = refused.get(kind) or PolicyForm(
            kind=kind, calendars=calendars, initial=PolicyForm.initial_from(current)
        )
        cards.append(
            {
                "kind": kind,
                "label": label,
                "intro": KIND_INTROS[kind],
                "current": current,
                "facts": _facts(current),
                "form": form,
                "history": history[kind],
                "next_version": current.version + 1,
                "open_timers": open_timers.get(kind, 0),
            }
        )
    error_card = next((card for card in cards if card["kind"] in refused), None)
    return render(
        request,
        "sla/settings_policies.html",
        {
            "may_edit": request.membership.is_admin,
            "cards": cards,
            "error_card": error_card,
            "tab": "policies",
        },
        status=status,
    )


@organization_view(admin_writes=True)
@require_safe
def sla_policies(request):
    return _policies_page(request)


def _saved_message(policy: SlaPolicy) -> str:
    saved = f"{policy.get_kind_display()} saved as version {policy.version}."
    if policy.kind == SlaKind.SQL_VOLUME:
        return f"{saved} The current period now counts against it."
    if policy.rebased_running:
        count = policy.rebased_count
        return f"{saved} {count} running timer{'s' if count != 1 else ''} re-based onto it."
    return f"{saved} Running timers keep the version they started with."


@organization_view(admin_writes=True)
@require_POST
def sla_policy_save(request, kind: str):
    if kind not in SlaKind.values:
        raise Http404("No such SLA.")
    current = services.policies_ensure()[kind]
    calendars = list(BusinessCalendar.objects.order_by("name"))
    form = PolicyForm(request.POST, kind=kind, calendars=calendars,
                      initial=PolicyForm.initial_from(current))  # fmt: skip
    if form.is_valid():
        rebase = form.cleaned_data.get("rebase_running", False)
        if form.cleaned_data["based_on"] != current.version:
            who = current.created_by.display_name if current.created_by else "someone"
            form.add_error(
                None,
                f"Version {current.version} was saved by {who} meanwhile: check its settings "
                "(on the left) and save again.",
            )
            # The next save builds on the version now shown.
            form.data = form.data.copy()
            form.data[form.add_prefix("based_on")] = current.version
        elif not form.changes_from(current) and not rebase:
            form.add_error(None, f"Nothing changed: version {current.version} says this already.")
        else:
            try:
                policy = services.policy_create_version(
                    kind=kind,
                    actor=request.user,
                    rebase_running=rebase,
                    change_note=form.cleaned_data["change_note"],
                    **form.policy_values(),
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, _saved_message(policy))
                url = reverse("sla_settings", args=[request.organization.slug])
                return redirect(f"{url}#{kind}")
    _focus_first_error(form)
    return _policies_page(request, status=400, refused={kind: form})


# --- calendars --------------------------------------------------------------------------------


def _day_range(first: int, last: int) -> str:
    short = [day[:3] for day in WEEKDAYS]
    return short[first] if first == last else f"{short[first]}\N{EN DASH}{short[last]}"


def hours_summary(calendar: BusinessCalendar) -> list[str]:
    """'Mon to Fri 09:00-12:00, 13:00-17:00' (with a dash): runs of weekdays with the same
    hours, closed days left out."""
    if calendar.always_open:
        return ["24/7"]
    week = calendar.weekday_intervals()
    lines, start = [], 0
    for day in range(1, 8):
        if day == 7 or week[day] != week[start]:
            if week[start]:
                lines.append(f"{_day_range(start, day - 1)} {format_hours(week[start])}")
            start = day
    return lines or ["closed"]


def _country_name(code: str) -> str:
    return dict(country_choices()).get(code, code)


def _holiday_summary(calendar: BusinessCalendar) -> str:
    parts = []
    if calendar.holiday_country:
        name = _country_name(calendar.holiday_country)
        parts.append(f"{name}, {calendar.holiday_subdivision}" if calendar.holiday_subdivision
                     else name)  # fmt: skip
    if calendar.custom_holidays:
        count = len(calendar.custom_holidays)
        parts.append(f"{count} other day{'s' if count != 1 else ''} off")
    return " + ".join(parts) or "none"


@organization_view(admin_writes=True)
@require_safe
def calendar_list(request):
    current = services.policies_ensure()  # also makes the two starting calendars
    used_by = defaultdict(list)
    for policy in current.values():
        used_by[policy.calendar_id].append(policy.get_kind_display())
    calendars = list(BusinessCalendar.objects.order_by("name"))
    for calendar in calendars:
        calendar.hours = hours_summary(calendar)
        calendar.holidays = _holiday_summary(calendar)
        calendar.used_by = used_by.get(calendar.pk, [])
    return render(
        request,
        "sla/settings_calendars.html",
        {"calendars": calendars, "may_edit": request.membership.is_admin, "tab": "calendars"},
    )


def _draft_calendar(form: CalendarForm) -> Calendar:
    """The calendar the form describes, unsaved, for the preview. Raises ValueError."""
    values = form.values()
    week = [parse_hours(text or "") for text in values.hours_by_weekday]
    try:
        return Calendar(
            values.timezone, week=week, always_open=values.always_open,
            holiday_country=values.holiday_country.upper(),
            holiday_subdivision=values.holiday_subdivision,
            custom_holidays=frozenset(values.custom_holidays),
        )  # fmt: skip
    except ValueError:
        raise
    except Exception as error:  # an unknown zone
        raise ValueError(str(error)) from error


def _holiday_names(calendar: Calendar, years: range) -> dict[date, str]:
    names: dict[date, str] = dict.fromkeys(calendar.custom_holidays, "Day off (this calendar)")
    if calendar.holiday_country:
        from holidays import country_holidays

        names.update(
            country_holidays(
                calendar.holiday_country, subdiv=calendar.holiday_subdivision or None, years=years
            )
        )
    return names


def calendar_preview(calendar: Calendar, *, now: datetime, target_minutes: int) -> dict:
    """The next ten holidays, and when an SQL handed off now (and at a few telling moments)
    would be due under the follow-up target."""
    tz = calendar.tz
    today = now.astimezone(tz).date()
    days = calendar.holidays_between(today, today + timedelta(days=3 * 366))[:10]
    names = _holiday_names(calendar, range(today.year, today.year + 4)) if days else {}
    holidays = [(day, names.get(day, "Holiday")) for day in days]
    moments = [("Now", now)]
    friday = datetime.combine(today + timedelta(days=(4 - today.weekday()) % 7), time(16, 30),
                              tzinfo=tz)  # fmt: skip
    if friday < now:
        friday += timedelta(days=7)
    moments.append(("Friday at 16:30", friday))
    if holidays:
        day, name = holidays[0]
        eve = day - timedelta(days=1)
        moments.append((f"The eve of {name}",
                        datetime.combine(eve, time(16, 30), tzinfo=tz)))  # fmt: skip
    amount = target_minutes * services.MICROS_PER_MINUTE
    deadlines = [
        (label, _local(start, calendar.tz_name), _local(calendar.add_us(start, amount),
                                                        calendar.tz_name))
        for label, start in moments
    ]  # fmt: skip
    return {
        "holidays": holidays,
        "deadlines": deadlines,
        "target": duration_words(target_minutes, business=not calendar.always_open),
        "open_now": calendar.is_working(now),
        "now": _local(now, calendar.tz_name),
    }


def _errors_text(form) -> str:
    return " ".join(
        f"{form[name].label}: {' '.join(texts)}" if name in form.fields else " ".join(texts)
        for name, texts in form.errors.items()
    )


def _calendar_page(request, *, calendar, form, status=200, preview=None):
    """The editor (admins) or the calendar's settings (everyone else), beside the preview of
    what the form says: the saved calendar on first view, the draft after "Preview"."""
    current = services.policies_ensure()
    if preview is None:
        try:
            if form.is_bound:
                compiled = _draft_calendar(form)
            elif calendar is not None:
                compiled = compiled_calendar(calendar)
            else:
                compiled = _draft_calendar_from_initial(form)
            target = current[SlaKind.FOLLOW_UP].target_minutes or 60
            preview = calendar_preview(compiled, now=timezone.now(), target_minutes=target)
        except (ValueError, NotImplementedError) as error:
            preview = {"error": str(error)}
    if status >= 400:
        _focus_first_error(form)
    return render(
        request,
        "sla/settings_calendar.html",
        {
            "calendar": calendar,
            "form": form,
            "preview": preview,
            "may_edit": request.membership.is_admin,
            "used_by": [
                p.get_kind_display()
                for p in current.values()
                if calendar is not None and p.calendar_id == calendar.pk
            ],
            "hours": hours_summary(calendar) if calendar is not None else [],
            "holiday_summary": _holiday_summary(calendar) if calendar is not None else "",
            "tab": "calendars",
            "not_saved": status >= 400,
        },
        status=status,
    )


def _draft_calendar_from_initial(form: CalendarForm) -> Calendar:
    initial = form.initial
    return Calendar(
        initial["timezone"],
        week=[parse_hours(initial.get(f"working_hours_{d}", "")) for d in range(7)],
        always_open=initial.get("always_open", False),
    )


def _calendar_post(request, calendar: BusinessCalendar | None):
    form = CalendarForm(request.POST)
    previewing = request.POST.get("action") == "preview"
    if not form.is_valid():
        # A preview answers 200 (htmx swaps only 2xx answers): the preview says what to fix.
        return _calendar_page(request, calendar=calendar, form=form,
                              status=200 if previewing else 400,
                              preview={"error": _errors_text(form)})  # fmt: skip
    if previewing:
        return _calendar_page(request, calendar=calendar, form=form)
    try:
        saved = services.calendar_save(values=form.values(), calendar=calendar)
    except ValidationError as error:
        _add_errors(form, error)
        return _calendar_page(request, calendar=calendar, form=form, status=400,
                              preview={"error": _errors_text(form)})  # fmt: skip
    messages.success(
        request,
        f"Calendar “{saved.name}” saved."
        + (" Running timers keep their deadlines; new ones use the new hours."
           if calendar is not None else ""),
    )  # fmt: skip
    return redirect("sla_calendar_edit", org_slug=request.organization.slug, calendar_id=saved.pk)


@organization_view(admin_writes=True, admin_reads=True)
@require_http_methods(["GET", "HEAD", "POST"])
def calendar_new(request):
    if request.method == "POST":
        return _calendar_post(request, None)
    initial = {"timezone": request.organization.timezone}
    for day in range(7):
        initial[f"working_hours_{day}"] = "09:00-17:00" if day < 5 else ""
    return _calendar_page(request, calendar=None, form=CalendarForm(initial=initial))


@organization_view(admin_writes=True)
@require_http_methods(["GET", "HEAD", "POST"])
def calendar_edit(request, calendar_id: int):
    calendar = _row_or_404(BusinessCalendar.objects, calendar_id)
    if request.method == "POST":
        return _calendar_post(request, calendar)
    return _calendar_page(
        request, calendar=calendar, form=CalendarForm(initial=CalendarForm.initial_from(calendar))
    )


# --- webhooks ---------------------------------------------------------------------------------


def _last_deliveries(endpoint_ids) -> dict[int, OutboxMessage]:
    """The latest webhook message of each endpoint: one query, whatever the number of rows."""
    rows = (
        OutboxMessage.objects.filter(channel=Channel.WEBHOOK, endpoint_id__in=list(endpoint_ids))
        .order_by("endpoint_id", "-created_at", "-id")
        .distinct("endpoint_id")
        .only("endpoint_id", "state", "sent_at", "created_at", "last_error", "attempts")
    )
    return {row.endpoint_id: row for row in rows}


def _decorate(endpoint: WebhookEndpoint, last: OutboxMessage | None) -> WebhookEndpoint:
    """What a row shows: its three switches and its latest delivery."""
    endpoint.switches = [
        (slug, field, SWITCH_LABELS[field], getattr(endpoint, field))
        for slug, field in SWITCHES.items()
    ]
    endpoint.last_delivery = last
    return endpoint


def _webhook_row(request, endpoint: WebhookEndpoint, *, test_result=None, row_error=""):
    _decorate(endpoint, _last_deliveries([endpoint.pk]).get(endpoint.pk))
    return render(
        request,
        "sla/settings_webhook_row.html",
        {"endpoint": endpoint, "test_result": test_result, "row_error": row_error},
    )


def _webhooks_done(request, message: str):
    messages.success(request, message)
    return redirect("sla_webhook_settings", org_slug=request.organization.slug)


@organization_view(admin_writes=True, admin_reads=True)
@require_http_methods(["GET", "HEAD", "POST"])
def webhook_list(request):
    form = WebhookForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                endpoint, secret = config_services.webhook_endpoint_create(**form.cleaned_data)
            except ValidationError as error:
                _add_errors(form, error)
            else:
                # Post/redirect/get: a reload must not add it twice. The secret waits in the
                # session for exactly one page view.
                if secret:
                    request.session[NEW_SECRET_SESSION_KEY] = [endpoint.pk, secret]
                return _webhooks_done(request, f"Endpoint “{endpoint.name}” added.")
        status = 400
        _focus_first_error(form)
    endpoints = list(WebhookEndpoint.objects.order_by("name"))
    last = _last_deliveries(e.pk for e in endpoints)
    for endpoint in endpoints:
        _decorate(endpoint, last.get(endpoint.pk))
    new_secret = request.session.pop(NEW_SECRET_SESSION_KEY, None)
    created = None
    if new_secret:
        created = next((e for e in endpoints if e.pk == new_secret[0]), None)
    return render(
        request,
        "sla/settings_webhooks.html",
        {
            "endpoints": endpoints,
            "form": form,
            "created": created,
            "created_secret": new_secret[1] if created else None,
            "tab": "webhooks",
        },
        status=status,
    )


@organization_view(admin_writes=True, admin_reads=True)
@require_POST
def webhook_switch(request, endpoint_id: int, switch: str):
    endpoint = _row_or_404(WebhookEndpoint.objects, endpoint_id)
    field = SWITCHES.get(switch)
    if field is None:
        raise Http404("No such switch.")
    form = SwitchForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return _webhook_row(request, endpoint, row_error="Say on or off.")
        messages.error(request, "Say on or off.")
        return redirect("sla_webhook_settings", org_slug=request.organization.slug)
    on = form.cleaned_data["on"]
    config_services.webhook_endpoint_switch(endpoint=endpoint, **{field: on})
    if request.htmx:
        return _webhook_row(request, endpoint)
    words = SWITCH_WORDS[field][0 if on else 1]
    return _webhooks_done(request, f"“{endpoint.name}” {words}.")


@organization_view(admin_writes=True, admin_reads=True)
@require_POST
def webhook_delete(request, endpoint_id: int):
    endpoint = _row_or_404(WebhookEndpoint.objects, endpoint_id)
    config_services.webhook_endpoint_delete(endpoint=endpoint)
    return _webhooks_done(request, f"Endpoint “{endpoint.name}” deleted.")


@organization_view(admin_writes=True, admin_reads=True)
@require_POST
def webhook_test(request, endpoint_id: int):
    endpoint = _row_or_404(WebhookEndpoint.objects, endpoint_id)
    result = config_services.webhook_endpoint_test(endpoint=endpoint, now=timezone.now())
    if request.htmx:
        return _webhook_row(request, endpoint, test_result=result)
    text = f"Test to “{endpoint.name}”: {'delivered' if result.ok else 'failed'}, {result.message}."
    (messages.success if result.ok else messages.error)(request, text)
    return redirect("sla_webhook_settings", org_slug=request.organization.slug)
