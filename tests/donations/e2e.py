"""Helpers for the donation end-to-end tests against a real ASGI server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets

from tests.support import factories
from tests.support import stripe_server as stripe_support

WAIT = 20  # seconds a socket may take to deliver a frame before the test fails


async def recv_json(ws) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def recv_room_json(ws) -> dict[str, Any]:
    """The next frame of a viewers' room, skipping ``viewers`` count updates (they
    may arrive at any moment as sockets join and leave)."""
    while True:
        frame = await recv_json(ws)
        if frame.get("type") != "viewers":
            return frame


async def close_code(ws) -> int | None:
    """Wait until the server closes ``ws``; return its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


async def nothing_more(ws) -> None:
    """Prove no frame is queued before this point: a ping's pong comes next
    (viewer-count updates aside)."""
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_room_json(ws) == {"type": "pong"}


def connect(app, path: str):
    return websockets.connect(f"{app.ws_url}{path}", origin=app.origin)


async def post_event(app, evt: dict[str, Any]) -> httpx.Response:
    payload = stripe_support.body(evt)
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.post(
            f"{app.http_url}/webhooks/stripe/",
            content=payload,
            headers={
                "Stripe-Signature": stripe_support.sign(payload),
                "Content-Type": "application/json",
            },
        )


def http_login(app, user) -> httpx.Client:
    """A logged-in HTTP session against the ASGI server (session cookie + CSRF)."""
    client = httpx.Client(base_url=app.http_url, timeout=60)
    client.get("/api/auth/csrf")
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    response = client.post(
        "/api/auth/login", json={"username": user.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 200, response.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]  # login rotates it
    return client
