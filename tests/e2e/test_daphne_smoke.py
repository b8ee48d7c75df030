"""Daphne, the supported alternative to uvicorn (``ASGI_SERVER=daphne``), started
explicitly whatever ``TEST_ASGI_SERVER`` says: HTTP health, the Origin check, and a
room's join, chat and viewer count over real WebSockets."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.e2e.test_rooms_multi_process import wait_for_count
from tests.support.factories import make_stream, make_user
from tests.support.rooms import connect, cookie_for, next_of_type
from tests.support.servers import daphne

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def daphne_server(transactional_db, log_dir):
    with daphne(log_dir) as server:
        assert server.server == "daphne"
        yield server


def test_daphne_serves_health_and_websockets(daphne_server):
    assert httpx.get(f"{daphne_server.http_url}/healthz").json()["status"] == "ok"
    stream = make_stream(title="Over the wire")

    async def scenario():
        url = f"{daphne_server.ws_url}/ws/streams/{stream.id}/"
        async with websockets.connect(url, origin=daphne_server.origin) as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "stream.state" and first["stream"]["title"] == "Over the wire"
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url, origin="http://evil.example"):
                pass

    asyncio.run(scenario())


def test_daphne_carries_a_room_join_chat_and_viewer_count(daphne_server):
    owner, alice = make_user(), make_user()
    stream = make_stream(owner, status="live")
    path = f"/ws/streams/{stream.id}/"
    alice_cookie = cookie_for(alice)

    async def scenario():
        # connect() asserts the join: stream.state, then chat.history.
        viewer = await connect(daphne_server, path)
        alice_ws = await connect(daphne_server, path, alice_cookie)
        await wait_for_count(viewer, 2, timeout=10)

        await alice_ws.send(json.dumps({"type": "chat.send", "text": "hello over Daphne"}))
        message = await next_of_type(viewer, "chat.message")
        assert message["text"] == "hello over Daphne"
        assert message == await next_of_type(alice_ws, "chat.message")

        await alice_ws.close()
        await wait_for_count(viewer, 1, timeout=10)
        await viewer.close()

    asyncio.run(scenario())
