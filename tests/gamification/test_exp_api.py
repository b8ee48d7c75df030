"""``GET /api/me/exp`` and the EXP fields of users (SPEC §5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gamification import services
from tests.gamification.helpers import live_stream
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db


def test_exp_log_needs_a_login(api):
    response = api.get("/api/me/exp")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_exp_log_pages_newest_first_and_me_shows_total_and_level(api):
    now = timezone.now()
    stream = live_stream(2.5, now=now)
    for minutes in (0, 1, 2, 3):
        services.award_stream_minutes(now=now + timedelta(minutes=minutes))
    api.login_as(stream.streamer)

    first = api.get("/api/me/exp?limit=3").json()
    second = api.get(f"/api/me/exp?limit=3&before={first['next_before']}").json()

    assert (first["total_exp"], first["current_level"], first["next_level_exp"]) == (50, 1, 100)
    assert [e["exp_gained"] for e in first["entries"]] == [10, 10, 10]
    assert first["entries"][0] == {
        "id": first["entries"][0]["id"],
        "action_type": "stream_minute",
        "exp_gained": 10,
        "reference_type": "live_stream",
        "reference_id": stream.pk,
        "description": "1 live minute(s)",
        "created_at": first["entries"][0]["created_at"],
    }
    assert [e["exp_gained"] for e in second["entries"]] == [20]
    assert second["next_before"] is None
    me = api.get("/api/auth/me").json()
    assert (me["total_exp"], me["current_level"]) == (50, 1)


def test_someone_elses_exp_is_not_in_my_log(api):
    live_stream(5.5)
    services.award_stream_minutes()
    api.login_as(make_user())

    body = api.get("/api/me/exp").json()

    assert body["entries"] == []
    assert body["total_exp"] == 0


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "before=-1"])
def test_a_bad_page_request_gets_a_clear_400(api, query):
    api.login_as(make_user())

    response = api.get(f"/api/me/exp?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
