"""Base consumer: forwards ``realtime.event`` layer messages to the socket."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

CLOSE_LOGIN_REQUIRED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class EventConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def join(self, *groups: str) -> None:
        self.groups_joined = [*getattr(self, "groups_joined", []), *groups]
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
