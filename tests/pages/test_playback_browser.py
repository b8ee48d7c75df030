"""The watch page plays the stream: ffmpeg publishes with the documented settings
through the real nginx-rtmp ingest, and Chromium shows moving video through the
bundled HLS player (served from our own /static/, no CDN)."""

from __future__ import annotations

import pytest

from streams.models import LiveStream
from tests.support.browser import WAIT_MS, chromium
from tests.support.factories import make_stream
from tests.support.nginx import NginxRtmp, ffmpeg_publish
from tests.support.servers import asgi_server, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_watch_page_plays_a_live_stream(log_dir):
    hls_port = free_port()
    with asgi_server(
        log_dir,
        INGEST_SECRET="playback-secret",
        PLAYBACK_URL_TEMPLATE=f"http://127.0.0.1:{hls_port}/hls/{{stream_id}}.m3u8",
    ) as web:
        ingest = NginxRtmp(
            log_dir, app_url=web.http_url, secret="playback-secret", http_port=hls_port
        )
        stream = make_stream(title="Test pattern")
        # Keyframe every 2 s, as the dashboard and README say (10 fps, -g 20).
        publisher = ffmpeg_publish(
            log_dir, ingest.publish_url(stream.stream_key), "ffmpeg-play", rate=10, gop=20
        )
        try:
            with chromium() as browser:
                page = browser.new_page()
                outside = []
                local = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:http://127.0.0.1")
                page.on(
                    "request", lambda r: None if r.url.startswith(local) else outside.append(r.url)
                )
                page.goto(f"{web.http_url}/streams/{stream.id}/")
                page.wait_for_function(
                    "document.getElementById('player').dataset.state === 'playing'",
                    timeout=60_000,
                )
                first = page.evaluate("document.getElementById('player').currentTime")
                page.wait_for_function(
                    f"document.getElementById('player').currentTime > {first} + 1",
                    timeout=WAIT_MS,
                )
                assert page.evaluate("document.getElementById('player').videoWidth") == 160
                assert outside == []
            assert LiveStream.objects.get(id=stream.id).status == "live"
        finally:
            publisher.stop()
            ingest.stop()
