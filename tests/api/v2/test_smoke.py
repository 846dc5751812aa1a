def test_create_organization_returns_slug(api):
    response = api.post("/api/v2/organizations", {"name": "B'Oréal", "locality": "Paris"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["domain"] == "b-oreal"
