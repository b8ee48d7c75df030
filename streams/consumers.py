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

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.utils import timezone

from accounts.selectors import account_is_active
from chat.selectors import recover_after, room_snapshot_data
from chat.services import check_send_chat_message
from core.inputs import parse_id
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

logger = logging.getLogger(__name__)

_load_snapshot = db_call(room_snapshot_data)
_send_chat = db_call(check_send_chat_message)
_account_is_active = db_call(account_is_active)
_recover_after = db_call(recover_after)

# A recovered history larger than this is not sent (the client gets the last 50 and
# ``recovered: false``); one larger than LARGE_FRAME_BYTES is let out before live events.
RECOVERY_MAX_BYTES = 1024 * 1024
LARGE_FRAME_BYTES = 64 * 1024


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
        """The join snapshot; with ``?since=<last chat message id seen>``, the chat
        messages after it when they can be vouched for (SPEC §7 chat recovery): from the
        Redis snapshot (last 500), else from the database (last 10 minutes)."""
        raw = (
            parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("since") or [""]
        )[0]
        since = parse_id(raw) if raw else None
        self.bad_since = bool(raw) and since is None
        snap = await snapshots.room_snapshot(self.stream_id, _load_snapshot, since)
        if snap is None or since is None:
            return snap
        if snap.recovered_items is None:
            found = await _recover_after(stream_id=self.stream_id, since=since, now=timezone.now())
            if found is not None:
                snap.recovered_items = [snapshots.item_text(m) for m in found]
        if snap.recovered_items is not None and (
            sum(len(item) for item in snap.recovered_items) > RECOVERY_MAX_BYTES
        ):
            snap.recovered_items = None  # too much to send at once: the usual last 50
        return snap

    async def send_snapshot(self, snap: snapshots.Snapshot, viewer_count: int) -> None:
        stream = {**snap.stream, "viewer_count": viewer_count}
        await self.send_event(event_types.stream_state(stream))
        frame = snap.history_frame()
        self.outlet.send_message(Message(frame))
        if self.bad_since:
            await self.send_error("invalid_since", "since must be a chat message id.")
        if len(frame) > LARGE_FRAME_BYTES:
            await self.outlet.drained()
        self.open(snap.history_ids)


class StreamRoomSocket(_StreamSocket):
    metrics_kind = "room"

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
    metrics_kind = "dashboard"

    async def connect(self) -> None:
        self.stream_id = _stream_id(self.scope)
        user = socket_user(self.scope)
        if user is None:
            await self.refuse(CLOSE_LOGIN_REQUIRED)
            return
        if not user.account_is_active:
            await self.refuse(CLOSE_FORBIDDEN)
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
        watcher = asyncio.ensure_future(self._watch_account(user.id))
        self.on_release(watcher.cancel)

    async def _watch_account(self, user_id: int) -> None:
        """An account suspended while its dashboard is open is closed with 4403 within
        ``ACCOUNT_RECHECK_SECONDS`` (the platform flips the status in the database)."""
        interval = settings.ACCOUNT_RECHECK_SECONDS
        while not self.closed:
            await asyncio.sleep(interval)
            try:
                active = await _account_is_active(user_id)
            except Exception:  # a database blip is not a suspension; check again later
                logger.warning("dashboard account re-check failed", exc_info=True)
                continue
            if not active:
                await self.close(CLOSE_FORBIDDEN)
                return
