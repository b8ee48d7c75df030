"""Whatever ends a viewer socket removes it from the count: crash frames, clients
gone mid-handshake or mid-snapshot, raw TCP drops, rapid reconnects across two
server processes — on the production server and on Daphne (SPEC §2, §7)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time

import pytest
import websockets
from asgiref.sync import sync_to_async

from realtime.events import send_event_now
from realtime.presence import viewer_count
from tests.support import rooms
from tests.support.factories import make_stream, make_user
from tests.support.rooms import connect, upgrade_request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["uvicorn", "daphne"])
def two_servers(request, transactional_db, log_dir):
    with rooms.two_servers(log_dir, server=request.param) as servers:
        yield servers


@sync_to_async
def live_stream():
    return make_stream(make_user(), status="live")


async def count_becomes(sid: int, expected: int, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        count = await sync_to_async(viewer_count)(sid)
        if count == expected:
            # ...and stays there (no late decrement below the truth).
            await asyncio.sleep(1.5)
            count = await sync_to_async(viewer_count)(sid)
            if count == expected:
                return count
        await asyncio.sleep(0.2)
    return count


async def join(server, sid):
    return await connect(server, f"/ws/streams/{sid}/")


async def test_crash_frames_get_an_error_and_leave_no_ghost(two_servers):
    a, _ = two_servers
    stream = await live_stream()
    sockets = [await join(a, stream.id) for _ in range(3)]
    deep = "[" * 3000 + "]" * 3000
    for ws in sockets:
        for frame in (deep, '{"type": ' + deep + "}", "\ud800x", "nul\x00", "{}"):
            await ws.send(frame.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
        errors = []
        async with asyncio.timeout(10):
            while len(errors) < 5:
                event = json.loads(await ws.recv())
                if event["type"] == "error":
                    errors.append(event["code"])
        assert errors[:2] == ["invalid_json", "invalid_json"]
        await ws.send(json.dumps({"type": "ping"}))  # still open and answering
        async with asyncio.timeout(10):
            while json.loads(await ws.recv())["type"] != "pong":
                pass
    assert await count_becomes(stream.id, 3) == 3
    for ws in sockets:
        await ws.close()
    assert await count_becomes(stream.id, 0) == 0


async def test_clients_gone_before_their_snapshot_leave_no_ghost(two_servers):
    a, b = two_servers
    stream = await live_stream()
    for server in (a, b):
        for _ in range(20):  # open, then close at once without reading anything
            ws = await websockets.connect(
                f"{server.ws_url}/ws/streams/{stream.id}/", origin=server.origin
            )
            ws.transport.abort()
    assert await count_becomes(stream.id, 0) == 0


def _raw_handshake(port: int, sid: int, *, reset: bool) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(upgrade_request(port, f"/ws/streams/{sid}/"))
    if reset:  # RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        time.sleep(0.05)
    sock.close()


async def test_raw_tcp_handshakes_then_drops_leave_no_ghost(two_servers):
    a, b = two_servers
    stream = await live_stream()
    for server in (a, b):
        for i in range(20):
            await sync_to_async(_raw_handshake)(server.port, stream.id, reset=bool(i % 2))
    assert await count_becomes(stream.id, 0) == 0


async def test_three_seconds_of_rapid_reconnects_end_at_the_exact_truth(two_servers):
    a, b = two_servers
    stream = await live_stream()
    kept = []
    deadline = time.monotonic() + 3
    i = 0
    while time.monotonic() < deadline:
        server = (a, b)[i % 2]
        i += 1
        try:
            if i % 3 == 0:  # join fully, then go away
                ws = await join(server, stream.id)
                await ws.close()
            elif i % 3 == 1:  # gone during the handshake or the snapshot
                ws = await websockets.connect(
                    f"{server.ws_url}/ws/streams/{stream.id}/", origin=server.origin
                )
                ws.transport.abort()
            elif len(kept) < 12:
                kept.append(await join(server, stream.id))
        except (OSError, websockets.WebSocketException):
            pass
    assert i > 20
    assert await count_becomes(stream.id, len(kept)) == len(kept)
    for ws in kept:
        await ws.close()
    assert await count_becomes(stream.id, 0) == 0


def _raw_reader(port: int, sid: int) -> socket.socket:
    """A client that completes the handshake, then stops reading."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.sendall(upgrade_request(port, f"/ws/streams/{sid}/"))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n", 1)[0]
    return sock


def _close_code_after_reading(sock: socket.socket, timeout: float) -> int | None:
    """Read everything that was queued; the close code of the close frame, if any."""
    sock.settimeout(timeout)
    buf = b""
    try:
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            buf += data
            while len(buf) >= 2:
                opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
                pos = 2
                if n == 126:
                    if len(buf) < 4:
                        break
                    n, pos = int.from_bytes(buf[2:4], "big"), 4
                elif n == 127:
                    if len(buf) < 10:
                        break
                    n, pos = int.from_bytes(buf[2:10], "big"), 10
                if len(buf) < pos + n:
                    break
                payload, buf = buf[pos : pos + n], buf[pos + n :]
                if opcode == 0x8:
                    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
    except (TimeoutError, OSError):
        return None
    return None


@pytest.mark.parametrize("two_servers", ["uvicorn"], indirect=True)
async def test_a_reader_that_stops_is_closed_with_4429_and_others_get_everything(two_servers):
    a, _ = two_servers
    stream = await live_stream()
    healthy = await join(a, stream.id)
    slow = await sync_to_async(_raw_reader)(a.port, stream.id)
    text = "x" * 1000
    received = 0

    async def read_all():
        nonlocal received
        while received < 2000:
            if json.loads(await healthy.recv()).get("type") == "chat.message":
                received += 1

    reader = asyncio.ensure_future(read_all())
    for i in range(2000):
        event = {
            "type": "chat.message",
            "id": -1 - i,
            "user": None,
            "text": text,
            "created_at": "2026-01-01T00:00:00+00:00",
        }
        await sync_to_async(send_event_now)([f"stream.{stream.id}"], event)
        if i % 100 == 0:
            await asyncio.sleep(0.05)
    async with asyncio.timeout(30):
        await reader
    assert received == 2000  # the healthy viewer was not held back
    code = await sync_to_async(_close_code_after_reading)(slow, 20)
    slow.close()
    assert code == 4429
    await healthy.close()
    assert await count_becomes(stream.id, 0) == 0
