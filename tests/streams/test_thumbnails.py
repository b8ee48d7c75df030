"""``streams.tasks.capture_thumbnails`` (SPEC §4): a real frame of each live stream's
real HLS output (ffmpeg writing a live playlist, as the ingest's ``hls`` application
does), written atomically as a JPEG, with a cache-busting ``thumbnail_url``."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from streams import tasks
from streams.models import LiveStream
from tests.gamification.helpers import run_concurrently
from tests.support.factories import make_stream
from tests.support.media import live_hls, probe
from tests.support.servers import celery_worker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

URL = re.compile(r"/media/thumbnails/(\d+)\.jpg\?v=(\d+)")


@pytest.fixture
def dirs(settings, tmp_path) -> dict[str, Path]:
    hls, media = tmp_path / "hls", tmp_path / "media"
    hls.mkdir()
    settings.HLS_DIR = str(hls)
    settings.MEDIA_ROOT = str(media)
    settings.MEDIA_URL = "/media/"
    return {"hls": hls, "media": media}


def live(**fields) -> LiveStream:
    return make_stream(status="live", actual_start=timezone.now(), **fields)


def playing(log_dir, dirs, stream: LiveStream, size: str = "320x180"):
    """ffmpeg writing ``HLS_DIR/<id>.m3u8`` in real time, once it has a few segments."""
    process = live_hls(log_dir, dirs["hls"] / f"{stream.id}.m3u8", size=size)
    playlist = dirs["hls"] / f"{stream.id}.m3u8"
    wait_until(
        lambda: playlist.is_file() and playlist.read_text().count(".ts") >= 2,
        "the HLS playlist",
    )
    return process


def assert_jpeg(path: Path, width: int, height: int) -> None:
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9", "not a JPEG"
    (video,) = probe(path)["streams"]
    assert (video["codec_name"], video["width"], video["height"]) == ("mjpeg", width, height)


def test_a_live_stream_with_hls_output_gets_a_real_jpeg_thumbnail(dirs, log_dir, api):
    on_air = live(title="On air")
    no_hls = live(title="Started by hand, no encoder")
    over = make_stream(status="ended", title="Over")
    (dirs["hls"] / f"{over.id}.m3u8").write_text("#EXTM3U\n")  # a stale playlist
    process = playing(log_dir, dirs, on_air)
    try:
        before = int(time.time())
        result = tasks.capture_thumbnails()
    finally:
        process.stop()

    assert result["captured"] == [on_air.id]
    assert_jpeg(dirs["media"] / "thumbnails" / f"{on_air.id}.jpg", 320, 180)  # not upscaled
    on_air.refresh_from_db()
    match = URL.fullmatch(on_air.thumbnail_url)
    assert match and int(match[1]) == on_air.id and int(match[2]) >= before
    for stream in (no_hls, over):
        stream.refresh_from_db()
        assert stream.thumbnail_url is None
    assert not (dirs["media"] / "thumbnails" / f"{no_hls.id}.jpg").exists()
    # Readers see it at once (no stale cached payload).
    assert api.get(f"/api/streams/{on_air.id}").json()["thumbnail_url"] == on_air.thumbnail_url
    listed = api.get("/api/streams?status=live").json()["results"]
    by_id = {s["id"]: s["thumbnail_url"] for s in listed}
    assert by_id == {on_air.id: on_air.thumbnail_url, no_hls.id: None}


def test_a_big_picture_is_scaled_to_640_wide_and_replaced_on_the_next_run(dirs, log_dir):
    stream = live()
    process = playing(log_dir, dirs, stream, size="1280x720")
    try:
        tasks.capture_thumbnails()
        stream.refresh_from_db()
        first = stream.thumbnail_url
        path = dirs["media"] / "thumbnails" / f"{stream.id}.jpg"
        assert_jpeg(path, 640, 360)
        stamp = path.stat().st_mtime_ns
        time.sleep(1.1)  # ?v= has a one-second resolution
        tasks.capture_thumbnails()
    finally:
        process.stop()
    stream.refresh_from_db()
    assert stream.thumbnail_url != first and URL.fullmatch(stream.thumbnail_url)
    assert path.stat().st_mtime_ns > stamp
    assert_jpeg(path, 640, 360)


def test_concurrent_runs_leave_one_complete_jpeg_and_no_temporary_files(dirs, log_dir):
    stream = live()
    process = playing(log_dir, dirs, stream)
    try:
        results = run_concurrently(tasks.capture_thumbnails, 3)
    finally:
        process.stop()
    assert all(r["captured"] == [stream.id] for r in results)
    folder = dirs["media"] / "thumbnails"
    assert sorted(p.name for p in folder.iterdir()) == [f"{stream.id}.jpg"]
    assert_jpeg(folder / f"{stream.id}.jpg", 320, 180)


def test_a_broken_playlist_is_skipped_without_failing_the_run(dirs, log_dir):
    broken, fine = live(), live()
    (dirs["hls"] / f"{broken.id}.m3u8").write_text("#EXTM3U\n#EXTINF:2.0,\nmissing-0.ts\n")
    process = playing(log_dir, dirs, fine)
    try:
        result = tasks.capture_thumbnails()
    finally:
        process.stop()
    assert result["captured"] == [fine.id] and result["with_hls"] == 2
    broken.refresh_from_db()
    assert broken.thumbnail_url is None
    assert sorted(p.name for p in (dirs["media"] / "thumbnails").iterdir()) == [f"{fine.id}.jpg"]


def test_beat_runs_it_every_minute_on_a_real_worker(dirs, log_dir):
    entry = celery_app.conf.beat_schedule["capture-thumbnails"]
    assert entry["task"] == tasks.capture_thumbnails.name == "streams.tasks.capture_thumbnails"
    assert entry["schedule"] == 60.0
    stream = live()
    process = playing(log_dir, dirs, stream)
    env = {"HLS_DIR": str(dirs["hls"]), "MEDIA_ROOT": str(dirs["media"])}
    try:
        with celery_worker(log_dir, **env):
            celery_app.send_task(entry["task"])
            wait_until(lambda: LiveStream.objects.get(id=stream.id).thumbnail_url, "the thumbnail")
    finally:
        process.stop()
    assert_jpeg(dirs["media"] / "thumbnails" / f"{stream.id}.jpg", 320, 180)
