from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from revops.tenancy import selectors, services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, User


class Command(BaseCommand):
    help = "Create an API token for a member of an organization and print the token alone."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--email", required=True, help="The member the token acts as.")
        parser.add_argument("--name", default="Command line", help="What will use the token.")

    def handle(self, *args, org, email, name, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization has the slug '{org}'.")
        user = User.objects.filter(email__iexact=email).first()
        if user is None or selectors.membership_for(user=user, organization=organization) is None:
            raise CommandError(f"{email} is not a member of '{org}'.")
        with organization_scope(organization):
            try:
                _token, secret = services.api_token_create(user=user, name=name, created_by=user)
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(secret)
