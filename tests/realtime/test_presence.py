"""Viewer presence in Redis: distinct viewers, dead processes, throttled broadcasts."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from asgiref.sync import sync_to_async

from core.redis import get_redis
from realtime import presence
from realtime.presence import ANON, PresenceHub, user_member, viewer_count, viewer_peak
from tests.support.factories import make_stream, make_user
from tests.support.sockets import _open, frames_until_quiet, joined, next_of_type

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def hubs():
    """Two hubs = two server processes sharing one Redis."""
    made: list[PresenceHub] = []

    def make() -> PresenceHub:
        made.append(PresenceHub())
        return made[-1]

    yield make
    for hub in made:
        await hub.close()


async def test_users_count_once_across_processes_and_anonymous_sockets_each(hubs):
    a, b = hubs(), hubs()
    sid = 910001
    for _ in range(3):
        await a.join(sid, user_member(1))  # three tabs on process A
    await b.join(sid, user_member(1))  # a fourth on process B
    await b.join(sid, user_member(2))
    await a.join(sid, ANON)
    await b.join(sid, ANON)
    assert await sync_to_async(viewer_count)(sid) == 4
    for _ in range(3):
        await a.leave(sid, user_member(1))
    assert await sync_to_async(viewer_count)(sid) == 4  # still open on B
    await b.leave(sid, user_member(1))
    assert await sync_to_async(viewer_count)(sid) == 3


async def test_a_process_that_dies_without_cleanup_drops_out_when_its_heartbeat_expires(hubs):
    a, b = hubs(), hubs()
    sid = 910002
    await a.join(sid, user_member(1))
    await a.join(sid, ANON)
    await b.join(sid, user_member(1))
    await b.join(sid, user_member(2))
    await b.join(sid, ANON)
    assert await sync_to_async(viewer_count)(sid) == 4
    # B is "kill -9"ed: its tasks stop, its heartbeat key expires (here: at once).
    for task in b._tasks:
        task.cancel()
    r = get_redis()
    r.delete(presence._proc(b.token))
    await a._reap_others()
    assert await sync_to_async(viewer_count)(sid) == 2  # user 1 (still on A) + A's anonymous
    assert not r.sismember(presence._procs(), b.token)


async def test_a_process_reaped_while_alive_restores_its_viewers(hubs):
    a, b = hubs(), hubs()
    sid = 910003
    await b.join(sid, user_member(5))
    await b.join(sid, ANON)
    get_redis().delete(presence._proc(b.token))
    await a._reap_others()
    assert await sync_to_async(viewer_count)(sid) == 0
    await b.join(sid, user_member(6))  # the next change notices and re-registers
    assert await sync_to_async(viewer_count)(sid) == 3
    await b.leave(sid, user_member(5))
    assert await sync_to_async(viewer_count)(sid) == 2


async def test_the_peak_is_recorded_only_while_live(hubs):
    a = hubs()
    sid = 910004
    await a.join(sid, ANON, live=False)
    await a.join(sid, ANON)
    assert await sync_to_async(viewer_peak)(sid) == 0
    a.note_status(sid, "live")
    for _ in range(50):
        if await sync_to_async(viewer_peak)(sid) == 2:
            break
        await asyncio.sleep(0.1)
    assert await sync_to_async(viewer_peak)(sid) == 2
    await a.join(sid, ANON)
    await a.leave(sid, ANON)
    await a.leave(sid, ANON)
    assert await sync_to_async(viewer_peak)(sid) == 3
    assert await sync_to_async(viewer_count)(sid) == 1


@sync_to_async
def live_stream():
    return make_stream(make_user(), status="live")


async def test_the_room_hears_viewers_when_the_count_changes():
    stream = await live_stream()
    path = f"/ws/streams/{stream.id}/"
    first, state, _ = await joined(path)
    assert state["stream"]["viewer_count"] == 1
    assert await next_of_type(first, "viewers") == {"type": "viewers", "count": 1, "peak": 1}
    second, state, _ = await joined(path, await sync_to_async(make_user)())
    assert state["stream"]["viewer_count"] == 2
    assert await next_of_type(first, "viewers", timeout=3) == {
        "type": "viewers",
        "count": 2,
        "peak": 2,
    }
    await second.disconnect()
    assert await next_of_type(first, "viewers", timeout=3) == {
        "type": "viewers",
        "count": 1,
        "peak": 2,
    }


async def test_join_and_leave_churn_sends_at_most_one_viewers_event_per_second():
    stream = await live_stream()
    path = f"/ws/streams/{stream.id}/"
    watcher, _, _ = await joined(path)
    loop = asyncio.get_running_loop()
    seen: list[tuple[float, dict]] = []

    async def watch():
        while True:
            frame = await watcher.receive_json_from(timeout=30)
            if frame["type"] == "viewers":
                seen.append((loop.time(), frame))

    watching = asyncio.ensure_future(watch())
    started = loop.time()
    for _ in range(15):
        s, _, _ = await joined(path)
        await s.disconnect()
    await asyncio.sleep(2.5)
    watching.cancel()
    elapsed = loop.time() - started
    # 30 count changes, yet at most one broadcast per started second of churn.
    assert 1 <= len(seen) <= int(elapsed) + 1, (elapsed, seen)
    assert seen[-1][1]["count"] == 1  # the last word is the settled count
    frames = [f for _, f in seen]
    assert all(x != y for x, y in itertools.pairwise(frames)), frames  # only changes


async def test_dashboard_sockets_do_not_count_as_viewers():
    owner = await sync_to_async(make_user)()
    stream = await sync_to_async(make_stream)(owner, status="live")
    dash, state, _ = await joined(f"/ws/dashboard/streams/{stream.id}/", owner)
    assert state["stream"]["viewer_count"] == 0
    assert await sync_to_async(viewer_count)(stream.id) == 0
    viewer, _, _ = await joined(f"/ws/streams/{stream.id}/", owner)
    assert await sync_to_async(viewer_count)(stream.id) == 1
    assert await next_of_type(dash, "viewers", timeout=3) == {
        "type": "viewers",
        "count": 1,
        "peak": 1,
    }
    await frames_until_quiet(viewer, 0.1)


async def test_a_killed_socket_instance_leaves_the_count():
    """A server that kills an application instance (a cancelled task) never runs a
    disconnect handler: the socket's release in ``finally`` still removes it."""
    stream = await live_stream()
    path = f"/ws/streams/{stream.id}/"
    keep, _, _ = await joined(path)
    killed, state, _ = await joined(path)
    assert state["stream"]["viewer_count"] == 2
    killed.future.cancel()
    _open.remove(killed)  # nothing left to disconnect
    for _ in range(50):
        if await sync_to_async(viewer_count)(stream.id) == 1:
            break
        await asyncio.sleep(0.1)
    assert await sync_to_async(viewer_count)(stream.id) == 1
    await keep.disconnect()
