"""The stream state machine: scheduled → live → ended, scheduled → cancelled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.exceptions import Forbidden, InvalidTransition, NotFound
from realtime import event_types, groups
from streams import services
from streams.models import LiveStream
from streams.serializers import public_stream
from tests.support.events import capture_events
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db

LIVE, ENDED, CANCELLED, SCHEDULED = "live", "ended", "cancelled", "scheduled"


def _groups(stream):
    return [
        groups.stream_room(stream.id),
        groups.stream_dashboard(stream.id),
        groups.streamer_overlays(stream.streamer_id),
    ]


def test_create_gives_a_scheduled_stream_with_a_long_random_key():
    user = make_user()
    a = services.check_create_stream(streamer=user, title="  First  ", description="")
    b = services.check_create_stream(streamer=user, title="Second")
    assert a.status == SCHEDULED and a.title == "First" and a.description is None
    assert len(a.stream_key) >= 32 and a.stream_key != b.stream_key
    assert set(a.stream_key) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


@pytest.mark.parametrize("title", ["", "   ", "x" * 256, None, 7])
def test_create_refuses_a_missing_or_too_long_title_and_stores_nothing(title):
    user = make_user()
    with pytest.raises(services.ValidationFailed) as exc:
        services.check_create_stream(streamer=user, title=title)
    assert exc.value.status == 400 and "title" in exc.value.message
    assert not LiveStream.objects.filter(streamer=user).exists()


def test_going_live_sets_actual_start_once_and_broadcasts_the_state():
    stream = make_stream()
    with capture_events() as sent:
        live = services.do_go_live(stream_id=stream.id, user=stream.streamer)
    assert live.status == LIVE and live.actual_start is not None
    assert sent == [(_groups(stream), event_types.stream_state(public_stream(live)))]
    assert sent[0][1]["stream"]["status"] == LIVE
    assert stream.stream_key not in str(sent)


def test_ending_sets_actual_end_and_broadcasts_ended():
    stream = make_stream()
    services.do_go_live(stream_id=stream.id)
    with capture_events() as sent:
        ended = services.do_end_stream(stream_id=stream.id, user=stream.streamer)
    assert ended.status == ENDED and ended.actual_end >= ended.actual_start
    assert [e["stream"]["status"] for _, e in sent] == [ENDED]
    assert sent[0][0] == _groups(stream)


def test_cancelling_a_scheduled_stream():
    stream = make_stream()
    with capture_events() as sent:
        cancelled = services.do_cancel_stream(stream_id=stream.id, user=stream.streamer)
    assert cancelled.status == CANCELLED and cancelled.actual_start is None
    assert [e["stream"]["status"] for _, e in sent] == [CANCELLED]


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (SCHEDULED, "do_end_stream"),
        (LIVE, "do_go_live"),
        (LIVE, "do_cancel_stream"),
        (ENDED, "do_go_live"),
        (ENDED, "do_end_stream"),
        (ENDED, "do_cancel_stream"),
        (CANCELLED, "do_go_live"),
        (CANCELLED, "do_end_stream"),
        (CANCELLED, "do_cancel_stream"),
    ],
)
def test_illegal_transitions_are_refused_with_409_and_change_nothing(start, action):
    stream = make_stream(status=start)
    with capture_events() as sent, pytest.raises(InvalidTransition) as exc:
        getattr(services, action)(stream_id=stream.id, user=stream.streamer)
    assert exc.value.status == 409 and exc.value.code == "invalid_transition"
    assert sent == []
    stream.refresh_from_db()
    assert stream.status == start


def test_only_the_owner_may_change_a_stream():
    stream = make_stream()
    other = make_user()
    for action in ("do_go_live", "do_cancel_stream", "do_rotate_stream_key"):
        with pytest.raises(Forbidden):
            getattr(services, action)(stream_id=stream.id, user=other)
    stream.refresh_from_db()
    assert stream.status == SCHEDULED


def test_unknown_stream_is_not_found():
    with pytest.raises(NotFound):
        services.do_go_live(stream_id=987654321)


def test_rotating_the_key_replaces_it_but_not_while_live():
    stream = make_stream()
    old = stream.stream_key
    rotated = services.do_rotate_stream_key(stream_id=stream.id, user=stream.streamer)
    assert rotated.stream_key != old and len(rotated.stream_key) >= 32
    services.do_go_live(stream_id=stream.id)
    with pytest.raises(InvalidTransition) as exc:
        services.do_rotate_stream_key(stream_id=stream.id, user=stream.streamer)
    assert rotated.stream_key not in exc.value.message
    stream.refresh_from_db()
    assert stream.stream_key == rotated.stream_key


def test_a_rolled_back_end_emits_nothing_and_keeps_the_stream_live():
    stream = make_stream()
    services.do_go_live(stream_id=stream.id)
    with capture_events() as sent:
        try:
            with transaction.atomic():
                services.do_end_stream(stream_id=stream.id)
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert sent == []
    stream.refresh_from_db()
    assert stream.status == LIVE and stream.actual_end is None


def test_update_changes_title_and_description_and_broadcasts():
    stream = make_stream(title="Old")
    with capture_events() as sent:
        updated = services.check_update_stream(
            user=stream.streamer, stream_id=stream.id, title=" New ", description="About"
        )
    assert (updated.title, updated.description) == ("New", "About")
    assert sent[0][1]["stream"]["title"] == "New"


def test_settle_sets_a_missing_actual_end_and_is_idempotent():
    stream = make_stream(status=ENDED, actual_start=timezone.now() - timedelta(minutes=5))
    first = services.settle_stream(stream_id=stream.id)
    stream.refresh_from_db()
    assert stream.actual_end is not None
    assert first == {"stream_id": stream.id, "actual_end": stream.actual_end.isoformat()}
    assert services.settle_stream(stream_id=stream.id) == first


def test_settle_leaves_missing_and_live_streams_alone():
    assert services.settle_stream(stream_id=987654321) is None
    live = make_stream(status=LIVE, actual_start=timezone.now())
    assert services.settle_stream(stream_id=live.id) is None
    live.refresh_from_db()
    assert live.status == LIVE and live.actual_end is None


def test_update_of_the_title_alone_keeps_the_description_and_null_clears_it():
    stream = make_stream(title="T", description="Keep me")
    services.check_update_stream(user=stream.streamer, stream_id=stream.id, title="T2")
    stream.refresh_from_db()
    assert (stream.title, stream.description) == ("T2", "Keep me")
    services.check_update_stream(user=stream.streamer, stream_id=stream.id, description=None)
    stream.refresh_from_db()
    assert stream.description is None and stream.title == "T2"


def test_an_unchanged_update_broadcasts_nothing():
    stream = make_stream(title="Same")
    with capture_events() as sent:
        services.check_update_stream(user=stream.streamer, stream_id=stream.id, title="Same")
    assert sent == []
