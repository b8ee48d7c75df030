"""``GET /healthz``: database, Redis and channel layer, 503 when one is down."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)
CHECK_TIMEOUT = 3.0


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _check_redis() -> None:
    client = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "health.ping":
        raise RuntimeError("channel layer returned an unexpected message")


async def _run(name: str, check) -> tuple[str, str]:
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT)
    except Exception as exc:  # every failure is reported, none is raised
        logger.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
        return name, f"error: {type(exc).__name__}"
    return name, "ok"


async def healthz(request: HttpRequest) -> JsonResponse:
    results = await asyncio.gather(
        _run("database", database_sync_to_async(_check_database)),
        _run("redis", _check_redis),
        _run("channel_layer", _check_channel_layer),
    )
    checks = dict(results)
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
