"""The one way to push a realtime event (CONVENTIONS "Side effects after commit").

``send_event_on_commit(group, event)`` queues the event until the surrounding
transaction commits; a write that rolls back is never broadcast. On the channel
layer every event travels as ``{"type": "realtime.event", "event": payload}`` and
consumers forward ``payload`` to the client unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

LAYER_MESSAGE_TYPE = "realtime.event"


def wrap(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": LAYER_MESSAGE_TYPE, "event": event}


async def send_event(group: str, event: dict[str, Any]) -> None:
    """Send now (async callers that wrote nothing to the database)."""
    await get_channel_layer().group_send(group, wrap(event))


def send_event_now(groups: Iterable[str], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, wrap(event))
        except Exception:  # the data is committed; a lost push must not fail the caller
            logger.exception("could not publish %s to %s", event.get("type"), group)


def send_event_on_commit(group: str | Iterable[str], event: dict[str, Any]) -> None:
    groups = [group] if isinstance(group, str) else list(group)
    transaction.on_commit(lambda: send_event_now(groups, event))
