"""The one way to push a realtime event (CONVENTIONS "Side effects after commit").

``send_event_on_commit(group, event)`` queues the event until the surrounding
transaction commits; a write that rolls back is never broadcast. On the channel
layer every event travels as ``{"type": "realtime.event", "event": payload}`` and
consumers forward ``payload`` to the client unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
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


def send_event_on_commit(
    group: str | Iterable[str], event: dict[str, Any] | Callable[[], dict[str, Any]]
) -> None:
    """``event`` may be a builder: it then runs after commit, so a payload that reads
    Redis (e.g. a live viewer count) does no network I/O inside the transaction."""
    groups = [group] if isinstance(group, str) else list(group)

    def send() -> None:
        send_event_now(groups, event() if callable(event) else event)

    transaction.on_commit(send)


def send_events_now(items: Iterable[tuple[Iterable[str], dict[str, Any]]]) -> None:
    """Send many events in one event-loop entry (one Redis connection), for set-based
    jobs that emit thousands at once; ``send_event_now`` per event would pay a new
    loop and connection each time."""
    batch = [(list(groups), event) for groups, event in items]
    if not batch:
        return

    async def send_all() -> None:
        layer = get_channel_layer()
        for groups, event in batch:
            for group in groups:
                try:
                    await layer.group_send(group, wrap(event))
                except Exception:  # committed data; a lost push must not fail the job
                    logger.exception("could not publish %s to %s", event.get("type"), group)

    async_to_sync(send_all)()


def send_events_on_commit(items: Iterable[tuple[str | Iterable[str], dict[str, Any]]]) -> None:
    """``send_event_on_commit`` for many events: all go out after commit, in order."""
    batch = [([g] if isinstance(g, str) else list(g), event) for g, event in items]
    if batch:
        transaction.on_commit(lambda: send_events_now(batch))
