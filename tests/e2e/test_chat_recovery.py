"""SPEC §7 chat recovery: a socket that reconnects with ``?since=<last id seen>`` gets
exactly the visible messages after it (``recovered: true``) while they are within the
last 500 messages or 10 minutes; otherwise the usual last 50 (``recovered: false``).
Two server processes: the messages are sent through one, the reconnect goes to the
other."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat.models import ChatMessage
from tests.support import rooms
from tests.support.factories import make_stream, make_user
from tests.support.rooms import connect, cookie_for, next_of_type

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@sync_to_async
def setup():
    owner, talker = make_user(), make_user()
    stream = make_stream(owner, status="live")
    return stream, cookie_for(talker), cookie_for(owner)


async def rejoin(server, path: str) -> dict:
    """Connect and return the ``chat.history`` frame (after ``stream.state``)."""
    ws = await websockets.connect(f"{server.ws_url}{path}", origin=server.origin)
    state = json.loads(await ws.recv())
    history = json.loads(await ws.recv())
    assert state["type"] == "stream.state" and history["type"] == "chat.history"
    await ws.close()
    return history


async def send_many(ws, texts: list[str]) -> list[int]:
    ids = []
    for text in texts:
        await ws.send(json.dumps({"type": "chat.send", "text": text}))
        while True:
            frame = await next_of_type(ws, "chat.message")
            if frame["text"] == text:
                ids.append(frame["id"])
                break
    return ids


async def test_a_blip_loses_nothing_and_repeats_nothing(log_dir):
    stream, _talker, owner = await setup()
    with rooms.two_servers(log_dir) as (a, b):
        # The owner chats (100 messages per 30 s; a viewer may send 20).
        sender = await connect(a, f"/ws/streams/{stream.id}/", owner)
        before = await send_many(sender, ["one", "two"])
        # The viewer saw "two", then dropped; 30 messages are said meanwhile.
        missed = await send_many(sender, [f"m{i}" for i in range(30)])
        history = await rejoin(b, f"/ws/streams/{stream.id}/?since={before[-1]}")
        assert history["recovered"] is True
        assert [m["id"] for m in history["messages"]] == missed
        assert [m["text"] for m in history["messages"]] == [f"m{i}" for i in range(30)]
        # Beyond the 50 of a normal join (still in the last 500): from the snapshot.
        more = await send_many(sender, [f"n{i}" for i in range(40)])
        history = await rejoin(b, f"/ws/streams/{stream.id}/?since={before[-1]}")
        assert history["recovered"] is True
        assert [m["id"] for m in history["messages"]] == missed + more
        # Nothing new: an empty, recovered history.
        history = await rejoin(b, f"/ws/streams/{stream.id}/?since={more[-1]}")
        await sender.close()
    assert history == {"type": "chat.history", "messages": [], "recovered": True}


async def test_the_dashboard_recovers_and_deleted_messages_stay_out(log_dir):
    stream, talker, owner = await setup()
    with rooms.two_servers(log_dir) as (a, b):
        sender = await connect(a, f"/ws/streams/{stream.id}/", talker)
        [anchor] = await send_many(sender, ["anchor"])
        ids = await send_many(sender, ["keep", "drop", "keep too"])
        await sync_to_async(
            lambda: ChatMessage.objects.filter(id=ids[1]).update(deleted_at=timezone.now())
        )()
        from realtime.snapshots import invalidate

        await sync_to_async(invalidate)([stream.id])
        ws = await websockets.connect(
            f"{b.ws_url}/ws/dashboard/streams/{stream.id}/?since={anchor}",
            origin=b.origin,
            additional_headers={"Cookie": owner},
        )
        assert json.loads(await ws.recv())["type"] == "stream.state"
        history = json.loads(await ws.recv())
        await ws.close()
        await sender.close()
    assert history["recovered"] is True
    assert [m["text"] for m in history["messages"]] == ["keep", "keep too"]


@sync_to_async
def old_busy_chat(stream, count: int, minutes_ago: float) -> list[int]:
    author = make_user()
    at = timezone.now() - timedelta(minutes=minutes_ago)
    rows = ChatMessage.objects.bulk_create(
        [ChatMessage(stream=stream, user=author, text=f"o{i}") for i in range(count)]
    )
    ChatMessage.objects.filter(id__in=[r.id for r in rows]).update(created_at=at)
    return [r.id for r in rows]


async def test_outside_the_window_the_usual_last_50_with_recovered_false(log_dir):
    stream, _talker, _owner = await setup()
    ids = await old_busy_chat(stream, 620, minutes_ago=30)
    with rooms.two_servers(log_dir) as (a, b):
        # 619 messages after the anchor, all older than 10 minutes: not recoverable.
        history = await rejoin(b, f"/ws/streams/{stream.id}/?since={ids[0]}")
        assert history["recovered"] is False
        assert [m["id"] for m in history["messages"]] == ids[-50:]
        # Within the last 500 messages: recovered, however old.
        history = await rejoin(a, f"/ws/streams/{stream.id}/?since={ids[200]}")
        assert history["recovered"] is True
        assert [m["id"] for m in history["messages"]] == ids[201:]


async def test_more_than_500_messages_within_10_minutes_come_from_the_database(log_dir):
    stream, _talker, _owner = await setup()
    ids = await old_busy_chat(stream, 560, minutes_ago=2)
    with rooms.two_servers(log_dir) as (a, _b):
        history = await rejoin(a, f"/ws/streams/{stream.id}/?since={ids[0]}")
    assert history["recovered"] is True
    assert [m["id"] for m in history["messages"]] == ids[1:]


async def test_a_since_that_is_not_an_id_gets_an_error_frame_and_the_usual_history(log_dir):
    stream, _talker, _owner = await setup()
    with rooms.two_servers(log_dir) as (a, _b):
        ws = await websockets.connect(
            f"{a.ws_url}/ws/streams/{stream.id}/?since=%C2%B2", origin=a.origin
        )
        assert json.loads(await ws.recv())["type"] == "stream.state"
        history = json.loads(await ws.recv())
        assert "recovered" not in history
        error = await next_of_type(ws, "error")
        assert error["code"] == "invalid_since"
        await ws.close()
