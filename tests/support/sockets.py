"""WebSocket helpers for consumer tests: the real ``config.asgi:application``
(Origin check, session auth, URLRouter) over the real Redis channel layer."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application

ORIGIN = b"http://localhost"

_open: list[WebsocketCommunicator] = []


async def disconnect_all() -> None:
    """Disconnect every socket a test opened (also after a failed assertion), so the
    consumers run their cleanup before the test's event loop closes."""
    while _open:
        communicator = _open.pop()
        # Already closed or crashed: nothing left to clean.
        with contextlib.suppress(Exception):
            await communicator.disconnect(timeout=2)


@sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def open_socket(
    path: str, user=None, *, origin: bytes = ORIGIN
) -> tuple[WebsocketCommunicator, bool, Any]:
    """Connect; returns ``(communicator, accepted, subprotocol_or_close_code)``."""
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", (await session_cookie(user)).encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    _open.append(communicator)
    connected, extra = await communicator.connect(timeout=10)
    return communicator, connected, extra


async def close_code(communicator: WebsocketCommunicator, timeout: float = 5) -> int | None:
    """The application close code of a socket the server closed (after accept)."""
    output = await communicator.receive_output(timeout)
    assert output["type"] == "websocket.close", output
    return output.get("code")


async def joined(path: str, user=None) -> tuple[WebsocketCommunicator, dict, dict]:
    """Connect a room/dashboard socket and read its snapshot."""
    communicator, connected, extra = await open_socket(path, user)
    assert connected, extra
    state = await communicator.receive_json_from(timeout=10)
    assert state["type"] == "stream.state", state
    history = await communicator.receive_json_from(timeout=10)
    assert history["type"] == "chat.history", history
    return communicator, state, history


async def next_of_type(
    communicator: WebsocketCommunicator, event_type: str, timeout: float = 5
) -> dict:
    """Skip frames of other types (e.g. ``viewers``) until one of ``event_type``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no {event_type} frame within {timeout}s")
        frame = await communicator.receive_json_from(timeout=remaining)
        if frame.get("type") == event_type:
            return frame


async def frames_until_quiet(communicator: WebsocketCommunicator, quiet: float = 0.3) -> list:
    """Every frame until none arrives for ``quiet`` seconds (without timing out the
    communicator, which would cancel the application)."""
    frames = []
    while not await communicator.receive_nothing(timeout=quiet):
        frames.append(await communicator.receive_json_from(timeout=5))
    return frames


@pytest.fixture(autouse=True)
async def sockets_closed_after_test():
    """Each test has its own event loop and so its own presence hub: close the
    test's sockets, then stop the hub (bounded, so a failure cannot hang the run).
    Import it into a test package's conftest to apply it there."""
    from realtime import fanout, presence, snapshots

    yield
    try:
        await asyncio.wait_for(disconnect_all(), timeout=15)
    finally:
        await asyncio.wait_for(presence.close_hub(), timeout=15)
        await asyncio.wait_for(fanout.close_hub(), timeout=15)
        await asyncio.wait_for(snapshots.close_clients(), timeout=15)
