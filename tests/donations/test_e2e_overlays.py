"""Fan-out and overlays over real WebSockets on a real ASGI server (SPEC §7)."""

from __future__ import annotations

import asyncio
from contextlib import closing

import pytest

from donations.services import get_or_create_overlay_token
from realtime import groups
from tests.donations.e2e import (
    close_code,
    connect,
    http_login,
    nothing_more,
    post_event,
    recv_json,
    recv_room_json,
)
from tests.donations.helpers import live_stream, pending_donation, succeeded_event
from tests.support import stripe_server as stripe_support
from tests.support.events import GroupListener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def expected_event(donation, display_name="Kind viewer"):
    return {
        "type": "donation",
        "id": donation.id,
        "display_name": display_name,
        "amount": f"{donation.amount:.2f}",
        "currency": "jpy",
        "message": donation.message or "",
        "created_at": donation.created_at.isoformat(),
    }


def test_a_completed_donation_reaches_the_room_the_dashboard_and_every_overlay(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    other_streams_overlay = get_or_create_overlay_token(user=live_stream().streamer).token
    xss = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    donation = pending_donation(stream, amount="1200", message=xss)
    evt = succeeded_event(donation)

    async def scenario():
        async with (
            GroupListener(groups.stream_dashboard(stream.id)) as dashboard,
            connect(app, f"/ws/streams/{stream.id}/") as room,
            connect(app, f"/ws/overlays/{token}/") as overlay_a,
            connect(app, f"/ws/overlays/{token}/") as overlay_b,
            connect(app, f"/ws/overlays/{other_streams_overlay}/") as stranger,
        ):
            assert (await recv_room_json(room))["type"] == "stream.state"
            assert (await recv_room_json(room))["type"] == "chat.history"
            for ws in (overlay_a, overlay_b, stranger):
                await nothing_more(ws)  # subscribed
            response = await post_event(app, evt)
            assert response.status_code == 200, response.text
            expected = expected_event(donation)
            assert await recv_room_json(room) == expected
            assert await recv_json(overlay_a) == expected
            assert await recv_json(overlay_b) == expected
            message = await dashboard()
            while message["type"] == "viewers":  # the dashboard hears counts too
                message = await dashboard()
            assert message == expected
            await nothing_more(stranger)  # another streamer's overlay got nothing
            await nothing_more(room)  # exactly once

    asyncio.run(scenario())
    log = app.log()
    assert token not in log and other_streams_overlay not in log
    assert stripe_support.WEBHOOK_SECRET not in log


def test_an_overlay_that_was_offline_gets_what_it_missed_in_order(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    first, second, third, live = (pending_donation(stream, amount="100") for _ in range(4))
    slow = pending_donation(stream, amount="100")  # created earlier than `late`...
    late = pending_donation(stream, amount="100")

    async def scenario():
        async with connect(app, f"/ws/overlays/{token}/") as overlay:
            await nothing_more(overlay)
            await post_event(app, succeeded_event(first))
            assert (await recv_json(overlay))["id"] == first.id
        # Offline: two donations complete.
        await post_event(app, succeeded_event(second))
        await post_event(app, succeeded_event(third))
        async with connect(app, f"/ws/overlays/{token}/?since={first.id}") as overlay:
            assert (await recv_json(overlay))["id"] == second.id
            assert (await recv_json(overlay))["id"] == third.id
            await post_event(app, succeeded_event(live))
            assert await recv_json(overlay) == expected_event(live)
            await nothing_more(overlay)
        # ...but `late` pays first and `slow` completes while the overlay is offline.
        async with connect(app, f"/ws/overlays/{token}/?since={live.id}") as overlay:
            await nothing_more(overlay)
            await post_event(app, succeeded_event(late))
            assert (await recv_json(overlay))["id"] == late.id
        await post_event(app, succeeded_event(slow))
        async with connect(app, f"/ws/overlays/{token}/?since={late.id}") as overlay:
            assert (await recv_json(overlay))["id"] == slow.id
            await nothing_more(overlay)

    asyncio.run(scenario())


def test_rotating_the_token_closes_old_overlays_and_refuses_the_old_token(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    with closing(http_login(app, stream.streamer)) as client:
        old = client.get("/api/me/overlay").json()
        assert old["alerts_url"] == f"{app.http_url}/overlays/{old['token']}/alerts/"
        assert len(old["token"]) >= 32

        async def scenario():
            async with connect(app, f"/ws/overlays/{old['token']}/") as overlay:
                await nothing_more(overlay)
                response = await asyncio.to_thread(client.post, "/api/me/overlay/rotate")
                assert response.status_code == 200
                assert await close_code(overlay) == 4403
                return response.json()

        new = asyncio.run(scenario())
        assert new["token"] != old["token"]

        async def after():
            async with connect(app, f"/ws/overlays/{old['token']}/") as refused:
                assert await close_code(refused) == 4404
            async with connect(app, f"/ws/overlays/{new['token']}/") as overlay:
                await nothing_more(overlay)
                response = await asyncio.to_thread(client.post, "/api/me/overlay/test")
                assert response.status_code == 202
                alert = await recv_json(overlay)
                assert alert["type"] == "donation" and alert["test"] is True

        asyncio.run(after())
        assert client.get(f"/overlays/{old['token']}/alerts/").status_code == 404
        assert client.get(f"/overlays/{new['token']}/alerts/").status_code == 200
    log = app.log()
    assert old["token"] not in log and new["token"] not in log


def test_the_owner_can_replay_an_alert_to_overlays(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    donation = pending_donation(stream)

    async def scenario(client):
        async with connect(app, f"/ws/overlays/{token}/") as overlay:
            await nothing_more(overlay)
            await post_event(app, succeeded_event(donation))
            assert (await recv_json(overlay))["id"] == donation.id
            response = await asyncio.to_thread(client.post, f"/api/donations/{donation.id}/replay")
            assert response.status_code == 202
            assert await recv_json(overlay) == {**expected_event(donation), "replay": True}

    with closing(http_login(app, stream.streamer)) as client:
        asyncio.run(scenario(client))
