"""cryptr_sso.api.pagination: every way of reading a page (from either end, in one query or keys first)
gives the same users in the same order."""

import pytest

from cryptr_sso.api import pagination
from organizations import selectors, services

NEWEST_FIRST = ("-inserted_at", "-id")


@pytest.fixture
def users(org):
    created = [services.user_create(organization=org, email=f"u{i}@misapret.fr") for i in range(7)]
    return list(reversed(created))  # newest first


@pytest.mark.parametrize("deferred_from", [0, 3, 10_000])
@pytest.mark.parametrize("per_page", [1, 2, 3, 7, 10])
def test_every_page_holds_the_right_users(monkeypatch, org, users, deferred_from, per_page):
    monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", deferred_from)
    queryset = selectors.user_queryset(organization=org)
    seen = []
    for number in range(1, -(-len(users) // per_page) + 2):
        page = pagination.paginate(queryset, ordering=NEWEST_FIRST, number=number, per_page=per_page)
        assert page.total == len(users)
        assert [u.id for u in page.items] == [u.id for u in users[(number - 1) * per_page : number * per_page]]
        seen += page.items
    assert [u.id for u in seen] == [u.id for u in users]


def test_a_deep_page_is_one_query(monkeypatch, org, users, django_assert_num_queries):
    monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", 0)
    queryset = selectors.user_queryset(organization=org)
    # COUNT, the page (keys in a subquery), the identities of the page.
    with django_assert_num_queries(3):
        page = pagination.paginate(queryset, ordering=NEWEST_FIRST, number=3, per_page=2)
    assert [u.id for u in page.items] == [u.id for u in users[4:6]]
    assert all(u.identity_list == [] for u in page.items)
