"""A real Daphne process: HTTP health and a WebSocket with the Origin check."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from tests.support.factories import make_stream

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


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

    import asyncio

    asyncio.run(scenario())
