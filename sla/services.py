"""SLA writes: calendars and policy versions, and the timers the leads workflow starts and stops.

Timers are started, stopped, paused, resumed and re-based here, always under a row lock, so the
minute sweep (`sla.sweep`) and a rep's click can never both decide the same timer's fate. A stop
after the deadline records the breach first: a breach is sticky, whoever notices it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leads.models import Lead, LeadFeedback, Stage
from revops.tenancy.context import current_organization
from revops.tenancy.copy import copy_insert
from revops.tenancy.models import Membership, User
from sla import notify
from sla.calendar import Calendar, parse_hours
from sla.models import (
    BusinessCalendar,
    EventKind,
    Notification,
    Recipient,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    SlaTimer,
    StopOn,
    TimerState,
    TimerTarget,
    VolumePeriod,
    compiled_calendar,
)

MICROS_PER_MINUTE = 60_000_000
MAX_TARGET_MINUTES = 366 * 24 * 60

DEFAULT_POLICIES = {
    SlaKind.FOLLOW_UP: {
        "target_minutes": 60,
        "notify_on_warning": [Recipient.OWNER],
        "notify_on_breach": [Recipient.OWNER, Recipient.MANAGER, Recipient.ADMINS],
    },
    SlaKind.FEEDBACK: {
        "target_minutes": 48 * 60,
        "resolve_target_minutes": 5 * 24 * 60,
        "notify_on_warning": [Recipient.MARKETING],
        "notify_on_breach": [Recipient.MARKETING, Recipient.ADMINS],
    },
    SlaKind.SQL_VOLUME: {
        "enabled": False,
        "volume_target": 20,
        "volume_period": VolumePeriod.MONTH,
        "notify_on_warning": [Recipient.MARKETING],
        "notify_on_breach": [Recipient.MARKETING, Recipient.ADMINS],
    },
}

BUSINESS_HOURS, ALWAYS_OPEN = "Business hours", "Around the clock"


# --- calendars --------------------------------------------------------------------------------


def calendars_ensure() -> tuple[BusinessCalendar, BusinessCalendar]:
    """The two calendars every organization starts with: weekday office hours in its time
    zone, and 24/7 (for the feedback SLA's 48 hours)."""
    organization = current_organization()
    business, _ = BusinessCalendar.objects.get_or_create(
        name=BUSINESS_HOURS, defaults={"timezone": organization.timezone}
    )
    always, _ = BusinessCalendar.objects.get_or_create(
        name=ALWAYS_OPEN, defaults={"timezone": organization.timezone, "always_open": True}
    )
    return business, always


@dataclass(frozen=True)
class CalendarValues:
    name: str
    timezone: str
    always_open: bool
    hours_by_weekday: list[str]  # seven texts, Monday first: "09:00-12:00, 13:00-17:00"
    holiday_country: str = ""
    holiday_subdivision: str = ""
    custom_holidays: tuple = ()


def _calendar_fields(values: CalendarValues) -> dict:
    errors, week = {}, {}
    if len(values.hours_by_weekday) != 7:
        raise ValidationError({"working_hours": "Give working hours for all seven weekdays."})
    for day, text in enumerate(values.hours_by_weekday):
        try:
            week[str(day)] = [list(interval) for interval in parse_hours(text or "")]
        except ValueError as error:
            errors[f"working_hours_{day}"] = str(error)
    country = (values.holiday_country or "").strip().upper()
    subdivision = (values.holiday_subdivision or "").strip()
    if country:
        from holidays import list_supported_countries

        supported = list_supported_countries()
        if country not in supported:
            errors["holiday_country"] = f"'{country}' is not a supported country code (e.g. US)."
        elif subdivision:
            # Codes are mostly upper case, but not all (Germany's "Augsburg"): match either way.
            canonical = {code.upper(): code for code in supported[country]}
            subdivision = canonical.get(subdivision.upper(), subdivision)
        if country in supported and subdivision and subdivision not in supported[country]:
            errors["holiday_subdivision"] = (
                f"'{subdivision}' is not a subdivision of {country}: "
                f"{', '.join(supported[country][:12])}…"
            )
    elif subdivision:
        errors["holiday_subdivision"] = "Choose a country first."
    if errors:
        raise ValidationError(errors)
    fields = {
        "name": values.name.strip(), "timezone": values.timezone,
        "always_open": values.always_open, "working_hours": week,
        "holiday_country": country, "holiday_subdivision": subdivision,
        "custom_holidays": sorted(set(values.custom_holidays)),
    }  # fmt: skip
    try:
        Calendar(
            values.timezone, week=[week[str(d)] for d in range(7)],
            always_open=values.always_open,
        )  # fmt: skip
    except ValueError as error:
        raise ValidationError({"working_hours": str(error)}) from error
    except Exception as error:  # an unknown zone name
        raise ValidationError({"timezone": "Choose a known IANA time zone."}) from error
    return fields


def calendar_save(*, values: CalendarValues, calendar: BusinessCalendar | None = None):
    """Create or change a calendar. Running timers keep the deadlines computed when they
    started; the change applies to timers started (or re-based) afterwards."""
    fields = _calendar_fields(values)
    calendar = calendar or BusinessCalendar()
    for name, value in fields.items():
        setattr(calendar, name, value)
    calendar.full_clean(exclude=["organization"], validate_unique=False)
    if BusinessCalendar.objects.filter(name=calendar.name).exclude(pk=calendar.pk).exists():
        raise ValidationError({"name": "Another calendar has this name."})
    calendar.save()
    return calendar


# --- policies ---------------------------------------------------------------------------------


def policies_ensure() -> dict[str, SlaPolicy]:
    """The current version of each of the three policies, created with defaults if missing."""
    current = current_policies()
    missing = [kind for kind in SlaKind.values if kind not in current]
    if missing:
        business, always = calendars_ensure()
        with transaction.atomic():
            for kind in missing:
                calendar = always if kind == SlaKind.FEEDBACK else business
                SlaPolicy.objects.get_or_create(
                    kind=kind, version=1,
                    defaults={"calendar": calendar, **DEFAULT_POLICIES[kind],
                              "change_note": "Defaults"},
                )  # fmt: skip
        current = current_policies()
    return current


def current_policies() -> dict[str, SlaPolicy]:
    rows = (
        SlaPolicy.objects.order_by("kind", "-version").distinct("kind").select_related("calendar")
    )
    return {policy.kind: policy for policy in rows}


POLICY_FIELDS = (
    "enabled", "calendar", "target_minutes", "resolve_target_minutes", "warn_percent", "stop_on",
    "volume_target", "volume_period", "segment_field", "segment_targets", "notify_on_warning",
    "notify_on_breach", "escalation_emails", "email_notifications",
)  # fmt: skip


def _validate_policy(policy: SlaPolicy) -> None:
    errors = {}
    if policy.kind in (SlaKind.FOLLOW_UP, SlaKind.FEEDBACK) and not policy.target_minutes:
        errors["target_minutes"] = "Give the allowed time in minutes."
    for name in ("target_minutes", "resolve_target_minutes"):
        if (getattr(policy, name) or 0) > MAX_TARGET_MINUTES:
            errors[name] = "Allow at most a year."
    if policy.kind == SlaKind.FOLLOW_UP and policy.stop_on not in StopOn.values:
        errors["stop_on"] = "Choose what stops the clock."
    if policy.kind == SlaKind.SQL_VOLUME:
        if policy.volume_period not in VolumePeriod.values:
            errors["volume_period"] = "Choose week or month."
        if policy.segment_field:
            targets = policy.segment_targets
            if (
                not isinstance(targets, dict)
                or not targets
                or not all(
                    isinstance(k, str) and 0 < len(k) <= 100 and isinstance(v, int) and v > 0
                    for k, v in targets.items()
                )
            ):
                errors["segment_targets"] = "Give a positive SQL target for each segment value."
        elif not policy.volume_target:
            errors["volume_target"] = "Give the number of SQLs per period."
    if policy.resolve_target_minutes is not None and policy.kind != SlaKind.FEEDBACK:
        policy.resolve_target_minutes = None
    if errors:
        raise ValidationError(errors)


def policy_create_version(
    *, kind: str, actor: User | None, rebase_running: bool = False, change_note: str = "",
    now: datetime | None = None, **values,
) -> SlaPolicy:  # fmt: skip
    """Save a change as a new version. Running timers keep the version they started with,
    unless the admin chooses to re-base them onto this one; the choice is recorded."""
    if kind not in SlaKind.values:
        raise ValidationError({"kind": "Choose a kind of SLA."})
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a policy setting." for name in sorted(unknown)})
    now = now or timezone.now()
    previous = policies_ensure()[kind]
    with transaction.atomic():
        # Serialize concurrent edits of one policy: they would both take the same version.
        SlaPolicy.objects.select_for_update().filter(pk=previous.pk).first()
        latest = SlaPolicy.objects.filter(kind=kind).order_by("-version").first()
        policy = SlaPolicy(
            kind=kind,
            version=latest.version + 1,
            created_by=actor,
            change_note=change_note[:300],
            rebased_running=rebase_running,
            **{name: getattr(latest, name) for name in POLICY_FIELDS},
        )
        for name, value in values.items():
            setattr(policy, name, value)
        if policy.calendar.organization_id != current_organization().pk:
            raise ValidationError({"calendar": "Choose one of the organization's calendars."})
        _validate_policy(policy)
        policy.full_clean(exclude=["organization", "calendar", "created_by"])
        policy.save()
        if rebase_running and kind != SlaKind.SQL_VOLUME:
            policy.rebased_count = _rebase_running_timers(policy, actor=actor, now=now)
            policy.save(update_fields=["rebased_count", "updated_at"])
        if kind == SlaKind.SQL_VOLUME:
            from sla.volume import volume_period_open_current

            volume_period_open_current(policy=policy, now=now, replace_open=True)
    return policy


# --- starting timers --------------------------------------------------------------------------


def _deadlines(calendar: Calendar, started_at: datetime, target_us: int, warn_percent: int,
               paused_us: int = 0) -> tuple[datetime, datetime]:  # fmt: skip
    due = calendar.add_us(started_at, target_us + paused_us)
    warn = calendar.add_us(started_at, target_us * warn_percent // 100 + paused_us)
    return due, warn


def _new_timer(policy: SlaPolicy, target: str, minutes: int, started_at: datetime,
               **subject) -> SlaTimer:  # fmt: skip
    target_us = minutes * MICROS_PER_MINUTE
    due, warn = _deadlines(compiled_calendar(policy.calendar), started_at, target_us,
                           policy.warn_percent)  # fmt: skip
    return SlaTimer(
        organization=policy.organization, policy=policy, target=target,
        state=TimerState.RUNNING, started_at=started_at, target_us=target_us, due_at=due,
        warn_at=warn, next_check_at=warn, **subject,
    )  # fmt: skip


def _started_events(timers: list[SlaTimer], actor: User | None) -> list[SlaEvent]:
    return [
        SlaEvent(
            organization=timer.organization,
            timer=timer,
            kind=EventKind.STARTED,
            at=timer.started_at,
            actor=actor,
            detail=f"{timer.policy}: due {notify.local_time(timer.due_at, timer.policy)}.",
        )
        for timer in timers
    ]


def follow_up_start_many(leads: list[Lead], *, now: datetime, actor: User | None = None) -> int:
    """Start the follow-up clock of assigned SQLs that have none running (bulk intake)."""
    policy = policies_ensure()[SlaKind.FOLLOW_UP]
    leads = [lead for lead in leads if lead.stage == Stage.SQL and lead.owner_id]
    if not policy.enabled or not leads:
        return 0
    timers = [
        _new_timer(
            policy,
            TimerTarget.FOLLOW_UP,
            policy.target_minutes,
            now,
            lead=lead,
            owner_id=lead.owner_id,
        )
        for lead in leads
    ]
    copy_insert(SlaTimer, timers)
    copy_insert(SlaEvent, _started_events(timers, actor))
    return len(timers)


def _open_follow_up(lead: Lead) -> SlaTimer | None:
    return (
        SlaTimer.objects.select_for_update()
        .filter(lead=lead, target=TimerTarget.FOLLOW_UP, state__in=notify.OPEN_STATES)
        .select_related("policy__calendar")
        .first()
    )


def follow_up_assigned(*, lead: Lead, previous_owner_id: int | None, actor: User | None,
                       now: datetime) -> SlaTimer | None:  # fmt: skip
    """An SQL got an owner. First owner: the clock starts. A new owner: the clock keeps
    running (the lead waited anyway) and the reassignment is recorded on it."""
    if lead.stage != Stage.SQL or not lead.owner_id:
        return None
    with transaction.atomic():
        timer = _open_follow_up(lead)
        if timer is None:
            policy = policies_ensure()[SlaKind.FOLLOW_UP]
            if not policy.enabled:
                return None
            timer = _new_timer(policy, TimerTarget.FOLLOW_UP, policy.target_minutes, now,
                               lead=lead, owner_id=lead.owner_id)  # fmt: skip
            timer.save()
            SlaEvent.objects.bulk_create(_started_events([timer], actor))
            return timer
        if timer.owner_id != lead.owner_id:
            SlaTimer.objects.filter(pk=timer.pk).update(owner=lead.owner_id, updated_at=now)
            previous = User.objects.filter(pk=previous_owner_id).first()
            SlaEvent.objects.create(
                timer=timer, kind=EventKind.REASSIGNED, at=now, actor=actor,
                detail=f"From {previous or 'nobody'} to {lead.owner}; the clock keeps running.",
            )  # fmt: skip
            timer.owner_id = lead.owner_id
        return timer


def feedback_timers_start(*, item: LeadFeedback, now: datetime) -> list[SlaTimer]:
    """Sales filed feedback: marketing's clocks to acknowledge and to resolve it start."""
    policy = policies_ensure()[SlaKind.FEEDBACK]
    if not policy.enabled:
        return []
    targets = [(TimerTarget.ACKNOWLEDGE, policy.target_minutes)]
    if policy.resolve_target_minutes:
        targets.append((TimerTarget.RESOLVE, policy.resolve_target_minutes))
    timers = [
        _new_timer(policy, target, minutes, now, feedback=item, lead_id=item.lead_id)
        for target, minutes in targets
    ]
    SlaTimer.objects.bulk_create(timers)
    SlaEvent.objects.bulk_create(_started_events(timers, item.rater))
    return timers


# --- stopping timers --------------------------------------------------------------------------


def _close(timer: SlaTimer, *, state: str, at: datetime, actor: User | None, detail: str,
           now: datetime) -> None:  # fmt: skip
    """Meet or cancel a locked open timer at `at`. Past its deadline, the breach is recorded
    first (if the sweep has not already): a late stop never erases a breach."""
    if timer.state == TimerState.RUNNING and at > timer.due_at:
        notify.record_breaches([timer], now=now)
        timer.state, timer.breached_at = TimerState.BREACHED, timer.due_at
    calendar = compiled_calendar(timer.policy.calendar)
    until = timer.paused_at if timer.state == TimerState.PAUSED else at
    elapsed = max(0, calendar.business_us(timer.started_at, until) - timer.paused_us)
    fields = {"state": state, "next_check_at": None, "elapsed_us": elapsed, "updated_at": now,
              "breached_at": timer.breached_at}  # fmt: skip
    fields["met_at" if state == TimerState.MET else "cancelled_at"] = at
    SlaTimer.objects.filter(pk=timer.pk).update(**fields)
    SlaEvent.objects.create(
        timer=timer, kind=EventKind.MET if state == TimerState.MET else EventKind.CANCELLED,
        at=at, actor=actor, detail=detail,
    )  # fmt: skip


def follow_up_touched(*, lead: Lead, at: datetime, actor: User, now: datetime) -> None:
    """The owner's first touch meets the follow-up SLA (when the policy stops on touches)."""
    with transaction.atomic():
        timer = _open_follow_up(lead)
        if timer is not None and timer.policy.stop_on == StopOn.FIRST_TOUCH:
            _close(timer, state=TimerState.MET, at=at, actor=actor, now=now,
                   detail="The owner's first touch.")  # fmt: skip


def follow_up_stage_changed(*, lead: Lead, to_stage: str, actor: User | None, at: datetime):
    """Acceptance meets the SLA when the policy says so; converting meets it (the rep clearly
    followed up); rejecting, nurturing or disqualifying ends sales' commitment."""
    if to_stage == Stage.SQL:
        return
    with transaction.atomic():
        timer = _open_follow_up(lead)
        if timer is None:
            return
        if to_stage == Stage.ACCEPTED:
            if timer.policy.stop_on == StopOn.ACCEPTANCE:
                _close(timer, state=TimerState.MET, at=at, actor=actor, now=at,
                       detail="Hand-off accepted.")  # fmt: skip
        elif to_stage == Stage.OPPORTUNITY:
            _close(timer, state=TimerState.MET, at=at, actor=actor, now=at,
                   detail="Converted to an opportunity.")  # fmt: skip
        else:
            _close(timer, state=TimerState.CANCELLED, at=at, actor=actor, now=at,
                   detail=f"Lead moved to {Stage(to_stage).label}.")  # fmt: skip


def feedback_stopped(*, item: LeadFeedback, targets: tuple[str, ...], at: datetime,
                     actor: User) -> None:  # fmt: skip
    with transaction.atomic():
        timers = (
            SlaTimer.objects.select_for_update()
            .filter(feedback=item, target__in=targets, state__in=notify.OPEN_STATES)
            .select_related("policy__calendar")
        )
        for timer in timers:
            detail = "Acknowledged." if timer.target == TimerTarget.ACKNOWLEDGE else "Resolved."
            _close(timer, state=TimerState.MET, at=at, actor=actor, now=at, detail=detail)


# --- pause, resume, re-base -------------------------------------------------------------------


def _locked(timer: SlaTimer) -> SlaTimer:
    return SlaTimer.objects.select_for_update().select_related("policy__calendar").get(pk=timer.pk)


def timer_pause(*, timer: SlaTimer, actor: User, reason: str, now: datetime | None = None):
    """Stop the clock, e.g. while the prospect asked to be called after a trade fair."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why the clock stops."})
    now = now or timezone.now()
    with transaction.atomic():
        timer = _locked(timer)
        if timer.state != TimerState.RUNNING:
            raise ValidationError({"state": "Only a running timer can be paused."})
        if now >= timer.due_at:
            raise ValidationError({"state": "The deadline has passed; it can no longer pause."})
        SlaTimer.objects.filter(pk=timer.pk).update(
            state=TimerState.PAUSED, paused_at=now, next_check_at=None, updated_at=now
        )
        SlaEvent.objects.create(timer=timer, kind=EventKind.PAUSED, at=now, actor=actor,
                                detail=reason.strip()[:500])  # fmt: skip
    timer.refresh_from_db()
    return timer


def timer_resume(*, timer: SlaTimer, actor: User, now: datetime | None = None) -> SlaTimer:
    """Restart the clock: the deadline moves forward by the business time spent paused."""
    now = now or timezone.now()
    with transaction.atomic():
        timer = _locked(timer)
        if timer.state != TimerState.PAUSED:
            raise ValidationError({"state": "Only a paused timer can be resumed."})
        calendar = compiled_calendar(timer.policy.calendar)
        paused_us = timer.paused_us + calendar.business_us(timer.paused_at, now)
        due, warn = _deadlines(calendar, timer.started_at, timer.target_us,
                               timer.policy.warn_percent, paused_us)  # fmt: skip
        SlaTimer.objects.filter(pk=timer.pk).update(
            state=TimerState.RUNNING, paused_at=None, paused_us=paused_us, due_at=due,
            warn_at=warn, next_check_at=due if timer.warned_at else warn, updated_at=now,
        )  # fmt: skip
        SlaEvent.objects.create(
            timer=timer, kind=EventKind.RESUMED, at=now, actor=actor,
            detail=f"Due {notify.local_time(due, timer.policy)}.",
        )  # fmt: skip
    timer.refresh_from_db()
    return timer


def _rebase_running_timers(policy: SlaPolicy, *, actor: User | None, now: datetime) -> int:
    """Move the open, not yet breached timers of the policy's kind onto this version."""
    calendar = compiled_calendar(policy.calendar)
    timers = list(
        SlaTimer.objects.select_for_update()
        .filter(policy__kind=policy.kind, state__in=[TimerState.RUNNING, TimerState.PAUSED])
        .exclude(policy=policy)
        .select_related("policy")
    )
    events = []
    for timer in timers:
        minutes = (
            policy.resolve_target_minutes
            if timer.target == TimerTarget.RESOLVE
            else policy.target_minutes
        )
        if not minutes:
            continue
        old_due, old_version = timer.due_at, timer.policy.version
        timer.policy, timer.target_us = policy, minutes * MICROS_PER_MINUTE
        timer.due_at, timer.warn_at = _deadlines(
            calendar, timer.started_at, timer.target_us, policy.warn_percent, timer.paused_us
        )
        if timer.state == TimerState.RUNNING:
            timer.next_check_at = timer.due_at if timer.warned_at else timer.warn_at
        timer.updated_at = now
        events.append(
            SlaEvent(
                organization=timer.organization,
                timer=timer,
                kind=EventKind.REBASED,
                at=now,
                actor=actor,
                detail=f"v{old_version} → v{policy.version}: due "
                f"{notify.local_time(old_due, policy)} → "
                f"{notify.local_time(timer.due_at, policy)}.",
            )
        )
    SlaTimer.objects.bulk_update(
        timers, ["policy", "target_us", "due_at", "warn_at", "next_check_at", "updated_at"],
        batch_size=1000,
    )  # fmt: skip
    SlaEvent.objects.bulk_create(events, batch_size=1000)
    return len(events)


# --- breach explanations ----------------------------------------------------------------------


def breach_explain(*, event: SlaEvent, actor: User, explanation: str, is_admin: bool) -> SlaEvent:
    """The owner (or an admin) says why a breach happened: the breach log's reason column."""
    if event.kind != EventKind.BREACH:
        raise ValidationError({"event": "Only a breach can be explained."})
    if not explanation.strip():
        raise ValidationError({"explanation": "Say what happened."})
    timer = event.timer
    may = (
        is_admin
        or (timer is not None and timer.owner_id == actor.pk)
        or (
            Membership.objects.filter(user=actor, role__in=["marketing", "admin"]).exists()
            and (timer is None or timer.target != TimerTarget.FOLLOW_UP)
        )
    )
    if not may:
        raise ValidationError({"explanation": "Only the owner or a RevOps admin can explain it."})
    SlaEvent.objects.filter(pk=event.pk).update(
        explanation=explanation.strip()[:2000], explained_by=actor, updated_at=timezone.now()
    )
    event.refresh_from_db()
    return event


# --- in-app notifications ---------------------------------------------------------------------


def notification_mark_read(*, notification: Notification, user: User,
                           now: datetime | None = None) -> bool:  # fmt: skip
    """The user opened (or dismissed) one of their notifications. Someone else's is refused;
    an already read one keeps its first read time."""
    if notification.user_id != user.pk:
        raise ValidationError({"notification": "Not one of your notifications."})
    now = now or timezone.now()
    return bool(
        Notification.objects.filter(pk=notification.pk, user=user, read_at__isnull=True).update(
            read_at=now, updated_at=now
        )
    )


def notifications_mark_all_read(*, user: User, now: datetime | None = None) -> int:
    """Clear the bell: every unread notification of the user in this organization."""
    now = now or timezone.now()
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=now, updated_at=now
    )
