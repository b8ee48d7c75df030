import asyncio

import pytest

from realtime.presence import close_hub
from tests.support.sockets import disconnect_all


@pytest.fixture(autouse=True)
async def sockets_closed_after_test():
    """Each test has its own event loop and so its own presence hub: close the
    test's sockets, then stop the hub (bounded, so a failure cannot hang the run)."""
    yield
    try:
        await asyncio.wait_for(disconnect_all(), timeout=15)
    finally:
        await asyncio.wait_for(close_hub(), timeout=15)
