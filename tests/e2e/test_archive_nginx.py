"""Recording to archive, for real: ffmpeg (as OBS) → nginx-rtmp (the shipped config,
``record all``) → ``on_record_done`` → the ASGI server → a real Celery worker running
ffmpeg → one MP4 served by the app; and a thumbnail from nginx's HLS while live."""

from __future__ import annotations

import time

import httpx
import pytest

from config.celery import app as celery_app
from streams import services
from streams.models import LiveStream, StreamRecording
from tests.support.factories import make_stream
from tests.support.media import assert_plays, probe
from tests.support.nginx import NginxRtmp, ffmpeg_publish, wait_exit
from tests.support.servers import asgi_server, celery_worker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "e2e-archive-secret"
GRACE = 10


def fresh(stream: LiveStream) -> LiveStream:
    return LiveStream.objects.get(id=stream.id)


@pytest.fixture
def stack(log_dir, tmp_path, settings):
    """The app, nginx-rtmp calling it back, and a worker: one recordings dir, one media
    root and one HLS dir for all three (as make run and compose set them up)."""
    media = tmp_path / "media"
    records = NginxRtmp.record_dir_for(log_dir)
    hls = log_dir / "nginx" / "hls"
    settings.STREAM_RECONNECT_GRACE_SECONDS = GRACE
    settings.INGEST_UPDATE_INTERVAL_SECONDS = 2
    settings.MEDIA_ROOT = str(media)
    env = {
        "STREAM_RECONNECT_GRACE_SECONDS": str(GRACE),
        "INGEST_UPDATE_INTERVAL_SECONDS": "2",
        "INGEST_SECRET": SECRET,
        "MEDIA_ROOT": str(media),
        "INGEST_RECORD_DIR": str(records),
        "HLS_DIR": str(hls),
    }
    with asgi_server(log_dir, **env) as web:
        ingest = NginxRtmp(log_dir, app_url=web.http_url, secret=SECRET, update_seconds=2)
        try:
            assert ingest.record_dir == records and ingest.hls_dir == hls
            with celery_worker(log_dir, **env) as worker:
                yield web, ingest, worker
        finally:
            ingest.stop()


def publish(log_dir, ingest: NginxRtmp, key: str, name: str, seconds: int) -> None:
    """Publish a test picture for ``seconds`` in real time, then disconnect."""
    process = ffmpeg_publish(log_dir, ingest.publish_url(key), name, seconds=seconds)
    try:
        assert wait_exit(process, timeout=seconds + 30) == 0, process.log()
    finally:
        process.stop()


def test_a_broadcast_with_a_reconnect_becomes_one_mp4_served_by_the_app(stack, log_dir, tmp_path):
    web, ingest, worker = stack
    stream = make_stream(title="Recorded live")
    key = stream.stream_key

    # First session (6 s). While it is live, a thumbnail is taken from nginx's HLS.
    process = ffmpeg_publish(log_dir, ingest.publish_url(key), "ffmpeg-first", seconds=6)
    try:
        wait_until(lambda: fresh(stream).status == "live", "going live")
        playlist = ingest.hls_dir / f"{stream.id}.m3u8"
        wait_until(lambda: playlist.is_file() and ".ts" in playlist.read_text(), "HLS")
        celery_app.send_task("streams.tasks.capture_thumbnails")
        thumb_url = wait_until(lambda: fresh(stream).thumbnail_url, "the thumbnail")
        assert wait_exit(process, timeout=40) == 0, process.log()
    finally:
        process.stop()
    thumb = httpx.get(web.http_url + thumb_url)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"

    # The publisher drops; its recording is reported; OBS is back within the grace.
    wait_until(lambda: StreamRecording.objects.filter(stream=stream).count() == 1, "recording 1")
    assert fresh(stream).status == "live"
    publish(log_dir, ingest, key, "ffmpeg-reconnect", seconds=4)
    wait_until(lambda: StreamRecording.objects.filter(stream=stream).count() == 2, "recording 2")
    assert fresh(stream).status == "live" and not fresh(stream).is_archived

    # The grace runs out: the stream ends, settles, and the worker archives it.
    wait_until(services.end_stale_streams, "the grace to run out", timeout=GRACE + 30)
    archived = wait_until(lambda: (s := fresh(stream)).is_archived and s, "the archive", timeout=90)
    assert archived.status == "ended"
    url = archived.archive_url
    assert url.startswith("/media/archives/") and url.endswith(".mp4") and key not in url

    # One MP4, served by the app, ~10 s long (6 + 4), video copied (H.264), playable.
    response = httpx.get(web.http_url + url)
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    mp4 = tmp_path / "archive.mp4"
    mp4.write_bytes(response.content)
    info = probe(mp4)
    assert "mp4" in info["format"]["format_name"]
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert len(video) == 1 and video[0]["codec_name"] == "h264"
    assert abs(float(info["format"]["duration"]) - 10.0) <= 1.0, info["format"]["duration"]
    assert_plays(mp4)  # every frame decodes, no timestamp going back at the reconnect
    # A video element's seek: a byte range from the middle.
    part = httpx.get(web.http_url + url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == response.content[1000:2000]

    # Files are named by id; the key is in no file name, URL or log line.
    assert not any(key in p.name for p in ingest.record_dir.iterdir())
    time.sleep(1)  # the last callbacks' log lines
    for process in (web, ingest, worker):
        assert key not in process.log(), f"stream key in the {process.name} log"
        assert str(ingest.record_dir) not in process.log(), process.name


def test_a_stranger_cannot_report_recordings(stack):
    web, _ingest, _worker = stack
    stream = make_stream()
    url = f"{web.http_url}/ingest/on_record_done"
    form = {"name": stream.stream_key, "path": "/etc/passwd", "call": "record_done"}
    assert httpx.post(url, data=form).status_code == 403  # no secret
    assert httpx.post(f"{url}?secret=wrong", data=form).status_code == 403
    assert httpx.post(f"{url}?secret={SECRET}", data={**form, "name": "x" * 43}).status_code == 403
    refused = httpx.post(f"{url}?secret={SECRET}", data={**form, "name": stream.stream_key})
    assert refused.status_code == 403  # a scheduled stream records nothing
    services.do_go_live(stream_id=stream.id)
    bad = httpx.post(f"{url}?secret={SECRET}", data=form)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_path"
    assert not StreamRecording.objects.exists()
