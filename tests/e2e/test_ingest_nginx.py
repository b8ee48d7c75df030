"""Real ingest end to end: ffmpeg (as OBS) → nginx-rtmp (the shipped config) → HTTP
callbacks → the ASGI server → PostgreSQL / Redis → a viewer's WebSocket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from websockets.sync.client import connect

from streams import services
from streams.models import LiveStream
from tests.support.factories import make_stream
from tests.support.nginx import NginxRtmp, ffmpeg_publish, wait_exit
from tests.support.servers import asgi_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "e2e-ingest-secret"
GRACE = 8


def fresh(stream: LiveStream) -> LiveStream:
    return LiveStream.objects.get(id=stream.id)


@pytest.fixture
def stack(log_dir, settings) -> Iterator[tuple]:
    """The ASGI server (short grace, ingest secret) and nginx-rtmp calling it back."""
    settings.STREAM_RECONNECT_GRACE_SECONDS = GRACE
    settings.INGEST_UPDATE_INTERVAL_SECONDS = 2
    with asgi_server(
        log_dir,
        STREAM_RECONNECT_GRACE_SECONDS=str(GRACE),
        INGEST_UPDATE_INTERVAL_SECONDS="2",
        INGEST_SECRET=SECRET,
    ) as web:
        ingest = NginxRtmp(log_dir, app_url=web.http_url, secret=SECRET, update_seconds=2)
        try:
            yield web, ingest
        finally:
            ingest.stop()


@contextmanager
def publisher(log_dir, ingest: NginxRtmp, key: str, name: str):
    process = ffmpeg_publish(log_dir, ingest.publish_url(key), name)
    try:
        yield process
    finally:
        process.stop()


def assert_key_not_logged(key: str, *processes) -> None:
    for process in processes:
        assert key not in process.log(), f"stream key in the {process.name} log"


def next_state(ws, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if event["type"] == "stream.state":
            return event["stream"]
    raise AssertionError("no stream.state event")


def test_obs_goes_live_viewers_see_it_and_ending_kicks_obs(stack, log_dir):
    web, ingest = stack
    stream = make_stream(title="Live from OBS")
    key = stream.stream_key
    with connect(f"{web.ws_url}/ws/streams/{stream.id}/", origin=web.origin) as ws:
        assert next_state(ws)["status"] == "scheduled"
        with publisher(log_dir, ingest, key, "ffmpeg-obs") as obs:
            live = next_state(ws)
            assert live["status"] == "live" and live["actual_start"]
            assert key not in json.dumps(live)
            assert fresh(stream).ingest_client_id

            # Playback is named by stream id; the key appears in no file name.
            playlist = wait_until(
                lambda: (r := httpx.get(ingest.playlist_url(stream.id))).status_code == 200 and r,
                "the HLS playlist",
            )
            assert "#EXTM3U" in playlist.text
            assert not any(key in p.name for p in ingest.hls_dir.iterdir())

            # The owner ends the stream: the next update callback is refused and
            # nginx drops the publisher.
            services.do_end_stream(stream_id=stream.id, user=stream.streamer)
            assert next_state(ws)["status"] == "ended"
            assert wait_exit(obs, timeout=30) is not None, "ffmpeg was not disconnected"
        ended = fresh(stream)
        assert ended.status == "ended" and ended.actual_end is not None
    assert_key_not_logged(key, web, ingest)


def test_a_wrong_key_is_refused_and_the_stream_stays_scheduled(stack, log_dir):
    web, ingest = stack
    stream = make_stream()
    with publisher(log_dir, ingest, "not-the-key-" + "x" * 32, "ffmpeg-wrong") as obs:
        code = wait_exit(obs, timeout=30)
        assert code not in (None, 0), "ffmpeg with a wrong key kept publishing"
    with publisher(log_dir, ingest, "", "ffmpeg-empty") as obs:
        assert wait_exit(obs, timeout=30) not in (None, 0)
    assert fresh(stream).status == "scheduled"
    assert_key_not_logged(stream.stream_key, web, ingest)


def test_duplicate_publish_reconnect_within_grace_and_end_after_grace(stack, log_dir):
    web, ingest = stack
    stream = make_stream()
    key = stream.stream_key
    with publisher(log_dir, ingest, key, "ffmpeg-first") as first:
        wait_until(lambda: fresh(stream).ingest_client_id, "the first publisher")
        live = fresh(stream)
        started, active = live.actual_start, live.ingest_client_id

        # A second publisher on the live key is refused; the first keeps the stream,
        # and the refused session's publish_done does not start the grace.
        with publisher(log_dir, ingest, key, "ffmpeg-second") as second:
            assert wait_exit(second, timeout=30) not in (None, 0)
        time.sleep(3)  # let the refused session's callbacks arrive, if any
        still = fresh(stream)
        assert first.alive()
        assert (still.status, still.ingest_client_id, still.ingest_done_at) == (
            "live",
            active,
            None,
        )

    # The publisher drops: the stream stays live during the grace period...
    wait_until(lambda: fresh(stream).ingest_done_at, "publish_done")
    assert fresh(stream).status == "live"

    # ...and a reconnect within it resumes the same stream.
    with publisher(log_dir, ingest, key, "ffmpeg-reconnect"):
        wait_until(lambda: fresh(stream).ingest_client_id, "the reconnect")
        resumed = fresh(stream)
        assert resumed.status == "live" and resumed.actual_start == started
        assert resumed.ingest_done_at is None

    wait_until(lambda: fresh(stream).ingest_done_at, "the second publish_done")
    assert services.end_stale_streams() == []  # grace not over yet

    # Once the grace runs out the periodic job ends it.
    wait_until(lambda: services.end_stale_streams(), "the grace to run out", timeout=GRACE + 30)
    ended = fresh(stream)
    assert ended.status == "ended" and ended.actual_start == started
    assert_key_not_logged(key, web, ingest)


def test_hls_plays_with_an_encoder_left_at_its_default_keyframe_interval(stack, log_dir):
    """x264's default GOP (250 frames, ~17 s at 15 fps) makes segments far longer than
    the 2 s target: the playlist must still only name segments that exist."""
    _web, ingest = stack
    stream = make_stream()
    process = ffmpeg_publish(
        log_dir, ingest.publish_url(stream.stream_key), "ffmpeg-default-gop", rate=15, gop=None
    )
    try:
        url = ingest.playlist_url(stream.id)
        wait_until(lambda: httpx.get(url).status_code == 200, "the HLS playlist", timeout=60)
        checked = 0
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            playlist = httpx.get(url)
            assert playlist.status_code == 200
            segments = [line for line in playlist.text.splitlines() if line.endswith(".ts")]
            assert segments, playlist.text
            base = url.rsplit("/", 1)[0]
            for segment in segments:
                response = httpx.get(f"{base}/{segment}")
                assert response.status_code == 200, (segment, playlist.text)
                checked += 1
            time.sleep(2)
        assert checked > 10
    finally:
        process.stop()
