"""Recording warnings and breaches, and fanning each out to its recipients.

Called inside the transaction that claimed the timer (or period): the event row, the in-app
notifications and the outbox rows for email and webhooks commit together or not at all. The
unique constraints on events, notifications and outbox rows make a second recording impossible
even if a caller got the claim wrong. Delivery (`sla.outbox`) happens after commit.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from leads.models import SalesRep
from revops.tenancy.context import current_organization
from revops.tenancy.copy import copy_insert
from revops.tenancy.models import Membership, Role
from sla.models import (
    OPEN_TIMER_STATES,
    Channel,
    EventKind,
    Notification,
    OutboxMessage,
    Recipient,
    SlaEvent,
    SlaPolicy,
    SlaTimer,
    TimerTarget,
    VolumePeriodResult,
    WebhookEndpoint,
)

OPEN_STATES = OPEN_TIMER_STATES
ROLE_RECIPIENTS = {Recipient.ADMINS: Role.ADMIN, Recipient.MARKETING: Role.MARKETING,
                   Recipient.SALES: Role.SALES}  # fmt: skip


def local_time(instant: datetime, policy: SlaPolicy) -> str:
    """A deadline as people of the calendar's time zone read it: 'Mon 23 Nov 10:00 CET'."""
    return instant.astimezone(ZoneInfo(policy.calendar.timezone)).strftime("%a %d %b %H:%M %Z")


def record_warnings(timers: list[SlaTimer], *, now: datetime) -> list[SlaEvent]:
    events = [
        SlaEvent(
            organization_id=t.organization_id,
            timer=t,
            kind=EventKind.WARNING,
            at=t.warn_at,
            detail=f"{t.policy.warn_percent}% of the allowed time used; due "
            f"{local_time(t.due_at, t.policy)}.",
        )
        for t in timers
    ]
    return _record(events, [(t, t.policy) for t in timers], now=now)


def record_breaches(timers: list[SlaTimer], *, now: datetime) -> list[SlaEvent]:
    events = [
        SlaEvent(
            organization_id=t.organization_id,
            timer=t,
            kind=EventKind.BREACH,
            at=t.due_at,
            detail=f"Not done by {local_time(t.due_at, t.policy)}.",
        )
        for t in timers
    ]
    return _record(events, [(t, t.policy) for t in timers], now=now)


def record_period_event(period: VolumePeriodResult, *, kind: str, at: datetime, detail: str,
                        now: datetime) -> SlaEvent:  # fmt: skip
    event = SlaEvent(organization_id=period.organization_id, period=period, kind=kind, at=at,
                     detail=detail)  # fmt: skip
    notify_too = kind in (EventKind.WARNING, EventKind.BREACH)
    return _record([event], [(period, period.policy)] if notify_too else [], now=now)[0]


def _record(events: list[SlaEvent], subjects: list, *, now: datetime) -> list[SlaEvent]:
    copy_insert(SlaEvent, events)
    if subjects:
        _fan_out(list(zip(events, subjects, strict=True)), now=now)
        # Deliver right after commit; the minute sweep retries whatever this misses.
        transaction.on_commit(_enqueue_delivery)
    return events


def _enqueue_delivery() -> None:
    from sla.tasks import sla_outbox_deliver

    sla_outbox_deliver.delay()


# --- recipients and messages ------------------------------------------------------------------


class _Directory:
    """The organization's people, read once per batch of events."""

    def __init__(self):
        self.by_role: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self.email_of: dict[int, str] = {}
        for user_id, role, email in Membership.objects.filter(user__is_active=True).values_list(
            "user_id", "role", "user__email"
        ):
            self.by_role[role].append((user_id, email))
            self.email_of[user_id] = email
        self.manager_of = dict(
            SalesRep.objects.filter(manager__isnull=False).values_list("user_id", "manager_id")
        )
        self.endpoints = list(WebhookEndpoint.objects.filter(active=True))

    def users(self, keys, owner_id: int | None, *, escalate: bool) -> set[int]:
        chosen: set[int] = set()
        for key in keys:
            if key == Recipient.OWNER and owner_id:
                chosen.add(owner_id)
            elif key in ROLE_RECIPIENTS:
                chosen.update(user_id for user_id, _ in self.by_role[ROLE_RECIPIENTS[key]])
        if (escalate or Recipient.MANAGER in keys) and owner_id in self.manager_of:
            chosen.add(self.manager_of[owner_id])
        return {user_id for user_id in chosen if user_id in self.email_of}


def _message(event: SlaEvent, subject) -> tuple[str, str, str]:
    """Title, body and link of an event's notification."""
    slug = current_organization().slug
    verb = "at risk" if event.kind == EventKind.WARNING else "breached"
    if isinstance(subject, VolumePeriodResult):
        what = f"SQL volume {subject.segment or ''}".strip()
        link = reverse("sla_report", args=[slug])
        return f"{what} {verb}", event.detail, link
    lead = subject.lead
    name = str(lead) + (f" ({lead.company_name})" if lead.company_name else "")
    if subject.target == TimerTarget.FOLLOW_UP:
        title = f"Follow-up SLA {verb}: {name}"
        link = reverse("lead_detail", args=[slug, lead.pk])
    else:
        title = f"Feedback {subject.get_target_display().split()[0].lower()} SLA {verb}: {name}"
        link = reverse("feedback_inbox", args=[slug])
    owner = f" Owner: {subject.owner}." if subject.owner_id else ""
    return title, f"{event.detail}{owner}", link


def _payload(event: SlaEvent, subject, policy: SlaPolicy, title: str, link: str) -> dict:
    data = {
        "id": f"evt_{event.pk}",
        "type": f"sla.{event.kind}",
        "occurred_at": event.at.isoformat(),
        "organization": current_organization().slug,
        "title": title,
        "detail": event.detail,
        "url": settings.SITE_URL + link,
        "policy": {"kind": policy.kind, "version": policy.version},
    }
    if isinstance(subject, VolumePeriodResult):
        data["period"] = {
            "id": subject.pk, "segment": subject.segment,
            "starts_at": subject.starts_at.isoformat(), "ends_at": subject.ends_at.isoformat(),
            "target": subject.target, "delivered": subject.delivered,
        }  # fmt: skip
    else:
        data["timer"] = {
            "id": subject.pk, "target": subject.target,
            "started_at": subject.started_at.isoformat(), "due_at": subject.due_at.isoformat(),
            "owner": subject.owner.email if subject.owner_id else None,
            "lead_id": subject.lead_id, "feedback_id": subject.feedback_id,
        }  # fmt: skip
    return data


def _fan_out(items: list[tuple[SlaEvent, tuple]], *, now: datetime) -> None:
    directory = _Directory()
    notifications, outbox = [], []
    for event, (subject, policy) in items:
        breach = event.kind == EventKind.BREACH
        keys = policy.notify_on_breach if breach else policy.notify_on_warning
        owner_id = getattr(subject, "owner_id", None)
        users = directory.users(keys, owner_id, escalate=breach)
        title, body, link = _message(event, subject)
        notifications += [
            Notification(
                organization_id=event.organization_id,
                user_id=user_id,
                event=event,
                title=title[:200],
                body=body[:500],
                url=link,
            )
            for user_id in sorted(users)
        ]
        emails = {directory.email_of[u] for u in users} if policy.email_notifications else set()
        if breach:
            emails.update(policy.escalation_emails)
        outbox += [
            OutboxMessage(organization_id=event.organization_id, event=event,
                          channel=Channel.EMAIL, recipient=email, subject=title[:200],
                          body=f"{body}\n\n{settings.SITE_URL}{link}\n", next_attempt_at=now)
            for email in sorted(emails)
        ]  # fmt: skip
        payload = _payload(event, subject, policy, title, link)
        outbox += [
            OutboxMessage(organization_id=event.organization_id, event=event,
                          channel=Channel.WEBHOOK, endpoint=endpoint, payload=payload,
                          subject=title[:200], next_attempt_at=now)
            for endpoint in directory.endpoints
            if (endpoint.on_breach if breach else endpoint.on_warning)
        ]  # fmt: skip
    # COPY, not bulk_create: a sweep catching up fans out tens of thousands of rows, and
    # compiling them into INSERTs was most of its time. (Scoped: _message needs the scope.)
    copy_insert(Notification, notifications)
    copy_insert(OutboxMessage, outbox)
