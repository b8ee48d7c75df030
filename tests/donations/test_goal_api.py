"""``PUT`` / ``DELETE /api/streams/{id}/goal`` (SPEC §7 "Donation goal"): the owner
sets, edits and clears a stream's goal; everyone else gets 401/403/404, bad input a
400 with a clear code and nothing stored, an ended stream 409."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from donations.goals import maximum_goal_amount
from donations.models import StreamGoal
from realtime import event_types, groups
from tests.donations.helpers import live_stream, pending_donation, post_webhook, succeeded_event
from tests.support.events import capture_events
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(api, stripe_keys):
    stream = live_stream()
    api.login_as(stream.streamer)
    return stream


def put_goal(api, stream, **body):
    return api.call("PUT", f"/api/streams/{stream.id}/goal", body)


def public_goal(api, stream):
    return api.call("GET", f"/api/streams/{stream.id}").json()["goal"]


def goal_groups(stream):
    return [
        groups.stream_room(stream.id),
        groups.stream_dashboard(stream.id),
        groups.streamer_overlays(stream.streamer_id),
    ]


def test_the_goal_event_has_the_spec_fields_plus_stream_currency_and_version():
    assert event_types.goal(
        stream_id=7, title="Mic", amount="5000.00", raised="0.00", currency="jpy", version=3
    ) == {
        "type": "goal",
        "stream_id": 7,
        "title": "Mic",
        "amount": "5000.00",
        "raised": "0.00",
        "currency": "jpy",
        "version": 3,
    }


def test_the_owner_sets_a_goal_everyone_sees_it_and_every_client_is_told(api, stream):
    with capture_events() as sent:
        response = put_goal(api, stream, title="  New microphone\n ", amount="50000")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    goal = StreamGoal.objects.get(stream=stream)
    body = response.json()
    assert body == {
        "stream_id": stream.id,
        "title": "New microphone",
        "amount": "50000.00",
        "raised": "0.00",
        "currency": "jpy",
        "version": 1,
        "set_at": goal.set_at.isoformat(),
        "reached": False,
    }
    assert sent == [
        (
            goal_groups(stream),
            {
                "type": "goal",
                "stream_id": stream.id,
                "title": "New microphone",
                "amount": "50000.00",
                "raised": "0.00",
                "currency": "jpy",
                "version": 1,
            },
        )
    ]
    # The public payload (a viewer's view, the list, the join snapshot) carries it.
    api.call("POST", "/api/auth/logout")
    expected = {"title": "New microphone", "amount": "50000.00", "raised": "0.00", "version": 1}
    assert public_goal(api, stream) == expected
    listed = api.call("GET", "/api/streams?status=live").json()["results"]
    assert [s["goal"] for s in listed if s["id"] == stream.id] == [expected]


def test_editing_a_running_goal_keeps_its_progress_and_reset_starts_over(api, stream):
    put_goal(api, stream, title="Mic", amount="1000")
    donation = pending_donation(stream, amount="600")
    assert post_webhook(api, succeeded_event(donation)).json()["result"] == "completed"
    set_at = StreamGoal.objects.get(stream=stream).set_at

    with capture_events() as sent:
        edited = put_goal(api, stream, title="Better mic", amount="500").json()
    assert (edited["title"], edited["amount"], edited["raised"]) == (
        "Better mic",
        "500.00",
        "600.00",
    )
    assert edited["reached"] is True and edited["version"] == 3  # set, donation, edit
    assert edited["set_at"] == set_at.isoformat()
    assert [event["version"] for _, event in sent] == [3]

    # The very same goal again: nothing changes, nobody is told.
    with capture_events() as sent:
        again = put_goal(api, stream, title="Better mic", amount="500.00").json()
    assert again == edited and sent == []

    with capture_events() as sent:
        reset = put_goal(api, stream, title="Better mic", amount="500", reset=True).json()
    assert (reset["raised"], reset["version"], reset["reached"]) == ("0.00", 4, False)
    assert reset["set_at"] > set_at.isoformat()
    assert [event["raised"] for _, event in sent] == ["0.00"]


def test_clearing_is_idempotent_and_a_new_goal_starts_from_zero(api, stream):
    put_goal(api, stream, title="Mic", amount="1000")
    post_webhook(api, succeeded_event(pending_donation(stream, amount="300")))
    with capture_events() as sent:
        response = api.call("DELETE", f"/api/streams/{stream.id}/goal")
    assert response.status_code == 204
    assert sent == [
        (
            goal_groups(stream),
            {
                "type": "goal",
                "stream_id": stream.id,
                "title": None,
                "amount": None,
                "raised": None,
                "currency": "jpy",
                "version": 3,
            },
        )
    ]
    assert public_goal(api, stream) is None
    with capture_events() as sent:
        assert api.call("DELETE", f"/api/streams/{stream.id}/goal").status_code == 204
    assert sent == []  # nothing was running: nothing changes

    # A donation while no goal runs counts for no goal; the next goal starts at 0.
    post_webhook(api, succeeded_event(pending_donation(stream, amount="200")))
    fresh = put_goal(api, stream, title="Mic", amount="1000").json()
    assert (fresh["raised"], fresh["version"]) == ("0.00", 4)


def test_a_stream_without_a_goal_says_null_and_delete_answers_204(api, stream):
    assert public_goal(api, stream) is None
    assert api.call("DELETE", f"/api/streams/{stream.id}/goal").status_code == 204
    assert not StreamGoal.objects.exists()


def test_a_scheduled_stream_may_have_a_goal(api):
    owner = make_user()
    scheduled = make_stream(owner)
    api.login_as(owner)
    assert put_goal(api, scheduled, title="Launch", amount="10000").status_code == 200


@pytest.mark.parametrize("status", ["ended", "cancelled"])
def test_a_finished_stream_keeps_its_goal_as_it_was(api, status):
    owner = make_user()
    stream = make_stream(owner, status="live", actual_start=timezone.now())
    api.login_as(owner)
    put_goal(api, stream, title="Mic", amount="1000")
    type(stream).objects.filter(id=stream.id).update(status=status)
    with capture_events() as sent:
        edit = put_goal(api, stream, title="Other", amount="5")
        clear = api.call("DELETE", f"/api/streams/{stream.id}/goal")
    for response in (edit, clear):
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == "stream_closed"
        assert status in response.json()["error"]["message"]
    assert sent == []
    goal = StreamGoal.objects.get(stream=stream)
    assert (goal.title, goal.amount, goal.cleared_at, goal.version) == (
        "Mic",
        Decimal("1000.00"),
        None,
        1,
    )


def test_only_the_owner_may_set_or_clear_the_goal(api, stripe_keys):
    stream = live_stream()
    for method in ("PUT", "DELETE"):
        anonymous = api.call(
            method, f"/api/streams/{stream.id}/goal", {"title": "x", "amount": "1"}
        )
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "not_authenticated"
    api.login_as(make_user())
    for method in ("PUT", "DELETE"):
        stranger = api.call(method, f"/api/streams/{stream.id}/goal", {"title": "x", "amount": "1"})
        assert stranger.status_code == 403
        missing = api.call(method, "/api/streams/987654321/goal", {"title": "x", "amount": "1"})
        assert missing.status_code == 404
    assert not StreamGoal.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": "1000"}, "title_required"),
        ({"title": " \t\n", "amount": "1000"}, "title_required"),
        ({"title": 5, "amount": "1000"}, "invalid_title"),
        ({"title": "x" * 101, "amount": "1000"}, "title_too_long"),
        ({"title": "Mic"}, "invalid_amount"),
        ({"title": "Mic", "amount": "abc"}, "invalid_amount"),
        ({"title": "Mic", "amount": "1e5"}, "invalid_amount"),
        ({"title": "Mic", "amount": 1000.5}, "invalid_amount"),
        ({"title": "Mic", "amount": True}, "invalid_amount"),
        ({"title": "Mic", "amount": "-5"}, "invalid_amount"),
        ({"title": "Mic", "amount": "1000.50"}, "invalid_amount"),  # JPY: whole yen
        ({"title": "Mic", "amount": "0"}, "amount_too_small"),
        ({"title": "Mic", "amount": "0.00"}, "amount_too_small"),
        ({"title": "Mic", "amount": "100000000"}, "amount_too_large"),
        ({"title": "Mic", "amount": "1000", "reset": "yes"}, "invalid_reset"),
    ],
)
def test_bad_input_gets_400_with_a_clear_code_and_stores_nothing(api, stream, body, code):
    with capture_events() as sent:
        response = put_goal(api, stream, **body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not StreamGoal.objects.exists() and sent == []


def test_a_bad_edit_leaves_the_running_goal_alone(api, stream):
    put_goal(api, stream, title="Mic", amount="1000")
    assert put_goal(api, stream, title="", amount="5").status_code == 400
    assert api.call("PUT", f"/api/streams/{stream.id}/goal", ["Mic", "5"]).status_code == 400
    goal = StreamGoal.objects.get(stream=stream)
    assert (goal.title, goal.amount, goal.version) == ("Mic", Decimal("1000.00"), 1)


def test_the_largest_goal_is_bounded_and_reported(api, stream, settings):
    maximum = maximum_goal_amount("jpy")
    assert maximum == Decimal("99999999.00")  # what a stream total can hold, in whole yen
    assert put_goal(api, stream, title="Max", amount="99999999").status_code == 200
    settings.DONATION_MAX_AMOUNT = 10
    response = put_goal(api, stream, title="Max", amount="10001")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "amount_too_large",
        "message": "The largest goal is 10000.00 JPY.",
        "maximum": "10000.00",
    }


def test_an_integer_amount_and_a_100_character_title_are_fine(api, stream):
    body = put_goal(api, stream, title="y" * 100, amount=2500).json()
    assert (body["title"], body["amount"]) == ("y" * 100, "2500.00")
