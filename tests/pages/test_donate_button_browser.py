"""The watch page's donate button in a real headless Chromium: a triple click creates
one donation (the button is disabled while the request runs, and every request of one
attempt carries the same ``Idempotency-Key``)."""

from __future__ import annotations

import httpx
import pytest
from django.utils import timezone

from donations.models import StreamDonation
from tests.donations.helpers import succeeded_event
from tests.support import stripe_server as stripe_support
from tests.support.browser import WAIT_MS, chromium
from tests.support.factories import make_stream
from tests.support.servers import asgi_server
from tests.support.throttles import (
    UNLIMITED_ENV,
    SlowStripeServer,
    clean_throttles,  # noqa: F401 (fixture)
    stripe_env,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("clean_throttles"),
]


def result_text(page) -> str:
    return page.text_content("#donate-result") or ""


def wait_for_result(page, previous: str = "") -> str:
    page.wait_for_function(
        "(previous) => { const t = document.getElementById('donate-result').textContent;"
        " return t.includes('created') && t !== previous; }",
        arg=previous,
        timeout=WAIT_MS,
    )
    return result_text(page)


def test_a_triple_click_on_donate_creates_one_donation(log_dir):
    stream = make_stream(status="live", actual_start=timezone.now())
    with (
        SlowStripeServer(delay=1.5) as stripe,
        asgi_server(
            log_dir,
            THROTTLE_DONATION_IP=UNLIMITED_ENV,
            THROTTLE_DONATION_ACCOUNT=UNLIMITED_ENV,
            **stripe_env(stripe),
        ) as app,
        chromium() as browser,
    ):
        page = browser.new_page()
        sent_keys: list[str | None] = []
        page.on(
            "request",
            lambda r: (
                sent_keys.append(r.headers.get("idempotency-key"))
                if r.method == "POST" and r.url.endswith("/donations")
                else None
            ),
        )
        page.goto(f"{app.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('stream-status').textContent === 'live'", timeout=WAIT_MS
        )
        page.fill("#donate-amount", "500")
        page.fill("#donate-name", "Eager fan")
        page.click("#donate-button", click_count=3)
        assert page.is_disabled("#donate-button")  # Stripe takes 1.5 s to answer
        page.evaluate("document.getElementById('donate-form').requestSubmit()")  # Enter key
        first = wait_for_result(page)
        assert page.is_enabled("#donate-button")
        donation = StreamDonation.objects.get()
        assert f"#{donation.id} " in first
        assert len(stripe.requests) == 1 and len(sent_keys) == 1 and sent_keys[0]

        # The same form again (the donor was not sure it worked): the same donation.
        page.click("#donate-button")
        page.wait_for_function("document.getElementById('donate-button').disabled === false")
        page.wait_for_function(
            "document.getElementById('donate-result').textContent.includes('created')",
            timeout=WAIT_MS,
        )
        assert f"#{donation.id} " in result_text(page)
        assert StreamDonation.objects.count() == 1 and len(stripe.requests) == 1
        assert sent_keys[1] == sent_keys[0]

        # Once it is paid (its alert reaches the room), the same form is a new donation.
        payload = stripe_support.body(succeeded_event(donation))
        response = httpx.post(
            f"{app.http_url}/webhooks/stripe/",
            content=payload,
            headers={"Stripe-Signature": stripe_support.sign(payload)},
        )
        assert response.status_code == 200
        page.wait_for_selector(".msg.donation", timeout=WAIT_MS)
        page.click("#donate-button")
        second = wait_for_result(page, previous=result_text(page))
        assert StreamDonation.objects.count() == 2
        assert sent_keys[2] != sent_keys[0]
        assert f"#{donation.id} " not in second

        # A changed form is a new attempt too.
        page.fill("#donate-amount", "700")
        page.click("#donate-button")
        wait_for_result(page, previous=second)
        assert StreamDonation.objects.count() == 3
        assert len(set(sent_keys)) == 3
