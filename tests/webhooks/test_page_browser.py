"""``/dashboard/webhooks/`` in a real headless Chromium against a real ASGI server, a
real Celery worker and a real local receiver: a new user adds a webhook, sees the
secret once, sends a test event and sees it delivered.

``UPDATE_SCREENSHOTS=1`` saves ``docs/screenshots/webhooks.png``."""

from __future__ import annotations

import pytest

from config.celery import app as celery_app
from tests.support.browser import NO_HORIZONTAL_SCROLL, WAIT_MS, chromium, screenshot
from tests.support.servers import asgi_server, celery_worker
from tests.webhooks.helpers import WORKER_ENV
from tests.webhooks.receiver import Receiver
from webhooks import sender
from webhooks.models import WebhookSubscription

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def empty_queue():
    celery_app.control.purge()
    yield
    celery_app.control.purge()


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => { const n = document.querySelector(s); return !!n && n.textContent.includes(t); }",
        arg=[selector, text],
        timeout=WAIT_MS,
    )


def test_a_new_user_adds_a_webhook_sees_the_secret_once_and_a_test_event_arrives(log_dir, tmp_path):
    with (
        Receiver() as hook,
        asgi_server(log_dir, WEBHOOK_ALLOWED_HOSTS="127.0.0.1") as web,
        celery_worker(log_dir, **WORKER_ENV) as worker,
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{web.http_url}/dashboard/webhooks/")
        # Not logged in: sign up right here.
        page.wait_for_selector("#auth-form", timeout=WAIT_MS)
        page.fill("#auth-username", "hookfan")
        page.fill("#auth-email", "hookfan@example.com")
        page.fill("#auth-password", "a-long-enough-passphrase-42")
        page.click("#signup-button")
        page.wait_for_selector("#app:not([hidden])", timeout=WAIT_MS)
        page.wait_for_selector("#hooks-empty", timeout=WAIT_MS)
        # The dashboard links here.
        page.goto(f"{web.http_url}/dashboard/")
        page.click("#webhooks-link", timeout=WAIT_MS)
        page.wait_for_url("**/dashboard/webhooks/", timeout=WAIT_MS)
        page.wait_for_selector("#hooks-empty", timeout=WAIT_MS)

        # A private address the operator did not list: a clear error, nothing stored.
        page.fill("#add-url", "http://10.0.0.7/hook")
        page.click("#add-button")
        wait_text(page, "#add-error", "private address")
        assert not WebhookSubscription.objects.exists()

        # Only two of the four events.
        page.fill("#add-url", hook.url())
        page.uncheck('#add-events input[value="stream.offline"]')
        page.uncheck('#add-events input[value="donation.refunded"]')
        page.click("#add-button")
        page.wait_for_selector("#secret-box:not([hidden])", timeout=WAIT_MS)
        subscription = WebhookSubscription.objects.get()
        assert subscription.events == ["stream.online", "donation.completed"]
        assert page.text_content("#secret-value") == subscription.secret
        assert "won't see it again" in page.text_content("#secret-box")
        row = f'.hook[data-id="{subscription.id}"]'
        assert page.text_content(f"{row} .url") == hook.url()
        screenshot(page, tmp_path, "webhooks-secret")
        page.click("#secret-copy")
        wait_text(page, "#secret-status", "Cop")
        page.click("#secret-done")
        assert page.is_hidden("#secret-box")
        assert subscription.secret not in page.content()

        page.click(f"{row} button.test")
        wait_text(page, f"{row} .result", "Test event delivered: your server answered 200")
        [received] = hook.requests
        event_id = received.event_id
        table_row = f'#deliveries tr[data-event-id="{event_id}"]'
        page.wait_for_selector(table_row, timeout=WAIT_MS)
        wait_text(page, f"{table_row} .result", "delivered")
        assert page.text_content(f"{table_row} .type") == "webhook.test"
        assert page.text_content(f"{table_row} .attempts") == "1"
        assert page.text_content(f"{table_row} .status") == "200"
        # What the receiver got is signed with the secret the page showed once.
        t, v1 = received.headers["eldonia-signature"].removeprefix("t=").split(",v1=")
        assert v1 == sender.signature(subscription.secret, int(t), received.body)
        assert page.evaluate(NO_HORIZONTAL_SCROLL)
        screenshot(page, tmp_path, "webhooks", publish=True)

        # After a reload the secret is nowhere, the log is still there.
        page.reload()
        page.wait_for_selector(table_row, timeout=WAIT_MS)
        assert subscription.secret not in page.content()

        # Delete asks first; then the webhook is gone.
        page.click(f"{row} button.delete")
        page.click(f"{row} button.confirm-delete")
        page.wait_for_selector("#hooks-empty", timeout=WAIT_MS)
        assert page.is_hidden("#deliveries-section")
        assert not WebhookSubscription.objects.exists()
        assert "Traceback" not in worker.log()
        assert subscription.secret not in web.log() + worker.log()


def test_a_narrow_phone_screen_shows_the_page_without_sideways_scrolling(log_dir):
    with asgi_server(log_dir) as web, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.goto(f"{web.http_url}/dashboard/webhooks/")
        page.wait_for_selector("#auth-form", timeout=WAIT_MS)
        page.fill("#auth-username", "phonehook")
        page.fill("#auth-email", "phonehook@example.com")
        page.fill("#auth-password", "a-long-enough-passphrase-42")
        page.click("#signup-button")
        page.wait_for_selector("#hooks-empty", timeout=WAIT_MS)
        assert page.evaluate(NO_HORIZONTAL_SCROLL)
