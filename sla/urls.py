from django.urls import path

from sla import views

SLA = "o/<slug:org_slug>/sla/"
NOTIFICATIONS = "o/<slug:org_slug>/notifications/"

urlpatterns = [
    path(SLA, views.sla_report, name="sla_report"),
    path(
        f"{SLA}breaches/<int:event_id>/explain/",
        views.sla_breach_explain,
        name="sla_breach_explain",
    ),
    path(f"{SLA}timers/", views.sla_timers, name="sla_timers"),
    path(f"{SLA}timers/<int:timer_id>/pause/", views.sla_timer_pause, name="sla_timer_pause"),
    path(f"{SLA}timers/<int:timer_id>/resume/", views.sla_timer_resume, name="sla_timer_resume"),
    path(NOTIFICATIONS, views.notification_list, name="notification_list"),
    path(f"{NOTIFICATIONS}bell/", views.notification_bell, name="notification_bell"),
    path(f"{NOTIFICATIONS}read-all/", views.notifications_read_all, name="notifications_read_all"),
    path(f"{NOTIFICATIONS}<int:pk>/", views.notification_open, name="notification_open"),
    path(f"{NOTIFICATIONS}<int:pk>/read/", views.notification_read, name="notification_read"),
]
