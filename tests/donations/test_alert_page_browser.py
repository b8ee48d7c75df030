"""The OBS alert page in a real headless Chromium (SPEC §9): donor text is shown as
text, alerts queue one at a time, each id once, and nothing is lost across reloads."""

from __future__ import annotations

from contextlib import closing

import httpx
import pytest

from donations.services import get_or_create_overlay_token
from tests.donations.e2e import http_login
from tests.donations.helpers import live_stream, pending_donation, succeeded_event
from tests.support import stripe_server as stripe_support
from tests.support.browser import WAIT_MS, chromium

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

XSS_MESSAGE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;'
XSS_NAME = "<svg onload=alert(1)>"


def complete(app, donation) -> None:
    payload = stripe_support.body(succeeded_event(donation))
    response = httpx.post(
        f"{app.http_url}/webhooks/stripe/",
        content=payload,
        headers={"Stripe-Signature": stripe_support.sign(payload)},
        timeout=60,
    )
    assert response.status_code == 200, response.text


def wait_shown(page, count: int) -> list:
    page.wait_for_function(
        f"window.eldoniaOverlay && window.eldoniaOverlay.shown.length >= {count}",
        timeout=WAIT_MS,
    )
    return page.evaluate("window.eldoniaOverlay.shown")


def wait_connected(page) -> None:
    page.wait_for_function("document.body.dataset.state === 'connected'", timeout=WAIT_MS)


def test_the_alert_page_shows_donor_text_as_text_once_each_and_catches_up(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    evil = pending_donation(stream, amount="777", message=XSS_MESSAGE, display_name=XSS_NAME)
    second, third, offline = (pending_donation(stream, amount="100") for _ in range(3))
    url = f"{app.http_url}/overlays/{token}/alerts/?duration=1"

    with chromium() as browser:
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        wait_connected(page)

        complete(app, evil)
        page.wait_for_selector(f'#alert.visible[data-id="{evil.id}"]', timeout=WAIT_MS)
        assert page.text_content("#alert .message") == XSS_MESSAGE
        assert page.text_content("#alert .display-name") == XSS_NAME
        assert page.locator("#alert img, #alert script, #alert svg").count() == 0
        assert page.evaluate("window.__pwned === undefined")
        assert "777" in page.text_content("#alert .amount")

        # Two more arrive while the first is on screen: queued, one at a time.
        complete(app, second)
        complete(app, third)
        assert wait_shown(page, 3) == [evil.id, second.id, third.id]

        # A reload remembers what was shown (localStorage): nothing is shown twice.
        page.reload()
        wait_connected(page)
        # (Django's ORM may not run in Playwright's thread: use the HTTP API.)
        with closing(http_login(app, stream.streamer)) as client:
            test_alert = client.post("/api/me/overlay/test").json()
        assert wait_shown(page, 1) == [test_alert["id"]]

        # Offline while a donation completes: the overlay catches up on return.
        page.goto("about:blank")
        complete(app, offline)
        page.goto(url)
        assert wait_shown(page, 1) == [offline.id]
        # Replays come before live alerts: a test alert now proves nothing else
        # (no earlier donation) was replayed.
        with closing(http_login(app, stream.streamer)) as client:
            marker = client.post("/api/me/overlay/test").json()
        assert wait_shown(page, 2) == [offline.id, marker["id"]]
        assert dialogs == []
    assert token not in app.log()


def test_a_rotated_token_page_says_so_instead_of_showing_alerts(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{app.http_url}/overlays/{token}/alerts/")
        wait_connected(page)
        with closing(http_login(app, stream.streamer)) as client:
            assert client.post("/api/me/overlay/rotate").status_code == 200
        page.wait_for_function("document.body.dataset.state === 'invalid'", timeout=WAIT_MS)
        assert "no longer valid" in page.text_content("#status")


def test_the_alert_page_reconnects_after_a_network_drop_and_catches_up(stripe_app):
    from tests.donations.tcp_proxy import TcpProxy

    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    before, during = pending_donation(stream), pending_donation(stream)
    proxy = TcpProxy(app.port)
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"{proxy.http_url}/overlays/{token}/alerts/?duration=1")
            wait_connected(page)
            complete(app, before)
            assert wait_shown(page, 1) == [before.id]

            proxy.refusing = True
            proxy.cut()
            page.wait_for_function(
                "document.body.dataset.state === 'reconnecting'", timeout=WAIT_MS
            )
            complete(app, during)  # while the overlay is cut off
            page.wait_for_function("window.eldoniaOverlay.connects >= 3", timeout=WAIT_MS)
            proxy.refusing = False
            assert wait_shown(page, 2) == [before.id, during.id]
            assert page.evaluate("document.body.dataset.state") == "connected"
    finally:
        proxy.close()


def test_a_minimum_amount_hides_smaller_donations_but_not_test_alerts(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    small, big = pending_donation(stream, amount="100"), pending_donation(stream, amount="1000")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{app.http_url}/overlays/{token}/alerts/?duration=1&min=500")
        wait_connected(page)
        complete(app, small)
        complete(app, big)
        assert wait_shown(page, 1) == [big.id]
        page.wait_for_function("window.eldoniaOverlay.skipped === 1", timeout=WAIT_MS)
        with closing(http_login(app, stream.streamer)) as owner:
            assert owner.post("/api/me/overlay/test").status_code == 202
        shown = wait_shown(page, 2)
        assert shown[0] == big.id and len(shown) == 2
