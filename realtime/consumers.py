"""Base consumers: forward ``realtime.event`` layer messages, parse client frames.

Every rejected client frame is answered with an ``error`` frame (SPEC §7) and the
socket stays open. Frames over ``MAX_FRAME_BYTES`` are refused by Daphne itself
(``--websocket-max-message-size``); the check here covers other servers.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.exceptions import ApplicationError
from realtime import event_types

logger = logging.getLogger(__name__)

CLOSE_LOGIN_REQUIRED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_MESSAGE_TOO_BIG = 1009

# The largest client frame accepted (Daphne is started with this as
# --websocket-max-message-size and --websocket-max-frame-size).
MAX_FRAME_BYTES = 64 * 1024


class EventConsumer(AsyncJsonWebsocketConsumer):
    """Forwards ``realtime.event`` messages once ``ready``.

    Channels dispatches one message at a time, so events published while ``connect``
    builds its snapshot wait in the layer queue and arrive right after it.
    """

    groups_joined: list[str]
    ready = True  # consumers that send a snapshot set this False until it is sent

    async def join(self, *groups: str) -> None:
        self.groups_joined = [*getattr(self, "groups_joined", []), *groups]
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        if self.ready:
            await self.send_json(message["event"])

    async def refuse(self, code: int) -> None:
        """Close with an application close code the client can read.

        A close before ``accept`` becomes an HTTP 403 in Daphne and the code is lost,
        so the handshake is accepted first. Nothing is forwarded afterwards.
        """
        self.ready = False
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []
        await self.accept()
        await self.close(code=code)


class ProtocolConsumer(EventConsumer):
    """JSON text frames ``{"type": ...}`` dispatched to ``handle_<type>`` methods.

    ``handlers`` maps a client frame type to a method name. ``ping`` is built in.
    A handler may raise ``ApplicationError``; it becomes an ``error`` frame.
    """

    handlers: dict[str, str] = {}

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_error("invalid_json", "Frames must be JSON text, not binary.")
            return
        if len(text_data.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid_json", "The frame is not valid JSON.")
            return
        if not isinstance(content, dict):
            await self.send_error("invalid_json", "The frame must be a JSON object.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        frame_type = content.get("type")
        if frame_type == "ping":
            await self.send_json(event_types.pong())
            return
        method = self.handlers.get(frame_type) if isinstance(frame_type, str) else None
        if method is None:
            await self.send_error(
                "unknown_type",
                f"Unknown message type; send one of: {', '.join(['ping', *self.handlers])}.",
            )
            return
        try:
            await getattr(self, method)(content)
        except ApplicationError as exc:
            retry_after = exc.extra.get("retry_after")
            await self.send_error(exc.code, exc.message, retry_after)

    async def send_error(self, code: str, message: str, retry_after: int | None = None) -> None:
        await self.send_json(event_types.error(code, message, retry_after))
