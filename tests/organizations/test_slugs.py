"""An organization's domain: a unique, immutable slug of its name."""

import pytest

from organizations import services
from organizations.models import Organization
from organizations.slugs import MAX_DOMAIN_LENGTH, domain_slug


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Misapret", "misapret"),
        ("B'Oréal", "b-oreal"),
        ("Crème Brûlée & Co.", "creme-brulee-co"),
        ("ACME  Inc.", "acme-inc"),
        ("  --Acme--  ", "acme"),
        ("Acme_Corp/EU", "acme-corp-eu"),
        ("Straße AG", "strasse-ag"),
        ("Æther Ørsted", "aether-orsted"),
        ("Œuvre", "oeuvre"),
        ("Łódź Sp. z o.o.", "lodz-sp-z-o-o"),
        ("Þór", "thor"),
        ("Đà Nẵng", "da-nang"),
        ("İstanbul", "istanbul"),
        ("\uff21\uff23\uff2d\uff25", "acme"),  # fullwidth
        ("ﬁnance", "finance"),
        ("Газпром", "gazprom"),
        ("Ελληνικά Πετρέλαια", "ellinika-petrelaia"),
        ("東京 Tokyo", "tokyo"),
        ("🚀 Rocket", "rocket"),
        ("3M", "3m"),
    ],
)
def test_domain_slug(name, slug):
    assert domain_slug(name) == slug


@pytest.mark.parametrize("name", ["株式会社", "🚀🚀", "---", "'", "مؤسسة", "\u200b"])
def test_names_with_nothing_left_get_a_placeholder_slug(name):
    assert domain_slug(name) == "org"


def test_long_names_are_cut_at_a_word_boundary_without_trailing_hyphen():
    slug = domain_slug("a" * 49 + " " + "b" * 30)
    assert slug == "a" * 49
    assert len(domain_slug("x" * 500)) == MAX_DOMAIN_LENGTH


def test_colliding_names_get_2_3_suffixes(make_org):
    domains = [make_org(name=name).domain for name in ("Misapret", "MISAPRET", "misapret!", "Misapret")]
    assert domains == ["misapret", "misapret-2", "misapret-3", "misapret-4"]


def test_non_ascii_only_names_get_unique_domains(make_org):
    domains = [make_org(name=name).domain for name in ("株式会社", "株式会社", "مؤسسة")]
    assert domains == ["org", "org-2", "org-3"]
    assert [o.name for o in Organization.objects.order_by("inserted_at")] == ["株式会社", "株式会社", "مؤسسة"]


def test_collision_fills_no_gap_but_never_reuses_a_taken_domain(make_org):
    make_org(name="Acme")
    make_org(name="Acme 3")  # "acme-3" is taken by a name, not by a collision
    assert make_org(name="Acme").domain == "acme-2"
    assert make_org(name="Acme").domain == "acme-4"


def test_a_name_that_slugs_to_a_numbered_domain_does_not_confuse_collisions(make_org):
    assert make_org(name="Acme 2").domain == "acme-2"
    assert make_org(name="Acme").domain == "acme"
    assert make_org(name="Acme").domain == "acme-3"


def test_collision_suffix_fits_the_column_for_the_longest_names(make_org):
    name = "Z" * 255
    domains = [make_org(name=name).domain for _ in range(3)]
    assert domains == ["z" * 50, "z" * 50 + "-2", "z" * 50 + "-3"]
    assert all(len(d) <= Organization._meta.get_field("domain").max_length for d in domains)


def test_renaming_never_changes_the_domain(org):
    services.organization_update(organization=org, data={"name": "Something Else"})
    org.refresh_from_db()
    assert org.domain == "misapret"


def test_domain_that_reads_as_a_uuid_is_still_found_by_domain(make_api, make_org):
    org = make_org(name="deadbeefdeadbeefdeadbeefdeadbeef")
    assert org.domain == "deadbeefdeadbeefdeadbeefdeadbeef"
    response = make_api().get(f"/api/v2/organizations/{org.domain}")
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == str(org.id)
