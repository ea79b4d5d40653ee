"""Writes to the organization's outgoing SLA webhooks: add, switch, delete, and send a test.

Policies and calendars have their services in `sla.services` (versioned policies, calendar
validation); this module holds the endpoint bookkeeping the settings page needs, in the manner
of `leads.config_services`: run inside the caller's organization scope, validate everything,
raise `ValidationError` with a field dict, never `IntegrityError`.
"""

from __future__ import annotations

import secrets
import urllib.error
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.urls import reverse

from revops.tenancy.context import current_organization
from revops.tenancy.integrity import constraint_as_field_error
from sla import outbox
from sla.models import SlaKind, SlaPolicy, WebhookEndpoint, WebhookFormat

# What a switch may change; anything else is a programming error, not input.
WEBHOOK_SWITCHES = frozenset({"active", "on_warning", "on_breach"})
# The page waits for the answer: shorter than delivery's timeout, long enough for a slow hook.
TEST_TIMEOUT_SECONDS = 5
_url_validator = URLValidator(
    schemes=["http", "https"], message="Enter an http:// or https:// address."
)


def _text(value) -> str:
    return " ".join(str(value or "").split())


def webhook_endpoint_create(
    *, name: str, url: str, format: str, on_warning: bool = True, on_breach: bool = True
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint. A signed (generic) endpoint gets a new secret, returned here so the
    page can show it once; Slack's incoming webhooks are not signed."""
    name, url = _text(name), (url or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Name the endpoint, e.g. #revops-alerts."
    try:
        _url_validator(url)
        outbox.refuse_private_host(url)
    except ValidationError:
        errors["url"] = "Enter an http:// or https:// address."
    except outbox.PrivateAddressError as error:
        errors["url"] = f"{error} Webhooks go to public addresses only."
    except RuntimeError:
        pass  # not resolvable now; each delivery checks again
    if format not in WebhookFormat.values:
        errors["format"] = "Choose Slack or signed JSON."
    if name and WebhookEndpoint.objects.filter(name__iexact=name).exists():
        errors["name"] = f"An endpoint is already called “{name}”."
    if errors:
        raise ValidationError(errors)
    secret = f"whsec_{secrets.token_urlsafe(32)}" if format == WebhookFormat.GENERIC else ""
    endpoint = WebhookEndpoint(
        name=name, url=url, format=format, secret=secret, on_warning=on_warning,
        on_breach=on_breach,
    )  # fmt: skip
    endpoint.full_clean(exclude=["organization"], validate_unique=False)
    with constraint_as_field_error(
        "webhook_unique_name", "name", f"An endpoint is already called “{name}”."
    ):
        endpoint.save()
    return endpoint, secret


def webhook_endpoint_switch(*, endpoint: WebhookEndpoint, **switches: bool) -> WebhookEndpoint:
    """Turn an endpoint, or the warnings or breaches it gets, on or off."""
    unknown = set(switches) - WEBHOOK_SWITCHES
    if unknown:
        raise TypeError(f"Cannot switch {', '.join(sorted(unknown))}.")
    for name, value in switches.items():
        setattr(endpoint, name, bool(value))
    endpoint.save(update_fields=[*switches, "updated_at"])
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Messages still waiting for this endpoint go with it (they could not be sent anyway)."""
    endpoint.delete()


@dataclass(frozen=True)
class TestResult:
    ok: bool
    status: int | None
    message: str


def webhook_test_payload(*, endpoint: WebhookEndpoint, now: datetime) -> dict:
    """A sample shaped like a real event's payload, marked as a test."""
    organization = current_organization()
    policy = (
        SlaPolicy.objects.filter(kind=SlaKind.FOLLOW_UP).order_by("-version").only("version")
    ).first()
    return {
        "id": f"evt_test_{secrets.token_hex(6)}",
        "type": "sla.test",
        "test": True,
        "occurred_at": now.isoformat(),
        "organization": organization.slug,
        "title": "Test message from RevOps Hub",
        "detail": f"“{endpoint.name}” will receive SLA warnings and breaches here. "
        "Sent from the webhook settings; no lead is affected.",
        "url": settings.SITE_URL + reverse("sla_webhook_settings", args=[organization.slug]),
        "policy": {"kind": SlaKind.FOLLOW_UP.value, "version": policy.version if policy else 1},
    }


def webhook_endpoint_test(*, endpoint: WebhookEndpoint, now: datetime) -> TestResult:
    """Post a sample payload now, through the same request building and sending as delivery,
    and say what the far side answered. Nothing is recorded in the outbox."""
    request = outbox.endpoint_request(endpoint, webhook_test_payload(endpoint=endpoint, now=now))
    try:
        status = outbox.webhook_post(request, timeout=TEST_TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        return TestResult(False, error.code, f"HTTP {error.code} {error.reason}".strip())
    except urllib.error.URLError as error:
        return TestResult(False, None, f"Could not connect: {error.reason}")
    except Exception as error:  # a timeout, a refused scheme, an odd answer
        return TestResult(False, None, str(error) or error.__class__.__name__)
    return TestResult(True, status, f"HTTP {status}")
