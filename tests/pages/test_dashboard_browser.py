"""The streamer's dashboard in a real headless Chromium against a real ASGI server:
ingest status from a real RTMP publisher, live donations, confirmations, moderation.

``UPDATE_SCREENSHOTS=1`` saves ``docs/screenshots/dashboard.png``."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from chat.models import ChatBan
from chat.services import check_ban_chat_user
from donations.models import StreamDonation
from streams.models import LiveStream
from tests.donations.helpers import pending_donation, succeeded_event
from tests.support import stripe_server as stripe_support
from tests.support.browser import WAIT_MS, chromium
from tests.support.factories import PASSWORD, make_stream, make_user
from tests.support.nginx import NginxRtmp, ffmpeg_publish
from tests.support.servers import asgi_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
INGEST_SECRET = "dashboard-ingest-secret"


def open_dashboard(browser, base_url: str, username: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{base_url}/dashboard/")
    page.wait_for_selector("#auth-form", timeout=WAIT_MS)
    page.fill("#auth-form input[name=username]", username)
    page.fill("#auth-form input[name=password]", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("#stream-panel:not([hidden])", timeout=WAIT_MS)
    return page


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => { const n = document.querySelector(s); return !!n && n.textContent.includes(t); }",
        arg=[selector, text],
        timeout=WAIT_MS,
    )


def post_webhook(app, evt: dict) -> httpx.Response:
    payload = stripe_support.body(evt)
    return httpx.post(
        f"{app.http_url}/webhooks/stripe/",
        content=payload,
        headers={
            "Stripe-Signature": stripe_support.sign(payload),
            "Content-Type": "application/json",
        },
        timeout=60,
    )


def test_the_dashboard_shows_obs_connected_on_load_while_ffmpeg_publishes(log_dir, settings):
    settings.INGEST_UPDATE_INTERVAL_SECONDS = 2
    streamer = make_user("obshost", display_name="OBS Host")
    stream = make_stream(streamer, title="Real ingest")
    with asgi_server(
        log_dir, INGEST_SECRET=INGEST_SECRET, INGEST_UPDATE_INTERVAL_SECONDS="2"
    ) as web:
        ingest = NginxRtmp(log_dir, app_url=web.http_url, secret=INGEST_SECRET, update_seconds=2)
        obs = ffmpeg_publish(log_dir, ingest.publish_url(stream.stream_key), "ffmpeg-dashboard")
        try:
            # OBS is publishing before the page is opened: no `ingest` event will come.
            wait_until(
                lambda: (
                    (s := LiveStream.objects.get(id=stream.id)).status == "live"
                    and s.ingest_client_id
                ),
                "the publisher to be accepted",
            )
            with chromium() as browser:
                page = open_dashboard(browser, web.http_url, "obshost")
                wait_text(page, "#panel-ingest", "OBS connected")
                assert page.text_content("#panel-status") == "live"
                assert "ok" in page.get_attribute("#panel-ingest", "class")
                page.reload()
                page.wait_for_selector("#stream-panel:not([hidden])", timeout=WAIT_MS)
                wait_text(page, "#panel-ingest", "OBS connected")
                # The guide has the ingest URL and the keyframe interval.
                assert page.text_content("#guide-keyframe").strip() == "2 s"
                assert page.text_content("#ingest-url").startswith("rtmp://")
                assert stream.stream_key not in page.content()
        finally:
            obs.stop()
            ingest.stop()


def test_a_webhook_completed_donation_shows_in_the_list_and_totals_also_after_a_reload(
    stripe_app,
):
    app, _stripe = stripe_app
    streamer = make_user("donhost", display_name="Donation Host")
    stream = make_stream(streamer, status="live", actual_start=timezone.now(), title="Thanks!")
    donation = pending_donation(stream, amount="500", message="<b>gg</b>", display_name="Kind")
    pending_donation(stream, amount="300")  # never paid: not listed
    with chromium() as browser:
        page = open_dashboard(browser, app.http_url, "donhost")
        wait_text(page, "#panel-title", "Thanks!")
        page.wait_for_selector("#donations .empty", timeout=WAIT_MS)
        # EXP: the header and the Level panel show the same number.
        assert page.text_content("#me-exp") == page.text_content("#exp-total")

        response = post_webhook(app, succeeded_event(donation))
        assert response.status_code == 200, response.text
        row = f'#donations .donation[data-id="{donation.id}"]'
        page.wait_for_selector(row, timeout=WAIT_MS)
        assert page.text_content(f"{row} .text") == "<b>gg</b>"  # text, not HTML
        assert page.text_content(f"{row} .author") == "Kind"
        wait_text(page, "#panel-donations", "500")
        wait_text(page, "#donations-summary", "1 donation")
        wait_text(page, "#stats", "500")
        assert page.locator("#donations .donation").count() == 1

        page.reload()
        page.wait_for_selector(row, timeout=WAIT_MS)
        wait_text(page, "#panel-donations", "500")
        wait_text(page, "#donations-summary", "1 donation")
        assert page.locator("#donations .donation").count() == 1

        # The overlay (the OBS browser source) shows the replayed alert.
        page.click("#overlay-show")
        wait_text(page, "#overlay-url", "/alerts/")
        overlay = browser.new_page(viewport={"width": 800, "height": 600})
        overlay.goto(page.text_content("#overlay-url") + "?duration=30")
        overlay.wait_for_load_state("networkidle")
        page.click(f"{row} button.replay")
        wait_text(page, "#donations-status", "sent again")
        overlay.wait_for_selector("#alert.visible", timeout=WAIT_MS)
        assert overlay.text_content("#alert .display-name") == "Kind"
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            overlay.screenshot(path=str(SCREENSHOTS / "overlay.png"))
        page.click("#overlay-test")
        page.wait_for_function(
            "document.getElementById('overlay-status').textContent === 'Test alert sent'"
            " || document.getElementById('overlay-error').textContent.length > 0",
            timeout=WAIT_MS,
        )
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.evaluate("document.getElementById('overlay-url').textContent = 'hidden'")
            page.evaluate("document.getElementById('goal-overlay-url').textContent = 'hidden'")
            page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    assert StreamDonation.objects.get(id=donation.id).payment_status == "completed"


def test_end_stream_asks_first_and_the_stream_list_follows(asgi_server):
    streamer = make_user("endhost", display_name="End Host")
    stream = make_stream(streamer, status="live", actual_start=timezone.now(), title="Ending")
    with chromium() as browser:
        page = open_dashboard(browser, asgi_server.http_url, "endhost")
        wait_text(page, "#panel-status", "live")
        item_pill = f'#streams .stream-item[data-id="{stream.id}"] .pill'
        assert page.text_content(item_pill) == "live"

        dialogs = []
        page.once("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.click("#btn-end")
        wait_text(page, "#panel-msg", "Nothing changed")
        assert dialogs and "End the stream" in dialogs[0]
        assert LiveStream.objects.get(id=stream.id).status == "live"
        assert page.text_content("#panel-status") == "live"

        page.once("dialog", lambda d: d.accept())
        page.click("#btn-end")
        wait_text(page, "#panel-status", "ended")
        wait_text(page, item_pill, "ended")
        assert page.locator("#streams .pill.live").count() == 0
        assert LiveStream.objects.get(id=stream.id).status == "ended"
        assert page.is_disabled("#btn-end")


def test_the_streamer_sees_bans_unbans_and_has_no_buttons_on_their_own_messages(asgi_server):
    streamer = make_user("modhost", display_name="Mod Host")
    troll = make_user("troll", display_name="Troll")
    stream = make_stream(streamer, status="live", actual_start=timezone.now(), title="Mods")
    check_ban_chat_user(
        actor=streamer, stream_id=stream.id, user_id=troll.id, duration_seconds=None
    )
    with chromium() as browser:
        page = open_dashboard(browser, asgi_server.http_url, "modhost")
        ban = f'#bans .ban[data-user-id="{troll.id}"]'
        page.wait_for_selector(ban, timeout=WAIT_MS)
        assert "permanent" in page.text_content(ban)
        page.click(f"{ban} button.unban")
        wait_text(page, "#mod-status", "unbanned")
        page.wait_for_selector(ban, state="detached", timeout=WAIT_MS)
        assert not ChatBan.objects.filter(user=troll).exists()

        page.fill("#chat-input", "hello from the host")
        page.click("#chat-send")
        page.wait_for_selector("#chat .msg .text", timeout=WAIT_MS)
        assert page.locator("#chat .msg button").count() == 0
        page.wait_for_selector("#moderators p.muted", timeout=WAIT_MS)


def test_scheduling_shows_the_local_time_clears_the_form_and_the_owner_edits_the_title(
    asgi_server,
):
    make_user("planner", display_name="Planner")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{asgi_server.http_url}/dashboard/")
        page.wait_for_selector("#auth-form", timeout=WAIT_MS)
        page.fill("#auth-form input[name=username]", "planner")
        page.fill("#auth-form input[name=password]", PASSWORD)
        page.click("#login-button")
        page.wait_for_selector("#app:not([hidden])", timeout=WAIT_MS)

        page.fill("#new-title", "Friday show")
        page.fill("#new-description", "Chill")
        page.fill("#new-scheduled", "2030-01-04T20:30")
        page.click("#create-stream")
        page.wait_for_selector("#stream-panel:not([hidden])", timeout=WAIT_MS)
        wait_text(page, "#panel-title", "Friday show")
        stream = LiveStream.objects.get(title="Friday show")
        # Entered as local time, stored as that instant, shown again as local time.
        local = page.evaluate("(iso) => formatLocalTime(iso)", stream.scheduled_start.isoformat())
        assert local == page.evaluate("formatLocalTime(new Date('2030-01-04T20:30').toISOString())")
        wait_text(page, "#panel-scheduled", local)
        wait_text(page, f'#streams .stream-item[data-id="{stream.id}"]', local)
        for field in ("#new-title", "#new-description", "#new-scheduled"):
            assert page.input_value(field) == ""

        page.click("#btn-edit")
        page.fill("#edit-title", "Friday show (moved)")
        page.fill("#edit-description", "Still chill")
        page.click("#edit-save")
        wait_text(page, "#panel-title", "(moved)")
        wait_text(page, f'#streams .stream-item[data-id="{stream.id}"]', "(moved)")
        stream.refresh_from_db()
        assert stream.title == "Friday show (moved)" and stream.description == "Still chill"
