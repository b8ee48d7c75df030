import pytest

from realtime.presence import close_hub
from tests.support.sockets import disconnect_all


@pytest.fixture(autouse=True)
async def sockets_closed_after_test():
    """Each test has its own event loop and so its own presence hub: close the
    test's sockets, then stop the hub."""
    yield
    await disconnect_all()
    await close_hub()
