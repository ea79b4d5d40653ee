"""The customer journey map page."""

from django.urls import path

from metrics import journey

urlpatterns = [
    path("o/<slug:org_slug>/journey/", journey.journey_page, name="metrics_journey"),
]
