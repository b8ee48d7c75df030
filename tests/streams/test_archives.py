"""Recordings and archives (SPEC §4 "Archives and thumbnails"): ``POST
/ingest/on_record_done`` as nginx-rtmp calls it, and ``streams.tasks.archive_recording``
joining a stream's real FLV recordings into one MP4 with the real ffmpeg — in order,
idempotent, under retries, concurrent runs and killed runs."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from config.celery import app as celery_app
from streams import archives, services, tasks
from streams.models import LiveStream, StreamRecording
from tests.gamification.helpers import run_concurrently
from tests.support import servers
from tests.support.events import capture_events
from tests.support.factories import make_stream
from tests.support.media import (
    RELAY,
    assert_plays,
    duration,
    make_recording,
    probe,
    relay_name,
)
from tests.support.servers import celery_worker, wait_until

ARCHIVE_TASK = "streams.tasks.archive_recording"


@pytest.fixture
def dirs(settings, tmp_path) -> dict[str, Path]:
    """A private recordings dir and a media root of this test's own."""
    recordings, media = tmp_path / "recordings", tmp_path / "media"
    recordings.mkdir()
    settings.INGEST_RECORD_DIR = str(recordings)
    settings.MEDIA_ROOT = str(media)
    settings.MEDIA_URL = "/media/"
    settings.INGEST_SECRET = ""
    return {"recordings": recordings, "media": media, "tmp": tmp_path}


@pytest.fixture
def broker(settings):
    """The Celery queue in the real Redis (no worker here), emptied first."""
    client = redis.Redis.from_url(celery_app.conf.broker_url)
    queue = f"{settings.REDIS_PREFIX}:celery:celery"
    client.delete(queue)

    def queued() -> list[tuple[str, list]]:
        messages = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
        return [
            (m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages
        ]

    yield queued
    client.delete(queue)
    client.close()


def archive_tasks(queued) -> list:
    return [args for name, args in queued() if name == ARCHIVE_TASK]


def callbacks(kind: str, verdict: str) -> float:
    value = REGISTRY.get_sample_value(
        "eldonia_ingest_callbacks_total", {"kind": kind, "verdict": verdict}
    )
    return value or 0.0


def recording_of(stream: LiveStream, dirs, seconds: float = 1.0, stamp: int = 1, **kw) -> Path:
    """A real FLV in the recordings dir, named as nginx-rtmp names it after the relay."""
    name = f"{relay_name(stream.id)}-{1_800_000_000 + stamp}.flv"
    return make_recording(dirs["recordings"] / name, seconds, **kw)


def record_done(path: object, key: str, *, query: str = f"?relay={RELAY}", client=None):
    data = {
        "app": "live",
        "flashver": "FMLE/3.0 (compatible; Lavf59.27",
        "addr": "127.0.0.1",
        "clientid": "7",
        "call": "record_done",
        "recorder": "",
        "name": key,
        "path": str(path),
    }
    return (client or Client(enforce_csrf_checks=True)).post(f"/ingest/on_record_done{query}", data)


def ended_stream(**fields) -> LiveStream:
    now = timezone.now()
    fields.setdefault("actual_start", now - timedelta(minutes=5))
    fields.setdefault("actual_end", now)
    return make_stream(status="ended", **fields)


def live_stream(**fields) -> LiveStream:
    return make_stream(status="live", actual_start=timezone.now(), **fields)


def archive_file(dirs, stream: LiveStream) -> Path:
    stream.refresh_from_db()
    assert stream.archive_url and stream.archive_url.startswith("/media/archives/")
    return dirs["media"] / stream.archive_url.removeprefix("/media/")


def archives_of(dirs, stream_id: int) -> list[str]:
    """Every file of this stream in the archives folder (temporary ones included)."""
    folder = dirs["media"] / "archives"
    if not folder.exists():
        return []
    mine = (f"{stream_id}-", f".{stream_id}-")
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(mine))


def archive_runs(log: str, stream_id: int) -> int:
    """Archive task runs of this stream a worker finished (its "succeeded" lines)."""
    mine = f"'stream_id': {stream_id},"
    return sum(
        1
        for line in log.splitlines()
        if ARCHIVE_TASK in line and "succeeded" in line and mine in line
    )


# --------------------------------------------------------------------------- on_record_done


@pytest.mark.django_db
def test_a_recording_of_a_live_stream_is_stored_once(dirs, broker, caplog):
    caplog.set_level(logging.DEBUG)
    stream = live_stream()
    path = recording_of(stream, dirs)
    before = callbacks("record_done", "allowed")

    first = record_done(path, stream.stream_key)
    again = record_done(path, stream.stream_key)

    assert (first.status_code, again.status_code) == (200, 200)
    rows = list(StreamRecording.objects.filter(stream=stream))
    assert [(r.path, r.size) for r in rows] == [(path.name, path.stat().st_size)]
    assert callbacks("record_done", "allowed") == before + 2
    # Still live: the archive waits for the end.
    assert archive_tasks(broker) == []
    for secret in (stream.stream_key, str(path), path.name):
        assert secret not in caplog.text
        assert secret not in first.content.decode()


@pytest.mark.django_db
def test_a_recording_of_an_ended_stream_enqueues_its_archive_after_commit(
    dirs, broker, django_capture_on_commit_callbacks
):
    stream = ended_stream()
    path = recording_of(stream, dirs)
    with django_capture_on_commit_callbacks(execute=True):
        assert record_done(path, stream.stream_key).status_code == 200
        assert archive_tasks(broker) == []  # not before the commit
    assert archive_tasks(broker) == [[stream.id]]
    # A repeated callback stores nothing and enqueues nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        assert record_done(path, stream.stream_key).status_code == 200
    assert archive_tasks(broker) == [[stream.id]]
    assert StreamRecording.objects.filter(stream=stream).count() == 1


def _bad_paths(stream: LiveStream, other: LiveStream, dirs) -> dict[str, str]:
    recordings = dirs["recordings"]
    outside = make_recording(dirs["tmp"] / f"{relay_name(stream.id)}-1.flv", 0.5)
    (recordings / "sub").mkdir()
    link = recordings / f"{relay_name(stream.id)}-2.flv"
    link.symlink_to(outside)
    theirs = recording_of(other, dirs, 0.5, stamp=9)
    own = recording_of(stream, dirs, 0.5, stamp=8)
    (recordings / f"{relay_name(stream.id)}-dir.flv").mkdir()
    return {
        "outside the dir": str(outside),
        "dot-dot out of the dir": f"{recordings}/../{outside.name}",
        "dot-dot back into the dir": f"{recordings}/sub/../{own.name}",
        "symlink leading out": str(link),
        "a directory": str(recordings / f"{relay_name(stream.id)}-dir.flv"),
        "the dir itself": str(recordings),
        "missing file": str(recordings / f"{relay_name(stream.id)}-404.flv"),
        "relative": f"{relay_name(stream.id)}-1.flv",
        "empty": "",
        "system file": "/etc/passwd",
        "NUL byte": f"{recordings}/{relay_name(stream.id)}-3.flv\x00.txt",
        "too long": f"{recordings}/{'a' * 2000}.flv",
        "another stream's recording": str(theirs),
    }


@pytest.mark.django_db
def test_a_path_that_is_not_this_streams_recording_is_400_and_stores_nothing(dirs, broker, caplog):
    caplog.set_level(logging.DEBUG)
    stream, other = ended_stream(), ended_stream()
    before = callbacks("record_done", "invalid")
    bad = _bad_paths(stream, other, dirs)
    for what, path in bad.items():
        response = record_done(path, stream.stream_key)
        assert response.status_code == 400, what
        body = response.json()
        assert body["error"]["code"] == "invalid_path", what
        if path:
            assert path not in response.content.decode(), what
    assert callbacks("record_done", "invalid") == before + len(bad)
    assert not StreamRecording.objects.exists()
    assert archive_tasks(broker) == []
    assert stream.stream_key not in caplog.text
    assert not any(p and p in caplog.text for p in bad.values())


@pytest.mark.django_db
def test_an_unknown_or_empty_key_is_403_whatever_the_path(dirs):
    stream = ended_stream()
    path = recording_of(stream, dirs)
    before = callbacks("record_done", "refused")
    for key in ("not-the-key-" + "x" * 31, "", stream.stream_key[:-1]):
        response = record_done(path, key)
        assert response.status_code == 403, key
        assert record_done("/etc/passwd", key).status_code == 403  # no path oracle
    assert callbacks("record_done", "refused") == before + 6
    assert not StreamRecording.objects.exists()


@pytest.mark.django_db
def test_the_secret_is_checked_before_anything_else(dirs, settings):
    settings.INGEST_SECRET = "rec-s3cret/+&"
    stream = ended_stream()
    path = recording_of(stream, dirs)
    before = callbacks("record_done", "bad_secret")
    assert record_done(path, stream.stream_key).status_code == 403
    assert (
        record_done(path, stream.stream_key, query=f"?secret=nope&relay={RELAY}").status_code == 403
    )
    assert record_done("/etc/passwd", stream.stream_key, query="?secret=x").status_code == 403
    assert callbacks("record_done", "bad_secret") == before + 3
    assert not StreamRecording.objects.exists()
    ok = record_done(path, stream.stream_key, query=f"?secret=rec-s3cret%2F%2B%26&relay={RELAY}")
    assert ok.status_code == 200
    assert StreamRecording.objects.filter(stream=stream).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["scheduled", "cancelled"])
def test_a_stream_that_never_went_live_refuses_recordings(dirs, status):
    stream = make_stream(status=status)
    path = recording_of(stream, dirs)
    assert record_done(path, stream.stream_key).status_code == 403
    assert not StreamRecording.objects.exists()


@pytest.mark.django_db
def test_a_recording_named_after_the_key_is_accepted_without_the_relay(dirs):
    """Without the relay redirect (another config) nginx-rtmp names files by the key."""
    stream = live_stream()
    path = make_recording(dirs["recordings"] / f"{stream.stream_key}-1800000000.flv", 0.5)
    assert record_done(path, stream.stream_key, query="").status_code == 200
    other = live_stream()
    # The relay hash of another stream is not this stream's, with or without relay.
    theirs = recording_of(other, dirs, 0.5)
    assert record_done(theirs, stream.stream_key, query="").status_code == 400
    assert record_done(theirs, stream.stream_key).status_code == 400
    assert record_done(theirs, other.stream_key).status_code == 200


# --------------------------------------------------------------------------- the archive


def packet_times(path: Path, count: int) -> list[float]:
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            "-read_intervals",
            "%+#" + str(count),
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [float(x) for x in result.stdout.split()]


@pytest.mark.django_db(transaction=True)
def test_an_ended_streams_recordings_become_one_mp4_in_their_order(dirs):
    stream = ended_stream()
    # Told apart by frame rate: 25 fps (2 s) was recorded first, 10 fps (1 s) second,
    # although the second one was reported (and stored) first.
    later = recording_of(stream, dirs, 1.0, stamp=2, rate=10)
    earlier = recording_of(stream, dirs, 2.0, stamp=1, rate=25)
    now = timezone.now()
    StreamRecording.objects.create(stream=stream, path=later.name, size=1, created_at=now)
    StreamRecording.objects.create(
        stream=stream, path=earlier.name, size=1, created_at=now - timedelta(seconds=30)
    )
    with capture_events() as sent:
        result = tasks.archive_recording(stream.id)

    assert result["result"] == "archived" and result["recordings"] == 2
    stream.refresh_from_db()
    assert stream.is_archived is True
    mp4 = archive_file(dirs, stream)
    assert mp4.name.startswith(f"{stream.id}-") and mp4.suffix == ".mp4"
    assert stream.stream_key not in mp4.name
    info = probe(mp4)
    assert "mp4" in info["format"]["format_name"]
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert len(video) == 1 and video[0]["codec_name"] == "h264"  # copied, not re-encoded
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.5
    times = packet_times(mp4, 6)
    assert round(times[1] - times[0], 2) == 0.04  # starts with the 25 fps recording
    assert_plays(mp4)
    # The stream's viewers, dashboard and overlays hear of it.
    states = [e for _, e in sent if e["type"] == "stream.state"]
    assert len(states) == 1 and states[0]["stream"]["archive_url"] == stream.archive_url


@pytest.mark.django_db(transaction=True)
def test_recordings_with_sound_keep_it_through_every_reconnect(dirs):
    """OBS sends H.264 + AAC: both are copied, and the joins decode cleanly."""
    stream = ended_stream()
    for stamp, seconds in ((1, 2.0), (2, 1.5), (3, 1.0)):
        path = recording_of(stream, dirs, seconds, stamp=stamp, rate=30, audio=True)
        assert record_done(path, stream.stream_key).status_code == 200
    assert tasks.archive_recording(stream.id)["result"] == "archived"
    mp4 = archive_file(dirs, stream)
    codecs = sorted(s["codec_name"] for s in probe(mp4)["streams"])
    assert codecs == ["aac", "h264"]
    assert abs(duration(mp4) - 4.5) < 0.5
    assert_plays(mp4)


@pytest.mark.django_db(transaction=True)
def test_archiving_is_idempotent_and_a_later_recording_makes_a_new_complete_archive(dirs, broker):
    stream = ended_stream()
    first = recording_of(stream, dirs, 1.0, stamp=1)
    assert record_done(first, stream.stream_key).status_code == 200
    assert tasks.archive_recording(stream.id)["result"] == "archived"
    old = archive_file(dirs, stream)
    stamp = old.stat().st_mtime_ns

    # A retry, or a duplicate enqueue: nothing to do.
    again = tasks.archive_recording(stream.id)
    assert again["result"] == "unchanged" and again["archive_url"] == stream.archive_url
    assert old.stat().st_mtime_ns == stamp

    # A recording reported later (a reconnect's) is enqueued and joined in.
    second = recording_of(stream, dirs, 2.0, stamp=2)
    broker_before = len(archive_tasks(broker))
    assert record_done(second, stream.stream_key).status_code == 200
    assert len(archive_tasks(broker)) == broker_before + 1
    assert tasks.archive_recording(stream.id)["result"] == "archived"
    new = archive_file(dirs, stream)
    assert new != old and not old.exists()
    assert abs(duration(new) - 3.0) < 0.5
    assert_plays(new)
    assert archives_of(dirs, stream.id) == [new.name]


@pytest.mark.django_db(transaction=True)
def test_a_missing_or_broken_recording_is_skipped_and_the_rest_is_archived(dirs, caplog):
    caplog.set_level(logging.INFO)
    stream = ended_stream()
    good = recording_of(stream, dirs, 2.0, stamp=1)
    gone = recording_of(stream, dirs, 1.0, stamp=2)
    broken = dirs["recordings"] / f"{relay_name(stream.id)}-1800000003.flv"
    broken.write_bytes(b"FLV\x01" + os.urandom(5000))
    empty = dirs["recordings"] / f"{relay_name(stream.id)}-1800000004.flv"
    empty.write_bytes(b"")
    for path in (good, gone, broken, empty):
        assert record_done(path, stream.stream_key).status_code == 200
    gone.unlink()

    result = tasks.archive_recording(stream.id)

    assert (result["result"], result["recordings"], result["skipped"]) == ("archived", 1, 3)
    assert abs(duration(archive_file(dirs, stream)) - 2.0) < 0.5
    skipped = [r.getMessage() for r in caplog.records if "skipped in the archive" in r.getMessage()]
    assert [m.rsplit(": ", 1)[1] for m in skipped] == [
        "the file is missing",
        "ffprobe cannot read it",
        "the file is empty",
    ]
    for secret in (stream.stream_key, relay_name(stream.id), str(dirs["recordings"])):
        assert secret not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_only_broken_recordings_leave_the_stream_unarchived_without_failing(dirs):
    stream = ended_stream()
    broken = dirs["recordings"] / f"{relay_name(stream.id)}-1800000001.flv"
    broken.write_bytes(os.urandom(3000))
    assert record_done(broken, stream.stream_key).status_code == 200
    assert tasks.archive_recording(stream.id)["result"] == "unusable"
    stream.refresh_from_db()
    assert (stream.archive_url, stream.is_archived) == (None, False)


@pytest.mark.django_db(transaction=True)
def test_streams_without_recordings_live_or_missing_are_left_alone(dirs):
    by_hand = ended_stream()  # started and ended by its owner, never published
    assert tasks.archive_recording(by_hand.id)["result"] == "no_recordings"
    live = live_stream()
    assert record_done(recording_of(live, dirs), live.stream_key).status_code == 200
    assert tasks.archive_recording(live.id)["result"] == "not_ended"
    assert tasks.archive_recording(987654321)["result"] == "missing"
    for stream in (by_hand, live):
        stream.refresh_from_db()
        assert (stream.archive_url, stream.is_archived) == (None, False)
    assert not (dirs["media"] / "archives").exists() or not any(
        (dirs["media"] / "archives").iterdir()
    )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_publish_one_complete_archive(dirs):
    stream = ended_stream()
    for stamp, seconds in ((1, 3.0), (2, 2.0)):
        path = recording_of(stream, dirs, seconds, stamp=stamp)
        assert record_done(path, stream.stream_key).status_code == 200

    results = run_concurrently(lambda: archives.archive_stream(stream_id=stream.id), 4)

    assert sorted(r["result"] for r in results) == [
        "archived",
        "unchanged",
        "unchanged",
        "unchanged",
    ]
    assert len({r["archive_url"] for r in results}) == 1
    mp4 = archive_file(dirs, stream)
    assert archives_of(dirs, stream.id) == [mp4.name]  # no temporary file left either
    assert abs(duration(mp4) - 5.0) < 0.5


@pytest.mark.django_db(transaction=True)
def test_a_run_waits_for_a_running_one_and_then_reports_busy(dirs):
    stream = ended_stream()
    assert record_done(recording_of(stream, dirs), stream.stream_key).status_code == 200
    with psycopg.connect(servers.test_database_url(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (archives.ARCHIVE_LOCK_CLASS, stream.id))
        started = time.monotonic()
        with pytest.raises(archives.ArchiveBusy):
            archives.archive_stream(stream_id=stream.id, lock_wait=1.0)
        assert time.monotonic() - started >= 1.0
    # The holder is gone: the next run goes ahead (the task would be retried).
    assert archives.archive_stream(stream_id=stream.id, lock_wait=5)["result"] == "archived"


HOLD_LOCK = """
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
conn.execute("SELECT pg_advisory_lock(%s, %s)", (int(sys.argv[2]), int(sys.argv[3])))
print("locked", flush=True)
time.sleep(600)
"""


@pytest.mark.django_db(transaction=True)
def test_a_run_killed_mid_way_leaves_nothing_that_sticks(dirs):
    """A worker killed while archiving: its lock ends with its connection; its partial
    files and an archive it renamed but never published are cleaned by the next run."""
    stream = ended_stream()
    assert record_done(recording_of(stream, dirs, 2.0), stream.stream_key).status_code == 200
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_LOCK,
            servers.test_database_url(),
            str(archives.ARCHIVE_LOCK_CLASS),
            str(stream.id),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        folder = dirs["media"] / "archives"
        folder.mkdir(parents=True)
        leftovers = [
            folder / f".{stream.id}-0badc0ffee00.part",
            folder / f".{stream.id}-0badc0ffee00.txt",
            folder / f"{stream.id}-00000000deadbeef.mp4",  # renamed, never published
        ]
        for path in leftovers:
            path.write_bytes(b"partial")
        os.killpg(holder.pid, signal.SIGKILL)
    finally:
        holder.wait(timeout=10)

    result = archives.archive_stream(stream_id=stream.id, lock_wait=10)

    assert result["result"] == "archived"
    mp4 = archive_file(dirs, stream)
    assert archives_of(dirs, stream.id) == [mp4.name]
    assert abs(duration(mp4) - 2.0) < 0.5


@pytest.mark.django_db(transaction=True)
def test_the_public_stream_carries_the_archive_and_thumbnail_urls(dirs, api):
    stream = ended_stream(thumbnail_url="/media/thumbnails/1.jpg?v=1")
    body = api.get(f"/api/streams/{stream.id}").json()
    assert (body["archive_url"], body["thumbnail_url"]) == (None, "/media/thumbnails/1.jpg?v=1")
    assert record_done(recording_of(stream, dirs), stream.stream_key).status_code == 200
    tasks.archive_recording(stream.id)
    stream.refresh_from_db()
    body = api.get(f"/api/streams/{stream.id}").json()
    assert body["archive_url"] == stream.archive_url
    assert body["archive_url"].startswith("/media/archives/")
    listed = api.get("/api/streams?status=ended").json()["results"]
    assert [s["archive_url"] for s in listed if s["id"] == stream.id] == [stream.archive_url]


# --------------------------------------------------------------------------- real worker


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_ending_a_recorded_stream_archives_it_on_a_real_worker(dirs, log_dir, broker):
    stream = live_stream()
    for stamp, seconds in ((1, 2.0), (2, 1.0)):
        path = recording_of(stream, dirs, seconds, stamp=stamp)
        assert record_done(path, stream.stream_key).status_code == 200
    env = {"MEDIA_ROOT": str(dirs["media"]), "INGEST_RECORD_DIR": str(dirs["recordings"])}
    with celery_worker(log_dir, pool="threads", concurrency=2, **env) as worker:
        services.do_end_stream(stream_id=stream.id)  # → settle → archive
        wait_until(
            lambda: LiveStream.objects.get(id=stream.id).is_archived, "the archive", timeout=60
        )
        mp4 = archive_file(dirs, stream)
        url = stream.archive_url
        # Two more runs at once (a duplicate enqueue, a retry): one consistent result.
        tasks.archive_recording.delay(stream.id)
        tasks.archive_recording.delay(stream.id)
        wait_until(lambda: archive_runs(worker.log(), stream.id) == 3, "all runs", timeout=60)
        log = worker.log()
    stream.refresh_from_db()
    assert stream.archive_url == url and mp4.is_file()
    assert archives_of(dirs, stream.id) == [mp4.name]
    assert abs(duration(mp4) - 3.0) < 0.5
    assert "'result': 'unchanged'" in log
    assert stream.stream_key not in log and relay_name(stream.id) not in log
    assert connection.is_usable()
