"""One signed delivery attempt over HTTP(S) (SPEC §7a).

``POST`` of the JSON body with

* ``Content-Type: application/json``, ``User-Agent: Eldonia-Webhooks/1``,
* ``Eldonia-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``,
* ``Eldonia-Event-Id`` and ``Eldonia-Event-Type`` (the body has them too).

The host is resolved and checked again right before the attempt (``ssrf.check_url``)
and the connection goes to that checked address, with the URL's host in the ``Host``
header and as the TLS server name (certificates are verified). Redirects are not
followed (a 3xx is a failure). The whole attempt — DNS lookup, connect, TLS, request,
response — is bounded by ``WEBHOOK_TIMEOUT_SECONDS``: a watchdog shuts the socket at
the deadline, so a receiver that trickles bytes cannot hold a worker. At most
``RESPONSE_READ_LIMIT`` bytes of the response body are read, and none are stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from webhooks import ssrf

USER_AGENT = "Eldonia-Webhooks/1"
SIGNATURE_HEADER = "Eldonia-Signature"
RESPONSE_READ_LIMIT = 64 * 1024


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the receiver's HTTP status, if it answered
    error: str  # short, for the delivery log: never the URL, a secret or the body
    refused: bool = False  # the address was not allowed (nothing was sent)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to ``address`` whatever ``host`` resolves to now."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _short(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the receiver"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate not valid for this host"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, http.client.HTTPException):
        return "invalid HTTP response"
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection failed: {exc.strerror}"[:200]
    return f"connection failed: {type(exc).__name__}"


def _drain(response: http.client.HTTPResponse) -> None:
    received = 0
    try:
        while received < RESPONSE_READ_LIMIT:
            chunk = response.read(min(16384, RESPONSE_READ_LIMIT - received))
            if not chunk:
                return
            received += len(chunk)
    except (OSError, http.client.HTTPException, ValueError):
        return


def post(url: str, *, secret: str, body: bytes, headers: dict[str, str] | None = None) -> Outcome:
    """One attempt. Never raises for anything the receiver or the network does."""
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    started = time.monotonic()
    try:
        target = ssrf.check_url(url, timeout=timeout)
    except ssrf.UrlRefused as exc:
        return Outcome(None, f"not sent: {exc.message}"[:200], refused=True)
    remaining = timeout - (time.monotonic() - started)
    if remaining <= 0:
        return Outcome(None, f"timed out after {timeout:g} s")
    kind = _PinnedHTTPSConnection if target.url.scheme == "https" else _PinnedHTTPConnection
    conn = kind(target.url.host, target.url.port, address=target.address, timeout=remaining)
    expired = threading.Event()

    def watchdog() -> None:
        expired.set()
        sock: Any = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(remaining, watchdog)
    timer.daemon = True
    timer.start()
    try:
        conn.request(
            "POST",
            target.url.target,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: signature_header(secret, body),
                "Connection": "close",
                **(headers or {}),
            },
        )
        response = conn.getresponse()
        if expired.is_set():
            raise TimeoutError
        # The status decides; the body is read (bounded, best effort) only so that the
        # receiver is not cut off mid-answer, and then dropped.
        _drain(response)
        status = response.status
        if 200 <= status < 300:
            return Outcome(status, "")
        return Outcome(status, f"HTTP {status}")
    except TimeoutError:
        return Outcome(None, f"timed out after {timeout:g} s")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set():
            return Outcome(None, f"timed out after {timeout:g} s")
        return Outcome(None, _short(exc))
    finally:
        timer.cancel()
        conn.close()
