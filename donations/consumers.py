"""``/ws/overlays/{token}/?since=<donation id>``: a streamer's OBS overlay.

The token in the URL is the only credential (OBS sends no cookie). Unknown or rotated
tokens are refused with close code 4404; a socket whose token is rotated while it is
open is closed with 4403. On connect the socket subscribes first and then replays the
completed donations after ``since`` (oldest first), so live alerts follow the replay
and nothing falls between the two.

Besides ``donation`` alerts the group carries ``stream.state`` and ``goal`` events of
all the streamer's streams. The goal page sends ``{"type": "goal.sync"}`` (on connect,
and when an event may have changed which goal is current) and gets the streamer's
current goal back as a ``goal`` event with ``sync: true``
(``donations.selectors.current_goal``). The alert page never sends a frame.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from core.inputs import parse_id
from donations.selectors import (
    current_goal_event,
    overlay_replay_events,
    overlay_user_id_for_token,
    token_digest,
)
from realtime import groups
from realtime.sockets import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, Socket, db_call

# Sent through the overlays group when the streamer rotates the token; never
# forwarded to the client.
OVERLAY_ROTATED = "overlay.rotated"

_user_id_for_token = db_call(overlay_user_id_for_token)
_replay_events = db_call(overlay_replay_events)
_current_goal_event = db_call(current_goal_event)


class OverlaySocket(Socket):
    filters_events = True
    metrics_kind = "overlay"
    handlers = {"goal.sync": "handle_goal_sync"}
    user_id: int

    async def connect(self) -> None:
        token = self.scope["url_route"]["kwargs"]["token"]
        self.token_digest = token_digest(token)
        self.replayed: set[Any] = set()
        user_id = await _user_id_for_token(token)
        if user_id is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        self.user_id = user_id
        await self.subscribe(groups.streamer_overlays(user_id))
        await self.accept()
        raw_since = self._raw_since()
        since = parse_id(raw_since) if raw_since else None
        if raw_since and since is None:
            # Live alerts still flow; only the replay is skipped, and the client is told.
            await self.send_error("invalid_since", "since must be a donation id; nothing replayed.")
        if since is not None:
            for event in await _replay_events(streamer_id=user_id, since=since):
                self.replayed.add(event["id"])
                await self.send_event(event)
        self.open()

    async def handle_goal_sync(self, content: dict[str, Any]) -> None:
        await self.send_event(await _current_goal_event(self.user_id))

    def _raw_since(self) -> str:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return (query.get("since") or [""])[0]

    def accepts(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == OVERLAY_ROTATED:
            if event.get("current_digest") != self.token_digest and not self.closed:
                self._closing = asyncio.ensure_future(self.close(CLOSE_FORBIDDEN))
            return False
        # A donation completed while we were replaying arrives twice: send it once.
        return not (
            kind == "donation" and not event.get("replay") and event.get("id") in self.replayed
        )
