"""``/ingest/on_publish|on_publish_done|on_update`` as nginx-rtmp (and SRS) call them."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from realtime import groups
from streams import services
from streams.models import LiveStream
from tests.support.events import capture_events
from tests.support.factories import make_stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def nginx():
    # CSRF checks on: the callbacks must work without a token.
    return Client(enforce_csrf_checks=True)


@pytest.fixture(autouse=True)
def ingest_settings(settings):
    settings.INGEST_SECRET = ""
    settings.STREAM_RECONNECT_GRACE_SECONDS = 30
    settings.INGEST_UPDATE_INTERVAL_SECONDS = 30


@pytest.fixture(autouse=True)
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def hook(client, kind, key, clientid="1", query="", **extra):
    call = {"on_publish": "publish", "on_publish_done": "publish_done"}.get(kind, "update_publish")
    data = {
        "app": "live",
        "flashver": "FMLE/3.0 (compatible; FMSc/1.0)",
        "tcurl": "rtmp://127.0.0.1/live",
        "addr": "203.0.113.9",
        "clientid": clientid,
        "call": call,
        "name": key,
        "type": "live",
        **extra,
    }
    return client.post(f"/ingest/{kind}{query}", data)


def fresh(stream):
    return LiveStream.objects.get(id=stream.id)


def assert_key_hidden(key, *responses, caplog):
    assert key not in caplog.text
    for response in responses:
        assert key not in response.content.decode()
        assert key not in str(response.headers)


def test_a_valid_publish_takes_the_stream_live(nginx, caplog):
    stream = make_stream()
    with capture_events() as sent:
        response = hook(nginx, "on_publish", stream.stream_key, clientid="11")
    assert response.status_code == 200
    live = fresh(stream)
    assert live.status == "live" and live.actual_start is not None
    assert live.ingest_client_id == "11"
    assert [(g, e["type"]) for g, e in sent] == [
        (
            [
                groups.stream_room(stream.id),
                groups.stream_dashboard(stream.id),
                groups.streamer_overlays(stream.streamer_id),
            ],
            "stream.state",
        ),
        ([groups.stream_dashboard(stream.id)], "ingest"),
    ]
    assert sent[0][1]["stream"]["status"] == "live"
    assert sent[1][1] == {"type": "ingest", "connected": True}
    assert_key_hidden(stream.stream_key, response, caplog=caplog)


def test_publish_with_a_relay_redirects_nginx_to_the_stream_id(nginx, caplog):
    stream = make_stream()
    response = hook(
        nginx, "on_publish", stream.stream_key, query="?relay=rtmp://127.0.0.1:1935/hls"
    )
    assert response.status_code == 302
    assert response["Location"] == f"rtmp://127.0.0.1:1935/hls/{stream.id}"
    assert fresh(stream).status == "live"
    assert_key_hidden(stream.stream_key, response, caplog=caplog)


@pytest.mark.parametrize("key", ["", "not-a-key", "x" * 43])
def test_an_empty_or_unknown_key_is_refused(nginx, key, caplog):
    stream = make_stream()
    for kind in ("on_publish", "on_update", "on_publish_done"):
        response = hook(nginx, kind, key)
        assert response.status_code == 403
    assert fresh(stream).status == "scheduled"
    assert_key_hidden(stream.stream_key, caplog=caplog)


def test_a_key_prefix_does_not_match(nginx):
    stream = make_stream()
    assert hook(nginx, "on_publish", stream.stream_key[:-1]).status_code == 403
    assert hook(nginx, "on_publish", stream.stream_key + "x").status_code == 403
    assert fresh(stream).status == "scheduled"


def test_the_ingest_secret_is_required_when_configured(nginx, settings, caplog):
    settings.INGEST_SECRET = "s3cret-callback"
    stream = make_stream()
    for query in ("", "?secret=wrong", "?secret="):
        response = hook(nginx, "on_publish", stream.stream_key, query=query)
        assert response.status_code == 403
        assert "s3cret-callback" not in response.content.decode()
    assert fresh(stream).status == "scheduled"
    ok = hook(nginx, "on_publish", stream.stream_key, query="?secret=s3cret-callback")
    assert ok.status_code == 200 and fresh(stream).status == "live"
    assert "s3cret-callback" not in caplog.text
    assert_key_hidden(stream.stream_key, ok, caplog=caplog)


@pytest.mark.parametrize("status", ["ended", "cancelled"])
def test_an_ended_or_cancelled_stream_refuses_ingest(nginx, status):
    stream = make_stream(status=status)
    for kind in ("on_publish", "on_update", "on_publish_done"):
        assert hook(nginx, kind, stream.stream_key).status_code == 403
    assert fresh(stream).status == status


def test_a_rotated_key_stops_working(nginx):
    stream = make_stream()
    old = stream.stream_key
    rotated = services.do_rotate_stream_key(stream_id=stream.id)
    assert hook(nginx, "on_publish", old).status_code == 403
    assert fresh(stream).status == "scheduled"
    assert hook(nginx, "on_publish", rotated.stream_key).status_code == 200
    assert fresh(stream).status == "live"


def test_a_second_publisher_on_a_live_key_is_refused_and_its_done_ignored(nginx, caplog):
    stream = make_stream()
    assert hook(nginx, "on_publish", stream.stream_key, clientid="1").status_code == 200
    with capture_events() as sent:
        duplicate = hook(nginx, "on_publish", stream.stream_key, clientid="2")
        done = hook(nginx, "on_publish_done", stream.stream_key, clientid="2")
    assert duplicate.status_code == 403 and done.status_code == 200
    assert sent == []
    live = fresh(stream)
    assert live.status == "live" and live.ingest_client_id == "1" and live.ingest_done_at is None
    # The first publisher keeps streaming.
    assert hook(nginx, "on_update", stream.stream_key, clientid="1").status_code == 200
    assert hook(nginx, "on_update", stream.stream_key, clientid="2").status_code == 403
    assert_key_hidden(stream.stream_key, duplicate, done, caplog=caplog)


def test_a_silent_session_is_replaced_by_a_new_publish(nginx, settings):
    settings.STREAM_RECONNECT_GRACE_SECONDS = 120
    stream = make_stream()
    hook(nginx, "on_publish", stream.stream_key, clientid="1")
    LiveStream.objects.filter(id=stream.id).update(
        ingest_seen_at=timezone.now() - timedelta(seconds=70)
    )
    started = fresh(stream).actual_start
    assert hook(nginx, "on_publish", stream.stream_key, clientid="9").status_code == 200
    live = fresh(stream)
    assert live.ingest_client_id == "9" and live.actual_start == started


def test_publish_done_starts_the_grace_and_a_reconnect_resumes_the_same_stream(nginx):
    stream = make_stream()
    hook(nginx, "on_publish", stream.stream_key, clientid="1")
    started = fresh(stream).actual_start
    everyone = [
        groups.stream_room(stream.id),
        groups.stream_dashboard(stream.id),
        groups.streamer_overlays(stream.streamer_id),
    ]
    with capture_events() as sent:
        assert hook(nginx, "on_publish_done", stream.stream_key, clientid="1").status_code == 200
    # The dashboard hears OBS left; everyone sees "reconnecting…".
    assert [(g, e["type"]) for g, e in sent] == [
        ([groups.stream_dashboard(stream.id)], "ingest"),
        (everyone, "stream.state"),
    ]
    assert sent[0][1] == {"type": "ingest", "connected": False}
    assert sent[1][1]["stream"]["reconnecting"] is True
    waiting = fresh(stream)
    assert waiting.status == "live" and waiting.ingest_client_id is None
    assert waiting.ingest_done_at is not None
    with capture_events() as sent:
        assert hook(nginx, "on_publish", stream.stream_key, clientid="2").status_code == 200
    assert [(g, e["type"]) for g, e in sent] == [
        (everyone, "stream.state"),
        ([groups.stream_dashboard(stream.id)], "ingest"),
    ]
    assert sent[0][1]["stream"]["reconnecting"] is False
    assert sent[1][1] == {"type": "ingest", "connected": True}
    resumed = fresh(stream)
    assert resumed.status == "live" and resumed.actual_start == started
    assert resumed.ingest_client_id == "2" and resumed.ingest_done_at is None


def test_a_publish_after_the_grace_ran_out_is_refused_and_ends_the_stream(nginx):
    stream = make_stream()
    hook(nginx, "on_publish", stream.stream_key, clientid="1")
    hook(nginx, "on_publish_done", stream.stream_key, clientid="1")
    LiveStream.objects.filter(id=stream.id).update(
        ingest_done_at=timezone.now() - timedelta(seconds=31)
    )
    with capture_events() as sent:
        assert hook(nginx, "on_publish", stream.stream_key, clientid="2").status_code == 403
    ended = fresh(stream)
    assert ended.status == "ended" and ended.actual_end is not None
    assert [e["stream"]["status"] for _, e in sent if e["type"] == "stream.state"] == ["ended"]


def test_without_grace_publish_done_ends_the_stream_at_once(nginx, settings):
    settings.STREAM_RECONNECT_GRACE_SECONDS = 0
    stream = make_stream()
    hook(nginx, "on_publish", stream.stream_key, clientid="1")
    hook(nginx, "on_publish_done", stream.stream_key, clientid="1")
    assert fresh(stream).status == "ended"


def test_update_is_a_heartbeat_until_the_owner_ends_the_stream(nginx, caplog):
    stream = make_stream()
    hook(nginx, "on_publish", stream.stream_key, clientid="5")
    LiveStream.objects.filter(id=stream.id).update(
        ingest_seen_at=timezone.now() - timedelta(seconds=20)
    )
    assert hook(nginx, "on_update", stream.stream_key, clientid="5").status_code == 200
    assert fresh(stream).ingest_seen_at > timezone.now() - timedelta(seconds=5)
    services.do_end_stream(stream_id=stream.id, user=stream.streamer)
    kicked = hook(nginx, "on_update", stream.stream_key, clientid="5")
    assert kicked.status_code == 403
    assert_key_hidden(stream.stream_key, kicked, caplog=caplog)


def test_player_updates_are_always_allowed(nginx):
    # nginx-rtmp reports players (and its own HLS relay) to on_update as well.
    response = hook(
        nginx, "on_update", "7ba5c1359066fea29408057b969c41ac", call="update_play", clientid="3"
    )
    assert response.status_code == 200


def test_callbacks_only_accept_post(nginx):
    assert nginx.get("/ingest/on_publish").status_code == 405


def test_srs_json_hooks_are_understood(nginx, caplog):
    stream = make_stream()

    def srs(action, key, client_id="srs-1"):
        body = {
            "action": action,
            "client_id": client_id,
            "ip": "198.51.100.4",
            "vhost": "__defaultVhost__",
            "app": "live",
            "stream": key,
            "param": "",
        }
        path = "on_publish" if action == "on_publish" else "on_publish_done"
        return nginx.post(f"/ingest/{path}", json.dumps(body), content_type="application/json")

    ok = srs("on_publish", stream.stream_key)
    assert ok.status_code == 200 and ok.content == b"0"
    assert fresh(stream).status == "live"
    refused = srs("on_publish", "wrong")
    assert refused.status_code == 403 and refused.content != b"0"
    assert srs("on_unpublish", stream.stream_key).content == b"0"
    assert fresh(stream).ingest_done_at is not None
    assert_key_hidden(stream.stream_key, ok, caplog=caplog)
