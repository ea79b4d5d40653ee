from django.urls import path

from revops.tenancy import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("invite/<str:secret>/", views.invitation_accept, name="invitation_accept"),
    path("o/<slug:org_slug>/members/", views.members, name="members"),
    path(
        "o/<slug:org_slug>/members/<int:membership_id>/role/", views.member_role, name="member_role"
    ),
    path(
        "o/<slug:org_slug>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "o/<slug:org_slug>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("o/<slug:org_slug>/settings/", views.organization_settings, name="organization_settings"),
    path("o/<slug:org_slug>/settings/tokens/", views.api_tokens, name="api_tokens"),
    path(
        "o/<slug:org_slug>/settings/tokens/<int:token_id>/revoke/",
        views.api_token_revoke,
        name="api_token_revoke",
    ),
]
