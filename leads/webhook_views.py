"""The HTTP edge of the signed inbound webhook (see leads/webhooks.py for the contract)."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from leads.webhooks import inbound_lead_receive
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization


@csrf_exempt  # authenticated by its HMAC signature, not by a browser session
@require_POST
def inbound_lead(request, org_slug: str):
    organization = Organization.objects.filter(slug=org_slug).first()
    if organization is None:
        return JsonResponse({"detail": ["No such organization."]}, status=404)
    with organization_scope(organization):
        result = inbound_lead_receive(
            organization=organization, headers=request.headers, body=request.body
        )
    return JsonResponse(result.body, status=result.status)
