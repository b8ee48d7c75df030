"""Logs: one line per event, ``LOG_FORMAT=json`` gives one JSON object per line with
the request id, and the secret redaction holds in both formats."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import uuid

import httpx
import pytest

from core.logging import JsonFormatter, request_id_from
from tests.support.factories import make_user
from tests.support.rooms import cookie_for
from tests.support.servers import asgi_server

OVERLAY_TOKEN = "overlay-token-that-must-not-leak-" + "z" * 16


def json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def send_garbage(port: int) -> None:
    """Bytes that are no HTTP request: the server itself (not Django) logs them."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            sock.recv(1024)


# --------------------------------------------------------------------------- in process


def test_json_lines_keep_the_redaction_and_escape_line_breaks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json_format")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "GET %s from %s",
            f"/overlays/{OVERLAY_TOKEN}/alerts/",
            "client\nFORGED 2026-01-01 CRITICAL fake\u2028line",
        )
        try:
            raise ValueError(f"bad /overlays/{OVERLAY_TOKEN}/alerts/")
        except ValueError:
            logger.exception("it failed", extra={"stream_id": 42})
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    assert OVERLAY_TOKEN not in output
    lines = output.splitlines()  # splits on U+2028 too
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) >= {"time", "level", "logger", "message"}
    assert first["level"] == "WARNING" and first["logger"] == "tests.json_format"
    assert first["message"] == (
        "GET /overlays/[redacted]/alerts/ from client\\nFORGED 2026-01-01 CRITICAL fake\\u2028line"
    )
    assert first["time"].endswith("Z")
    assert second["message"] == "it failed"
    assert second["stream_id"] == 42
    assert second["exc_info"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad /overlays/[redacted]/alerts/" in second["exc_info"]


def test_a_client_request_id_is_kept_only_when_short_and_safe():
    assert request_id_from("abc-123_DEF.4:5") == "abc-123_DEF.4:5"
    for unsafe in (None, "", "x" * 65, "has space", "new\nline", 'quote"', "é"):
        generated = request_id_from(unsafe)
        assert generated != unsafe and len(generated) == 32 and generated.isalnum()


# --------------------------------------------------------------------------- real servers


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_json_server_logs_only_json_lines_with_the_request_id(log_dir):
    missing = f"/no-such-page-{uuid.uuid4().hex}"
    user = make_user()
    cookie = cookie_for(user)
    with asgi_server(log_dir, LOG_FORMAT="json", METRICS_TOKEN="t0k") as server:
        base = server.http_url
        given = httpx.get(f"{base}{missing}", headers={"X-Request-ID": "req-42.abc"})
        assert given.status_code == 404
        assert given.headers["X-Request-ID"] == "req-42.abc"
        made = httpx.get(f"{base}{missing}-2", headers={"X-Request-ID": "x" * 100})
        made_id = made.headers["X-Request-ID"]
        assert made_id != "x" * 100 and len(made_id) == 32
        plain = httpx.get(f"{base}/healthz")
        assert len(plain.headers["X-Request-ID"]) == 32
        # A secret in the path and a line break in it: redacted and escaped.
        assert httpx.get(f"{base}/overlays/{OVERLAY_TOKEN}/no-such-page").status_code == 404
        assert httpx.get(f"{base}{missing}%0AFORGED-LINE").status_code == 404
        # A returned (not raised) 4xx is logged outside the view: still with its id.
        unauthorized = httpx.get(f"{base}/metrics", headers={"X-Request-ID": "req-401"})
        assert unauthorized.status_code == 401
        # A logged-in API call about a stream: the user and the stream are known.
        api = httpx.get(f"{base}/api/streams/987654321", headers={"Cookie": cookie})
        assert api.status_code == 404
        send_garbage(server.port)
        server.stop()  # everything flushed
    log = server.log_path.read_text()

    assert OVERLAY_TOKEN not in log
    # Every line is JSON: Django's, ours and uvicorn's own (nothing is printed before
    # Django is set up, at uvicorn's --log-level warning).
    entries = json_lines(log)
    assert all(set(e) >= {"time", "level", "logger", "message"} for e in entries)
    not_found = [e for e in entries if e["message"] == f"Not Found: {missing}"]
    assert len(not_found) == 1
    assert not_found[0]["request_id"] == "req-42.abc"
    assert not_found[0]["logger"] == "django.request" and not_found[0]["level"] == "WARNING"
    [second] = [e for e in entries if e["message"] == f"Not Found: {missing}-2"]
    assert second["request_id"] == made_id
    [forged] = [e for e in entries if "FORGED-LINE" in e["message"]]
    assert forged["message"] == f"Not Found: {missing}\\nFORGED-LINE"
    [redacted] = [e for e in entries if "/overlays/" in e["message"]]
    assert redacted["message"] == "Not Found: /overlays/[redacted]/no-such-page"
    [denied] = [e for e in entries if e["message"] == "Unauthorized: /metrics"]
    assert denied["request_id"] == "req-401"
    [about_stream] = [e for e in entries if e["message"] == "Not Found: /api/streams/987654321"]
    assert about_stream["user_id"] == user.id
    assert about_stream["stream_id"] == 987654321
    assert about_stream["request_id"] == api.headers["X-Request-ID"]
    assert "user_id" not in not_found[0] and "stream_id" not in not_found[0]
    assert any(e["logger"] == "uvicorn.error" for e in entries), log


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server_name", ["uvicorn", "daphne"])
def test_a_plain_server_logs_a_404_exactly_once(log_dir, server_name):
    missing = f"/no-such-page-{uuid.uuid4().hex}"
    with asgi_server(log_dir, server=server_name) as server:
        assert httpx.get(f"{server.http_url}{missing}").status_code == 404
        assert httpx.get(f"{server.http_url}/api{missing}").status_code == 404
        server.stop()  # everything flushed
    log = server.log_path.read_text()

    # (Daphne also writes its access log line per request: another event.)
    for path in (missing, f"/api{missing}"):
        lines = [line for line in log.splitlines() if f"Not Found: {path}" in line]
        assert len(lines) == 1, log
        assert f" WARNING django.request Not Found: {path}" in lines[0]
