"""Secrets that travel in URLs never reach the server's log: Daphne's access log is
redacted (``core/log_redaction.py``); uvicorn runs with ``--no-access-log``."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
import websockets

from core.log_redaction import redact
from donations.services import get_or_create_overlay_token
from tests.support.factories import make_stream
from tests.support.servers import asgi_server, daphne


def test_overlay_tokens_in_paths_are_redacted():
    assert redact('"WSCONNECT /ws/overlays/abcDEF_-123/?since=4"') == (
        '"WSCONNECT /ws/overlays/[redacted]/?since=4"'
    )
    assert redact('"GET /overlays/abc/alerts/"') == '"GET /overlays/[redacted]/alerts/"'


def test_the_ingest_secret_query_parameter_is_redacted():
    assert redact('"POST /ingest/on_publish?secret=s3cr3t&x=1"') == (
        '"POST /ingest/on_publish?secret=[redacted]&x=1"'
    )
    assert redact('"POST /ingest/on_update?a=1&secret=s3cr3t"') == (
        '"POST /ingest/on_update?a=1&secret=[redacted]"'
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_daphne_logs_ingest_callbacks_without_the_secret(log_dir):
    # Daphne explicitly: this tests its access log (uvicorn writes none).
    with daphne(log_dir, INGEST_SECRET="very-secret-value-42") as server:
        for secret in ("very-secret-value-42", "wrong-guess-value-77"):
            httpx.post(
                f"{server.http_url}/ingest/on_publish?secret={secret}",
                data={"call": "publish", "app": "live", "name": "unknown-key"},
            )
        time.sleep(0.5)
        log = server.log()
    assert "/ingest/on_publish?secret=[redacted]" in log
    assert "very-secret-value-42" not in log and "wrong-guess-value-77" not in log


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_uvicorn_logs_no_overlay_token_stream_key_or_ingest_secret(log_dir):
    stream = make_stream(title="Logged?")
    key = stream.stream_key
    token = get_or_create_overlay_token(user=stream.streamer).token
    unknown_token = "not-a-token-" + "q" * 32
    with asgi_server(log_dir, server="uvicorn", INGEST_SECRET="very-secret-value-42") as server:
        assert "--no-access-log" in server.proc.args
        base = server.http_url
        # Ingest callbacks: the right secret with the real key (live, then done), a
        # wrong secret, an unknown key.
        for secret, name, call in (
            ("very-secret-value-42", key, "publish"),
            ("very-secret-value-42", key, "publish_done"),
            ("wrong-guess-value-77", key, "publish"),
            ("very-secret-value-42", "unknown-key-" + "k" * 32, "publish"),
        ):
            httpx.post(
                f"{base}/ingest/on_{call}?secret={secret}",
                data={"call": call, "app": "live", "name": name, "clientid": "7"},
            )
        # Overlay pages and sockets, with a valid and an unknown token.
        assert httpx.get(f"{base}/overlays/{token}/alerts/").status_code == 200
        assert httpx.get(f"{base}/overlays/{unknown_token}/alerts/").status_code == 404

        async def sockets():
            for path in (f"/ws/overlays/{token}/?since=0", f"/ws/overlays/{unknown_token}/"):
                async with websockets.connect(f"{server.ws_url}{path}", origin=server.origin):
                    await asyncio.sleep(0.2)

        asyncio.run(sockets())
        time.sleep(0.5)
        log = server.log()
    # The application's own log lines do reach this log...
    assert "ingest publish refused: wrong secret" in log, log
    # ...but no secret from a URL or a form does.
    for secret in (token, unknown_token, key, "very-secret-value-42", "wrong-guess-value-77"):
        assert secret not in log, log
    assert "secret=" not in log and "/overlays/" not in log, log


def test_every_logger_escapes_control_characters_and_redacts_arguments(caplog):
    caplog.set_level(logging.INFO)
    log = logging.getLogger("anything.at.all")
    log.warning("client %s addr %s", "7\nCRITICAL forged", "1.2.3.4\r\n\u2028x")
    log.warning("Not Found: %s", "/overlays/tok_123/alerts/")
    log.info("%(who)s said", {"who": "a\x1b[31mred"})
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "client 7\\nCRITICAL forged addr 1.2.3.4\\r\\n\\u2028x",
        "Not Found: /overlays/[redacted]/alerts/",
        "a\\x1b[31mred said",
    ]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_untrusted_values_cannot_forge_log_lines_and_django_never_logs_the_token(log_dir):
    stream = make_stream(title="Forged?")
    token = get_or_create_overlay_token(user=stream.streamer).token
    forged = "FORGED-LINE-0451"
    with asgi_server(log_dir, INGEST_SECRET="very-secret-value-42") as server:
        base = server.http_url
        for secret in ("very-secret-value-42", "wrong-guess-value-77"):
            for call in ("publish", "publish_done"):
                httpx.post(
                    f"{base}/ingest/on_{call}?secret={secret}",
                    data={
                        "call": call,
                        "app": "live",
                        "name": stream.stream_key,
                        "clientid": f"7\n2026-01-01 00:00:00,000 CRITICAL {forged}",
                        "addr": f"1.2.3.4\r\n{forged}",
                    },
                )
        # Django's own warnings name the path: an unknown page under the token, a
        # method the alerts page refuses, a form post without CSRF.
        assert httpx.get(f"{base}/overlays/{token}/nope/").status_code == 404
        assert httpx.post(f"{base}/overlays/{token}/alerts/").status_code in (403, 405)
        assert httpx.get(f"{base}/overlays/{token}/alerts/?x=%0a{forged}").status_code == 200
        time.sleep(0.5)
        log = server.log()
    assert forged in log  # the values were logged...
    for line in log.splitlines():  # ...but never as a line of their own
        assert not line.startswith(forged) and f"CRITICAL {forged}" not in line.split(" ", 3)[:3]
        if forged in line:
            assert line.startswith("20"), line  # part of a real, timestamped record
    assert token not in log, log
    assert "very-secret-value-42" not in log and "wrong-guess-value-77" not in log
