import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_token_rate_limit():
    """The token endpoint counts requests per client IP in the shared cache; every test starts with
    the test client's IP unthrottled, whatever ran before it (in this run or a previous one)."""
    cache.delete("throttle_api_token_127.0.0.1")
    yield
    cache.delete("throttle_api_token_127.0.0.1")
