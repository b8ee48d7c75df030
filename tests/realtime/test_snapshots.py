"""The join snapshot is served from Redis and follows every change (SPEC §2)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from chat.selectors import room_snapshot_data
from chat.services import check_delete_chat_message, check_send_chat_message
from realtime import snapshots
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db(transaction=True)


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, sid: int):
        self.calls += 1
        return await sync_to_async(room_snapshot_data)(sid)


@sync_to_async
def setup():
    owner, viewer = make_user(), make_user()
    return owner, viewer, make_stream(owner, status="live")


async def test_joins_after_the_first_need_no_database_and_see_new_messages():
    _owner, viewer, stream = await setup()
    loader = CountingLoader()
    first = await snapshots.room_snapshot(stream.id, loader)
    assert loader.calls == 1 and first.stream["id"] == stream.id and first.history_items == []
    await sync_to_async(check_send_chat_message)(
        user=viewer, stream_id=stream.id, text="hello", client_id="c1"
    )
    second = await snapshots.room_snapshot(stream.id, loader)
    assert loader.calls == 1  # served from Redis, updated by the publish
    assert [json.loads(m)["text"] for m in second.history_items] == ["hello"]
    assert b'"client_id"' not in second.history_frame()  # the sender's id stays private


async def test_a_deleted_message_leaves_the_snapshot_and_the_next_join_refills():
    owner, viewer, stream = await setup()
    loader = CountingLoader()
    message = await sync_to_async(check_send_chat_message)(
        user=viewer, stream_id=stream.id, text="oops"
    )
    assert len((await snapshots.room_snapshot(stream.id, loader)).history_items) == 1
    await sync_to_async(check_delete_chat_message)(
        actor=owner, stream_id=stream.id, message_id=message.id
    )
    after = await snapshots.room_snapshot(stream.id, loader)
    assert after.history_items == [] and loader.calls == 2


async def test_an_unknown_stream_is_none_and_cached_briefly():
    loader = CountingLoader()
    assert await snapshots.room_snapshot(987654321, loader) is None
    assert await snapshots.room_snapshot(987654321, loader) is None
    assert loader.calls == 1


async def test_a_refill_that_raced_a_change_is_not_written():
    _owner, viewer, stream = await setup()

    async def racing_loader(sid):
        data = await sync_to_async(room_snapshot_data)(sid)
        # A message is stored and published while this refill is in flight.
        await sync_to_async(check_send_chat_message)(user=viewer, stream_id=sid, text="late")
        return data

    stale = await snapshots.room_snapshot(stream.id, racing_loader)
    assert stale.history_items == []  # what the database said when it was read
    loader = CountingLoader()
    fresh = await snapshots.room_snapshot(stream.id, loader)
    assert loader.calls == 1  # the stale view was not cached
    assert len(fresh.history_items) == 1
