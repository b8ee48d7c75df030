"""The stream sockets (SPEC §7).

* ``/ws/streams/{id}/``: the viewers' room; anyone may read, chat needs login;
  every socket counts in the viewer presence.
* ``/ws/dashboard/streams/{id}/``: the owner's dashboard; same snapshot and chat,
  plus everything sent to ``groups.stream_dashboard(id)``; not counted as a viewer.

Both subscribe first, then send ``stream.state`` and ``chat.history`` from the
snapshot cache (``realtime.snapshots``; the database only on a miss), then deliver
what arrived meanwhile, skipping chat messages the history already holds.
"""

from __future__ import annotations

from typing import Any

from chat.selectors import room_snapshot_data
from chat.services import check_send_chat_message
from realtime import event_types, groups, snapshots
from realtime.auth import socket_user
from realtime.fanout import Message
from realtime.presence import ANON, get_hub, user_member
from realtime.sockets import (
    CLOSE_FORBIDDEN,
    CLOSE_LOGIN_REQUIRED,
    CLOSE_NOT_FOUND,
    Socket,
    db_call,
)

_load_snapshot = db_call(room_snapshot_data)
_send_chat = db_call(check_send_chat_message)


def _stream_id(scope: dict[str, Any]) -> int:
    return int(scope["url_route"]["kwargs"]["stream_id"])


class _StreamSocket(Socket):
    handlers = {"chat.send": "handle_chat_send"}

    stream_id: int

    async def handle_chat_send(self, content: dict[str, Any]) -> None:
        await _send_chat(
            user=socket_user(self.scope),
            stream_id=self.stream_id,
            text=content.get("text"),
            client_id=content.get("client_id"),
        )

    async def snapshot(self) -> snapshots.Snapshot | None:
        return await snapshots.room_snapshot(self.stream_id, _load_snapshot)

    async def send_snapshot(self, snap: snapshots.Snapshot, viewer_count: int) -> None:
        stream = {**snap.stream, "viewer_count": viewer_count}
        await self.send_event(event_types.stream_state(stream))
        self.outlet.send_message(Message(snap.history_frame()))
        self.open(snap.history_ids)


class StreamRoomSocket(_StreamSocket):
    async def connect(self) -> None:
        self.stream_id = _stream_id(self.scope)
        # Subscribe before the snapshot, so no event falls between the two.
        await self.subscribe(groups.stream_room(self.stream_id))
        snap = await self.snapshot()
        if snap is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        await self.accept()
        user = socket_user(self.scope)
        presence = get_hub()
        registration = presence.register(
            self.stream_id,
            user_member(user.id) if user is not None else ANON,
            live=snap.stream.get("status") == "live",
        )
        self.on_release(registration.release)
        await self.send_snapshot(snap, await presence.count(self.stream_id))


class StreamDashboardSocket(_StreamSocket):
    async def connect(self) -> None:
        self.stream_id = _stream_id(self.scope)
        user = socket_user(self.scope)
        if user is None:
            await self.refuse(CLOSE_LOGIN_REQUIRED)
            return
        await self.subscribe(groups.stream_dashboard(self.stream_id))
        snap = await self.snapshot()
        if snap is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        if (snap.stream.get("streamer") or {}).get("id") != user.id:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.send_snapshot(snap, await get_hub().count(self.stream_id))
