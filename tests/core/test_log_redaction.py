"""Secrets that travel in URLs never reach the server's log: Daphne's access log is
redacted (``core/log_redaction.py``); uvicorn runs with ``--no-access-log``."""

from __future__ import annotations

import asyncio
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
