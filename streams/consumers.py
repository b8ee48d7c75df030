"""``/ws/streams/{id}/``: the viewers' room."""

from __future__ import annotations

from channels.db import database_sync_to_async

from realtime import event_types, groups
from realtime.consumers import CLOSE_NOT_FOUND, EventConsumer
from streams.selectors import get_stream
from streams.serializers import public_stream


@database_sync_to_async
def _snapshot(stream_id: int) -> dict | None:
    stream = get_stream(stream_id)
    return None if stream is None else public_stream(stream)


class StreamRoomConsumer(EventConsumer):
    async def connect(self) -> None:
        self.stream_id = int(self.scope["url_route"]["kwargs"]["stream_id"])
        if await _snapshot(self.stream_id) is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Subscribe before the snapshot, so no event falls between the two.
        await self.join(groups.stream_room(self.stream_id))
        await self.accept()
        await self.send_json(event_types.stream_state(await _snapshot(self.stream_id)))

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json(event_types.pong())
            return
        await self.send_json(event_types.error("unknown_type", "Unknown message type."))
