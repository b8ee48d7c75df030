"""Event delivery after commit never fails the request nor skips the callbacks queued
after it (Redis gone between the commit and the publish)."""

from __future__ import annotations

import json

import pytest
import redis
from django.test import Client

from config.celery import app as celery_app
from core import redis as core_redis
from realtime.fanout import stats
from streams.models import LiveStream
from tests.support.factories import make_stream
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def queued_tasks(settings) -> list[str]:
    """Task names waiting in the Celery broker (the real Redis, which stays up)."""
    client = redis.Redis.from_url(celery_app.conf.broker_url)
    try:
        raw = client.lrange(f"{settings.REDIS_PREFIX}:celery:celery", 0, -1)
    finally:
        client.close()
    return [json.loads(item)["headers"]["task"] for item in raw]


@pytest.fixture
def realtime_redis_down(settings):
    """The realtime Redis client points at a port nobody listens on; the broker (which
    Celery configured at start-up) is untouched."""
    assert celery_app.conf.broker_url  # read now: the override below must not reach it
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    core_redis.get_redis.cache_clear()
    yield
    core_redis.get_redis.cache_clear()


def post_hook(kind: str, key: str, clientid: str = "7"):
    call = {"on_publish": "publish", "on_publish_done": "publish_done"}[kind]
    return Client(enforce_csrf_checks=True).post(
        f"/ingest/{kind}", {"app": "live", "call": call, "name": key, "clientid": clientid}
    )


def test_publish_and_end_stand_when_redis_fails_after_commit(realtime_redis_down, settings):
    settings.INGEST_SECRET = ""
    settings.STREAM_RECONNECT_GRACE_SECONDS = 0
    stream = make_stream()
    lost_before = stats["publish_failed"]

    published = post_hook("on_publish", stream.stream_key)
    assert published.status_code in (200, 302), published.content
    assert LiveStream.objects.get(id=stream.id).status == "live"

    done = post_hook("on_publish_done", stream.stream_key)
    assert done.status_code == 200, done.content
    ended = LiveStream.objects.get(id=stream.id)
    assert ended.status == "ended" and ended.actual_end is not None
    # The callback after the failed broadcast still ran: the settle task is queued.
    assert "streams.tasks.settle_stream" in queued_tasks(settings)
    # Both lifecycle broadcasts (and the dashboard's ingest events) were counted lost.
    assert stats["publish_failed"] - lost_before >= 2


def test_owner_end_button_answers_200_when_redis_fails_after_commit(realtime_redis_down, settings):
    from tests.support.factories import make_user

    owner = make_user()
    stream = make_stream(owner, status="live")
    client = Client()
    client.force_login(owner)
    response = client.post(f"/api/streams/{stream.id}/end")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ended"
    assert LiveStream.objects.get(id=stream.id).status == "ended"
