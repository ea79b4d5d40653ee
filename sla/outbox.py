"""Delivering the outbox: email through Django's configured backend, webhooks over HTTP.

A message is claimed with a conditional update that takes a lease (`sending`, `lease_until`), so
two workers never send it at the same time; it is marked sent only by the claim that sent it.
A failure returns it to `pending` with exponential backoff until it gives up. A worker that dies
after sending but before marking leaves the lease to expire and the message is sent again: the
one duplicate no sender can rule out, which is why every webhook carries the event id
(`X-RevOps-Event`) for the receiver to drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sla.models import Channel, DeliveryState, OutboxMessage, WebhookEndpoint, WebhookFormat

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8
WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min... capped at an hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def claim(now: datetime, limit: int) -> list[OutboxMessage]:
    """Take due messages (and those whose sender's lease ran out) for this worker."""
    with transaction.atomic():
        base = OutboxMessage.objects.unscoped()  # delivery serves every organization
        due = list(
            base.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if len(due) < limit:
            due += list(
                base.filter(state=DeliveryState.SENDING, lease_until__lte=now)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[: limit - len(due)]
            )
        if not due:
            return []
        base.filter(pk__in=due).update(
            state=DeliveryState.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1
        )
        return list(base.filter(pk__in=due).select_related("endpoint", "organization"))


def deliver_due(now: datetime | None = None, *, limit: int = 200) -> DeliveryReport:
    report = DeliveryReport()
    while True:
        now_ = now or timezone.now()
        messages = claim(now_, limit)
        for message in messages:
            _deliver(message, report, now_)
        if len(messages) < limit or now is not None:
            return report


def _deliver(message: OutboxMessage, report: DeliveryReport, now: datetime) -> None:
    base = OutboxMessage.objects.unscoped()  # delivery serves every organization
    mine = base.filter(pk=message.pk, state=DeliveryState.SENDING, attempts=message.attempts)
    try:
        if message.channel == Channel.EMAIL:
            send_email(message)
        else:
            send_webhook(message)
    except Exception as error:  # any failure of the far side: retry later
        logger.warning("Outbox message %s failed: %s", message.pk, error)
        gave_up = message.attempts >= MAX_ATTEMPTS
        mine.update(
            state=DeliveryState.FAILED if gave_up else DeliveryState.PENDING,
            # From the clock the claim used (and its lease), so a replayed `now` stays consistent.
            next_attempt_at=now + backoff(message.attempts),
            lease_until=None, last_error=str(error)[:500],
        )  # fmt: skip
        if gave_up:
            report.failed += 1
        else:
            report.retrying += 1
        return
    mine.update(state=DeliveryState.SENT, sent_at=timezone.now(), lease_until=None, last_error="")
    report.sent += 1


def send_email(message: OutboxMessage) -> None:
    EmailMessage(
        subject=f"[RevOps Hub] {message.subject}",
        body=message.body,
        to=[message.recipient],
        headers={"X-RevOps-Event": f"evt_{message.event_id}"},
    ).send(fail_silently=False)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Stripe signs its webhooks."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def webhook_request(message: OutboxMessage) -> urllib.request.Request:
    return endpoint_request(message.endpoint, message.payload)


def endpoint_request(endpoint: WebhookEndpoint, payload: dict) -> urllib.request.Request:
    """The POST of `payload` to `endpoint`, Slack-shaped or signed: what delivery sends, and
    what the settings page's "Send test" sends."""
    if endpoint.format == WebhookFormat.SLACK:
        marker = ":rotating_light:" if payload["type"] == "sla.breach" else ":warning:"
        document = {"text": f"{marker} *{payload['title']}*\n{payload['detail']}\n"
                            f"<{payload['url']}|Open in RevOps Hub>"}  # fmt: skip
    else:
        document = payload
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "RevOpsHub-Webhooks/1",
        "X-RevOps-Event": payload["id"],
    }
    if endpoint.format == WebhookFormat.GENERIC and endpoint.secret:
        headers["X-RevOps-Signature"] = sign(endpoint.secret, int(time.time()), body)
    # The organization admin's own endpoint; send_webhook refuses schemes other than http(s).
    return urllib.request.Request(endpoint.url, data=body, headers=headers, method="POST")  # noqa: S310


def send_webhook(message: OutboxMessage) -> None:
    if not message.endpoint.active:
        raise RuntimeError("The endpoint was switched off.")
    webhook_post(webhook_request(message))


class PrivateAddressError(RuntimeError):
    pass


def refuse_private_host(url: str) -> None:
    """Refuse a URL whose host resolves to a loopback, private, link-local or otherwise
    non-public address, unless WEBHOOKS_ALLOW_PRIVATE_HOSTS: an organization's webhook must not
    reach into the network the servers run in. Checked again at every send, so a name that
    later resolves inward is caught too."""
    if settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS:
        return
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError) as error:
        raise RuntimeError(f"Could not resolve {host}.") from error
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise PrivateAddressError(f"{host} is on a private network ({address}).")


def webhook_post(
    request: urllib.request.Request, *, timeout: float = WEBHOOK_TIMEOUT_SECONDS
) -> int:
    """Send a built webhook request: its HTTP status, or an exception for anything but 2xx."""
    if request.type not in ("http", "https"):
        raise RuntimeError("Only http and https webhook URLs are sent to.")
    refuse_private_host(request.full_url)
    # The URL is the organization admin's own endpoint, its scheme checked above.
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise RuntimeError(f"HTTP {response.status}")
        return response.status
