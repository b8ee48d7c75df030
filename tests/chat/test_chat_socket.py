"""Chat over ``/ws/streams/{id}/`` through the real ASGI app and Redis channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chat.models import ChatBan, ChatMessage, ChatModerator, ChatSettings
from streams.models import LiveStream
from tests.support.factories import make_stream, make_user
from tests.support.sockets import frames_until_quiet, joined, next_of_type

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def setup(status: str = "live"):
    owner = make_user(display_name="Owner")
    viewer = make_user(display_name="Vee")
    stream = make_stream(owner, status=status)
    return owner, viewer, stream


def room(stream) -> str:
    return f"/ws/streams/{stream.id}/"


async def send(socket, frame) -> None:
    await socket.send_json_to(frame)


async def error_of(socket, frame) -> dict:
    await send(socket, frame)
    return await next_of_type(socket, "error")


async def test_a_message_is_stored_then_delivered_to_every_socket_with_its_id():
    _owner, viewer, stream = await setup()
    a, _, _ = await joined(room(stream), viewer)
    b, _, _ = await joined(room(stream))  # anonymous reader
    await send(a, {"type": "chat.send", "text": "  hello  world ", "client_id": "c-1"})
    got_a = await next_of_type(a, "chat.message")
    got_b = await next_of_type(b, "chat.message")
    stored = await sync_to_async(ChatMessage.objects.get)(stream=stream)
    assert got_a == got_b
    assert got_a == {
        "type": "chat.message",
        "id": stored.id,
        "user": {
            "id": viewer.id,
            "username": viewer.username,
            "display_name": "Vee",
            "current_level": 1,
        },
        "text": "hello  world",
        "created_at": stored.created_at.isoformat(),
        "client_id": "c-1",
    }
    assert stored.text == "hello  world"
    await a.disconnect()
    await b.disconnect()


async def test_history_on_connect_is_the_last_50_visible_messages_oldest_first():
    owner, viewer, stream = await setup()
    troll = await sync_to_async(make_user)()

    @sync_to_async
    def fill():
        for i in range(55):
            ChatMessage.objects.create(stream=stream, user=viewer, text=f"m{i}")
        ChatMessage.objects.create(stream=stream, user=troll, text="troll")
        gone = ChatMessage.objects.create(stream=stream, user=viewer, text="deleted")
        gone.deleted_at = gone.created_at
        gone.save()
        ChatBan.objects.create(channel=owner, user=troll, until=None)

    await fill()
    socket, state, history = await joined(room(stream))
    texts = [m["text"] for m in history["messages"]]
    assert texts == [f"m{i}" for i in range(5, 55)]
    assert set(history["messages"][0]) == {"id", "user", "text", "created_at"}
    assert state["stream"]["id"] == stream.id
    await socket.disconnect()


async def test_anonymous_sockets_may_read_but_not_chat():
    _, _, stream = await setup()
    socket, _, _ = await joined(room(stream))
    error = await error_of(socket, {"type": "chat.send", "text": "hi"})
    assert error == {"type": "error", "code": "not_authenticated", "message": "Log in to chat."}
    await send(socket, {"type": "ping"})
    assert await next_of_type(socket, "pong") == {"type": "pong"}
    await socket.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('"text"', "invalid_json"),
        ("{}", "unknown_type"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": 7}', "unknown_type"),
        ('{"type": "chat.send"}', "invalid_json"),
        ('{"type": "chat.send", "text": 5}', "invalid_json"),
        ('{"type": "chat.send", "text": "ok", "client_id": {"a": 1}}', "invalid_json"),
        ('{"type": "chat.send", "text": "   "}', "empty_message"),
        ('{"type": "chat.send", "text": "\\u0000\\u0007\\n"}', "empty_message"),
        ('{"type": "chat.send", "text": "' + "x" * 501 + '"}', "message_too_long"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(raw, code):
    _, viewer, stream = await setup()
    socket, _, _ = await joined(room(stream), viewer)
    await socket.send_to(text_data=raw)
    error = await next_of_type(socket, "error")
    assert error["code"] == code and error["message"]
    # Still open and usable.
    await send(socket, {"type": "chat.send", "text": "still here"})
    assert (await next_of_type(socket, "chat.message"))["text"] == "still here"
    assert await sync_to_async(ChatMessage.objects.filter(stream=stream).count)() == 1
    await socket.disconnect()


async def test_a_binary_frame_gets_invalid_json_and_the_socket_stays_open():
    _, viewer, stream = await setup()
    socket, _, _ = await joined(room(stream), viewer)
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await next_of_type(socket, "error"))["code"] == "invalid_json"
    await send(socket, {"type": "ping"})
    assert await next_of_type(socket, "pong") == {"type": "pong"}
    await socket.disconnect()


async def test_control_characters_are_removed_and_500_characters_are_accepted():
    _, viewer, stream = await setup()
    socket, _, _ = await joined(room(stream), viewer)
    await send(socket, {"type": "chat.send", "text": "a\u0000b\u0007c\nd\u202ee\ud800"})
    assert (await next_of_type(socket, "chat.message"))["text"] == "abc de"
    await send(socket, {"type": "chat.send", "text": "é" * 500})
    assert (await next_of_type(socket, "chat.message"))["text"] == "é" * 500
    await socket.disconnect()


async def test_chat_is_read_only_after_the_stream_ended():
    _, viewer, stream = await setup(status="ended")
    socket, _, _history = await joined(room(stream), viewer)
    error = await error_of(socket, {"type": "chat.send", "text": "late"})
    assert error["code"] == "chat_closed"
    assert await sync_to_async(ChatMessage.objects.count)() == 0
    await socket.disconnect()


async def test_chat_is_open_while_scheduled():
    _, viewer, stream = await setup(status="scheduled")
    socket, _, _ = await joined(room(stream), viewer)
    await send(socket, {"type": "chat.send", "text": "waiting"})
    assert (await next_of_type(socket, "chat.message"))["text"] == "waiting"
    await socket.disconnect()


async def test_the_twenty_first_message_in_30_seconds_is_rate_limited_and_not_stored():
    _, viewer, stream = await setup()
    socket, _, _ = await joined(room(stream), viewer)
    for i in range(20):
        await send(socket, {"type": "chat.send", "text": f"m{i}"})
        await next_of_type(socket, "chat.message")
    error = await error_of(socket, {"type": "chat.send", "text": "one too many"})
    assert error["code"] == "rate_limited"
    assert 1 <= error["retry_after"] <= 30
    count = await sync_to_async(ChatMessage.objects.filter(stream=stream).count)()
    assert count == 20
    await socket.disconnect()


async def test_the_owner_and_moderators_may_send_100_messages_in_30_seconds():
    owner, viewer, stream = await setup()
    await sync_to_async(ChatModerator.objects.create)(channel=owner, user=viewer)
    socket, _, _ = await joined(room(stream), viewer)
    for i in range(100):
        await send(socket, {"type": "chat.send", "text": f"m{i}"})
        await next_of_type(socket, "chat.message")
    error = await error_of(socket, {"type": "chat.send", "text": "101"})
    assert error["code"] == "rate_limited" and error["retry_after"] >= 1
    await socket.disconnect()


async def test_slow_mode_holds_viewers_back_but_not_the_owner():
    owner, viewer, stream = await setup()
    await sync_to_async(ChatSettings.objects.create)(stream=stream, slow_mode_seconds=30)
    v, _, _ = await joined(room(stream), viewer)
    o, _, _ = await joined(room(stream), owner)
    await send(v, {"type": "chat.send", "text": "first"})
    await next_of_type(v, "chat.message")
    assert (await next_of_type(o, "chat.message"))["text"] == "first"
    error = await error_of(v, {"type": "chat.send", "text": "second"})
    assert error["code"] == "slow_mode" and 1 <= error["retry_after"] <= 30
    for text in ("o1", "o2", "o3"):
        await send(o, {"type": "chat.send", "text": text})
        assert (await next_of_type(o, "chat.message"))["text"] == text
    await v.disconnect()
    await o.disconnect()


async def test_a_banned_user_cannot_chat_in_any_of_the_streamers_streams():
    owner, viewer, stream = await setup()
    other_stream = await sync_to_async(make_stream)(owner, status="scheduled")
    await sync_to_async(ChatBan.objects.create)(channel=owner, user=viewer, until=None)
    for s in (stream, other_stream):
        socket, _, _ = await joined(room(s), viewer)
        error = await error_of(socket, {"type": "chat.send", "text": "let me in"})
        assert error["code"] == "banned" and "retry_after" not in error
        await socket.disconnect()
    # Another streamer's chat is not affected.
    elsewhere = await sync_to_async(make_stream)(status="live")
    socket, _, _ = await joined(room(elsewhere), viewer)
    await send(socket, {"type": "chat.send", "text": "fine here"})
    assert (await next_of_type(socket, "chat.message"))["text"] == "fine here"
    await socket.disconnect()


async def test_a_timed_out_user_is_told_when_they_may_chat_again():
    from datetime import timedelta

    from django.utils import timezone

    owner, viewer, stream = await setup()
    await sync_to_async(ChatBan.objects.create)(
        channel=owner, user=viewer, until=timezone.now() + timedelta(seconds=120)
    )
    socket, _, _ = await joined(room(stream), viewer)
    error = await error_of(socket, {"type": "chat.send", "text": "hello?"})
    assert error["code"] == "banned" and 100 <= error["retry_after"] <= 121
    await socket.disconnect()


async def test_stream_state_changes_are_forwarded_to_the_room():
    from realtime import event_types, groups
    from realtime.events import send_event

    _, _, stream = await setup(status="scheduled")
    socket, _, _ = await joined(room(stream))
    await sync_to_async(LiveStream.objects.filter(id=stream.id).update)(status="live")
    await send_event(groups.stream_room(stream.id), event_types.stream_state({"status": "live"}))
    assert await next_of_type(socket, "stream.state") == {
        "type": "stream.state",
        "stream": {"status": "live"},
    }
    assert [f for f in await frames_until_quiet(socket, 0.2) if f["type"] == "stream.state"] == []
    await socket.disconnect()


async def test_moderation_events_reach_the_open_sockets():
    from chat.services import (
        check_ban_chat_user,
        check_delete_chat_message,
        check_set_chat_settings,
    )

    owner, viewer, stream = await setup()
    watcher, _, _ = await joined(room(stream))
    v, _, _ = await joined(room(stream), viewer)
    await send(v, {"type": "chat.send", "text": "spam"})
    message = await next_of_type(watcher, "chat.message")

    await sync_to_async(check_delete_chat_message)(
        actor=owner, stream_id=stream.id, message_id=message["id"]
    )
    assert await next_of_type(watcher, "chat.message_deleted") == {
        "type": "chat.message_deleted",
        "id": message["id"],
    }
    await sync_to_async(check_set_chat_settings)(
        actor=owner, stream_id=stream.id, slow_mode_seconds=5
    )
    assert await next_of_type(watcher, "chat.settings") == {
        "type": "chat.settings",
        "slow_mode_seconds": 5,
    }
    await sync_to_async(check_ban_chat_user)(
        actor=owner, stream_id=stream.id, user_id=viewer.id, duration_seconds=None
    )
    assert await next_of_type(watcher, "chat.user_banned") == {
        "type": "chat.user_banned",
        "user_id": viewer.id,
        "until": None,
    }
    error = await error_of(v, {"type": "chat.send", "text": "more spam"})
    assert error["code"] == "banned"
