"""The stream sockets (SPEC §7).

* ``/ws/streams/{id}/``: the viewers' room; anyone may read, chat needs login;
  every socket counts in the viewer presence.
* ``/ws/dashboard/streams/{id}/``: the owner's dashboard; same snapshot and chat,
  plus everything sent to ``groups.stream_dashboard(id)``; not counted as a viewer.

Both subscribe first, then send ``stream.state`` and ``chat.history``.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from chat.selectors import room_snapshot
from chat.services import check_send_chat_message
from realtime import event_types, groups
from realtime.auth import socket_user
from realtime.consumers import (
    CLOSE_FORBIDDEN,
    CLOSE_LOGIN_REQUIRED,
    CLOSE_NOT_FOUND,
    ProtocolConsumer,
)
from realtime.presence import ANON, get_hub, user_member


@database_sync_to_async
def _snapshot(stream_id: int):
    return room_snapshot(stream_id)


@database_sync_to_async
def _send_chat(user: Any, stream_id: int, text: Any, client_id: Any) -> None:
    check_send_chat_message(user=user, stream_id=stream_id, text=text, client_id=client_id)


class _StreamSocket(ProtocolConsumer):
    handlers = {"chat.send": "handle_chat_send"}

    stream_id: int

    async def handle_chat_send(self, content: dict[str, Any]) -> None:
        await _send_chat(
            socket_user(self.scope), self.stream_id, content.get("text"), content.get("client_id")
        )

    ready = False

    async def send_snapshot(self, stream: dict[str, Any], history: list[dict]) -> None:
        await self.send_json(event_types.stream_state(stream))
        await self.send_json(event_types.chat_history(history))
        self.ready = True


class StreamRoomConsumer(_StreamSocket):
    member: str | None = None

    async def connect(self) -> None:
        self.stream_id = int(self.scope["url_route"]["kwargs"]["stream_id"])
        # Subscribe before the snapshot, so no event falls between the two.
        await self.join(groups.stream_room(self.stream_id))
        snapshot = await _snapshot(self.stream_id)
        if snapshot is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        stream, payload, history = snapshot
        await self.accept()
        user = socket_user(self.scope)
        self.member = user_member(user.id) if user is not None else ANON
        payload["viewer_count"] = await get_hub().join(
            self.stream_id, self.member, live=stream.status == "live"
        )
        await self.send_snapshot(payload, history)

    async def disconnect(self, code: int) -> None:
        if self.member is not None:
            await get_hub().leave(self.stream_id, self.member)
            self.member = None
        await super().disconnect(code)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event.get("type") == "stream.state":
            get_hub().note_status(self.stream_id, (event.get("stream") or {}).get("status"))
        await super().realtime_event(message)


class StreamDashboardConsumer(_StreamSocket):
    async def connect(self) -> None:
        self.stream_id = int(self.scope["url_route"]["kwargs"]["stream_id"])
        user = socket_user(self.scope)
        if user is None:
            await self.refuse(CLOSE_LOGIN_REQUIRED)
            return
        await self.join(groups.stream_dashboard(self.stream_id))
        snapshot = await _snapshot(self.stream_id)
        if snapshot is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        stream, payload, history = snapshot
        if stream.streamer_id != user.id:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.send_snapshot(payload, history)
