"""A local Stripe-compatible test server for ``make run`` (SPEC §9 "Local payments").

With test-mode placeholder keys there is no Stripe to talk to, so ``scripts/run.py``
starts this server and points ``STRIPE_API_BASE`` at it. It speaks the part of
Stripe's API the app uses, as the official ``stripe`` library sends it (form-encoded
bodies, ``Authorization: Bearer sk_test_...``, ``Idempotency-Key``):

- ``POST /v1/payment_intents``: create; a repeated idempotency key returns the first
  response. ``client_secret`` is ``<id>_secret_<random>``, as Stripe's.
- ``GET /v1/payment_intents/<id>``: retrieve.
- ``POST /v1/payment_intents/<id>/confirm``: the test-mode payment. The intent
  succeeds (``payment_method=pm_card_visa``, the default) or is declined
  (``pm_card_chargeDeclined``, ``pm_card_chargeDeclinedInsufficientFunds``: 402
  ``card_error``, status back to ``requires_payment_method``), and the matching
  ``payment_intent.succeeded`` / ``payment_intent.payment_failed`` event is delivered
  to the webhook URL in the background, signed exactly as Stripe signs
  (``Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256(whsec, "<ts>.<body>")>``) and
  redelivered a few times on a non-2xx answer or a connection error.
- ``GET /v1/events``: the events generated so far, newest first.

Live keys (``sk_live_...``) are refused: nothing here ever moves real money.

    python -m donations.local_stripe --port 12111 \\
        --webhook-url http://127.0.0.1:8000/webhooks/stripe/ --webhook-secret whsec_placeholder

Standard library only (it runs without Django); ``tests/support/stripe_server.py``
builds the test suite's in-process server on the same core.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger("donations.local_stripe")

API_VERSION = "2026-10-28.endive"
DEFAULT_PORT = 12111
# Seconds to wait before each redelivery of a webhook Stripe's endpoint refused.
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
# Stripe's test payment methods (https://docs.stripe.com/testing#declined-payments).
SUCCEEDING_METHODS = frozenset({"pm_card_visa", "pm_card_mastercard", "pm_card_jp"})
DECLINING_METHODS: dict[str, tuple[str, str]] = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
DEFAULT_PAYMENT_METHOD = "pm_card_visa"

Response = tuple[int, dict[str, Any]]


# --------------------------------------------------------------------------- wire format


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event(
    event_type: str,
    obj: dict[str, Any],
    event_id: str | None = None,
    *,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A Stripe ``event`` object carrying ``obj``."""
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": idempotency_key},
        "type": event_type,
        "data": {"object": obj},
    }


def body(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt).encode()


def error(status: int, error_type: str, message: str, **more: Any) -> Response:
    return status, {"error": {"type": error_type, "message": message, **more}}


def nested(form: dict[str, str], name: str) -> dict[str, str]:
    """``metadata[donation_id]=7`` → ``{"donation_id": "7"}`` for ``name="metadata"``."""
    prefix = f"{name}["
    return {k[len(prefix) : -1]: v for k, v in form.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------- intents


@dataclass
class IntentStore:
    """PaymentIntents in memory, thread-safe; answers as Stripe's API does."""

    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    _by_key: dict[str, Response] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def create(self, form: dict[str, str], idempotency_key: str | None) -> Response:
        with self._lock:
            if idempotency_key and idempotency_key in self._by_key:
                return self._by_key[idempotency_key]
            try:
                amount = int(form["amount"])
                currency = form["currency"].lower()
            except (KeyError, ValueError):
                return error(
                    400,
                    "invalid_request_error",
                    "amount and currency are required.",
                    code="parameter_missing",
                )
            if amount < 1:
                return error(
                    400, "invalid_request_error", "Invalid amount.", code="amount_too_small"
                )
            intent_id = f"pi_{secrets.token_hex(12)}"
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": 0,
                "currency": currency,
                "metadata": nested(form, "metadata"),
                "description": form.get("description"),
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
                "payment_method": None,
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "created": int(time.time()),
            }
            self.intents[intent_id] = intent
            response: Response = (200, dict(intent))
            if idempotency_key:
                self._by_key[idempotency_key] = response
            return response

    def retrieve(self, intent_id: str) -> Response:
        with self._lock:
            intent = self.intents.get(intent_id)
            if intent is None:
                return _no_such_intent(intent_id)
            return 200, dict(intent)

    def confirm(
        self, intent_id: str, form: dict[str, str], idempotency_key: str | None = None
    ) -> tuple[int, dict[str, Any], dict[str, Any] | None]:
        """Confirm in test mode; returns the answer and the event to deliver (if any)."""
        with self._lock:
            intent = self.intents.get(intent_id)
            if intent is None:
                return (*_no_such_intent(intent_id), None)
            if "client_secret" in form and not hmac.compare_digest(
                form["client_secret"], intent["client_secret"]
            ):
                return (*_no_such_intent(intent_id), None)
            if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
                status, payload = error(
                    400,
                    "invalid_request_error",
                    "This PaymentIntent's status is "
                    f"{intent['status']}; it cannot be confirmed again.",
                    code="payment_intent_unexpected_state",
                    payment_intent=dict(intent),
                )
                return status, payload, None
            method = form.get("payment_method") or DEFAULT_PAYMENT_METHOD
            if method in DECLINING_METHODS:
                decline_code, message = DECLINING_METHODS[method]
                intent.update(
                    status="requires_payment_method",
                    payment_method=None,
                    last_payment_error={
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": decline_code,
                        "message": message,
                    },
                )
                evt = event(
                    "payment_intent.payment_failed",
                    dict(intent),
                    idempotency_key=idempotency_key,
                )
                self.events.append(evt)
                status, payload = error(
                    402,
                    "card_error",
                    message,
                    code="card_declined",
                    decline_code=decline_code,
                    payment_intent=dict(intent),
                )
                return status, payload, evt
            if method not in SUCCEEDING_METHODS:
                status, payload = error(
                    400,
                    "invalid_request_error",
                    f"No such PaymentMethod: '{method}'",
                    code="resource_missing",
                    param="payment_method",
                )
                return status, payload, None
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                payment_method=method,
                last_payment_error=None,
                latest_charge=f"ch_{secrets.token_hex(12)}",
            )
            evt = event("payment_intent.succeeded", dict(intent), idempotency_key=idempotency_key)
            self.events.append(evt)
            return 200, dict(intent), evt

    def list_events(self) -> Response:
        with self._lock:
            data = list(reversed(self.events))
        return 200, {"object": "list", "url": "/v1/events", "has_more": False, "data": data}


def _no_such_intent(intent_id: str) -> Response:
    return error(
        404,
        "invalid_request_error",
        f"No such payment_intent: '{intent_id}'",
        code="resource_missing",
        param="intent",
    )


# --------------------------------------------------------------------------- webhooks


@dataclass
class WebhookSender:
    """Delivers events to one endpoint in the background, as Stripe does: signed,
    retried after each delay in ``retry_delays`` while the answer is not 2xx."""

    url: str
    secret: str
    retry_delays: Sequence[float] = RETRY_DELAYS
    timeout: float = 10.0
    # (event id, attempt, HTTP status or 0 for no answer), for logs and tests.
    attempts: list[tuple[str, int, int]] = field(default_factory=list)

    def send(self, evt: dict[str, Any]) -> threading.Thread:
        thread = threading.Thread(target=self.deliver, args=(evt,), daemon=True)
        thread.start()
        return thread

    def deliver(self, evt: dict[str, Any]) -> bool:
        payload = body(evt)
        for attempt, delay in enumerate((0.0, *self.retry_delays), start=1):
            if delay:
                time.sleep(delay)
            status = self._post(payload)
            self.attempts.append((evt["id"], attempt, status))
            logger.info(
                "webhook %s %s → %s (attempt %d)",
                evt["type"],
                evt["id"],
                status or "no answer",
                attempt,
            )
            if 200 <= status < 300:
                return True
        logger.warning("webhook %s %s not delivered; giving up", evt["type"], evt["id"])
        return False

    def _post(self, payload: bytes) -> int:
        request = urllib.request.Request(  # noqa: S310 (http(s) only: checked in main)
            self.url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                # Signed at each attempt, with that attempt's timestamp, as Stripe does.
                "Stripe-Signature": sign(payload, self.secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (OSError, urllib.error.URLError):
            return 0


# --------------------------------------------------------------------------- the API

_INTENT = re.compile(r"^/v1/payment_intents/(pi_[A-Za-z0-9]+)$")
_CONFIRM = re.compile(r"^/v1/payment_intents/(pi_[A-Za-z0-9]+)/confirm$")


@dataclass
class LocalStripe:
    """Routes one API request to the intent store; hands events to ``webhooks``."""

    store: IntentStore = field(default_factory=IntentStore)
    webhooks: WebhookSender | None = None

    def handle(self, method: str, path: str, headers: dict[str, str], form: dict[str, str]):
        path = urlsplit(path).path
        auth = headers.get("authorization", "")
        key = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if not key.startswith(("sk_test_", "rk_test_")):
            return error(
                401,
                "invalid_request_error",
                "This local test server accepts test-mode secret keys (sk_test_...) only.",
            )
        idempotency_key = headers.get("idempotency-key") or None
        if method == "POST" and path == "/v1/payment_intents":
            return self.store.create(form, idempotency_key)
        if method == "GET" and (match := _INTENT.match(path)):
            return self.store.retrieve(match.group(1))
        if method == "POST" and (match := _CONFIRM.match(path)):
            status, payload, evt = self.store.confirm(match.group(1), form, idempotency_key)
            if evt is not None and self.webhooks is not None:
                self.webhooks.send(evt)
            return status, payload
        if method == "GET" and path == "/v1/events":
            return self.store.list_events()
        return error(404, "invalid_request_error", f"Unrecognized request URL ({method} {path}).")


def handler_class(respond: Callable[[str, str, dict[str, str], dict[str, str]], Response]):
    """A ``BaseHTTPRequestHandler`` answering every request with ``respond``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = dict(parse_qsl(raw, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = respond(method, self.path, headers, form)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
            self.send_header("Stripe-Version", headers.get("stripe-version", API_VERSION))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    return Handler


def make_server(
    respond: Callable[[str, str, dict[str, str], dict[str, str]], Response],
    host: str = "127.0.0.1",
    port: int = 0,
) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer((host, port), handler_class(respond))
    httpd.daemon_threads = True
    return httpd


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m donations.local_stripe", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("STRIPE_LOCAL_PORT") or DEFAULT_PORT)
    )
    parser.add_argument("--webhook-url", help="where events go, e.g. the app's /webhooks/stripe/")
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("STRIPE_WEBHOOK_SECRET") or "whsec_placeholder",
        help="the app's STRIPE_WEBHOOK_SECRET (default: that variable, else the dev default)",
    )
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_url.startswith(("http://", "https://")):
        parser.error("--webhook-url must be an http(s) URL")
    logging.basicConfig(level=logging.INFO, format="local-stripe | %(message)s", stream=sys.stdout)
    webhooks = WebhookSender(args.webhook_url, args.webhook_secret) if args.webhook_url else None
    app = LocalStripe(webhooks=webhooks)
    httpd = make_server(app.handle, args.host, args.port)
    host, port = httpd.server_address[:2]
    logger.info(
        "listening on http://%s:%s (test mode; webhooks → %s)",
        host,
        port,
        args.webhook_url or "nowhere",
    )
    sys.stdout.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
