"""``capture_events()``: which realtime events a piece of code emitted, after commit.

    with capture_events() as sent:
        do_something()
    assert sent == [(["stream.7"], {"type": "stream.state", ...})]

Events are still delivered to the real channel layer; on-commit callbacks of the
test's transaction run when the block exits (a rolled-back write emits nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from django.test import TestCase

from realtime import events


@contextmanager
def capture_events() -> Iterator[list[tuple[list[str], dict[str, Any]]]]:
    sent: list[tuple[list[str], dict[str, Any]]] = []
    original = events.send_event_now

    def record(groups, event):
        groups = list(groups)
        sent.append((groups, event))
        original(groups, event)

    original_many = events.send_events_now

    def record_many(items):
        items = [(list(groups), event) for groups, event in items]
        sent.extend(items)
        original_many(items)

    with (
        mock.patch.object(events, "send_event_now", record),
        mock.patch.object(events, "send_events_now", record_many),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        yield sent


class GroupListener:
    """Hears what is published to a realtime group, as a server process would
    (``realtime.fanout``): ``async with GroupListener(group) as hear: await hear()``."""

    def __init__(self, group: str) -> None:
        self.group = group

    async def __aenter__(self):
        import json

        from core.redis import get_async_redis
        from realtime.fanout import channel_name

        self._redis = get_async_redis()
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(channel_name(self.group))

        async def hear(timeout: float = 20) -> dict[str, Any]:
            import asyncio

            async with asyncio.timeout(timeout):
                while True:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=1
                    )
                    if message is not None:
                        return json.loads(message["data"])

        return hear

    async def __aexit__(self, *exc: object) -> None:
        await self._pubsub.aclose()
        await self._redis.aclose()
