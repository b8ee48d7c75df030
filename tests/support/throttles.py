"""Helpers for the throttle and idempotency tests.

The whole run shares one ``REDIS_PREFIX`` and every test client talks from 127.0.0.1,
so ``scripts/test.sh`` raises the limits for the suite; throttle tests set small limits
explicitly and start from (and leave) no throttle or idempotency keys.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from core.redis import get_redis
from tests.support import stripe_server as stripe_support
from tests.support.servers import AsgiServer, subprocess_env
from tests.support.stripe_server import RecordedRequest, StripeServer

# Limits high enough never to matter, for the limits a test does not look at.
UNLIMITED = ((100_000, 60),)
UNLIMITED_ENV = "100000/60"


def reset_throttles() -> None:
    """Delete this run's throttle counters and donation idempotency records."""
    r = get_redis()
    for pattern in ("throttle:*", "donations:idempotency:*"):
        keys = list(r.scan_iter(f"{settings.REDIS_PREFIX}:{pattern}", count=1000))
        if keys:
            r.delete(*keys)


@pytest.fixture
def clean_throttles() -> Iterator[None]:
    reset_throttles()
    yield
    reset_throttles()


class SlowStripeServer(StripeServer):
    """The test Stripe server, answering PaymentIntent calls after ``delay`` seconds
    (so concurrent requests overlap while one is creating its donation)."""

    def __init__(self, delay: float = 1.0) -> None:
        super().__init__()
        self.delay = delay

    def _handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        time.sleep(self.delay)
        return super()._handle(request)


def stripe_env(stripe: StripeServer) -> dict[str, str]:
    return {
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_SECRET_KEY": stripe_support.SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": stripe_support.PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": stripe_support.WEBHOOK_SECRET,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "DONATION_CURRENCY": "jpy",
    }


@contextmanager
def servers(log_dir: Path, count: int, **env: str) -> Iterator[list[AsgiServer]]:
    """``count`` real server processes sharing the test database and Redis."""
    started: list[AsgiServer] = []
    try:
        for n in range(count):
            started.append(AsgiServer(log_dir, subprocess_env(**env), name=f"server-{n}"))
        yield started
    finally:
        for server in started:
            server.stop()


def csrf_client(server: AsgiServer, **headers: str) -> httpx.Client:
    """An HTTP session against ``server`` holding a CSRF cookie and sending its token."""
    client = httpx.Client(base_url=server.http_url, timeout=60, headers=headers)
    client.get("/api/auth/csrf")
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client
