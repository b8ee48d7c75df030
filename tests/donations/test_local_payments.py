"""Donations never dead-end locally (SPEC §9 "Local payments").

With test-mode keys and ``STRIPE_API_BASE`` on this machine, the shipped local
Stripe-compatible server (``python -m donations.local_stripe``) stands in for Stripe:
``POST /api/donations/{id}/test-complete`` has it confirm the PaymentIntent, and the
donation completes only through the signed webhook it then delivers, exactly as with
Stripe. The servers here are real processes; the browser is Debian's Chromium.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe

from donations import local_stripe
from donations.models import StreamDonation, Transaction
from streams.models import LiveStream
from tests.donations.helpers import live_stream
from tests.support import stripe_server as stripe_support
from tests.support.browser import WAIT_MS, chromium
from tests.support.servers import ROOT, AsgiServer, ManagedProcess, free_port, subprocess_env
from tests.support.throttles import UNLIMITED_ENV, clean_throttles  # noqa: F401 (fixture)

PLACEHOLDER_KEYS = {
    "STRIPE_SECRET_KEY": "sk_test_placeholder",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_placeholder",
}


# --------------------------------------------------------------------------- helpers


class LocalStripeProcess(ManagedProcess):
    """``python -m donations.local_stripe`` as make run starts it."""

    def __init__(self, log_dir, port: int, webhook_url: str, secret: str) -> None:
        cmd = [sys.executable, "-m", "donations.local_stripe", "--port", str(port)]
        cmd += ["--webhook-url", webhook_url]
        super().__init__("local-stripe", cmd, subprocess_env(STRIPE_WEBHOOK_SECRET=secret), log_dir)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while "listening on" not in self.log():
            if not self.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"local Stripe server did not start:\n{self.log()}")
            time.sleep(0.1)


@contextmanager
def local_payments(log_dir) -> Iterator[tuple[AsgiServer, LocalStripeProcess]]:
    """The app in local test mode (placeholder keys) and the local Stripe server."""
    stripe_port = free_port()
    app = AsgiServer(
        log_dir,
        subprocess_env(
            STRIPE_API_BASE=f"http://127.0.0.1:{stripe_port}",
            STRIPE_WEBHOOK_SECRET=stripe_support.WEBHOOK_SECRET,
            STRIPE_MAX_NETWORK_RETRIES="0",
            DONATION_CURRENCY="jpy",
            PLATFORM_FEE_PERCENT="10",
            THROTTLE_DONATION_IP=UNLIMITED_ENV,
            THROTTLE_DONATION_ACCOUNT=UNLIMITED_ENV,
            **PLACEHOLDER_KEYS,
        ),
    )
    server = None
    try:
        server = LocalStripeProcess(
            log_dir,
            stripe_port,
            f"{app.http_url}/webhooks/stripe/",
            stripe_support.WEBHOOK_SECRET,
        )
        yield app, server
    finally:
        if server is not None:
            server.stop()
        app.stop()


def create_donation(client: httpx.Client, stream_id: int, amount: str = "500") -> dict[str, Any]:
    client.get("/api/auth/csrf")
    response = client.post(
        f"/api/streams/{stream_id}/donations",
        json={"amount": amount, "message": "From the local test server"},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    assert response.status_code == 201, response.text
    return response.json()


def post_test_complete(client: httpx.Client, donation_id: int, **body: Any) -> httpx.Response:
    return client.post(
        f"/api/donations/{donation_id}/test-complete",
        json=body,
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )


def wait_for_status(donation_id: int, status: str, timeout: float = 20) -> StreamDonation:
    deadline = time.monotonic() + timeout
    while True:
        donation = StreamDonation.objects.get(id=donation_id)
        if donation.payment_status == status:
            return donation
        assert time.monotonic() < deadline, f"still {donation.payment_status}"
        time.sleep(0.1)


# --------------------------------------------------------------------------- the server alone


class _Recorder(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[str, bytes]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Stripe-Signature"], payload))
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_the_local_server_speaks_stripe_to_the_official_library_and_signs_as_stripe():
    class Endpoint(_Recorder):
        answers = [500, 503]  # the first two deliveries are refused
        received = []

    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    sender = local_stripe.WebhookSender(
        f"http://127.0.0.1:{endpoint.server_address[1]}/", "whsec_local", retry_delays=(0.1, 0.1)
    )
    api = local_stripe.LocalStripe(webhooks=sender)
    server = local_stripe.make_server(api.handle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = stripe.StripeClient(
            "sk_test_placeholder",
            base_addresses={"api": f"http://127.0.0.1:{server.server_address[1]}"},
            max_network_retries=0,
        )
        params = {"amount": 500, "currency": "jpy", "metadata": {"donation_id": "7"}}
        intent = client.v1.payment_intents.create(params=params, options={"idempotency_key": "k"})
        again = client.v1.payment_intents.create(params=params, options={"idempotency_key": "k"})
        assert again.id == intent.id and intent.client_secret.startswith(f"{intent.id}_secret_")
        with pytest.raises(stripe.CardError) as declined:
            client.v1.payment_intents.confirm(
                intent.id, params={"payment_method": "pm_card_chargeDeclined"}
            )
        assert declined.value.code == "card_declined"
        paid = client.v1.payment_intents.confirm(
            intent.id, params={"payment_method": "pm_card_visa"}
        )
        assert paid.status == "succeeded" and paid.amount_received == 500
        with pytest.raises(stripe.InvalidRequestError):  # confirmed once only
            client.v1.payment_intents.confirm(intent.id)
        deadline = time.monotonic() + 10
        while len(Endpoint.received) < 4:  # 2 events, each refused once, then taken
            assert time.monotonic() < deadline, sender.attempts
            time.sleep(0.05)
    finally:
        server.shutdown()
        endpoint.shutdown()
    types = []
    for header, payload in Endpoint.received:
        event = stripe.Webhook.construct_event(payload, header, "whsec_local")
        types.append(event["type"])
        assert event.to_dict()["data"]["object"]["metadata"] == {"donation_id": "7"}
    # Each event is redelivered until it is accepted (here: once refused, then taken).
    assert sorted(types) == ["payment_intent.payment_failed"] * 2 + ["payment_intent.succeeded"] * 2
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(Endpoint.received[0][1], Endpoint.received[0][0], "whsec_x")


def test_the_local_server_refuses_live_keys():
    api = local_stripe.LocalStripe()
    status, _payload = api.handle(
        "POST",
        "/v1/payment_intents",
        {"authorization": "Bearer sk_live_x"},
        {"amount": "500", "currency": "jpy"},
    )
    assert status == 401 and not api.store.intents


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),  # DEBUG placeholders, but api.stripe.com
        ({"STRIPE_API_BASE": "http://127.0.0.1:12111"}, True),
        ({"STRIPE_API_BASE": "http://localhost:12111/"}, True),
        ({"STRIPE_API_BASE": "https://api.stripe.com"}, False),
        (
            {
                "STRIPE_API_BASE": "http://127.0.0.1:12111",
                "STRIPE_SECRET_KEY": "sk_live_x",
                "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
            },
            False,
        ),
        ({"STRIPE_API_BASE": "http://stripe.example.com"}, False),
    ],
)
def test_local_test_mode_needs_test_keys_and_a_local_api_base(env, expected):
    base = subprocess_env(**PLACEHOLDER_KEYS)
    for name in ("STRIPE_API_BASE", "DATABASE_URL"):
        base.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.STRIPE_LOCAL_TEST_MODE)"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(expected)


# --------------------------------------------------------------------------- the endpoint in-process


@pytest.mark.django_db
def test_test_complete_is_404_outside_local_test_mode(api, stripe_server, settings):
    settings.STRIPE_LOCAL_TEST_MODE = False
    stream = live_stream()
    created = api.call("POST", f"/api/streams/{stream.id}/donations", {"amount": "500"}).json()
    response = api.call(
        "POST",
        f"/api/donations/{created['id']}/test-complete",
        {"client_secret": created["client_secret"]},
    )
    assert response.status_code == 404, response.content
    assert stripe_server.intents[StreamDonation.objects.get().payment_intent_id]["status"] == (
        "requires_payment_method"
    )


@pytest.mark.django_db
def test_test_complete_needs_the_donations_client_secret(api, stripe_server, settings):
    settings.STRIPE_LOCAL_TEST_MODE = True
    stream = live_stream()
    created = api.call("POST", f"/api/streams/{stream.id}/donations", {"amount": "500"}).json()
    path = f"/api/donations/{created['id']}/test-complete"
    intent_id = StreamDonation.objects.get().payment_intent_id
    wrong = f"{intent_id}_secret_{'0' * 24}"
    assert api.call("POST", path, {"client_secret": wrong}).status_code == 404
    assert api.call("POST", path, {}).status_code == 400
    assert (
        api.call(
            "POST", path, {"client_secret": created["client_secret"], "outcome": "x"}
        ).status_code
        == 400
    )
    assert (
        api.call(
            "POST", "/api/donations/999999/test-complete", {"client_secret": wrong}
        ).status_code
        == 404
    )
    assert stripe_server.intents[intent_id]["status"] == "requires_payment_method"

    response = api.call("POST", path, {"client_secret": created["client_secret"]})
    assert response.status_code == 202, response.content
    assert response.json()["outcome"] == "succeeded"
    assert response["Cache-Control"] == "no-store"
    assert stripe_server.intents[intent_id]["status"] == "succeeded"
    # Nothing changed here: only the webhook completes a donation.
    assert StreamDonation.objects.get().payment_status == "pending"
    again = api.call("POST", path, {"client_secret": created["client_secret"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "donation_not_pending"


# --------------------------------------------------------------------------- real processes


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_throttles")
def test_a_test_mode_payment_completes_the_donation_through_the_signed_webhook(log_dir):
    stream = live_stream()
    with (
        local_payments(log_dir) as (app, server),
        httpx.Client(base_url=app.http_url, timeout=30) as client,
    ):
        created = create_donation(client, stream.id)
        assert created["publishable_key"] == "pk_test_placeholder"
        response = post_test_complete(client, created["id"], client_secret=created["client_secret"])
        assert response.status_code == 202, response.text
        assert response.json()["outcome"] == "succeeded"
        donation = wait_for_status(created["id"], "completed")
        assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("500.00")
        [sale] = Transaction.objects.filter(reference_type="donation", reference_id=donation.id)
        assert sale.transaction_type == "sale" and sale.amount == Decimal("500.00")
        assert sale.payment_reference == donation.payment_intent_id

        # A second click is harmless: refused, nothing counted twice.
        again = post_test_complete(client, created["id"], client_secret=created["client_secret"])
        assert again.status_code == 409, again.text
        time.sleep(1)
        assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("500.00")
        assert Transaction.objects.filter(reference_id=donation.id).count() == 1
        assert "→ 200" in server.log()  # delivered, and accepted by the signature check
        assert "bad_signature" not in app.log()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_throttles")
def test_a_simulated_decline_fails_the_donation_and_the_donor_can_pay_after_all(log_dir):
    stream = live_stream()
    with (
        local_payments(log_dir) as (app, _server),
        httpx.Client(base_url=app.http_url, timeout=30) as client,
    ):
        created = create_donation(client, stream.id, amount="700")
        secret = created["client_secret"]
        declined = post_test_complete(
            client, created["id"], client_secret=secret, outcome="decline"
        )
        assert declined.status_code == 202, declined.text
        assert declined.json()["outcome"] == "declined"
        donation = wait_for_status(created["id"], "failed")
        assert donation.failure_code == "generic_decline"
        assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("0.00")

        wrong = post_test_complete(client, created["id"], client_secret=secret[:-1] + "x")
        assert wrong.status_code == 404

        paid = post_test_complete(client, created["id"], client_secret=secret)
        assert paid.status_code == 202 and paid.json()["outcome"] == "succeeded"
        wait_for_status(created["id"], "completed")
        assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("700.00")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_throttles")
def test_a_viewer_pays_in_test_mode_on_the_watch_page_and_sees_the_confirmation(log_dir):
    stream = live_stream()
    with local_payments(log_dir) as (app, _server), chromium() as browser:
        page = browser.new_page()
        page.goto(f"{app.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('donate-button').disabled === false", timeout=WAIT_MS
        )
        page.fill("#donate-amount", "500")
        page.fill("#donate-name", "Local fan")
        page.click("#donate-button")
        page.wait_for_selector("#test-complete", timeout=WAIT_MS)
        assert "Test mode — no real money" in page.text_content("#donate-payment")
        donation = StreamDonation.objects.get()

        page.click("#test-decline")
        page.wait_for_function(
            "document.getElementById('payment-status').dataset.state === 'declined'",
            timeout=WAIT_MS,
        )
        assert "declined" in page.text_content("#payment-status").lower()
        wait_for_status(donation.id, "failed")

        page.click("#test-complete")
        page.wait_for_function(
            "document.getElementById('payment-status').dataset.state === 'paid'",
            timeout=WAIT_MS,
        )
        assert "Payment received — your alert is on its way" in page.text_content("#payment-status")
        assert page.query_selector("#test-complete") is None
        page.wait_for_selector(".msg.donation", timeout=WAIT_MS)
        assert wait_for_status(donation.id, "completed")
        assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("500.00")

        # The streamer's dashboard lists it with the right total, also after a reload.
        from tests.pages.test_dashboard_browser import open_dashboard, wait_text

        dashboard = open_dashboard(browser, app.http_url, stream.streamer.username)
        row = f'#donations .donation[data-id="{donation.id}"]'
        for _ in range(2):
            dashboard.wait_for_selector(row, timeout=WAIT_MS)
            assert dashboard.text_content(f"{row} .author") == "Local fan"
            wait_text(dashboard, "#panel-donations", "500")
            wait_text(dashboard, "#donations-summary", "1 donation")
            dashboard.reload()


# A stand-in for Stripe.js (js.stripe.com is never reached from tests): its Payment
# Element mounts a marker, and the first confirmPayment fails as a declined card would.
FAKE_STRIPE_JS = """
window.Stripe = function (key) {
  let calls = 0;
  return {
    elements: (opts) => ({ create: () => ({ mount: (node) => {
      node.textContent = "[card form for " + opts.clientSecret.split("_secret_")[0] + "]";
    } }) }),
    confirmPayment: async () => (++calls === 1
      ? { error: { message: "Your card was declined." } }
      : { paymentIntent: { status: "succeeded" } }),
  };
};
"""


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_throttles")
def test_with_real_keys_the_page_uses_stripe_js_and_never_dead_ends(log_dir):
    from tests.donations.helpers import succeeded_event
    from tests.support.servers import asgi_server
    from tests.support.throttles import stripe_env

    stream = live_stream()
    with (
        stripe_support.StripeServer() as stripe_fake,
        asgi_server(
            log_dir,
            THROTTLE_DONATION_IP=UNLIMITED_ENV,
            THROTTLE_DONATION_ACCOUNT=UNLIMITED_ENV,
            **stripe_env(stripe_fake),
        ) as app,
        chromium() as browser,
    ):
        page = browser.new_page()

        # As the page renders with real keys: no test-mode step. (Rewriting the attribute
        # before the page's script reads it; a routed document would lose local access.)
        page.add_init_script(
            "new MutationObserver(() => { const n = document.getElementById('donate-payment');"
            " if (n) n.dataset.testMode = 'false'; })"
            ".observe(document, { childList: true, subtree: true });"
        )
        page.route("https://js.stripe.com/**", lambda route: route.abort())
        page.goto(f"{app.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.getElementById('donate-button').disabled === false", timeout=WAIT_MS
        )
        page.fill("#donate-amount", "500")
        page.click("#donate-button")
        # Stripe.js cannot load: said so, with a retry; the donation is kept.
        page.wait_for_selector("#payment-retry", timeout=WAIT_MS)
        assert "could not be loaded" in page.text_content("#payment-status")
        assert page.query_selector("#test-complete") is None

        page.unroute("https://js.stripe.com/**")
        page.route(
            "https://js.stripe.com/**",
            lambda route: route.fulfill(content_type="text/javascript", body=FAKE_STRIPE_JS),
        )
        page.click("#payment-retry")
        page.wait_for_selector("#pay-button", timeout=WAIT_MS)
        donation = StreamDonation.objects.get()
        assert donation.payment_intent_id in page.text_content("#payment-element")

        page.click("#pay-button")  # declined: shown, and the form stays usable
        page.wait_for_function(
            "document.getElementById('payment-status').dataset.state === 'error'",
            timeout=WAIT_MS,
        )
        assert "declined" in page.text_content("#payment-status")
        assert page.is_enabled("#pay-button")

        page.click("#pay-button")
        page.wait_for_function(
            "document.getElementById('payment-status').dataset.state === 'working'",
            timeout=WAIT_MS,
        )
        payload = stripe_support.body(succeeded_event(donation))
        response = httpx.post(
            f"{app.http_url}/webhooks/stripe/",
            content=payload,
            headers={"Stripe-Signature": stripe_support.sign(payload)},
        )
        assert response.status_code == 200, response.text
        page.wait_for_function(
            "document.getElementById('payment-status').dataset.state === 'paid'",
            timeout=WAIT_MS,
        )
        assert "Payment received" in page.text_content("#payment-status")
