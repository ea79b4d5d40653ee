"""Webhooks go to public addresses only: an organization must not reach the servers' network."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from revops.tenancy.context import organization_scope
from sla import config_services, outbox
from sla.models import Channel, DeliveryState, OutboxMessage, SlaEvent
from sla.sweep import sweep
from tests.base import TwoOrganizationsTestCase
from tests.sla.base import SlaTestCase
from tests.sla.test_timers import TUESDAY_10

INWARD = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data",  # cloud metadata
    "http://[::1]/hook",
]


class WebhookAddressTests(TwoOrganizationsTestCase):
    def setUp(self):
        self.enterContext(organization_scope(self.org_a))

    @override_settings(WEBHOOKS_ALLOW_PRIVATE_HOSTS=False)
    def test_an_endpoint_on_a_private_or_loopback_address_is_refused(self):
        for number, url in enumerate(INWARD):
            with self.subTest(url), pytest.raises(ValidationError) as error:
                config_services.webhook_endpoint_create(
                    name=f"inward {number}", url=url, format="generic"
                )
            assert "public addresses only" in error.value.message_dict["url"][0]

    @override_settings(WEBHOOKS_ALLOW_PRIVATE_HOSTS=False)
    def test_a_public_address_is_accepted(self):
        endpoint, secret = config_services.webhook_endpoint_create(
            name="partner", url="https://93.184.215.14/hooks/revops", format="generic"
        )
        assert endpoint.pk and secret.startswith("whsec_")


class PrivateDeliveryTests(SlaTestCase):
    def test_delivery_to_an_address_that_became_private_is_refused_and_retried(self):
        endpoint, _ = config_services.webhook_endpoint_create(
            name="ops", url="http://127.0.0.1:9/hook", format="slack"
        )
        self.hand_off(TUESDAY_10)
        sweep(TUESDAY_10 + timedelta(hours=2))  # late: the breach alone, no warning
        now = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
        OutboxMessage.objects.filter(channel=Channel.EMAIL).delete()
        with override_settings(WEBHOOKS_ALLOW_PRIVATE_HOSTS=False):
            report = outbox.deliver_due(now)
        assert (report.sent, report.retrying) == (0, 1)
        for message in OutboxMessage.objects.filter(endpoint=endpoint):
            assert message.state == DeliveryState.PENDING
            assert "is on a private network" in message.last_error
        assert SlaEvent.objects.filter(kind="breach").count() == 1
