"""Viewer peaks: Redis → ``live_streams.max_viewers`` (never lowered)."""

from __future__ import annotations

import pytest

from config.celery import app
from core.redis import get_redis
from realtime import presence
from streams.models import LiveStream
from streams.tasks import persist_viewer_peaks
from streams.viewers import persist_viewer_peak
from tests.support.factories import make_stream

pytestmark = pytest.mark.django_db


def set_peak(stream_id: int, peak: int) -> None:
    get_redis().set(presence._room(stream_id, "peak"), peak)


def test_the_beat_task_has_its_spec_name():
    assert "streams.tasks.persist_viewer_peaks" in app.tasks
    assert app.conf.beat_schedule["persist-viewer-peaks"]["task"] == persist_viewer_peaks.name


def test_the_task_raises_max_viewers_of_live_streams_to_the_redis_peak():
    live = make_stream(status="live", max_viewers=3)
    scheduled = make_stream(status="scheduled", max_viewers=0)
    set_peak(live.id, 7)
    set_peak(scheduled.id, 5)  # not live: not persisted by the sweep
    persist_viewer_peaks()
    persist_viewer_peaks()  # idempotent
    assert LiveStream.objects.get(id=live.id).max_viewers == 7
    assert LiveStream.objects.get(id=scheduled.id).max_viewers == 0


def test_max_viewers_is_never_lowered():
    stream = make_stream(status="live", max_viewers=10)
    set_peak(stream.id, 7)
    persist_viewer_peaks()
    assert LiveStream.objects.get(id=stream.id).max_viewers == 10


def test_settling_a_stream_persists_its_final_peak():
    stream = make_stream(status="ended", max_viewers=None)
    set_peak(stream.id, 12)
    assert persist_viewer_peak(stream_id=stream.id) == 12
    assert LiveStream.objects.get(id=stream.id).max_viewers == 12


def test_the_task_drops_viewers_of_dead_server_processes():
    r = get_redis()
    sid, token = 920001, "deadhost:1:abcdef"
    # What a process leaves behind when it is killed: its sockets, no heartbeat.
    r.hset(presence._room(sid, "proc", token), mapping={"u:1": 2, "a": 1})
    r.hset(presence._room(sid, "users"), "1", 2)
    r.set(presence._room(sid, "anon"), 1)
    r.sadd(presence._proc(token, "rooms"), sid)
    r.sadd(presence._procs(), token)
    assert presence.viewer_count(sid) == 2
    persist_viewer_peaks()
    assert presence.viewer_count(sid) == 0
    assert not r.sismember(presence._procs(), token)
