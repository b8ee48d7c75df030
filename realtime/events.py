"""The one way to push a realtime event (CONVENTIONS "Side effects after commit").

``send_event_on_commit(group, event)`` queues the event until the surrounding
transaction commits; a write that rolls back is never broadcast. An event is encoded
to JSON once and published with one Redis ``PUBLISH`` per group; every server
process subscribed to the group writes it to its own sockets (``realtime.fanout``).
Room events update the join snapshot cache in the same pipeline, before the
``PUBLISH`` (``realtime.snapshots``): store, then cache, then broadcast.

Delivery after commit never fails the request and never stops the callbacks queued
after it (a settle task, another event): a builder or Redis error is logged and
counted in ``realtime.fanout.stats["publish_failed"]``, and the committed change
stands. Clients catch up from the next snapshot when they reconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction

from core.redis import get_async_redis, get_redis
from realtime import snapshots
from realtime.fanout import channel_name, encode, stats

logger = logging.getLogger(__name__)


def _queue(pipe: Any, groups: Iterable[str], event: dict[str, Any]) -> None:
    data = encode(event)
    for group in groups:
        sid = snapshots.room_id(group)
        if sid is not None:
            snapshots.queue_update(pipe, sid, event)
        pipe.publish(channel_name(group), data)


async def send_event(group: str, event: dict[str, Any], *, redis: Any = None) -> None:
    """Send now (async callers that wrote nothing to the database)."""
    client = redis if redis is not None else get_async_redis()
    try:
        pipe = client.pipeline(transaction=False)
        _queue(pipe, [group], event)
        await pipe.execute()
    finally:
        if redis is None:
            await client.aclose()


def send_event_now(groups: Iterable[str], event: dict[str, Any]) -> None:
    _publish([(list(groups), event)])


def send_event_on_commit(
    group: str | Iterable[str], event: dict[str, Any] | Callable[[], dict[str, Any]]
) -> None:
    """``event`` may be a builder: it then runs after commit, so a payload that reads
    Redis (e.g. a live viewer count) does no network I/O inside the transaction."""
    groups = [group] if isinstance(group, str) else list(group)

    def send() -> None:
        try:
            payload = event() if callable(event) else event
        except Exception:
            _lost(1)
            logger.exception("could not build a realtime event for %s", ", ".join(groups))
            return
        send_event_now(groups, payload)

    transaction.on_commit(send, robust=True)


def send_events_now(items: Iterable[tuple[Iterable[str], dict[str, Any]]]) -> None:
    """Send many events in one Redis pipeline (set-based jobs emit thousands at once)."""
    _publish([(list(groups), event) for groups, event in items])


def _publish(batch: list[tuple[list[str], dict[str, Any]]]) -> None:
    if not batch:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for groups, event in batch:
            _queue(pipe, groups, event)
        pipe.execute()
    except Exception:  # the data is committed; a lost push must not fail the caller
        _lost(len(batch))
        logger.exception(
            "could not publish %s", ", ".join(str(e.get("type")) for _, e in batch[:5])
        )


def send_events_on_commit(items: Iterable[tuple[str | Iterable[str], dict[str, Any]]]) -> None:
    """``send_event_on_commit`` for many events: all go out after commit, in order."""
    batch = [([g] if isinstance(g, str) else list(g), event) for g, event in items]
    if batch:
        transaction.on_commit(lambda: send_events_now(batch), robust=True)


def invalidate_snapshots_on_commit(stream_ids: Iterable[int]) -> None:
    """For a change that alters what joiners see but broadcasts nothing (e.g. unban)."""
    ids = sorted(set(stream_ids))

    def run() -> None:
        try:
            snapshots.invalidate(ids)
        except Exception:
            logger.exception("could not invalidate room snapshots")

    transaction.on_commit(run, robust=True)


def _lost(n: int) -> None:
    stats["publish_failed"] += n
