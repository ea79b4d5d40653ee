"""OpenAPI descriptions of the two API authentication schemes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "revops.tenancy.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A per-user, per-organization API token (create one under "
            "Settings → API tokens, or `manage.py create_api_token`).",
        }


class OrganizationSessionScheme(OpenApiAuthenticationExtension):
    target_class = "revops.tenancy.authentication.OrganizationSessionAuthentication"
    name = "browserSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The browser's session; name the organization in X-Organization.",
        }
