import json

from django.core.management.base import BaseCommand, CommandError

from cryptr_sso.api.errors import ApiError
from organizations.models import Organization
from organizations.scopes import ALL_SCOPES
from organizations.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for /api/v2 and print its client_id and client_secret (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'billing backend'.")
        parser.add_argument(
            "--organization",
            action="append",
            default=[],
            metavar="DOMAIN",
            help="Limit the key to this organization (repeat for several). Default: all.",
        )
        parser.add_argument(
            "--scopes",
            nargs="+",
            default=None,
            metavar="SCOPE",
            help=f"Scopes of the key. Default: all of {' '.join(ALL_SCOPES)}.",
        )

    def handle(self, *args, name, organization, scopes, **options):
        organizations = []
        for domain in organization:
            found = Organization.objects.filter(domain=domain).first()
            if found is None:
                raise CommandError(f"There is no organization with the domain '{domain}'.")
            organizations.append(found)
        try:
            api_key, secret = api_key_create(name=name, organizations=organizations or None, scopes=scopes)
        except ApiError as error:
            raise CommandError(str(error.detail)) from None
        self.stdout.write(
            json.dumps(
                {
                    "name": api_key.name,
                    "client_id": api_key.client_id,
                    "client_secret": secret,
                    "scopes": api_key.scopes,
                    "organizations": [o.domain for o in organizations] or "all",
                },
                indent=2,
            )
        )
        self.stderr.write("Keep client_secret now: it is stored hashed and cannot be shown again.")
