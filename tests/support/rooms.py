"""Real WebSocket clients against real server processes (end-to-end room tests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import websockets
from django.test import Client

from tests.support.servers import AsgiServer, subprocess_env


@contextmanager
def two_servers(log_dir: Path, *, server: str | None = None, **env: str) -> Iterator[tuple]:
    """Two server processes sharing the test database and Redis (two "hosts")."""
    a = AsgiServer(log_dir, subprocess_env(**env), name="server-a", server=server)
    try:
        b = AsgiServer(log_dir, subprocess_env(**env), name="server-b", server=server)
    except Exception:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def connect(server, path, cookie=None):
    """A joined socket: the snapshot (``stream.state``, ``chat.history``) is read."""
    headers = {"Cookie": cookie} if cookie else {}
    ws = await websockets.connect(
        f"{server.ws_url}{path}",
        origin=server.origin,
        additional_headers=headers,
        max_size=2**22,
    )
    first = json.loads(await ws.recv())
    second = json.loads(await ws.recv())
    assert (first["type"], second["type"]) == ("stream.state", "chat.history")
    return ws


async def next_of_type(ws, event_type, timeout=10.0):
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == event_type:
                return frame


def upgrade_request(port: int, path: str) -> bytes:
    """A raw WebSocket handshake, for clients that misbehave below the protocol."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1:{port}\r\n\r\n"
    ).encode()
