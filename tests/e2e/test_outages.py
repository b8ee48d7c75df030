"""Redis or PostgreSQL gone for a moment under a running server: sockets stay open,
rejected frames get a clear error, nothing is stored twice, and delivery resumes."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlparse

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from chat.models import ChatMessage
from realtime.presence import viewer_count
from tests.donations.tcp_proxy import TcpProxy
from tests.support import servers
from tests.support.factories import make_stream, make_user
from tests.support.rooms import connect, cookie_for, next_of_type
from tests.support.servers import AsgiServer, subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_proxy():
    proxy = TcpProxy(urlparse(settings.REDIS_URL).port or 6379)
    yield proxy
    proxy.close()


async def send_until_delivered(sender, viewer, *, attempts: int = 30) -> int:
    """Send one message a second until the viewer receives one; returns how many
    sends that took."""
    for i in range(attempts):
        await sender.send(json.dumps({"type": "chat.send", "text": f"after {i}"}))
        try:
            async with asyncio.timeout(1):
                while True:
                    frame = json.loads(await viewer.recv())
                    if frame["type"] == "chat.message":
                        return i + 1
        except TimeoutError:
            pass
    raise AssertionError("no chat message reached the viewer after the outage")


def test_a_redis_outage_keeps_sockets_open_and_delivery_resumes(redis_proxy, log_dir):
    owner, alice = make_user(), make_user()
    stream = make_stream(owner, status="live")
    path = f"/ws/streams/{stream.id}/"
    alice_cookie = cookie_for(alice)
    server = AsgiServer(
        log_dir, subprocess_env(REDIS_URL=f"redis://127.0.0.1:{redis_proxy.port}/0")
    )

    async def scenario():
        viewer = await connect(server, path)
        alice_ws = await connect(server, path, alice_cookie)

        # Redis goes away for a few seconds: every connection is cut and refused.
        redis_proxy.refusing = True
        redis_proxy.cut()
        await alice_ws.send(json.dumps({"type": "chat.send", "text": "during"}))
        error = await next_of_type(alice_ws, "error", timeout=20)
        assert error["code"] == "server_error"
        await alice_ws.send(json.dumps({"type": "ping"}))
        await next_of_type(alice_ws, "pong")  # still open and answering
        await asyncio.sleep(2)
        redis_proxy.refusing = False

        # The process reconnects and resubscribes; live delivery resumes.
        await send_until_delivered(alice_ws, viewer)
        deadline = time.monotonic() + 20
        while viewer_count(stream.id) != 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert viewer_count(stream.id) == 2
        await viewer.close()
        await alice_ws.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    # The message refused during the outage was not stored.
    assert not ChatMessage.objects.filter(stream=stream, text="during").exists()


SERVER_APP_NAME = "outage-test-server"


def _server_database_url() -> str:
    url = servers.test_database_url()
    return f"{url}{'&' if '?' in url else '?'}application_name={SERVER_APP_NAME}"


def _kill_server_database_connections() -> int:
    """Terminate every database session of the server (a PostgreSQL restart, as its
    pooled connections see it); the test process's own sessions are left alone."""
    with psycopg.connect(servers.test_database_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [SERVER_APP_NAME],
        ).fetchall()
    return len(rows)


def test_database_connections_dropped_under_a_server_give_an_error_frame_then_recover(log_dir):
    owner, alice = make_user(), make_user()
    stream = make_stream(owner, status="live")
    path = f"/ws/streams/{stream.id}/"
    alice_cookie = cookie_for(alice)
    server = AsgiServer(log_dir, subprocess_env(DATABASE_URL=_server_database_url()))

    async def scenario():
        viewer = await connect(server, path)
        alice_ws = await connect(server, path, alice_cookie)
        for i in range(3):  # warm the server's pool
            await alice_ws.send(json.dumps({"type": "chat.send", "text": f"before {i}"}))
            await next_of_type(viewer, "chat.message")
        assert await sync_to_async(_kill_server_database_connections)() >= 1
        # The first sends may hit a dead pooled connection: an error frame, never a
        # dead socket; then the pool's fresh connections carry on.
        await send_until_delivered(alice_ws, viewer)
        await viewer.close()
        await alice_ws.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    texts = list(
        ChatMessage.objects.filter(stream=stream).order_by("id").values_list("text", flat=True)
    )
    assert texts[:3] == ["before 0", "before 1", "before 2"]
    assert len(texts) == len(set(texts))  # nothing stored twice
