"""Signed inbound webhook: marketing tools post form submissions; each becomes (or updates) a lead.

Signature: `X-RevOps-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` with
`X-RevOps-Timestamp: <unix seconds>`. Refused: a timestamp more than 5 minutes away (400), a bad
signature (401), a signature already used (409, a replay). `Idempotency-Key` makes retries safe:
the same key returns the first result and creates nothing new.
"""

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from leads import services
from leads.models import InboundDelivery, InboundWebhook
from revops.tenancy.models import Organization

TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class WebhookResult:
    status: int
    body: dict


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def inbound_webhook_rotate_secret() -> InboundWebhook:
    """Create the organization's endpoint, or give it a new secret (the old one stops working)."""
    webhook, _ = InboundWebhook.objects.update_or_create(
        defaults={"signing_secret": "whsec_" + secrets.token_hex(24), "active": True}
    )
    return webhook


def _error(status: int, field: str, message: str) -> WebhookResult:
    return WebhookResult(status, {field: [message]})


def inbound_lead_receive(
    *, organization: Organization, headers, body: bytes, now: float | None = None
) -> WebhookResult:
    """Verify and apply one delivery inside the organization's scope."""
    webhook = InboundWebhook.objects.filter(active=True).first()
    if webhook is None:
        return _error(404, "detail", "This organization has no inbound webhook.")
    timestamp = headers.get("X-RevOps-Timestamp", "")
    if not timestamp.isdigit():
        return _error(400, "X-RevOps-Timestamp", "Send the Unix time the request was signed.")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return _error(400, "X-RevOps-Timestamp", "Signed more than 5 minutes from now; re-sign.")
    provided = headers.get("X-RevOps-Signature", "").removeprefix("v1=")
    expected = signature_for(webhook.signing_secret, timestamp, body)
    if not hmac.compare_digest(provided, expected):
        return _error(401, "X-RevOps-Signature", "Signature does not match the body.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body", "The body must be a JSON object.")
    if not isinstance(payload, dict):
        return _error(400, "body", "The body must be a JSON object.")

    key = headers.get("Idempotency-Key", "")[:200]
    if key:
        earlier = InboundDelivery.objects.filter(idempotency_key=key).first()
        if earlier is not None:
            return _replayed_result(earlier)
    try:
        with transaction.atomic():
            # Claimed first: a concurrent duplicate waits on the unique index, then fails here.
            delivery = InboundDelivery.objects.create(signature=expected, idempotency_key=key)
            lead, created = services.lead_upsert(actor=None, **_lead_values(payload))
            delivery.lead, delivery.created_lead = lead, created
            delivery.save(update_fields=["lead", "created_lead", "updated_at"])
    except IntegrityError:
        earlier = InboundDelivery.objects.filter(idempotency_key=key).first() if key else None
        if earlier is not None:
            return _replayed_result(earlier)
        return _error(409, "X-RevOps-Signature", "This signed request was already received.")
    except ValidationError as error:
        detail = error.message_dict if hasattr(error, "error_dict") else {"body": error.messages}
        return WebhookResult(400, detail)
    return WebhookResult(201 if created else 200, {"lead_id": lead.pk, "created": created})


def _replayed_result(delivery: InboundDelivery) -> WebhookResult:
    return WebhookResult(200, {"lead_id": delivery.lead_id, "created": delivery.created_lead})


def _lead_values(payload: dict) -> dict:
    unknown = sorted(set(payload) - set(services.LEAD_FIELDS) - {"campaign"})
    if unknown:
        raise ValidationError({name: "Not a lead field." for name in unknown})
    if "campaign" in payload:
        raise ValidationError({"campaign": "Campaigns are linked in RevOps Hub, not by webhook."})
    return payload
