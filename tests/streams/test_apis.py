"""``/api/streams*``: what the dashboard and viewers see over HTTP."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from chat.models import ChatMessage
from donations.models import StreamDonation
from gamification.models import UserExpLog
from streams.models import LiveStream
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db

PUBLIC_FIELDS = {
    "id",
    "title",
    "description",
    "status",
    "reconnecting",
    "streamer",
    "scheduled_start",
    "actual_start",
    "actual_end",
    "viewer_count",
    "max_viewers",
    "total_donations",
    "currency",
    "created_at",
    "goal",
    "archive_url",
    "thumbnail_url",
}


@pytest.fixture
def owner(api, user):
    api.login_as(user)
    return user


def test_create_returns_201_with_the_stream_and_no_key(api, owner):
    response = api.call(
        "POST",
        "/api/streams",
        {
            "title": "Night run",
            "description": "Speedrun",
            "scheduled_start": "2030-01-02T20:00:00Z",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    stream = LiveStream.objects.get(id=body["id"])
    assert body["status"] == "scheduled" and body["title"] == "Night run"
    assert body["scheduled_start"] == "2030-01-02T20:00:00+00:00"
    assert body["streamer"]["id"] == owner.id
    assert set(body) >= PUBLIC_FIELDS
    assert "stream_key" not in body and stream.stream_key not in response.content.decode()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": "ok", "scheduled_start": "tomorrow evening"}, "scheduled_start"),
        ({"title": "ok", "description": "d" * 5001}, "description"),
    ],
)
def test_create_with_bad_input_is_a_400_and_creates_nothing(api, owner, payload, field):
    response = api.call("POST", "/api/streams", payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["message"]
    assert not LiveStream.objects.exists()


def test_anonymous_cannot_create_or_act_on_streams(api):
    stream = make_stream()
    assert api.call("POST", "/api/streams", {"title": "x"}).status_code == 401
    for path in ("key", "stats"):
        response = api.get(f"/api/streams/{stream.id}/{path}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
    for action in ("start", "end", "cancel", "key/rotate"):
        assert api.call("POST", f"/api/streams/{stream.id}/{action}").status_code == 401
    assert api.call("PATCH", f"/api/streams/{stream.id}", {"title": "x"}).status_code == 401


def test_other_users_get_403_and_change_nothing(api, owner):
    stream = make_stream(title="Theirs")
    for path in ("key", "stats"):
        assert api.get(f"/api/streams/{stream.id}/{path}").status_code == 403
    for action in ("start", "cancel", "key/rotate"):
        response = api.call("POST", f"/api/streams/{stream.id}/{action}")
        assert response.status_code == 403
        assert stream.stream_key not in response.content.decode()
    assert api.call("PATCH", f"/api/streams/{stream.id}", {"title": "Mine"}).status_code == 403
    fresh = LiveStream.objects.get(id=stream.id)
    assert (fresh.status, fresh.title, fresh.stream_key) == (
        "scheduled",
        "Theirs",
        stream.stream_key,
    )


def test_unknown_stream_is_404(api, owner):
    for path in ("", "/key", "/stats"):
        assert api.get(f"/api/streams/999999{path}").status_code == 404
    assert api.call("POST", "/api/streams/999999/start").status_code == 404


def test_owner_reads_and_rotates_the_key_uncached(api, owner, settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings.INGEST_RTMP_URL = "rtmp://live.example/live"
    stream = make_stream(streamer=owner)
    response = api.get(f"/api/streams/{stream.id}/key")
    assert response.status_code == 200
    assert response.json() == {
        "stream_key": stream.stream_key,
        "ingest_url": settings.INGEST_RTMP_URL,
    }
    assert response["Cache-Control"] == "no-store"
    rotated = api.call("POST", f"/api/streams/{stream.id}/key/rotate").json()
    assert rotated["stream_key"] != stream.stream_key and len(rotated["stream_key"]) >= 32
    assert api.get(f"/api/streams/{stream.id}/key").json()["stream_key"] == rotated["stream_key"]
    assert stream.stream_key not in caplog.text and rotated["stream_key"] not in caplog.text


def test_key_rotation_while_live_is_409(api, owner):
    stream = make_stream(streamer=owner)
    api.call("POST", f"/api/streams/{stream.id}/start")
    response = api.call("POST", f"/api/streams/{stream.id}/key/rotate")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert stream.stream_key not in response.content.decode()


def test_start_end_and_the_409s_of_the_lifecycle(api, owner):
    stream = make_stream(streamer=owner)
    started = api.call("POST", f"/api/streams/{stream.id}/start")
    assert started.status_code == 200 and started.json()["status"] == "live"
    assert started.json()["actual_start"]
    again = api.call("POST", f"/api/streams/{stream.id}/start")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    assert api.call("POST", f"/api/streams/{stream.id}/cancel").status_code == 409
    ended = api.call("POST", f"/api/streams/{stream.id}/end")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert ended.json()["actual_start"] == started.json()["actual_start"]
    assert api.call("POST", f"/api/streams/{stream.id}/end").status_code == 409


def test_cancel_a_scheduled_stream(api, owner):
    stream = make_stream(streamer=owner)
    response = api.call("POST", f"/api/streams/{stream.id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert api.call("POST", f"/api/streams/{stream.id}/start").status_code == 409


def test_patch_changes_title_and_description_with_validation(api, owner):
    stream = make_stream(streamer=owner, title="Old")
    response = api.call(
        "PATCH", f"/api/streams/{stream.id}", {"title": "New title", "description": "More"}
    )
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["description"]) == ("New title", "More")
    bad = api.call("PATCH", f"/api/streams/{stream.id}", {"title": ""})
    assert bad.status_code == 400
    assert LiveStream.objects.get(id=stream.id).title == "New title"


def test_public_detail_never_shows_the_key_or_ingest_details(api):
    stream = make_stream(title="Public")
    response = api.get(f"/api/streams/{stream.id}")
    assert response.status_code == 200
    assert set(response.json()) == PUBLIC_FIELDS
    assert stream.stream_key not in response.content.decode()


def test_owner_detail_adds_the_ingest_status_but_not_the_key(api, owner):
    stream = make_stream(streamer=owner)
    body = api.get(f"/api/streams/{stream.id}").json()
    assert body["ingest"] == {"connected": False, "last_seen_at": None, "reconnect_deadline": None}
    assert stream.stream_key not in str(body)


def test_list_filters_by_status_and_paginates_without_keys(api):
    live = [make_stream(status="live", actual_start=timezone.now()) for _ in range(3)]
    scheduled = [make_stream() for _ in range(2)]
    response = api.get("/api/streams?status=live&page_size=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert {s["status"] for s in body["results"]} == {"live"}
    second = api.get("/api/streams?status=live&page_size=2&page=2").json()
    ids = {s["id"] for s in body["results"]} | {s["id"] for s in second["results"]}
    assert ids == {s.id for s in live}
    everything = api.get("/api/streams").json()
    assert everything["count"] == 5
    text = api.get("/api/streams?page_size=100").content.decode()
    for stream in live + scheduled:
        assert stream.stream_key not in text


def test_list_with_an_unknown_status_is_a_400(api):
    response = api.get("/api/streams?status=bogus")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["message"]


def test_stats_sum_what_the_stream_earned(api, owner):
    start = timezone.now() - timedelta(minutes=30)
    stream = make_stream(
        streamer=owner,
        status="ended",
        actual_start=start,
        actual_end=start + timedelta(minutes=25),
        max_viewers=42,
    )
    StreamDonation.objects.create(
        stream=stream, amount=Decimal("500.00"), payment_status="completed", completed_at=start
    )
    StreamDonation.objects.create(
        stream=stream, amount=Decimal("250.50"), payment_status="completed", completed_at=start
    )
    # Written without completed_at: not counted, as the stream total does not count it.
    StreamDonation.objects.create(
        stream=stream, amount=Decimal("70.00"), payment_status="completed"
    )
    StreamDonation.objects.create(stream=stream, amount=Decimal("999.00"), payment_status="pending")
    UserExpLog.objects.create(
        user=owner,
        action_type_id="stream_minute",
        exp_gained=250,
        reference_type="live_stream",
        reference_id=stream.id,
    )
    fan = make_user()
    for text in ("hello", "gg", "spam"):
        ChatMessage.objects.create(stream=stream, user=fan, text=text)
    ChatMessage.objects.filter(text="spam").update(deleted_at=timezone.now(), deleted_by=owner)
    response = api.get(f"/api/streams/{stream.id}/stats")
    assert response.status_code == 200
    assert response.json() == {
        "stream_id": stream.id,
        "status": "ended",
        "duration_seconds": 25 * 60,
        "peak_viewers": 42,
        "donation_total": "750.50",
        "donation_count": 2,
        "currency": "jpy",
        "chat_message_count": 2,  # a moderator deleted the third
        "exp_earned": 250,
    }


def test_other_users_streams_in_the_list_belong_to_them(api):
    a, b = make_user(), make_user()
    make_stream(streamer=a)
    make_stream(streamer=b)
    body = api.get(f"/api/streams?streamer={a.id}").json()
    assert [s["streamer"]["id"] for s in body["results"]] == [a.id]
