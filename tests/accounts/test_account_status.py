"""SPEC §5 "Accounts": a suspended or deleted account cannot log in, its existing
sessions stop at once (HTTP 403 ``account_inactive``, chat ``error
account_inactive``, dashboard socket 4403), and its stream keys are refused by the
ingest callbacks."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.models import User
from chat.models import ChatMessage
from streams.models import LiveStream
from tests.support.factories import PASSWORD, make_stream, make_user
from tests.support.rooms import connect, cookie_for, next_of_type
from tests.support.servers import asgi_server

INACTIVE = ["suspended", "deleted"]


def set_status(user: User, status: str) -> None:
    User.objects.filter(id=user.id).update(account_status=status)


def api_client(user: User | None = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("status", INACTIVE)
def test_an_inactive_account_cannot_log_in(status):
    user = make_user()
    set_status(user, status)
    response = Client().post(
        "/api/auth/login",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_inactive"
    # A wrong password says nothing about the account's status.
    wrong = Client().post(
        "/api/auth/login",
        {"username": user.username, "password": "nope nope nope"},
        content_type="application/json",
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_credentials"


@pytest.mark.django_db
@pytest.mark.parametrize("status", INACTIVE)
def test_django_default_backend_never_lets_an_inactive_account_in(status):
    """Django's ModelBackend is listed (for the platform's sessions), yet the right
    password of a suspended account is refused by every login path, the admin's too."""
    from django.contrib.auth import authenticate

    user = make_user()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    set_status(user, status)
    assert authenticate(username=user.username, password=PASSWORD) is None
    admin = Client()
    page = admin.post(
        "/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD}
    )
    assert page.status_code == 200  # the form again, with its error
    assert admin.get("/admin/").status_code == 302  # still sent to the login page


@pytest.mark.django_db
def test_a_session_the_platform_made_with_djangos_default_backend_works():
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    user = make_user()
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    client = Client()
    client.cookies["sessionid"] = store.session_key
    me = client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["id"] == user.id
    # ... and account_status still applies to it.
    set_status(user, "suspended")
    assert client.get("/api/auth/me").json()["error"]["code"] == "account_inactive"


@pytest.mark.django_db
def test_an_active_account_logs_in_and_null_status_counts_as_active():
    user = make_user()
    User.objects.filter(id=user.id).update(account_status=None)
    response = Client().post(
        "/api/auth/login",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("status", INACTIVE)
def test_existing_sessions_stop_at_once(status):
    user = make_user()
    client = api_client(user)
    assert client.get("/api/auth/me").status_code == 200
    set_status(user, status)
    for method, path, body in [
        ("get", "/api/auth/me", None),
        ("post", "/api/streams", {"title": "still here?"}),
        ("get", "/api/me/overlay", None),
        ("get", "/api/me/exp", None),
    ]:
        response = getattr(client, method)(path, body, content_type="application/json")
        assert response.status_code == 403, (path, response.content)
        assert response.json()["error"]["code"] == "account_inactive"
    assert not LiveStream.objects.filter(streamer=user).exists()
    # Logging out still works, and then the session is simply anonymous.
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.django_db
def test_a_page_request_ends_an_inactive_session():
    user = make_user()
    client = api_client(user)
    set_status(user, "suspended")
    page = client.get("/dashboard/")
    assert page.status_code in (200, 302)
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("status", INACTIVE)
def test_ingest_refuses_the_stream_key_of_an_inactive_streamer(status, settings):
    settings.INGEST_SECRET = ""
    owner = make_user()
    stream = make_stream(owner)
    set_status(owner, status)
    nginx = Client(enforce_csrf_checks=True)
    refused = nginx.post(
        "/ingest/on_publish",
        {"app": "live", "call": "publish", "name": stream.stream_key, "clientid": "9"},
    )
    assert refused.status_code == 403
    stream.refresh_from_db()
    assert stream.status == "scheduled"
    assert stream.stream_key not in refused.content.decode()


@pytest.mark.django_db
def test_ingest_kicks_a_live_publisher_whose_account_is_suspended(settings):
    settings.INGEST_SECRET = ""
    owner = make_user()
    stream = make_stream(owner)
    nginx = Client(enforce_csrf_checks=True)
    form = {"app": "live", "name": stream.stream_key, "clientid": "9"}
    assert nginx.post("/ingest/on_publish", {**form, "call": "publish"}).status_code == 200
    assert nginx.post("/ingest/on_update", {**form, "call": "update_publish"}).status_code == 200
    set_status(owner, "suspended")
    kicked = nginx.post("/ingest/on_update", {**form, "call": "update_publish"})
    assert kicked.status_code == 403


# --------------------------------------------------------------------------- sockets


@sync_to_async
def _setup_room():
    owner = make_user()
    viewer = make_user()
    stream = make_stream(owner, status="live")
    return owner, viewer, stream, cookie_for(owner), cookie_for(viewer)


async def _closed_with(ws, timeout: float = 10) -> int | None:
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_sockets_of_an_account_suspended_mid_session(log_dir):
    owner, viewer, stream, owner_cookie, viewer_cookie = await _setup_room()
    with asgi_server(log_dir, ACCOUNT_RECHECK_SECONDS="0.5") as server:
        room = await connect(server, f"/ws/streams/{stream.id}/", viewer_cookie)
        dashboard = await connect(server, f"/ws/dashboard/streams/{stream.id}/", owner_cookie)
        await room.send(json.dumps({"type": "chat.send", "text": "before"}))
        assert (await next_of_type(room, "chat.message"))["text"] == "before"

        await sync_to_async(set_status)(viewer, "suspended")
        await sync_to_async(set_status)(owner, "deleted")

        await room.send(json.dumps({"type": "chat.send", "text": "after"}))
        error = await next_of_type(room, "error")
        assert error["code"] == "account_inactive"
        # The socket stays open (anyone may read) and answers pings.
        await room.send(json.dumps({"type": "ping"}))
        await next_of_type(room, "pong")
        # The open dashboard is closed with 4403 at the next account re-check.
        assert await _closed_with(dashboard) == 4403
        # And a new dashboard socket is refused outright.
        again = await websockets.connect(
            f"{server.ws_url}/ws/dashboard/streams/{stream.id}/",
            origin=server.origin,
            additional_headers={"Cookie": owner_cookie},
        )
        assert await _closed_with(again) == 4403
        await room.close()
    texts = await sync_to_async(
        lambda: list(ChatMessage.objects.filter(stream_id=stream.id).values_list("text", flat=True))
    )()
    assert texts == ["before"]
