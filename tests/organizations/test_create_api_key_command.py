"""manage.py create_api_key: an operator's API key from the shell."""

import hashlib
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from organizations.models import ApiKey
from organizations.scopes import ALL_SCOPES


def create_api_key(*args) -> tuple[dict, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


def test_prints_client_id_and_secret_as_json_and_stores_only_the_hash(db):
    printed, warning = create_api_key("--name", "billing backend")
    assert {"client_id", "client_secret", "name", "scopes", "organizations"} <= set(printed)
    api_key = ApiKey.objects.get()
    assert printed["client_id"] == api_key.client_id and printed["name"] == "billing backend"
    assert printed["scopes"] == list(ALL_SCOPES) and printed["organizations"] == "all"
    assert api_key.all_organizations
    assert api_key.secret_hash == hashlib.sha256(printed["client_secret"].encode()).hexdigest()
    assert printed["client_secret"] not in str(ApiKey.objects.values().get())
    assert "cannot be shown again" in warning


def test_printed_credentials_get_a_token(db):
    printed, _ = create_api_key("--name", "backend")
    response = APIClient().post(
        "/api/v2/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": printed["client_id"],
            "client_secret": printed["client_secret"],
        },
    )
    assert response.status_code == 200, response.json()


def test_key_limited_to_organizations_and_scopes(make_org):
    misapret, boreal = make_org(name="Misapret"), make_org(name="B'Oréal")
    make_org(name="Other")
    printed, _ = create_api_key(
        "--name",
        "x",
        "--organization",
        "misapret",
        "--organization",
        "b-oreal",
        "--scopes",
        "read:users",
        "write:users",
    )
    api_key = ApiKey.objects.get()
    assert not api_key.all_organizations
    assert set(api_key.organizations.all()) == {misapret, boreal}
    assert api_key.scopes == ["read:users", "write:users"]
    assert printed["organizations"] == ["misapret", "b-oreal"]


def test_unknown_organization_is_refused_and_creates_nothing(make_org):
    make_org(name="Misapret")
    with pytest.raises(CommandError, match="nope"):
        create_api_key("--name", "x", "--organization", "nope")
    assert not ApiKey.objects.exists()


def test_unknown_scope_is_refused_and_creates_nothing(db):
    with pytest.raises(CommandError, match="read:everything"):
        create_api_key("--name", "x", "--scopes", "read:everything")
    assert not ApiKey.objects.exists()


def test_name_is_required(db):
    with pytest.raises(CommandError):
        call_command("create_api_key", stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


def test_each_run_makes_a_distinct_key(db):
    first, _ = create_api_key("--name", "a")
    second, _ = create_api_key("--name", "a")
    assert first["client_id"] != second["client_id"]
    assert first["client_secret"] != second["client_secret"]
