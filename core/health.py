"""``GET /healthz``: database, Redis and the realtime pub/sub, 503 when one is down.

Unauthenticated, so it must cost little and leave nothing behind: one check runs at
a time per process and its result serves every caller for
``settings.HEALTHZ_CACHE_SECONDS``; the
Redis check uses one short-lived connection whose subscription ends with it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from core.redis import key as redis_key
from realtime.loops import PerLoop

logger = logging.getLogger(__name__)
CHECK_TIMEOUT = 3.0


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _check_redis_and_pubsub() -> tuple[str, str]:
    """PING, then a PUBLISH heard back on a SUBSCRIBE (the path every realtime event
    takes). Closing the connection ends the subscription: nothing stays registered."""
    client = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
    )
    pubsub = client.pubsub()
    try:
        try:
            await asyncio.wait_for(client.ping(), CHECK_TIMEOUT)
        except Exception as exc:
            failed = _failure("redis", exc)
            return failed, failed
        try:
            channel = redis_key("health", secrets.token_hex(8))
            await pubsub.subscribe(channel)
            await client.publish(channel, b"ping")
            deadline = time.monotonic() + CHECK_TIMEOUT
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no message came back")
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
                if message is not None and message.get("data") == b"ping":
                    break
        except Exception as exc:
            return "ok", _failure("channel_layer", exc)
        return "ok", "ok"
    finally:
        await pubsub.aclose()
        await client.aclose()


def _failure(name: str, exc: BaseException) -> str:
    logger.warning("health check %s failed: %s", name, type(exc).__name__)
    return f"error: {type(exc).__name__}"


async def _check_database_async() -> str:
    try:
        await asyncio.wait_for(database_sync_to_async(_check_database)(), CHECK_TIMEOUT)
    except Exception as exc:
        return _failure("database", exc)
    return "ok"


async def _run_checks() -> dict[str, str]:
    database, (redis_state, pubsub_state) = await asyncio.gather(
        _check_database_async(), _check_redis_and_pubsub()
    )
    return {"database": database, "redis": redis_state, "channel_layer": pubsub_state}


class _SharedCheck:
    """At most one check in flight per event loop; callers within
    ``HEALTHZ_CACHE_SECONDS`` of the last one get its result."""

    def __init__(self) -> None:
        self.running: asyncio.Task | None = None
        self.result: dict[str, str] | None = None
        self.at = 0.0

    async def get(self) -> dict[str, str]:
        if self.result is not None and time.monotonic() - self.at < settings.HEALTHZ_CACHE_SECONDS:
            return self.result
        if self.running is None:
            self.running = asyncio.ensure_future(_run_checks())
            self.running.add_done_callback(self._done)
        return await asyncio.shield(self.running)

    def _done(self, task: asyncio.Task) -> None:
        self.running = None
        if not task.cancelled() and task.exception() is None:
            self.result, self.at = task.result(), time.monotonic()


_checks: PerLoop[_SharedCheck] = PerLoop(_SharedCheck)


async def healthz(request: HttpRequest) -> JsonResponse:
    checks = await _checks.get().get()
    healthy = all(value == "ok" for value in checks.values())
    response = JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
    response["Cache-Control"] = "no-store"
    return response
