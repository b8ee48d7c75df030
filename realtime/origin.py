"""The WebSocket handshake's ``Origin`` check (SPEC §7): only the site's own pages.

An origin is accepted when it is exactly the site the handshake reached — the same
scheme (``wss`` ↔ ``https``, ``ws`` ↔ ``http``), host and port as the ``Host`` header,
with that host in ``ALLOWED_HOSTS`` — or when it is listed in
``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` patterns too, as Django's CSRF
check reads them). Behind a TLS-terminating proxy the handshake arrives as ``ws``
while pages are ``https``: list the public origin in ``CSRF_TRUSTED_ORIGINS``, as
Django's CSRF check needs anyway. A handshake without ``Origin`` (not a browser) or
from any other origin is refused with HTTP 403.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _normalize(scheme: str, netloc: str) -> tuple[str, str] | None:
    """(scheme, host[:port]) lower-cased, without the scheme's default port."""
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS or not netloc:
        return None
    netloc = netloc.lower()
    default = ":" + _DEFAULT_PORTS[scheme]
    if netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return scheme, netloc


def _trusted(origin: tuple[str, str]) -> bool:
    scheme, netloc = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        parts = urlsplit(entry)
        trusted = _normalize(parts.scheme, parts.netloc)
        if trusted is None or trusted[0] != scheme:
            continue
        if trusted[1] == netloc:
            return True
        if trusted[1].startswith("*.") and is_same_domain(netloc, trusted[1][1:]):
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    origin_header = host_header = None
    for name, value in scope.get("headers") or ():
        if name == b"origin":
            origin_header = value.decode("latin-1")
        elif name == b"host":
            host_header = value.decode("latin-1")
    if not origin_header or origin_header == "null":
        return False
    parts = urlsplit(origin_header)
    if parts.path not in ("", "/") or parts.query or parts.username is not None:
        return False
    origin = _normalize(parts.scheme, parts.netloc)
    if origin is None:
        return False
    if host_header:
        site_scheme = "https" if scope.get("scheme") == "wss" else "http"
        site = _normalize(site_scheme, host_header)
        domain, _port = split_domain_port(host_header.lower())
        if site == origin and domain and validate_host(domain, settings.ALLOWED_HOSTS):
            return True
    return _trusted(origin)


class OriginValidator:
    """ASGI middleware: a WebSocket handshake from a foreign origin gets HTTP 403."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close"})  # before accept: HTTP 403
            return None
        return await self.app(scope, receive, send)
