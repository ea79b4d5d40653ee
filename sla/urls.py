from django.urls import path

from sla import views

urlpatterns = [
    path("o/<slug:org_slug>/sla/", views.sla_report, name="sla_report"),
]
