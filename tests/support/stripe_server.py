"""A small Stripe-compatible HTTP server for tests, plus webhook signing.

The official ``stripe`` library (16.1.0) talks to it through ``STRIPE_API_BASE``:
``POST /v1/payment_intents`` with a form-encoded body (``amount=500&currency=jpy&
metadata[donation_id]=7``), ``Authorization: Bearer <secret key>``, ``Stripe-Version``
and ``Idempotency-Key`` headers. Like Stripe, a repeated idempotency key returns the
first response. ``mode`` switches it to answering 500 (``api_error``) or 400
(``invalid_request_error``).

    with StripeServer() as stripe_server:
        settings.STRIPE_API_BASE = stripe_server.url
        ...
        stripe_server.requests[0].form["amount"] == "500"

Webhooks are signed exactly as Stripe signs them:
``Stripe-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<raw body>")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

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
    requests: list[RecordedRequest] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _by_key: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                form = dict(parse_qsl(body, keep_blank_values=True))
                recorded = RecordedRequest(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, form
                )
                status, payload = server._handle(recorded)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

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
            if self.mode == "error500":
                return 500, {"error": {"type": "api_error", "message": "Stripe is down."}}
            if self.mode == "error400":
                return 400, {
                    "error": {"type": "invalid_request_error", "message": "Invalid amount."}
                }
            if request.path != "/v1/payment_intents":
                return 404, {"error": {"type": "invalid_request_error", "message": "No route."}}
            key = request.headers.get("idempotency-key", "")
            if key in self._by_key:
                return 200, self._by_key[key]
            intent_id = f"pi_{secrets.token_hex(12)}"
            metadata = {
                k[len("metadata[") : -1]: v
                for k, v in request.form.items()
                if k.startswith("metadata[")
            }
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(request.form["amount"]),
                "currency": request.form["currency"],
                "metadata": metadata,
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
                "livemode": False,
                "created": int(time.time()),
            }
            self.intents[intent_id] = intent
            self._by_key[key] = intent
            return 200, intent


# --------------------------------------------------------------------------- webhooks


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


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


def body(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt).encode()
