from django.core.management.base import BaseCommand

from revops.tenancy.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Create the demo organizations and their people (safe to run again)."

    def handle(self, *args, **options):
        logins = seed_demo()
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}):")
        for email, roles in logins:
            self.stdout.write(f"  {email:<32} {roles}")
