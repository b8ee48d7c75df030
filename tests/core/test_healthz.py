from __future__ import annotations

import pytest

from tests.support.servers import free_port

# The health check runs its query on its own connection, outside the test's transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_reports_every_service_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "channel_layer": "ok"},
    }


def test_healthz_is_503_when_redis_is_unreachable(client, settings):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = dead
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [dead], "prefix": "dead"},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.pop("default", None)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")
    assert body["checks"]["channel_layer"].startswith("error")
    assert "127.0.0.1" not in response.content.decode()
