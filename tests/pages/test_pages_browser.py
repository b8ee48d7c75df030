"""The dashboard and watch pages in a real headless Chromium against a real ASGI server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.utils import timezone

from streams.models import LiveStream
from streams.services import do_go_live
from tests.support.browser import WAIT_MS, chromium
from tests.support.factories import PASSWORD, make_stream, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def log_in(page, username: str) -> None:
    page.fill("#auth-form input[name=username]", username)
    page.fill("#auth-form input[name=password]", PASSWORD)
    page.click("#login-button")


def test_streamer_creates_a_stream_reveals_the_key_goes_live_and_ends(asgi_server):
    streamer = make_user("streamer1", display_name="Streamer One")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/dashboard/")
        page.wait_for_selector("#auth-form", timeout=WAIT_MS)
        log_in(page, "streamer1")
        page.wait_for_selector("#app:not([hidden])", timeout=WAIT_MS)
        assert page.text_content("#me-name") == "Streamer One"

        page.fill("#new-title", XSS)
        page.click("#create-stream")
        page.wait_for_selector("#stream-panel:not([hidden])", timeout=WAIT_MS)
        assert page.text_content("#panel-title") == XSS  # shown as text
        stream = LiveStream.objects.get(streamer=streamer)
        assert page.text_content("#panel-status") == "scheduled"
        assert stream.stream_key not in page.content()  # hidden until asked for

        page.click("#key-show")
        page.wait_for_function(
            "document.getElementById('stream-key').textContent.length > 30", timeout=WAIT_MS
        )
        assert page.text_content("#stream-key") == stream.stream_key

        page.click("#btn-start")
        page.wait_for_function(
            "document.getElementById('panel-status').textContent === 'live'", timeout=WAIT_MS
        )
        page.wait_for_function(  # the stats follow the state
            "document.getElementById('stats').textContent.includes('live')", timeout=WAIT_MS
        )
        page.once("dialog", lambda dialog: dialog.accept())  # "End the stream?"
        page.click("#btn-end")
        page.wait_for_function(
            "document.getElementById('panel-status').textContent === 'ended'", timeout=WAIT_MS
        )
        assert page.evaluate("window.__pwned") is None
    stream.refresh_from_db()
    assert stream.status == "ended" and stream.actual_start and stream.actual_end


def test_a_wrong_password_shows_the_error_and_keeps_the_form(asgi_server):
    make_user("streamer2")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/dashboard/")
        page.wait_for_selector("#auth-form", timeout=WAIT_MS)
        page.fill("#auth-form input[name=username]", "streamer2")
        page.fill("#auth-form input[name=password]", "not-the-password")
        page.click("#login-button")
        page.wait_for_function(
            "document.getElementById('auth-error').textContent.length > 0", timeout=WAIT_MS
        )
        assert "Wrong username or password" in page.text_content("#auth-error")
        assert page.is_hidden("#app")


def test_the_watch_page_shows_the_stream_and_follows_its_state(asgi_server):
    streamer = make_user("streamer3", display_name=XSS)
    stream = make_stream(streamer, title="Cooking " + XSS, description=XSS)
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('stream-status').textContent === 'scheduled'",
            timeout=WAIT_MS,
        )
        assert page.text_content("#stream-title") == "Cooking " + XSS
        assert page.text_content("#streamer-name") == XSS
        assert page.text_content("#stream-description") == XSS
        assert page.is_disabled("#donate-button")

        # The streamer presses "start" elsewhere (another thread: this one runs
        # Playwright's event loop, and events are published synchronously).
        with ThreadPoolExecutor(1) as pool:
            pool.submit(do_go_live, stream_id=stream.id).result()
        page.wait_for_function(
            "document.getElementById('stream-status').textContent === 'live'", timeout=WAIT_MS
        )
        assert page.is_enabled("#donate-button")
        assert page.evaluate("window.__pwned") is None


def test_an_unknown_stream_page_is_a_404(asgi_server):
    import httpx

    assert httpx.get(f"{asgi_server.http_url}/streams/987654/").status_code == 404


def test_a_guest_donates_from_the_watch_page_and_sees_the_alert_in_the_room(stripe_app):
    import httpx

    from donations.models import StreamDonation
    from tests.donations.helpers import succeeded_event
    from tests.support import stripe_server as stripe_support

    app, _stripe = stripe_app
    stream = make_stream(status="live", actual_start=timezone.now())
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{app.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('stream-status').textContent === 'live'", timeout=WAIT_MS
        )
        # Too small: a clear error, nothing stored, Stripe not called.
        page.fill("#donate-amount", "10")
        page.click("#donate-button")
        page.wait_for_function(
            "document.getElementById('donate-error').textContent.length > 0", timeout=WAIT_MS
        )
        assert StreamDonation.objects.count() == 0

        page.fill("#donate-amount", "500")
        page.fill("#donate-name", "Kind guest")
        page.fill("#donate-message", XSS)
        page.click("#donate-button")
        page.wait_for_function(
            "document.getElementById('donate-result').textContent.includes('created')",
            timeout=WAIT_MS,
        )
        assert page.text_content("#donate-error") == ""
        donation = StreamDonation.objects.get()
        assert donation.payment_status == "pending" and str(donation.amount) == "500.00"

        payload = stripe_support.body(succeeded_event(donation))
        response = httpx.post(
            f"{app.http_url}/webhooks/stripe/",
            content=payload,
            headers={"Stripe-Signature": stripe_support.sign(payload)},
        )
        assert response.status_code == 200
        page.wait_for_selector(".msg.donation", timeout=WAIT_MS)
        assert page.text_content(".msg.donation .author") == "Kind guest"
        assert page.text_content(".msg.donation .text") == XSS
        assert page.evaluate("window.__pwned") is None


def test_viewer_chats_on_the_watch_page_and_the_streamer_moderates_from_the_dashboard(
    asgi_server,
):
    streamer = make_user("host4", display_name="Host")
    make_user("fan4", display_name="Fan")
    stream = make_stream(streamer, status="live", actual_start=timezone.now(), title="Chat time")
    with chromium() as browser:
        dash = browser.new_context().new_page()
        dash.goto(f"{asgi_server.http_url}/dashboard/")
        dash.wait_for_selector("#auth-form", timeout=WAIT_MS)
        log_in(dash, "host4")
        dash.wait_for_function(
            "document.getElementById('panel-title').textContent === 'Chat time'", timeout=WAIT_MS
        )

        watch = browser.new_context().new_page()
        watch.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        watch.wait_for_selector("#auth-form", timeout=WAIT_MS)
        log_in(watch, "fan4")
        watch.wait_for_selector("#chat-input", timeout=WAIT_MS)
        # The dashboard sees its one viewer.
        dash.wait_for_function(
            "document.getElementById('panel-viewers').textContent === '1'", timeout=WAIT_MS
        )

        watch.fill("#chat-input", XSS)
        watch.click("#chat-send")
        watch.wait_for_selector("#chat .msg .text", timeout=WAIT_MS)
        assert watch.text_content("#chat .msg .text") == XSS
        dash.wait_for_selector("#chat .msg .text", timeout=WAIT_MS)
        assert dash.text_content("#chat .msg .author") == "Fan"
        assert dash.text_content("#chat .msg .text") == XSS

        # An empty message is refused with the server's error, the socket stays usable.
        watch.fill("#chat-input", "   ")
        watch.evaluate("socket.send({type: 'chat.send', text: '   '})")
        watch.wait_for_function(
            "document.getElementById('chat-error').textContent.length > 0", timeout=WAIT_MS
        )

        dash.click("#chat .msg button[title='Delete message']")
        watch.wait_for_function(
            "document.querySelectorAll('#chat .msg').length === 0", timeout=WAIT_MS
        )
        assert dash.evaluate("window.__pwned") is None
        assert watch.evaluate("window.__pwned") is None
