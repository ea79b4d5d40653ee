"""The dashboard is the organization's home page: it keeps the URL name `organization_home`."""

from django.urls import path

from metrics import dashboard

urlpatterns = [
    path("o/<slug:org_slug>/", dashboard.dashboard, name="organization_home"),
]
