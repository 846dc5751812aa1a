import pytest

from connections.saml.config import clear_sp_config_cache
from tests.connections.saml.idp import TestIdp


@pytest.fixture(scope="session")
def idp_a():
    return TestIdp("a")


@pytest.fixture(scope="session")
def idp_b():
    return TestIdp("b")


@pytest.fixture
def fresh_sp_configs():
    """For tests that freeze the clock: configs (and their metadata validity checks) built inside it."""
    clear_sp_config_cache()
    yield
    clear_sp_config_cache()
