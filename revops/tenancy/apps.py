from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "revops.tenancy"
    label = "tenancy"
    verbose_name = "Organizations and access"

    def ready(self):
        from revops.tenancy import schema  # noqa: F401  (registers the OpenAPI auth schemes)
