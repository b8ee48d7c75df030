"""The project's Redis clients (presence, rate limits, peaks), one per process."""

from __future__ import annotations

import functools

import redis
import redis.asyncio as aioredis
from django.conf import settings


def key(*parts: object) -> str:
    """A Redis key under this deployment's prefix: ``key("viewers", 7)``."""
    return ":".join([settings.REDIS_PREFIX, *(str(p) for p in parts)])


@functools.cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2, decode_responses=True
    )


def get_async_redis() -> aioredis.Redis:
    """A fresh asyncio client; asyncio connections belong to one event loop."""
    return aioredis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2, decode_responses=True
    )
