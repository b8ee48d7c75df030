"""The viewer's watch page in a real headless Chromium: long words never widen the
page, the stream has one status at a time, the player says what it is doing, and a
chat message refused by slow mode stays in the input with a countdown."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.services import do_send_chat_message, do_set_chat_settings
from streams.services import do_end_stream, do_go_live
from tests.support.browser import NO_HORIZONTAL_SCROLL, WAIT_MS, chromium, screenshot
from tests.support.factories import PASSWORD, make_stream, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def widths(page) -> tuple[int, int]:
    return tuple(
        page.evaluate(
            "[Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),"
            " document.documentElement.clientWidth]"
        )
    )


def log_in(page, username: str) -> None:
    page.wait_for_selector("#auth-form", timeout=WAIT_MS)
    page.fill("#auth-form input[name=username]", username)
    page.fill("#auth-form input[name=password]", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("#chat-input", timeout=WAIT_MS)


def send(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.click("#chat-send")


@pytest.mark.parametrize("viewport_width", [1280, 390])
def test_a_long_unbroken_word_never_widens_the_page(asgi_server, tmp_path, viewport_width):
    word = "W" * 2000
    streamer = make_user("longhost", display_name="N" * 100)
    stream = make_stream(
        streamer,
        status="live",
        actual_start=timezone.now(),
        title="T" * 255,
        description=word,
    )
    fan = make_user("longfan", display_name="F" * 100)
    # In the history the page receives on joining (500 is the longest chat message).
    do_send_chat_message(user=fan, stream_id=stream.id, text="H" * 500, client_id=None)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": viewport_width, "height": 800})
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        page.wait_for_selector("#chat .msg .text", timeout=WAIT_MS)
        assert page.text_content("#stream-description") == word
        scrollbar = page.evaluate("window.innerWidth - document.documentElement.clientWidth")
        assert widths(page) == (viewport_width - scrollbar, viewport_width - scrollbar)

        log_in(page, "longfan")
        send(page, "L" * 500)
        page.wait_for_function(
            "document.querySelectorAll('#chat .msg').length === 2", timeout=WAIT_MS
        )
        assert page.text_content("#chat .msg:last-child .text") == "L" * 500
        assert page.evaluate(NO_HORIZONTAL_SCROLL), widths(page)
        # Own messages are highlighted, and every line has its time on hover.
        assert page.get_attribute("#chat .msg:last-child", "class") == "msg mine"
        assert page.get_attribute("#chat .msg:last-child", "title")
        screenshot(page, tmp_path, f"watch-long-words-{viewport_width}")


def test_an_ended_stream_shows_one_status_and_no_viewer_count(asgi_server, tmp_path):
    stream = make_stream(
        status="ended",
        actual_start=timezone.now() - timedelta(hours=1),
        actual_end=timezone.now(),
        title="Yesterday's show",
    )
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('status-line').textContent === 'This stream has ended'",
            timeout=WAIT_MS,
        )
        assert page.text_content("#stream-status") == "ended"
        assert page.is_hidden("#viewers")
        assert "watching" not in page.inner_text("body")
        # The socket's own state is never shown as a green "live" pill.
        assert page.is_hidden("#connection")
        assert "live" not in page.inner_text("#status-row").lower()
        assert page.get_attribute("#player", "data-state") == "offline"
        assert "over" in page.text_content("#player-note")
        screenshot(page, tmp_path, "watch-ended")


def test_the_status_follows_the_stream_and_the_player_explains_itself(asgi_server, tmp_path):
    starts = timezone.now() + timedelta(hours=2)
    stream = make_stream(status="scheduled", scheduled_start=starts, title="Soon")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('status-line').textContent.startsWith('Starts ')",
            timeout=WAIT_MS,
        )
        assert page.is_hidden("#viewers")
        assert page.get_attribute("#player", "data-state") == "offline"

        # The streamer goes live elsewhere (another thread: this one runs Playwright's
        # event loop). The player cannot play HLS here and says so, with a link.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(do_go_live, stream_id=stream.id).result()
        page.wait_for_function(
            "document.getElementById('status-line').textContent === 'Live now'", timeout=WAIT_MS
        )
        assert page.is_visible("#viewers")
        page.wait_for_function(
            "document.getElementById('player').dataset.state === 'error'", timeout=WAIT_MS
        )
        link = page.get_attribute("#playback-link", "href")
        assert link and link.endswith(f"/{stream.id}.m3u8")

        with ThreadPoolExecutor(1) as pool:
            pool.submit(do_end_stream, stream_id=stream.id).result()
        page.wait_for_function(
            "document.getElementById('status-line').textContent === 'This stream has ended'",
            timeout=WAIT_MS,
        )
        assert page.is_hidden("#viewers")
        assert page.get_attribute("#player", "data-state") == "offline"


def test_a_message_refused_by_slow_mode_stays_in_the_input_with_a_countdown(asgi_server, tmp_path):
    stream = make_stream(status="live", actual_start=timezone.now(), title="Slow chat")
    do_set_chat_settings(stream=stream, slow_mode_seconds=60)
    make_user("slowfan", display_name="Slow Fan")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        log_in(page, "slowfan")
        send(page, "first message")
        page.wait_for_selector("#chat .msg .text", timeout=WAIT_MS)
        page.wait_for_function(
            "document.getElementById('chat-input').value === ''", timeout=WAIT_MS
        )

        send(page, "second message, kept")
        page.wait_for_function(
            "document.getElementById('chat-error').textContent.includes('send again in')",
            timeout=WAIT_MS,
        )
        assert page.input_value("#chat-input") == "second message, kept"
        assert page.is_disabled("#chat-send")
        assert page.text_content("#chat-send").startswith("Wait ")
        assert page.locator("#chat .msg").count() == 1
        screenshot(page, tmp_path, "watch-slow-mode")


def test_at_390_px_nothing_scrolls_sideways(asgi_server, tmp_path):
    streamer = make_user("phonehost", display_name="Phone Host")
    stream = make_stream(
        streamer,
        status="live",
        actual_start=timezone.now(),
        title="Watching on a phone",
        description="A stream seen on a 390 px wide screen.",
    )
    make_user("phonefan", display_name="Phone Fan")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        page.wait_for_selector("#auth-form", timeout=WAIT_MS)
        page.wait_for_function(
            "document.getElementById('status-line').textContent === 'Live now'", timeout=WAIT_MS
        )
        assert page.evaluate(NO_HORIZONTAL_SCROLL), widths(page)
        # Every input has a label, the donation form's included.
        unlabeled = page.evaluate(
            "[...document.querySelectorAll('input')].filter(i => i.type !== 'hidden'"
            " && !(i.labels && i.labels.length) && !i.getAttribute('aria-label')).map(i => i.id || i.name)"
        )
        assert unlabeled == []
        log_in(page, "phonefan")
        send(page, "hello from a phone")
        page.wait_for_selector("#chat .msg .text", timeout=WAIT_MS)
        assert page.evaluate(NO_HORIZONTAL_SCROLL), widths(page)
        screenshot(page, tmp_path, "watch-390")


def test_the_watch_page_screenshot(asgi_server, tmp_path):
    streamer = make_user("shothost", display_name="Aki Tanaka")
    stream = make_stream(
        streamer,
        status="live",
        actual_start=timezone.now(),
        title="Speedrunning the new castle level",
        description="Any% attempts all evening. Be nice in chat!",
    )
    fan = make_user("shotfan", display_name="Mika")
    for text in ("hi everyone!", "that jump was clean", "gl on the boss"):
        do_send_chat_message(user=fan, stream_id=stream.id, text=text, client_id=None)
    make_user("shotme", display_name="You")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        log_in(page, "shotme")
        send(page, "first time here, hello!")
        page.wait_for_selector("#chat .msg.mine", timeout=WAIT_MS)
        page.wait_for_function(
            "document.getElementById('player').dataset.state === 'error'", timeout=WAIT_MS
        )
        assert page.evaluate(NO_HORIZONTAL_SCROLL)
        screenshot(page, tmp_path, "watch", publish=True)


def test_chat_stops_following_when_the_reader_scrolls_up(asgi_server, tmp_path):
    stream = make_stream(status="live", actual_start=timezone.now(), title="Busy chat")
    fan = make_user("busyfan")
    for n in range(40):
        do_send_chat_message(user=fan, stream_id=stream.id, text=f"line {n}", client_id=None)
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.querySelectorAll('#chat .msg').length === 40", timeout=WAIT_MS
        )
        assert page.evaluate("chat.atBottom()")  # joins at the newest message
        page.evaluate("document.getElementById('chat').scrollTop = 0")
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                do_send_chat_message, user=fan, stream_id=stream.id, text="new!", client_id=None
            ).result()
        page.wait_for_selector("#chat-new:not([hidden])", timeout=WAIT_MS)
        assert page.evaluate("document.getElementById('chat').scrollTop") == 0
        page.click("#chat-new")
        assert page.evaluate("chat.atBottom()")
        assert page.is_hidden("#chat-new")
