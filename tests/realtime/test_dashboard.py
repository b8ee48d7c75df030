"""``/ws/dashboard/streams/{id}/``: the owner's socket."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from realtime import event_types, groups
from realtime.events import send_event
from tests.support.factories import make_stream, make_user
from tests.support.sockets import close_code, joined, next_of_type, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def owner_and_stream():
    owner = make_user()
    return owner, make_stream(owner, status="live")


async def test_anonymous_dashboard_socket_is_closed_with_4401():
    _, stream = await owner_and_stream()
    socket, accepted, _ = await open_socket(f"/ws/dashboard/streams/{stream.id}/")
    assert accepted and await close_code(socket) == 4401


async def test_another_users_dashboard_socket_is_closed_with_4403():
    _, stream = await owner_and_stream()
    stranger = await sync_to_async(make_user)()
    socket, accepted, _ = await open_socket(f"/ws/dashboard/streams/{stream.id}/", stranger)
    assert accepted and await close_code(socket) == 4403


async def test_an_unknown_streams_dashboard_is_closed_with_4404():
    owner, _ = await owner_and_stream()
    socket, accepted, _ = await open_socket("/ws/dashboard/streams/987654/", owner)
    assert accepted and await close_code(socket) == 4404


async def test_the_owner_gets_the_snapshot_then_dashboard_events_and_chat():
    owner, stream = await owner_and_stream()
    dash, state, history = await joined(f"/ws/dashboard/streams/{stream.id}/", owner)
    assert state["stream"]["id"] == stream.id and "stream_key" not in state["stream"]
    assert history == {"type": "chat.history", "messages": []}
    await send_event(groups.stream_dashboard(stream.id), {"type": "ingest", "connected": True})
    assert await next_of_type(dash, "ingest") == {"type": "ingest", "connected": True}
    # The owner chats from the dashboard; viewers in the room see it.
    room, _, _ = await joined(f"/ws/streams/{stream.id}/")
    await dash.send_json_to({"type": "chat.send", "text": "welcome"})
    assert (await next_of_type(dash, "chat.message"))["text"] == "welcome"
    assert (await next_of_type(room, "chat.message"))["text"] == "welcome"
    # Room-only events are not echoed to the dashboard twice.
    await send_event(groups.stream_room(stream.id), event_types.stream_state({"id": stream.id}))
    await send_event(
        groups.stream_dashboard(stream.id), event_types.stream_state({"id": stream.id})
    )
    assert (await next_of_type(dash, "stream.state"))["stream"] == {"id": stream.id}
    assert (await next_of_type(room, "stream.state"))["stream"] == {"id": stream.id}
