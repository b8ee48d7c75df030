"""The OBS goal page and the alert page's sound switch in a real headless Chromium,
against a real ASGI server (SPEC §7 "Donation goal", §9).

Chromium runs with ``--autoplay-policy=no-user-gesture-required``, as OBS's browser
source does: a page may play sound without a click."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from donations import goals
from donations.services import get_or_create_overlay_token
from realtime import event_types, groups
from realtime.events import send_event_now
from tests.donations.e2e import http_login
from tests.donations.helpers import live_stream, pending_donation, succeeded_event
from tests.support import stripe_server as stripe_support
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, chromium

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

XSS_TITLE = '<img src=x onerror="window.__pwned=1">Mic & <b>stand</b>'


@contextmanager
def obs_chromium() -> Iterator[Browser]:
    """Headless Chromium that, like OBS, plays sound without a user gesture."""
    import os

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def complete(app, donation) -> None:
    payload = stripe_support.body(succeeded_event(donation))
    response = httpx.post(
        f"{app.http_url}/webhooks/stripe/",
        content=payload,
        headers={"Stripe-Signature": stripe_support.sign(payload)},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "completed"


def wait_goal(page, condition: str) -> None:
    page.wait_for_function(
        f"(() => {{ const g = window.eldoniaGoal; return {condition}; }})()", timeout=WAIT_MS
    )


def test_the_goal_page_fills_up_caps_at_100_percent_and_says_goal_reached(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    goals.do_set_goal(stream_id=stream.id, title=XSS_TITLE, amount=Decimal("1000"), reset=False)
    first, second = pending_donation(stream, amount="400"), pending_donation(stream, amount="700")

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 800, "height": 140})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        response = page.goto(f"{app.http_url}/overlays/{token}/goal/")
        assert response.status == 200
        assert response.headers["cache-control"] == "no-store"
        wait_goal(page, "g.goal !== null && g.syncs >= 1")
        # The streamer's title is text, never markup; the background stays transparent.
        assert page.text_content("#goal .title") == XSS_TITLE
        assert page.locator("#goal img, #goal b").count() == 0
        assert page.evaluate("window.__pwned === undefined")
        assert (
            page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
        )
        assert page.text_content("#goal .numbers") == "¥0 / ¥1,000"
        assert page.is_hidden("#goal .reached")

        complete(app, first)
        wait_goal(page, "g.percent === 40")
        assert page.text_content("#goal .numbers") == "¥400 / ¥1,000"
        assert page.text_content("#goal .percent") == "40%"
        assert page.evaluate("document.body.dataset.goal") == "running"

        complete(app, second)  # ¥1,100 of ¥1,000: full, not more
        wait_goal(page, "g.reached === true")
        assert page.evaluate("window.eldoniaGoal.percent") == 100
        assert page.text_content("#goal .numbers") == "¥1,100 / ¥1,000"
        page.wait_for_function(
            "document.querySelector('#goal .fill').getBoundingClientRect().width"
            " >= document.querySelector('#goal .bar').getBoundingClientRect().width - 0.5",
            timeout=WAIT_MS,
        )
        bar = page.evaluate("document.querySelector('#goal .bar').getBoundingClientRect().width")
        fill = page.evaluate("document.querySelector('#goal .fill').getBoundingClientRect().width")
        assert fill <= bar + 0.5  # capped at 100 %
        assert page.is_visible("#goal .reached")
        assert page.text_content("#goal .reached") == "Goal reached!"

        # An event older than what is shown (a late delivery) changes nothing.
        version = page.evaluate("window.eldoniaGoal.version")
        received = page.evaluate("window.eldoniaGoal.received")
        stale = event_types.goal(
            stream_id=stream.id,
            title="Stale",
            amount="1000.00",
            raised="0.00",
            currency="jpy",
            version=version - 1,
        )
        send_event_now([groups.streamer_overlays(stream.streamer_id)], stale)
        wait_goal(page, f"g.received >= {received + 1}")
        assert page.text_content("#goal .title") == XSS_TITLE
        assert page.evaluate("window.eldoniaGoal.reached") is True

        # The owner raises the target (progress stays), then clears it.
        with closing(http_login(app, stream.streamer)) as owner:
            goal_url = f"/api/streams/{stream.id}/goal"
            assert owner.put(goal_url, json={"title": "Stand", "amount": "2200"}).status_code == 200
            wait_goal(page, "g.percent === 50 && g.reached === false")
            assert page.text_content("#goal .title") == "Stand"
            assert page.is_hidden("#goal .reached")
            assert owner.delete(goal_url).status_code == 204
            page.wait_for_function("document.body.dataset.goal === 'none'", timeout=WAIT_MS)
            assert page.is_visible("#empty") and page.is_hidden("#goal")
            assert page.text_content("#empty") == "No goal set"
        assert dialogs == []
    assert token not in app.log()


def test_the_goal_page_follows_the_stream_that_goes_live(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{app.http_url}/overlays/{token}/goal/")
        page.wait_for_function("document.body.dataset.goal === 'none'", timeout=WAIT_MS)
        assert page.is_visible("#empty")
        with closing(http_login(app, stream.streamer)) as owner:
            tomorrow = owner.post("/api/streams", json={"title": "Tomorrow"}).json()
            owner.put(f"/api/streams/{tomorrow['id']}/goal", json={"title": "Next", "amount": "50"})
            wait_goal(page, f"g.streamId === {tomorrow['id']}")
            assert page.text_content("#goal .title") == "Next"
            # Today's live stream gets a goal: the live one is what the overlay shows.
            owner.put(f"/api/streams/{stream.id}/goal", json={"title": "Today", "amount": "80"})
            wait_goal(page, f"g.streamId === {stream.id}")
            assert page.text_content("#goal .title") == "Today"
            # Today's stream ends: tomorrow's goal takes over.
            assert owner.post(f"/api/streams/{stream.id}/end").status_code == 200
            wait_goal(page, f"g.streamId === {tomorrow['id']}")
            assert page.text_content("#goal .title") == "Next"


def test_an_unknown_goal_page_is_a_404_that_says_so(asgi_server):
    with chromium() as browser:
        page = browser.new_page()
        response = page.goto(f"{asgi_server.http_url}/overlays/made-up-token/goal/")
        assert response.status == 404
        page.wait_for_function("document.body.dataset.state === 'invalid'", timeout=WAIT_MS)
        assert "not valid" in page.text_content("#status")
        assert page.is_hidden("#goal")
    assert "made-up-token" not in asgi_server.log()


# --------------------------------------------------------------------------- alert sound


def open_alerts(browser, app, token: str, query: str, requests: list | None = None):
    page = browser.new_page()
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{app.http_url}/overlays/{token}/alerts/{query}")
    page.wait_for_function("document.body.dataset.state === 'connected'", timeout=WAIT_MS)
    return page


def send_test_alert(app, user) -> str:
    with closing(http_login(app, user)) as owner:
        response = owner.post("/api/me/overlay/test")
        assert response.status_code == 202, response.text
        return response.json()["id"]


def test_the_alert_page_plays_its_bundled_chime_when_sound_is_on(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    donation = pending_donation(stream, amount="500")
    goals.do_set_goal(stream_id=stream.id, title="Mic", amount=Decimal("1000"), reset=False)
    with obs_chromium() as browser:
        page = open_alerts(browser, app, token, "?duration=2&volume=40")
        # The sound file is ours, served from the app (no CDN).
        src = page.evaluate("document.getElementById('alert-sound').currentSrc")
        assert src.startswith(app.http_url + "/static/donations/alert-chime")
        sound = httpx.get(src, timeout=30)
        assert sound.status_code == 200 and sound.content[:4] == b"OggS"
        assert sound.headers["content-type"] == "audio/ogg"
        assert page.evaluate("window.eldoniaOverlay.settings") == {
            "duration": 2,
            "min": 0,
            "sound": True,  # the default
            "volume": 40,
        }
        complete(app, donation)  # the goal event that follows is ignored by this page
        page.wait_for_function("window.eldoniaOverlay.soundsPlayed >= 1", timeout=WAIT_MS)
        page.wait_for_function(
            "(() => { const a = document.getElementById('alert-sound');"
            " return a.played.length > 0 && (a.currentTime > 0 || a.ended); })()",
            timeout=WAIT_MS,
        )
        assert page.evaluate("document.getElementById('alert-sound').volume") == 0.4
        assert page.evaluate("window.eldoniaOverlay.shown") == [donation.id]
        assert (
            page.evaluate("window.eldoniaOverlay.received") == 1
        )  # the goal frame is not an alert
        send_test_alert(app, stream.streamer)
        page.wait_for_function("window.eldoniaOverlay.soundsPlayed >= 2", timeout=WAIT_MS)
        assert page.evaluate("window.eldoniaOverlay.soundErrors") == 0


def test_sound_off_shows_alerts_silently(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    with obs_chromium() as browser:
        requests: list[str] = []
        page = open_alerts(browser, app, token, "?duration=1&sound=off", requests)
        test_id = send_test_alert(app, stream.streamer)
        page.wait_for_function(
            f"window.eldoniaOverlay.shown.includes({test_id!r})", timeout=WAIT_MS
        )
        page.wait_for_timeout(1500)  # time enough for a chime to have started
        assert page.evaluate("window.eldoniaOverlay.soundsPlayed") == 0
        assert page.evaluate("document.getElementById('alert-sound').played.length") == 0
        assert page.evaluate("window.eldoniaOverlay.settings.sound") is False
        assert not [url for url in requests if "alert-chime" in url]  # not even fetched


def test_invalid_sound_values_fall_back_to_the_defaults_the_debug_view_shows(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    with obs_chromium() as browser:
        page = open_alerts(browser, app, token, "?sound=loud&volume=500&duration=abc&debug=1")
        assert page.evaluate("window.eldoniaOverlay.settings") == {
            "duration": 8,
            "min": 0,
            "sound": True,
            "volume": 70,
        }
        assert page.is_visible("#status")
        assert page.text_content("#status") == (
            "connected · duration 8 s · min 0 · sound on, volume 70"
        )
        page.goto(f"{app.http_url}/overlays/{token}/alerts/?volume=-3&sound=OFF&debug=1")
        page.wait_for_function("document.body.dataset.state === 'connected'", timeout=WAIT_MS)
        assert page.text_content("#status") == "connected · duration 8 s · min 0 · sound off"
