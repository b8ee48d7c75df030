"""Server → client event shapes (SPEC §7). One builder per type; the wire format lives here."""

from __future__ import annotations

from typing import Any


def stream_state(stream: dict[str, Any]) -> dict[str, Any]:
    return {"type": "stream.state", "stream": stream}


def error(code: str, message: str, retry_after: int | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if retry_after is not None:
        event["retry_after"] = retry_after
    return event


def pong() -> dict[str, Any]:
    return {"type": "pong"}


def ingest(connected: bool) -> dict[str, Any]:
    """Dashboard only: whether the ingest server currently has a publisher (OBS)."""
    return {"type": "ingest", "connected": connected}
