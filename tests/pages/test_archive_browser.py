"""Archives and thumbnails in a real headless Chromium: an ended stream's watch page
plays its archive (and picks it up live when it arrives while the page is open), and
the browse page shows each live stream's thumbnail, or a placeholder."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone

from streams import archives, tasks
from streams.models import LiveStream, StreamRecording
from tests.support.browser import WAIT_MS, chromium, screenshot
from tests.support.factories import make_stream, make_user
from tests.support.media import live_hls, make_recording, relay_name
from tests.support.servers import asgi_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(settings, tmp_path, log_dir):
    """The ASGI server and this test process sharing one media root and HLS dir."""
    dirs = {name: tmp_path / name for name in ("media", "recordings", "hls")}
    for path in dirs.values():
        path.mkdir()
    settings.MEDIA_ROOT = str(dirs["media"])
    settings.INGEST_RECORD_DIR = str(dirs["recordings"])
    settings.HLS_DIR = str(dirs["hls"])
    with asgi_server(
        log_dir,
        MEDIA_ROOT=str(dirs["media"]),
        INGEST_RECORD_DIR=str(dirs["recordings"]),
        HLS_DIR=str(dirs["hls"]),
    ) as web:
        yield web, dirs


def recorded_stream(dirs, *, seconds: float = 6.0, **fields) -> LiveStream:
    """An ended stream with one real recording (not archived yet)."""
    now = timezone.now()
    fields.setdefault("actual_start", now - timedelta(seconds=seconds))
    fields.setdefault("actual_end", now)
    stream = make_stream(make_user(), status="ended", **fields)
    path = make_recording(
        dirs["recordings"] / f"{relay_name(stream.id)}-1800000000.flv", seconds, size="320x180"
    )
    StreamRecording.objects.create(stream=stream, path=path.name, size=path.stat().st_size)
    return stream


PLAYS = """() => {
  const v = document.getElementById('player');
  return v.readyState >= 2 && v.currentTime > 1.0 && !v.paused;
}"""


def play(page) -> None:
    # Muted play needs no user gesture (autoplay policy); a viewer clicks ▶ instead.
    page.evaluate(
        "() => { const v = document.getElementById('player'); v.muted = true; v.play(); }"
    )
    page.wait_for_function(PLAYS, timeout=WAIT_MS)


def test_an_ended_streams_watch_page_plays_its_archive_and_can_seek(site, tmp_path):
    web, dirs = site
    stream = recorded_stream(dirs, title="Friday night speedrun")
    assert tasks.archive_recording(stream.id)["result"] == "archived"
    stream.refresh_from_db()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{web.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('player').dataset.state === 'archive'", timeout=WAIT_MS
        )
        # The ended wording stays; the player says what it plays.
        assert page.text_content("#status-line") == "This stream has ended"
        assert page.text_content("#stream-status") == "ended"
        assert "recording" in page.text_content("#player-note")
        assert page.get_attribute("#player", "src") == stream.archive_url
        assert page.evaluate("document.getElementById('player').controls") is True
        play(page)
        # Seeking needs Range requests: jump near the end and play from there.
        page.evaluate("document.getElementById('player').currentTime = 4.5")
        page.wait_for_function(
            "(() => { const v = document.getElementById('player');"
            " return !v.seeking && v.currentTime >= 4.5; })()",
            timeout=WAIT_MS,
        )
        duration = page.evaluate("document.getElementById('player').duration")
        assert abs(duration - 6.0) < 1.0
        screenshot(page, tmp_path, "watch-archive", publish=True)


def test_the_archive_appears_on_an_open_watch_page_when_it_is_ready(site):
    web, dirs = site
    stream = recorded_stream(dirs, seconds=4.0)
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{web.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('status-line').textContent === 'This stream has ended'",
            timeout=WAIT_MS,
        )
        note = page.text_content("#player-note")
        assert "over" in note and "being prepared" in note
        assert page.get_attribute("#player", "data-state") == "offline"

        # The worker finishes the archive (another thread: this one runs Playwright's
        # loop); its stream.state event reaches the open page.
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(tasks.archive_recording, stream.id).result()["result"] == (
                "archived"
            )
        page.wait_for_function(
            "document.getElementById('player').dataset.state === 'archive'", timeout=WAIT_MS
        )
        play(page)


def test_an_old_stream_without_a_recording_says_so(site):
    web, _dirs = site
    stream = make_stream(
        status="ended",
        actual_start=timezone.now() - timedelta(hours=3),
        actual_end=timezone.now() - timedelta(hours=2),
    )
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{web.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('player-note').textContent.includes('No recording')",
            timeout=WAIT_MS,
        )
        assert page.get_attribute("#player", "data-state") == "offline"
        assert page.get_attribute("#player", "src") is None


def thumbnail_box(page, stream_id: int) -> dict:
    return page.evaluate(
        """(id) => {
          const card = document.querySelector(`#live-list [data-id='${id}']`);
          const img = card.querySelector('.thumb img');
          const box = card.querySelector('.thumb').getBoundingClientRect();
          return {
            loaded: !!img && img.complete && img.naturalWidth > 0,
            natural: img ? [img.naturalWidth, img.naturalHeight] : null,
            alt: img ? img.getAttribute('alt') : null,
            label: card.querySelector('.thumb').getAttribute('aria-label'),
            placeholder: card.querySelector('.thumb').classList.contains('placeholder'),
            ratio: box.width / box.height,
          };
        }""",
        stream_id,
    )


def test_browse_shows_each_live_streams_thumbnail_or_a_placeholder(site, log_dir, tmp_path):
    web, dirs = site
    on_air = make_stream(
        make_user(display_name="Aki"),
        status="live",
        actual_start=timezone.now(),
        title="<b>Castle</b> any% & more",
    )
    no_frame = make_stream(status="live", actual_start=timezone.now(), title="Just started")
    gone = make_stream(
        status="live",
        actual_start=timezone.now(),
        title="Lost frame",
        thumbnail_url="/media/thumbnails/999999.jpg?v=1",  # the file is missing
    )
    hls = live_hls(log_dir, dirs["hls"] / f"{on_air.id}.m3u8", size="640x360")
    try:
        playlist = dirs["hls"] / f"{on_air.id}.m3u8"
        wait_until(lambda: playlist.is_file() and ".ts" in playlist.read_text(), "HLS")
        assert archives.capture_thumbnails()["captured"] == [on_air.id]
    finally:
        hls.stop()
    on_air.refresh_from_db()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{web.http_url}/")
        page.wait_for_selector(f"#live-list [data-id='{on_air.id}'] .thumb img", timeout=WAIT_MS)
        page.wait_for_function(
            f"document.querySelector(\"#live-list [data-id='{on_air.id}'] .thumb img\").naturalWidth > 0",
            timeout=WAIT_MS,
        )
        shown = thumbnail_box(page, on_air.id)
        assert shown["loaded"] and shown["natural"] == [640, 360]
        assert shown["alt"] == on_air.title  # as text, never markup
        assert abs(shown["ratio"] - 16 / 9) < 0.02
        assert (
            page.get_attribute(f"#live-list [data-id='{on_air.id}'] .thumb img", "src")
            == on_air.thumbnail_url
        )

        for stream in (no_frame, gone):
            page.wait_for_selector(
                f"#live-list [data-id='{stream.id}'] .thumb.placeholder", timeout=WAIT_MS
            )
            placeholder = thumbnail_box(page, stream.id)
            assert placeholder["placeholder"] and placeholder["label"] == stream.title
            assert abs(placeholder["ratio"] - 16 / 9) < 0.02
        assert page.locator(f"#live-list [data-id='{on_air.id}'] b").count() == 0
        screenshot(page, tmp_path, "browse-thumbnails", publish=True)
