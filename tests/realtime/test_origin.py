"""SPEC §7: a WebSocket handshake's Origin must be the site itself (scheme, host and
port) or one of ``CSRF_TRUSTED_ORIGINS``; anything else is refused with HTTP 403."""

from __future__ import annotations

import pytest
import websockets
from asgiref.sync import sync_to_async

from realtime.origin import origin_allowed
from tests.support.factories import make_stream
from tests.support.servers import asgi_server


def scope(origin: str | None, host: str = "localhost:8000", scheme: str = "ws") -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    "origin,host,scheme,allowed",
    [
        ("http://localhost:8000", "localhost:8000", "ws", True),
        ("HTTP://LOCALHOST:8000", "localhost:8000", "ws", True),
        ("http://localhost", "localhost", "ws", True),
        ("http://localhost:80", "localhost", "ws", True),
        ("https://localhost", "localhost", "wss", True),
        ("https://localhost:443", "localhost:443", "wss", True),
        # the reproductions: another port, another scheme
        ("http://localhost:1", "localhost:8000", "ws", False),
        ("https://127.0.0.1:9999", "127.0.0.1:8000", "ws", False),
        ("https://localhost:8000", "localhost:8000", "ws", False),
        ("http://localhost", "localhost", "wss", False),
        # a host outside ALLOWED_HOSTS, even when Origin and Host agree
        ("http://evil.example", "evil.example", "ws", False),
        ("http://evil.example", "localhost", "ws", False),
        (None, "localhost", "ws", False),
        ("null", "localhost", "ws", False),
        ("file://", "localhost", "ws", False),
        ("http://localhost/path", "localhost", "ws", False),
        ("http://user@localhost", "localhost", "ws", False),
    ],
)
def test_origin_rules(settings, origin, host, scheme, allowed):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    settings.CSRF_TRUSTED_ORIGINS = []
    assert origin_allowed(scope(origin, host, scheme)) is allowed


def test_trusted_origins_extend_the_site(settings):
    settings.ALLOWED_HOSTS = ["internal"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://live.example.com", "https://*.example.org"]
    # behind a TLS proxy: the handshake reaches the server as ws://internal
    assert origin_allowed(scope("https://live.example.com", "internal"))
    assert origin_allowed(scope("https://live.example.com:443", "internal"))
    assert origin_allowed(scope("https://a.example.org", "internal"))
    assert not origin_allowed(scope("http://live.example.com", "internal"))
    assert not origin_allowed(scope("https://live.example.com:8443", "internal"))
    assert not origin_allowed(scope("https://example.org.evil.net", "internal"))


@sync_to_async
def _stream():
    return make_stream()


async def _status(url: str, origin: str | None) -> int:
    try:
        ws = await websockets.connect(url, origin=origin)
    except websockets.InvalidStatus as refused:
        return refused.response.status_code
    await ws.close()
    return 101


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_the_server_refuses_foreign_origins(log_dir):
    stream = await _stream()
    with asgi_server(log_dir, CSRF_TRUSTED_ORIGINS="https://live.example.test") as server:
        url = f"{server.ws_url}/ws/streams/{stream.id}/"
        port = server.port
        assert await _status(url, server.origin) == 101
        assert await _status(url, "https://live.example.test") == 101
        for origin in [
            "http://localhost:1",
            "https://127.0.0.1:9999",
            f"https://127.0.0.1:{port}",
            f"http://127.0.0.1:{port + 1}",
            "http://evil.example",
            None,
        ]:
            assert await _status(url, origin) == 403, origin
