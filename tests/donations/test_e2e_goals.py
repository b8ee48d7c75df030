"""Donation goals against a real ASGI server: exact under concurrent and duplicated
webhooks and owner edits, and every change reaches the room, the dashboard and the
overlays as a ``goal`` event with a growing version (SPEC §7)."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from decimal import Decimal

import httpx
import pytest

from donations import goals
from donations.models import StreamGoal
from donations.selectors import expected_goal_raised
from donations.services import get_or_create_overlay_token
from streams.models import LiveStream
from tests.donations.e2e import connect, http_login, nothing_more, post_event, recv_json
from tests.donations.helpers import (
    live_stream,
    pending_donation,
    refunded_event,
    succeeded_event,
)
from tests.support import factories
from tests.support import stripe_server as stripe_support
from tests.support.rooms import cookie_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CONCURRENT = 20


def all_at_once(calls: list) -> list:
    """Run the callables together (a barrier releases them at the same moment)."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def deliver(app, evt: dict):
    """A signed webhook, redelivered the way Stripe does after a 503 (lock timeout)."""

    def call() -> httpx.Response:
        payload = stripe_support.body(evt)
        headers = {"Stripe-Signature": stripe_support.sign(payload)}
        while True:
            response = httpx.post(
                f"{app.http_url}/webhooks/stripe/", content=payload, headers=headers, timeout=120
            )
            if response.status_code != 503:
                return response

    return call


def goal_row(stream) -> StreamGoal:
    return StreamGoal.objects.get(stream_id=stream.id)


def test_20_concurrent_payments_and_their_duplicates_raise_the_goal_exactly(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    goals.do_set_goal(stream_id=stream.id, title="Exact", amount=Decimal("100000"), reset=False)
    donations = [pending_donation(stream, amount=str(100 + 7 * i)) for i in range(CONCURRENT)]
    events = [succeeded_event(d) for d in donations]
    calls = [deliver(app, e) for e in events]
    calls += [deliver(app, e) for e in events[:5]]  # the same events again
    calls += [deliver(app, succeeded_event(d)) for d in donations[5:10]]  # other event ids
    responses = all_at_once(calls)
    assert {r.status_code for r in responses} == {200}
    results = sorted(r.json()["result"] for r in responses)
    assert results.count("completed") == CONCURRENT
    expected = sum(d.amount for d in donations)
    goal = goal_row(stream)
    assert goal.raised == expected == expected_goal_raised(stream.id)
    assert goal.version == 1 + CONCURRENT
    assert LiveStream.objects.get(id=stream.id).total_donations == expected

    # Concurrent partial refunds, each delivered twice and with an older (smaller)
    # cumulative figure racing it: each lowers the goal once, by what it refunded.
    refunded = donations[:10]
    calls = []
    for d in refunded:
        calls += [
            deliver(app, refunded_event(d, refunded_minor=50)),
            deliver(app, refunded_event(d, refunded_minor=30)),
        ]
        full = refunded_event(d, refunded_minor=50)
        calls += [deliver(app, full), deliver(app, full)]
    assert {r.status_code for r in all_at_once(calls)} == {200}
    goal = goal_row(stream)
    assert goal.raised == expected - 50 * len(refunded) == expected_goal_raised(stream.id)


def test_owner_edits_and_a_start_over_racing_payments_never_lose_or_misplace_one(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    goals.do_set_goal(stream_id=stream.id, title="Race", amount=Decimal("5000"), reset=False)
    owner_clients = [http_login(app, stream.streamer) for _ in range(4)]
    donations = [pending_donation(stream, amount="100") for _ in range(CONCURRENT)]

    def put(client, body):
        return lambda: client.put(f"/api/streams/{stream.id}/goal", json=body)

    # Title/amount edits keep the progress: every payment stays counted.
    calls = [deliver(app, succeeded_event(d)) for d in donations[:10]]
    calls += [put(c, {"title": f"Race {i}", "amount": "6000"}) for i, c in enumerate(owner_clients)]
    responses = all_at_once(calls)
    assert {r.status_code for r in responses} == {200}
    goal = goal_row(stream)
    assert goal.raised == Decimal("1000.00") == expected_goal_raised(stream.id)

    # A start-over racing payments: each payment counts exactly when it completed at or
    # after the new start (whatever the interleaving), none twice, none lost.
    calls = [deliver(app, succeeded_event(d)) for d in donations[10:]]
    calls.append(put(owner_clients[0], {"title": "Again", "amount": "6000", "reset": True}))
    responses = all_at_once(calls)
    assert {r.status_code for r in responses} == {200}
    goal = goal_row(stream)
    assert goal.raised == expected_goal_raised(stream.id)
    assert Decimal("0.00") <= goal.raised <= Decimal("1000.00")
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("2000.00")
    for client in owner_clients:
        client.close()


def test_every_change_reaches_room_dashboard_and_overlay_with_a_growing_version(stripe_app):
    app, _ = stripe_app
    stream = live_stream()
    token = get_or_create_overlay_token(user=stream.streamer).token
    owner_cookie = cookie_for(stream.streamer)
    donation = pending_donation(stream, amount="1200")
    steps = []

    async def joined(path: str, cookie: str | None = None):
        ws = await connect_with(path, cookie)
        assert (await next_frame(ws))["type"] == "stream.state"
        assert (await next_frame(ws))["type"] == "chat.history"
        return ws

    async def connect_with(path: str, cookie: str | None):
        import websockets

        headers = {"Cookie": cookie} if cookie else {}
        return await websockets.connect(
            f"{app.ws_url}{path}", origin=app.origin, additional_headers=headers
        )

    async def next_frame(ws) -> dict:
        while True:
            frame = await recv_json(ws)
            if frame["type"] not in ("viewers",):
                return frame

    async def next_goal(ws) -> dict:
        while True:
            frame = await next_frame(ws)
            if frame["type"] == "goal":
                return frame

    async def scenario():
        room = await joined(f"/ws/streams/{stream.id}/")
        dashboard = await joined(f"/ws/dashboard/streams/{stream.id}/", owner_cookie)
        overlay = await connect_with(f"/ws/overlays/{token}/", None)
        await nothing_more(overlay)
        with closing(http_login(app, stream.streamer)) as owner:

            async def change(what: str, action) -> None:
                await asyncio.to_thread(action)
                frames = [await next_goal(ws) for ws in (room, dashboard, overlay)]
                assert frames[0] == frames[1] == frames[2], frames
                steps.append((what, frames[0]))

            goal_url = f"/api/streams/{stream.id}/goal"
            await change(
                "set", lambda: owner.put(goal_url, json={"title": "Mic", "amount": "2000"})
            )
            await change(
                "donation", lambda: asyncio.run(post_event(app, succeeded_event(donation)))
            )
            # A viewer joining now sees the new figure in the join snapshot.
            late = await connect_with(f"/ws/streams/{stream.id}/", None)
            state = await next_frame(late)
            assert state["stream"]["goal"] == {
                "title": "Mic",
                "amount": "2000.00",
                "raised": "1200.00",
                "version": 2,
            }
            await late.close()
            await change(
                "refund",
                lambda: asyncio.run(post_event(app, refunded_event(donation, refunded_minor=200))),
            )
            await change(
                "edit", lambda: owner.put(goal_url, json={"title": "Mic", "amount": "900"})
            )
            await change("clear", lambda: owner.delete(goal_url))
            await change(
                "set again", lambda: owner.put(goal_url, json={"title": "Cam", "amount": "5"})
            )
        for ws in (room, dashboard, overlay):
            await ws.close()

    asyncio.run(scenario())
    assert [(what, e["title"], e["amount"], e["raised"], e["version"]) for what, e in steps] == [
        ("set", "Mic", "2000.00", "0.00", 1),
        ("donation", "Mic", "2000.00", "1200.00", 2),
        ("refund", "Mic", "2000.00", "1000.00", 3),
        ("edit", "Mic", "900.00", "1000.00", 4),
        ("clear", None, None, None, 5),
        ("set again", "Cam", "5.00", "0.00", 6),
    ]
    assert all(e["stream_id"] == stream.id and e["currency"] == "jpy" for _, e in steps)
    assert token not in app.log()


def test_an_overlay_asks_for_its_current_goal_live_before_scheduled(stripe_app):
    app, _ = stripe_app
    streamer = factories.make_user()
    token = get_or_create_overlay_token(user=streamer).token
    scheduled = factories.make_stream(streamer, title="Tomorrow")
    live = live_stream(streamer)
    other = live_stream()  # someone else's goal never shows here

    async def sync(ws) -> dict:
        await ws.send(json.dumps({"type": "goal.sync"}))
        while True:
            frame = await recv_json(ws)
            if frame["type"] == "goal" and frame.get("sync"):
                return frame

    async def scenario() -> list[dict]:
        async with connect(app, f"/ws/overlays/{token}/") as overlay:
            answers = [await sync(overlay)]
            await asyncio.to_thread(
                goals.do_set_goal,
                stream_id=other.id,
                title="Not mine",
                amount=Decimal("10"),
                reset=False,
            )
            await asyncio.to_thread(
                goals.do_set_goal,
                stream_id=scheduled.id,
                title="Next",
                amount=Decimal("100"),
                reset=False,
            )
            answers.append(await sync(overlay))
            await asyncio.to_thread(
                goals.do_set_goal,
                stream_id=live.id,
                title="Now",
                amount=Decimal("300"),
                reset=False,
            )
            # Set later, but the live stream's goal wins.
            await asyncio.to_thread(
                goals.do_set_goal,
                stream_id=scheduled.id,
                title="Next!",
                amount=Decimal("100"),
                reset=False,
            )
            answers.append(await sync(overlay))
            await asyncio.to_thread(LiveStream.objects.filter(id=live.id).update, status="ended")
            answers.append(await sync(overlay))
            await overlay.send(json.dumps({"type": "goal.nonsense"}))
            error = await recv_json(overlay)
            while error["type"] != "error":
                error = await recv_json(overlay)
            answers.append(error)
            return answers

    none, first, live_first, after_end, error = asyncio.run(scenario())
    assert none == {
        "type": "goal",
        "stream_id": None,
        "title": None,
        "amount": None,
        "raised": None,
        "currency": "jpy",
        "version": 0,
        "sync": True,
    }
    assert (first["stream_id"], first["title"]) == (scheduled.id, "Next")
    assert (live_first["stream_id"], live_first["title"]) == (live.id, "Now")
    assert (after_end["stream_id"], after_end["title"], after_end["version"]) == (
        scheduled.id,
        "Next!",
        2,
    )
    assert error["code"] == "unknown_type"
