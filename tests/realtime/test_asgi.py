"""WebSockets through the real ``config.asgi:application`` and the Redis channel layer."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from tests.support.factories import make_stream

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(path: str, origin: bytes = b"http://localhost"):
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", origin), (b"host", b"localhost")]
    )
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_a_foreign_origin_is_refused():
    from asgiref.sync import sync_to_async

    stream = await sync_to_async(make_stream)()
    communicator, connected, _ = await connect(f"/ws/streams/{stream.id}/", b"http://evil.example")
    assert not connected
    await communicator.disconnect()


async def test_an_allowed_origin_gets_the_stream_state_first():
    from asgiref.sync import sync_to_async

    stream = await sync_to_async(make_stream)(title="Hello")
    communicator, connected, _ = await connect(f"/ws/streams/{stream.id}/")
    assert connected
    event = await communicator.receive_json_from(timeout=5)
    assert event["type"] == "stream.state"
    assert event["stream"]["id"] == stream.id and event["stream"]["title"] == "Hello"
    assert "stream_key" not in event["stream"]
    assert stream.stream_key not in str(event)
    assert (await communicator.receive_json_from(timeout=5))["type"] == "chat.history"
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


async def test_an_unknown_stream_closes_with_4404():
    # Accepted, then closed with 4404, so a browser can read the code.
    communicator, connected, _ = await connect("/ws/streams/999999/")
    assert connected
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close" and output["code"] == 4404
