from django.core.management.base import BaseCommand, CommandError

from leads.webhooks import inbound_webhook_rotate_secret
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization


class Command(BaseCommand):
    help = "Create or rotate an organization's inbound-webhook signing secret and print it."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")

    def handle(self, *args, org, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization has the slug '{org}'.")
        with organization_scope(organization):
            webhook = inbound_webhook_rotate_secret()
        self.stdout.write(webhook.signing_secret)
