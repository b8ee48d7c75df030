"""A small Stripe-compatible HTTP server for tests, plus webhook signing.

Built on the shipped local server's core (``donations/local_stripe.py``: the intent
store, the routes, the signing), run in-process on a free port, with every request
recorded. The official ``stripe`` library (16.1.0) talks to it through
``STRIPE_API_BASE``: ``POST /v1/payment_intents`` with a form-encoded body
(``amount=500&currency=jpy&metadata[donation_id]=7``), ``Authorization: Bearer <secret
key>``, ``Stripe-Version`` and ``Idempotency-Key`` headers. Like Stripe, a repeated
idempotency key returns the first response; ``GET /v1/payment_intents/<id>`` and
``POST /v1/payment_intents/<id>/confirm`` work too (with ``webhook_url`` set, a confirm
delivers its signed event there). ``mode`` switches it to answering 500
(``api_error``) or 400 (``invalid_request_error``).

    with StripeServer() as stripe_server:
        settings.STRIPE_API_BASE = stripe_server.url
        ...
        stripe_server.requests[0].form["amount"] == "500"

Webhooks are signed exactly as Stripe signs them:
``Stripe-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<raw body>")>``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from donations import local_stripe
from donations.local_stripe import body, event  # noqa: F401 (re-exported for tests)

WEBHOOK_SECRET = "whsec_test_eldonia_0123456789abcdef"
SECRET_KEY = "sk_test_eldonia_local_0123456789"
PUBLISHABLE_KEY = "pk_test_eldonia_local_0123456789"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class StripeServer:
    mode: str = "ok"  # "ok" | "error500" | "error400"
    webhook_url: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        webhooks = (
            local_stripe.WebhookSender(self.webhook_url, WEBHOOK_SECRET)
            if self.webhook_url
            else None
        )
        self.api = local_stripe.LocalStripe(webhooks=webhooks)

        def respond(method: str, path: str, headers: dict[str, str], form: dict[str, str]):
            return self._handle(RecordedRequest(method, path, headers, form))

        self._httpd = local_stripe.make_server(respond)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def intents(self) -> dict[str, dict[str, Any]]:
        return self.api.store.intents

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> StripeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            mode = self.mode
        if mode == "error500":
            return 500, {"error": {"type": "api_error", "message": "Stripe is down."}}
        if mode == "error400":
            return 400, {"error": {"type": "invalid_request_error", "message": "Invalid amount."}}
        return self.api.handle(request.method, request.path, request.headers, request.form)


# --------------------------------------------------------------------------- webhooks


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    return local_stripe.sign(payload, secret, timestamp)


def payment_intent(
    intent_id: str,
    *,
    amount: int,
    currency: str,
    metadata: dict[str, str],
    status: str = "succeeded",
    amount_received: int | None = None,
    last_payment_error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if amount_received is None else amount_received,
        "currency": currency,
        "metadata": metadata,
        "status": status,
        "last_payment_error": last_payment_error,
        "livemode": False,
    }


def charge(intent_id: str, *, amount: int, amount_refunded: int, currency: str) -> dict[str, Any]:
    return {
        "id": f"ch_{secrets.token_hex(12)}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount_refunded,
        "currency": currency,
        "payment_intent": intent_id,
        "refunded": amount_refunded >= amount,
        "metadata": {},
        "livemode": False,
    }
