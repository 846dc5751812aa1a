"""Concurrent writes keep the directory's uniqueness rules without a 500."""

import re
import threading

import pytest
from django.db import connection

from organizations.models import Organization, User

THREADS = 8


def run_concurrently(make_client, request_of) -> list:
    """Send THREADS requests at once (each thread its own client and database connection)."""
    barrier = threading.Barrier(THREADS)
    responses: list = [None] * THREADS

    def work(i):
        client = make_client()
        try:
            barrier.wait(timeout=10)
            responses[i] = request_of(client, i)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


@pytest.mark.django_db(transaction=True)
def test_concurrent_organizations_with_one_name_all_get_distinct_domains(make_api):
    api = make_api()
    token = api._credentials["HTTP_AUTHORIZATION"]

    def client():
        from rest_framework.test import APIClient

        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=token)
        return c

    responses = run_concurrently(
        client, lambda c, i: c.post("/api/v2/organizations", {"name": "Misapret", "locality": "Paris"}, format="json")
    )
    assert [r.status_code for r in responses] == [201] * THREADS, [r.json() for r in responses]
    domains = {r.json()["domain"] for r in responses}
    assert len(domains) == THREADS
    assert "misapret" in domains
    assert all(re.fullmatch(r"misapret(-[0-9]+)?", domain) for domain in domains), domains
    assert Organization.objects.count() == THREADS


@pytest.mark.django_db(transaction=True)
def test_concurrent_users_with_one_email_make_one_user_and_409s(make_api, make_org):
    org = make_org()
    api = make_api()
    token = api._credentials["HTTP_AUTHORIZATION"]

    def client():
        from rest_framework.test import APIClient

        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=token)
        return c

    responses = run_concurrently(
        client,
        lambda c, i: c.post(
            f"/api/v2/org/{org.domain}/users",
            {"email": "jane@misapret.fr" if i % 2 else "Jane@Misapret.FR"},
            format="json",
        ),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (THREADS - 1), [r.json() for r in responses]
    assert all(r.json()["error"] == "email_taken" for r in responses if r.status_code == 409)
    assert User.objects.count() == 1
