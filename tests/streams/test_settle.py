"""Ending a stream settles it: the last EXP minutes and the achievements, once."""

from __future__ import annotations

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
