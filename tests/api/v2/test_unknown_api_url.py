import pytest


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("path", ["/api/v2/nope", "/api/v1/organizations", "/api/"])
def test_unknown_api_url_answers_the_json_error_shape(client, settings, debug, path):
    settings.DEBUG = debug
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"
    assert "/api/v2/docs" in response.json()["error_description"]
