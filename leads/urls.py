"""Pages of the leads app, under the organization named in the URL."""

from django.urls import path

from leads import import_views, views

LEAD = "o/<slug:org_slug>/leads/<int:lead_id>/"

urlpatterns = [
    path("o/<slug:org_slug>/leads/", views.lead_list, name="lead_list"),
    path("o/<slug:org_slug>/leads/assign/", views.lead_bulk_assign, name="lead_bulk_assign"),
    path(LEAD, views.lead_detail, name="lead_detail"),
    path(f"{LEAD}mql/", views.lead_mark_mql, name="lead_mark_mql"),
    path(f"{LEAD}force-qualify/", views.lead_force_qualify, name="lead_force_qualify"),
    path(f"{LEAD}accept/", views.lead_accept, name="lead_accept"),
    path(f"{LEAD}convert/", views.lead_convert, name="lead_convert"),
    path(f"{LEAD}win/", views.lead_close, {"outcome": "win"}, name="lead_win"),
    path(f"{LEAD}lose/", views.lead_close, {"outcome": "lose"}, name="lead_lose"),
    path(f"{LEAD}exit/", views.lead_exit, name="lead_exit"),
    path(f"{LEAD}reject/", views.lead_reject, name="lead_reject"),
    path(f"{LEAD}touch/", views.lead_touch, name="lead_touch"),
    path(f"{LEAD}rate/", views.lead_rate, name="lead_rate"),
    path("o/<slug:org_slug>/queue/", views.rep_queue, name="rep_queue"),
    path("o/<slug:org_slug>/feedback/", views.feedback_inbox, name="feedback_inbox"),
    path(
        "o/<slug:org_slug>/feedback/<int:item_id>/acknowledge/",
        views.feedback_acknowledge,
        name="feedback_acknowledge",
    ),
    path(
        "o/<slug:org_slug>/feedback/<int:item_id>/resolve/",
        views.feedback_resolve,
        name="feedback_resolve",
    ),
    path("o/<slug:org_slug>/campaigns/", views.campaign_list, name="campaign_list"),
    path(
        "o/<slug:org_slug>/qualification/", views.qualification_policy, name="qualification_policy"
    ),
    path("o/<slug:org_slug>/leads/import/", import_views.import_upload, name="lead_import_upload"),
    path(
        "o/<slug:org_slug>/leads/imports/<int:import_id>/",
        import_views.import_status,
        name="lead_import_status",
    ),
    path(
        "o/<slug:org_slug>/leads/imports/<int:import_id>/map/",
        import_views.import_map,
        name="lead_import_map",
    ),
    path("o/<slug:org_slug>/leads/export.csv", import_views.lead_export, name="lead_export"),
]
