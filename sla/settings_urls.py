"""The SLA settings pages (policies, business calendars, outgoing webhooks) and their actions."""

from django.urls import path

from sla import settings_views as views

PAGE = "o/<slug:org_slug>/settings/sla/"

urlpatterns = [
    path(PAGE, views.sla_policies, name="sla_settings"),
    path(f"{PAGE}policies/<slug:kind>/", views.sla_policy_save, name="sla_policy_save"),
    path(f"{PAGE}calendars/", views.calendar_list, name="sla_calendars"),
    path(f"{PAGE}calendars/new/", views.calendar_new, name="sla_calendar_new"),
    path(f"{PAGE}calendars/<int:calendar_id>/", views.calendar_edit, name="sla_calendar_edit"),
    path(f"{PAGE}webhooks/", views.webhook_list, name="sla_webhook_settings"),
    path(
        f"{PAGE}webhooks/<int:endpoint_id>/switch/<slug:switch>/",
        views.webhook_switch,
        name="sla_webhook_switch",
    ),
    path(
        f"{PAGE}webhooks/<int:endpoint_id>/delete/",
        views.webhook_delete,
        name="sla_webhook_delete",
    ),
    path(f"{PAGE}webhooks/<int:endpoint_id>/test/", views.webhook_test, name="sla_webhook_test"),
]
