from __future__ import annotations

import httpx
import pytest
import redis

from tests.support.servers import asgi_server, free_port

# The health check runs its query on its own connection, outside the test's transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def uncached(settings):
    settings.HEALTHZ_CACHE_SECONDS = 0


def test_healthz_reports_every_service_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "channel_layer": "ok"},
    }
    assert response["Cache-Control"] == "no-store"


def test_healthz_is_503_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")
    assert body["checks"]["channel_layer"].startswith("error")
    assert "127.0.0.1" not in response.content.decode()


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _server_pubsub_channels(settings) -> list[bytes]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return client.pubsub_channels(f"{settings.REDIS_PREFIX}:*")
    finally:
        client.close()


@pytest.mark.e2e
def test_healthz_leaves_nothing_behind_in_the_server(log_dir, settings):
    """Unauthenticated probes, every one running the full check: no subscription
    stays in Redis and the server's memory stays flat."""
    with (
        asgi_server(log_dir, HEALTHZ_CACHE_SECONDS="0") as server,
        httpx.Client(base_url=server.http_url, timeout=10) as http,
    ):
        for _ in range(50):  # warm up: imports, pools, allocator arenas
            assert http.get("/healthz").status_code == 200
        channels_before = _server_pubsub_channels(settings)
        rss_before = _rss_kib(server.pid)
        for _ in range(300):
            response = http.get("/healthz")
            assert response.status_code == 200, response.text
        channels_after = _server_pubsub_channels(settings)
        rss_after = _rss_kib(server.pid)
    assert channels_after == channels_before
    # 300 leaked subscriptions cost ~1.8 MB; allow allocator noise well below that.
    assert rss_after - rss_before < 1024, (rss_before, rss_after)
