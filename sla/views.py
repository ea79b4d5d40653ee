"""SLA pages: the report everyone sees."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from revops.tenancy.access import organization_view
from sla import selectors


@organization_view
def sla_report(request):
    end = timezone.now()
    start = end - timedelta(days=30)
    return render(
        request,
        "sla/report.html",
        {
            "compliance": selectors.compliance(start=start, end=end),
            "breaches": selectors.breach_log(start=start, end=end)[:50],
        },
    )
