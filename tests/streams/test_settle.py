"""Ending a stream settles it: the last EXP minutes and the achievements, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from gamification.models import UserAchievement, UserExpLog
from streams.services import do_end_stream, settle_stream
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db


def test_settling_an_ended_stream_awards_its_minutes_and_first_stream_once():
    streamer = make_user()
    stream = make_stream(
        streamer, status="live", actual_start=timezone.now() - timedelta(minutes=3, seconds=10)
    )
    do_end_stream(stream_id=stream.id, user=streamer)
    settle_stream(stream_id=stream.id)
    settle_stream(stream_id=stream.id)  # a retried or duplicated settle changes nothing

    streamer.refresh_from_db()
    assert streamer.total_exp == 30
    assert sum(UserExpLog.objects.filter(user=streamer).values_list("exp_gained", flat=True)) == 30
    unlocked = UserAchievement.objects.filter(user=streamer, completed_at__isnull=False)
    assert list(unlocked.values_list("achievement__code", flat=True)) == ["first_stream_ended"]


def test_settling_a_stream_that_is_still_live_does_nothing():
    streamer = make_user()
    stream = make_stream(
        streamer, status="live", actual_start=timezone.now() - timedelta(minutes=5)
    )
    assert settle_stream(stream_id=stream.id) is None
    streamer.refresh_from_db()
    assert streamer.total_exp == 0


@pytest.mark.django_db(transaction=True)
async def test_live_viewers_show_in_the_api_and_the_final_peak_is_settled():
    from asgiref.sync import sync_to_async

    from realtime.presence import ANON, PresenceHub, viewer_peak
    from tests.conftest import ApiClient

    streamer = await sync_to_async(make_user)()
    stream = await sync_to_async(make_stream)(
        streamer, status="live", actual_start=timezone.now() - timedelta(minutes=2)
    )
    hub = PresenceHub()
    try:
        for _ in range(12):
            await hub.join(stream.id, ANON)
        hub.note_status(stream.id, "live")
        for _ in range(100):  # the hub records the peak in the background
            if await sync_to_async(viewer_peak)(stream.id) == 12:
                break
            await asyncio.sleep(0.05)

        @sync_to_async
        def public_view():
            return ApiClient().get(f"/api/streams/{stream.id}").json()

        @sync_to_async
        def listed():
            return ApiClient().get("/api/streams?status=live").json()["results"]

        assert (await public_view())["viewer_count"] == 12
        assert [s["viewer_count"] for s in await listed() if s["id"] == stream.id] == [12]
        for _ in range(3):
            await hub.leave(stream.id, ANON)
        assert (await public_view())["viewer_count"] == 9
    finally:
        await hub.close()

    @sync_to_async
    def end_and_settle():
        do_end_stream(stream_id=stream.id, user=streamer)
        settle_stream(stream_id=stream.id)
        stream.refresh_from_db()
        codes = set(
            UserAchievement.objects.filter(user=streamer, completed_at__isnull=False).values_list(
                "achievement__code", flat=True
            )
        )
        return stream.max_viewers, codes

    max_viewers, codes = await end_and_settle()
    assert max_viewers == 12
    assert {"first_stream_ended", "peak_viewers_10"} <= codes and "peak_viewers_100" not in codes
