"""A streamer sets, edits, restarts and clears a donation goal on the dashboard and
sees it fill up live; viewers see the same goal under the player on the watch page;
the overlay panel gives the goal's OBS URL and builds the alert URL's parameters
(real ASGI server, real headless Chromium)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from donations.models import StreamGoal
from donations.services import get_or_create_overlay_token
from tests.donations.helpers import pending_donation, succeeded_event
from tests.pages.test_dashboard_browser import open_dashboard, post_webhook, wait_text
from tests.support.browser import WAIT_MS, chromium
from tests.support.factories import make_stream, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_streamer_sets_a_goal_and_everyone_watches_it_fill_up(stripe_app):
    app, _ = stripe_app
    streamer = make_user("goalhost", display_name="Goal Host")
    stream = make_stream(streamer, status="live", actual_start=timezone.now(), title="Goals!")
    first, second = pending_donation(stream, amount="600"), pending_donation(stream, amount="300")
    with chromium() as browser:
        page = open_dashboard(browser, app.http_url, "goalhost")
        wait_text(page, "#panel-title", "Goals!")
        assert page.is_visible("#goal-none") and page.is_hidden("#goal-current")
        assert page.text_content("#goal-save") == "Set goal"
        watch = browser.new_page()
        watch.goto(f"{app.http_url}/streams/{stream.id}/")
        watch.wait_for_function(
            "document.getElementById('stream-status').textContent === 'live'", timeout=WAIT_MS
        )
        assert watch.is_hidden("#goal")

        # A server-side refusal is shown, and nothing is set.
        page.fill("#goal-title", "New microphone")
        page.fill("#goal-amount", "1000.5")
        page.click("#goal-save")
        wait_text(page, "#goal-error", "decimal places")
        assert not StreamGoal.objects.exists()

        page.fill("#goal-amount", "1000")
        page.click("#goal-save")
        wait_text(page, "#goal-msg", "Goal saved")
        assert page.is_visible("#goal-current")
        assert page.text_content("#goal-current-title") == "New microphone"
        assert page.text_content("#goal-current-raised") == "¥0"
        assert page.text_content("#goal-current-amount") == "¥1,000"
        assert page.text_content("#goal-save") == "Save goal"
        wait_text(watch, "#goal-title", "New microphone")
        assert watch.text_content("#goal-note") == "0 % of the goal"

        # A donation completes: both pages move, without a reload.
        assert post_webhook(app, succeeded_event(first)).status_code == 200
        wait_text(page, "#goal-current-raised", "¥600")
        wait_text(page, "#goal-percent", "60 %")
        wait_text(watch, "#goal-note", "60 % of the goal")
        assert watch.text_content("#goal-raised") == "¥600"

        # Lowering the target keeps the progress: the goal is reached.
        page.fill("#goal-amount", "500")
        page.click("#goal-save")
        page.wait_for_selector("#goal-reached:not([hidden])", timeout=WAIT_MS)
        assert page.text_content("#goal-current-raised") == "¥600"
        assert page.text_content("#goal-percent") == "100 %"
        wait_text(watch, "#goal-note", "Goal reached!")

        # Starting over asks first; then only new donations count.
        page.once("dialog", lambda d: d.dismiss())
        page.click("#goal-reset")
        assert page.text_content("#goal-current-raised") == "¥600"
        page.once("dialog", lambda d: d.accept())
        page.click("#goal-reset")
        wait_text(page, "#goal-msg", "Goal started over")
        wait_text(page, "#goal-current-raised", "¥0")
        assert post_webhook(app, succeeded_event(second)).status_code == 200
        wait_text(page, "#goal-current-raised", "¥300")
        wait_text(watch, "#goal-raised", "¥300")

        # A reload shows the same goal (the API is the truth).
        page.reload()
        wait_text(page, "#goal-current-raised", "¥300")
        assert page.input_value("#goal-title") == "New microphone"

        # Clearing asks first, then the goal disappears everywhere.
        page.once("dialog", lambda d: d.accept())
        page.click("#goal-clear")
        wait_text(page, "#goal-msg", "Goal cleared")
        assert page.is_visible("#goal-none") and page.is_hidden("#goal-current")
        watch.wait_for_selector("#goal", state="hidden", timeout=WAIT_MS)
        goal = StreamGoal.objects.get(stream=stream)
        assert goal.cleared_at is not None and goal.raised == Decimal("300.00")

        # Once the stream has ended its goal is final: the form says so.
        page.once("dialog", lambda d: d.accept())
        page.click("#btn-end")
        wait_text(page, "#panel-status", "ended")
        wait_text(page, "#goal-msg", "its goal is final")
        assert page.is_disabled("#goal-save") and page.is_disabled("#goal-title")


def test_the_overlay_panel_gives_the_goal_url_and_builds_alert_parameters(asgi_server):
    streamer = make_user("urlhost", display_name="URL Host")
    make_stream(streamer, title="Scheduled")
    token = get_or_create_overlay_token(user=streamer).token
    with chromium() as browser:
        context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.goto(f"{asgi_server.http_url}/dashboard/")
        page.fill("#auth-form input[name=username]", "urlhost")
        page.fill("#auth-form input[name=password]", "correct-horse-battery-9")
        page.click("#login-button")
        page.wait_for_selector("#stream-panel:not([hidden])", timeout=WAIT_MS)
        # The secret URLs stay hidden until asked for.
        assert page.text_content("#goal-overlay-url") == "hidden"
        page.click("#overlay-show")
        wait_text(page, "#goal-overlay-url", "/goal/")
        goal_url = page.text_content("#goal-overlay-url")
        assert urlsplit(goal_url).path == f"/overlays/{token}/goal/"
        page.click("#goal-overlay-copy")
        wait_text(page, "#overlay-status", "Copied")
        assert page.evaluate("navigator.clipboard.readText()") == goal_url

        # The guide documents every alert parameter next to the URL.
        guide = page.text_content(".guide")
        for text in ("duration=", "min=", "sound=on", "off", "volume=", "debug=1", "default on"):
            assert text in guide, text

        page.click("#overlay-options summary")
        assert page.text_content("#opt-query") == "(defaults)"
        page.fill("#opt-duration", "12")
        page.fill("#opt-min", "500")
        page.fill("#opt-volume", "35")
        wait_text(page, "#opt-query", "?duration=12&min=500&volume=35")
        page.uncheck("#opt-sound")
        wait_text(page, "#opt-query", "?duration=12&min=500&sound=off")
        page.click("#overlay-copy-options")
        wait_text(page, "#overlay-status", "Copied")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.text_content("#overlay-url") + "?duration=12&min=500&sound=off"

        # The built URL works: the alert page runs with exactly those settings.
        alerts = context.new_page()
        alerts.goto(copied)
        alerts.wait_for_function("document.body.dataset.state === 'connected'", timeout=WAIT_MS)
        assert alerts.evaluate("window.eldoniaOverlay.settings") == {
            "duration": 12,
            "min": 500,
            "sound": False,
            "volume": 70,
        }
        # And the goal URL opens the goal page, quiet while no goal runs.
        goal_page = context.new_page()
        goal_page.goto(goal_url)
        goal_page.wait_for_function("document.body.dataset.goal === 'none'", timeout=WAIT_MS)
        assert goal_page.text_content("#empty") == "No goal set"
    assert token not in asgi_server.log()
