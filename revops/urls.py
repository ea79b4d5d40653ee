from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from leads import api as leads_api
from leads import config_api as leads_config_api
from leads import webhook_views
from revops.tenancy import api as tenancy_api
from revops.tenancy import views as tenancy_views

router = DefaultRouter(trailing_slash=True, use_regex_path=False)
router.include_root_view = False
router.register("members", tenancy_api.MembershipViewSet, basename="membership")
router.register("invitations", tenancy_api.InvitationViewSet, basename="invitation")
router.register("tokens", tenancy_api.ApiTokenViewSet, basename="apitoken")
leads_config_api.register(router)

api_v1 = [
    path("me/", tenancy_api.WhoAmIView.as_view(), name="api-me"),
    path("organization/", tenancy_api.OrganizationView.as_view(), name="api-organization"),
    *router.urls,
    *leads_api.router.urls,
    path("", include("sla.api")),  # /api/v1/sla/...
    path("", include("metrics.api")),  # /api/v1/metrics/...
]

urlpatterns = [
    # The admin signs in through the same throttled login form as everyone else.
    path("admin/login/", tenancy_views.LoginView.as_view()),
    path("admin/", admin.site.urls),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("hooks/o/<slug:org_slug>/leads/", webhook_views.inbound_lead, name="inbound-lead"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("revops.tenancy.urls")),
    path("", include("metrics.dashboard_urls")),  # /o/<slug>/: the organization's home
    path("", include("leads.urls")),
    path("", include("leads.settings_urls")),
    path("", include("sla.urls")),
    path("", include("sla.settings_urls")),
    path("", include("metrics.urls")),
    path("", include("huddle.urls")),  # /o/<slug>/huddle/...
    path("", include("metrics.journey_urls")),
]
