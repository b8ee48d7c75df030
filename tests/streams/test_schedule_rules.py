"""``POST /api/streams``: a scheduled start in the past is refused (with a little
tolerance for the client's clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from streams.models import LiveStream
from streams.services import SCHEDULE_PAST_TOLERANCE_SECONDS

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(api, user):
    api.login_as(user)
    return user


def _create(api, when):
    return api.call("POST", "/api/streams", {"title": "Later", "scheduled_start": when.isoformat()})


def test_a_scheduled_start_in_the_past_is_a_400_and_creates_nothing(api, owner):
    response = _create(api, timezone.now() - timedelta(hours=1))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "scheduled_start" in error["message"]
    assert not LiveStream.objects.exists()


def test_just_past_the_tolerance_is_refused(api, owner):
    late = timezone.now() - timedelta(seconds=SCHEDULE_PAST_TOLERANCE_SECONDS + 5)
    assert _create(api, late).status_code == 400


def test_a_few_seconds_of_clock_skew_are_tolerated(api, owner):
    assert SCHEDULE_PAST_TOLERANCE_SECONDS == 60
    response = _create(api, timezone.now() - timedelta(seconds=20))
    assert response.status_code == 201, response.content


def test_the_future_and_no_schedule_are_fine(api, owner):
    assert _create(api, timezone.now() + timedelta(days=2)).status_code == 201
    response = api.call("POST", "/api/streams", {"title": "Whenever"})
    assert response.status_code == 201 and response.json()["scheduled_start"] is None
