"""The demo organizations and people `seed_demo` creates; later features add their data here."""

from django.db import transaction
from django.utils import timezone

from revops.tenancy import services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Membership, Organization, Role, User

DEMO_PASSWORD = "revops-demo"  # noqa: S105  (printed by make run; demo data only)

DEMO_ORGANIZATIONS = [
    {"slug": "acme", "name": "Acme Analytics", "timezone": "America/New_York", "currency": "USD"},
    {"slug": "globex", "name": "Globex Europe", "timezone": "Europe/Berlin", "currency": "EUR"},
]

# (email, name, {org slug: role}). The admin belongs to both so the switcher has a use.
DEMO_PEOPLE = [
    ("admin@demo.revops", "Avery Admin", {"acme": Role.ADMIN, "globex": Role.ADMIN}),
    ("marketing@demo.revops", "Morgan Marketing", {"acme": Role.MARKETING}),
    ("sales@demo.revops", "Sam Sales", {"acme": Role.SALES}),
    ("sales2@demo.revops", "Sky Sales", {"acme": Role.SALES}),
    ("viewer@demo.revops", "Vic Viewer", {"acme": Role.VIEWER}),
    ("marketing@globex.demo.revops", "Greta Marketing", {"globex": Role.MARKETING}),
    ("sales@globex.demo.revops", "Gus Sales", {"globex": Role.SALES}),
    ("sales2@globex.demo.revops", "Gale Sales", {"globex": Role.SALES}),
    ("viewer@globex.demo.revops", "Gina Viewer", {"globex": Role.VIEWER}),
]


@transaction.atomic
def seed_demo(*, with_activity: bool = True) -> list[tuple[str, str]]:
    """Create the demo organizations and people if missing; returns (email, roles) lines.

    `with_activity` adds 180 days of synthetic leads, hand-offs and feedback (about 20 s);
    tests that only need the people skip it. Idempotent: a second run changes nothing.
    """
    organizations = {}
    for spec in DEMO_ORGANIZATIONS:
        organization = Organization.objects.filter(slug=spec["slug"]).first()
        if organization is None:
            organization = services.organization_create(
                name=spec["name"],
                slug=spec["slug"],
                timezone_name=spec["timezone"],
                currency=spec["currency"],
            )
        organizations[spec["slug"]] = organization

    logins = []
    for email, name, roles in DEMO_PEOPLE:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = services.user_create(email=email, password=DEMO_PASSWORD, full_name=name)
        for slug, role in roles.items():
            with organization_scope(organizations[slug]):
                if not Membership.objects.filter(user=user).exists():
                    services.membership_add(user=user, role=role)
        logins.append((email, ", ".join(f"{role.label} of {slug}" for slug, role in roles.items())))

    # Imported here: leads depends on tenancy, not the other way round.
    from leads.demo import seed_leads_demo
    from metrics.demo import seed_metrics_demo

    if with_activity:
        now = timezone.now()
        for organization in organizations.values():
            seed_leads_demo(organization, now)
            seed_metrics_demo(organization, now)
    return logins
