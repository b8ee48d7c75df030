"""``/ws/overlays/{token}/?since=<donation id>``: a streamer's OBS overlay.

The token in the URL is the only credential (OBS sends no cookie). Unknown or rotated
tokens are refused with close code 4404; a socket whose token is rotated while it is
open is closed with 4403. On connect the socket subscribes first and then replays the
completed donations after ``since`` (oldest first), so live alerts follow the replay
and nothing falls between the two.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from donations.selectors import overlay_replay_events, overlay_user_id_for_token, token_digest
from realtime import event_types, groups
from realtime.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, EventConsumer


class OverlayConsumer(EventConsumer):
    async def connect(self) -> None:
        token = self.scope["url_route"]["kwargs"]["token"]
        self.token_digest = token_digest(token)
        user_id = await database_sync_to_async(overlay_user_id_for_token)(token)
        if user_id is None:
            # Accept first so the client sees the close code (a refused handshake
            # would only show HTTP 403).
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user_id = user_id
        await self.join(groups.streamer_overlays(user_id))
        await self.accept()
        since = self._since()
        self.replayed: set[Any] = set()
        if since is not None:
            events = await database_sync_to_async(overlay_replay_events)(
                streamer_id=user_id, since=since
            )
            for event in events:
                self.replayed.add(event["id"])
                await self.send_json(event)

    def _since(self) -> int | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        raw = (query.get("since") or [""])[0]
        return int(raw) if raw.isdigit() and len(raw) < 19 else None

    async def realtime_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        # A donation completed while we were replaying arrives twice: send it once.
        if (
            event.get("type") == "donation"
            and not event.get("replay")
            and event.get("id") in getattr(self, "replayed", ())
        ):
            return
        await self.send_json(event)

    async def overlay_rotated(self, message: dict[str, Any]) -> None:
        if message.get("current_digest") != self.token_digest:
            await self.close(code=CLOSE_FORBIDDEN)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json(event_types.pong())
            return
        await self.send_json(event_types.error("unknown_type", "Unknown message type."))
