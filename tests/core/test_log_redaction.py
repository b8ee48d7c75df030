"""Secrets that travel in URLs never reach Daphne's access log."""

from __future__ import annotations

import time

import httpx
import pytest

from core.log_redaction import redact
from tests.support.servers import daphne


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
