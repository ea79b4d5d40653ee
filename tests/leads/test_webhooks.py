"""The signed inbound webhook: only correctly signed, fresh, first-time requests create leads."""

import json
import time
from io import StringIO

from django.core.management import call_command
from django.test import Client

from leads.models import Lead
from leads.webhooks import (
    TOLERANCE_SECONDS,
    inbound_lead_receive,
    inbound_webhook_rotate_secret,
    signature_for,
)
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase


class InboundWebhookTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_a):
            cls.secret = inbound_webhook_rotate_secret().signing_secret

    def post(self, payload, *, secret=None, timestamp=None, org="acme-test", key=None, raw=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "HTTP_X_REVOPS_TIMESTAMP": timestamp,
            "HTTP_X_REVOPS_SIGNATURE": "v1="
            + signature_for(secret or self.secret, timestamp, body),
        }
        if key:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        return Client().post(
            f"/hooks/o/{org}/leads/", body, content_type="application/json", **headers
        )

    def leads(self, organization):
        with organization_scope(organization):
            return list(Lead.objects.values_list("email", flat=True))

    def test_a_signed_submission_creates_a_lead_and_a_second_one_updates_it(self):
        response = self.post({"email": "Form@Lead.test", "full_name": "Form Lead"})
        assert response.status_code == 201, response.content
        again = self.post({"email": "form@lead.test", "title": "CFO"})
        assert again.status_code == 200
        assert again.json()["lead_id"] == response.json()["lead_id"]
        assert self.leads(self.org_a) == ["form@lead.test"]

    def test_a_bad_signature_is_401_and_creates_nothing(self):
        response = self.post({"email": "x@lead.test"}, secret="whsec_wrong")
        assert response.status_code == 401
        assert "X-RevOps-Signature" in response.json()
        assert self.leads(self.org_a) == []

    def test_a_stale_timestamp_is_400(self):
        # A minute past the tolerance either way, so a slow request cannot bring it back inside.
        off_by = TOLERANCE_SECONDS + 60
        response = self.post({"email": "x@lead.test"}, timestamp=int(time.time()) - off_by)
        assert response.status_code == 400
        assert "X-RevOps-Timestamp" in response.json()
        future = self.post({"email": "x@lead.test"}, timestamp=int(time.time()) + off_by)
        assert future.status_code == 400
        assert self.leads(self.org_a) == []

    def test_the_tolerance_is_five_minutes_either_way(self):
        signed_at = 1_800_000_000
        body = json.dumps({"email": "edge@lead.test"}).encode()
        headers = {
            "X-RevOps-Timestamp": str(signed_at),
            "X-RevOps-Signature": "v1=" + signature_for(self.secret, str(signed_at), body),
        }

        def status(now):
            with organization_scope(self.org_a):
                return inbound_lead_receive(
                    organization=self.org_a, headers=headers, body=body, now=now
                ).status

        assert status(signed_at + TOLERANCE_SECONDS + 1) == 400
        assert status(signed_at - TOLERANCE_SECONDS - 1) == 400
        assert status(signed_at + TOLERANCE_SECONDS) == 201

    def test_a_replayed_request_is_409(self):
        timestamp = int(time.time())
        assert self.post({"email": "x@lead.test"}, timestamp=timestamp).status_code == 201
        replay = self.post({"email": "x@lead.test"}, timestamp=timestamp)
        assert replay.status_code == 409
        assert self.leads(self.org_a) == ["x@lead.test"]

    def test_retries_with_an_idempotency_key_create_one_lead(self):
        first = self.post({"email": "retry@lead.test"}, key="form-42")
        # A retry is re-signed (fresh timestamp) but carries the same key.
        retry = self.post(
            {"email": "retry@lead.test"}, key="form-42", timestamp=int(time.time()) + 1
        )
        assert first.status_code == 201 and retry.status_code == 200
        assert retry.json() == {"lead_id": first.json()["lead_id"], "created": True}
        assert self.leads(self.org_a) == ["retry@lead.test"]

    def test_bad_payloads_are_field_level_400s(self):
        cases = [
            ({"email": "not-an-email"}, "email"),
            ({"favourite_colour": "blue"}, "favourite_colour"),
            ({"email": "a@b.test", "company_size": "many"}, "company_size"),
        ]
        for payload, field in cases:
            response = self.post(payload)
            assert response.status_code == 400, payload
            assert field in response.json(), response.json()
        assert self.post(None, raw=b"[1, 2]").status_code == 400
        assert self.post(None, raw=b"{not json").status_code == 400
        assert self.leads(self.org_a) == []

    def test_one_organizations_secret_does_not_open_another(self):
        response = self.post({"email": "x@lead.test"}, org="globex-test")
        assert response.status_code == 404  # globex has no webhook configured
        with organization_scope(self.org_b):
            inbound_webhook_rotate_secret()
        response = self.post({"email": "x@lead.test"}, org="globex-test")
        assert response.status_code == 401
        assert self.leads(self.org_b) == []

    def test_rotating_the_secret_retires_the_old_one(self):
        out = StringIO()
        call_command("inbound_webhook_secret", "--org", "acme-test", stdout=out)
        new_secret = out.getvalue().strip()
        assert new_secret.startswith("whsec_") and new_secret != self.secret
        assert self.post({"email": "x@lead.test"}).status_code == 401
        assert self.post({"email": "x@lead.test"}, secret=new_secret).status_code == 201

    def test_only_post_is_accepted(self):
        assert Client().get("/hooks/o/acme-test/leads/").status_code == 405
