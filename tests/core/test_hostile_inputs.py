"""Inputs Python half-accepts answer a clear 400 (or an error frame), never a 500:
Unicode digits where an id is expected, unpaired surrogates in JSON text."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest
import websockets
from django.test import Client

from core.inputs import parse_id
from donations.models import StreamDonation
from donations.services import get_or_create_overlay_token
from streams.models import LiveStream
from tests.donations.helpers import live_stream
from tests.support.factories import make_stream, make_user

SURROGATE = "\ud800"


def post_json(client: Client, path: str, data: dict, method: str = "post"):
    # json.dumps escapes the surrogate as \ud800, exactly what a hostile client sends
    return getattr(client, method)(path, json.dumps(data), content_type="application/json")


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("12", 12),
        ("²", None),
        ("\u0661\u0662", None),
        ("0", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("99999999999999999999", None),
        ("", None),
        (None, None),
        (12, None),
    ],
)
def test_parse_id(raw, expected):
    assert parse_id(raw) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("streamer", ["²", "\u0661", "99999999999999999999", "1.5"])
def test_stream_list_refuses_a_streamer_that_is_not_an_id(streamer):
    response = Client().get(f"/api/streams?streamer={quote(streamer)}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.django_db
def test_overlay_page_ignores_a_duration_that_is_not_a_number():
    user = make_user()
    token = get_or_create_overlay_token(user=user).token
    for duration in ["²", "\u0661\u0660", "99999999999999999999999"]:
        response = Client().get(f"/overlays/{token}/alerts/?duration={quote(duration)}")
        assert response.status_code == 200


@pytest.mark.django_db
def test_surrogates_in_stream_title_and_description_are_400():
    owner = make_user()
    client = Client()
    client.force_login(owner)
    created = post_json(client, "/api/streams", {"title": f"bad {SURROGATE}"})
    assert created.status_code == 400
    assert created.json()["error"]["code"] == "invalid_json"
    assert not LiveStream.objects.filter(streamer=owner).exists()
    stream = make_stream(owner, title="Fine")
    patched = post_json(
        client, f"/api/streams/{stream.id}", {"description": SURROGATE}, method="patch"
    )
    assert patched.status_code == 400
    stream.refresh_from_db()
    assert stream.title == "Fine" and not stream.description
    # a surrogate in a key is refused too
    assert post_json(client, "/api/streams", {SURROGATE: "x"}).status_code == 400
    # a proper pair (an emoji spelled as two escapes) is fine
    ok = post_json(client, "/api/streams", {"title": "\U0001f3ae game night"})
    assert ok.status_code == 201 and ok.json()["title"] == "\U0001f3ae game night"


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["message", "display_name"])
def test_surrogates_in_a_donation_are_400_and_create_nothing(field):
    stream = live_stream()
    response = post_json(
        Client(), f"/api/streams/{stream.id}/donations", {"amount": "500", field: SURROGATE}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert not StreamDonation.objects.exists()


@pytest.mark.django_db
def test_surrogates_at_signup_are_400():
    response = post_json(
        Client(),
        "/api/auth/signup",
        {"username": f"x{SURROGATE}", "email": "a@example.com", "password": "long enough pw 1"},
    )
    assert response.status_code == 400


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_overlay_socket_with_a_since_that_is_not_an_id(asgi_server):
    token = get_or_create_overlay_token(user=make_user()).token

    async def scenario():
        for since in ["²", "abc", "99999999999999999999"]:
            url = f"{asgi_server.ws_url}/ws/overlays/{token}/?since={quote(since)}"
            async with websockets.connect(url, origin=asgi_server.origin) as ws:
                error = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert error["type"] == "error" and error["code"] == "invalid_since"
                await ws.send(json.dumps({"type": "ping"}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}

    asyncio.run(scenario())
