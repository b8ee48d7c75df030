"""A goal's ``raised``: completed donations minus refunds since the goal was set
(SPEC §7), kept in the webhook's own transaction, so duplicates, reordering and
flagged payments are handled exactly as the stream total handles them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chat.selectors import room_snapshot_data
from donations import goals
from donations.models import StreamGoal
from donations.selectors import expected_goal_raised
from realtime import groups
from streams.models import LiveStream
from tests.donations.helpers import (
    live_stream,
    pending_donation,
    post_webhook,
    refunded_event,
    succeeded_event,
)
from tests.support.events import capture_events
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db


def set_goal(stream, amount="10000", title="Goal", reset=False) -> StreamGoal:
    return goals.do_set_goal(stream_id=stream.id, title=title, amount=Decimal(amount), reset=reset)


def raised(stream) -> Decimal:
    goal = StreamGoal.objects.get(stream_id=stream.id)
    assert expected_goal_raised(stream.id) in (goal.raised, None)
    return goal.raised


def complete(api, donation) -> str:
    response = post_webhook(api, succeeded_event(donation))
    assert response.status_code == 200, response.content
    return response.json()["result"]


def refund(api, donation, minor: int) -> str:
    response = post_webhook(api, refunded_event(donation, refunded_minor=minor))
    assert response.status_code == 200, response.content
    return response.json()["result"]


def test_only_donations_completed_after_the_goal_was_set_count(api, stripe_keys):
    stream = live_stream()
    before = pending_donation(stream, amount="700")
    complete(api, before)
    paid_later = pending_donation(stream, amount="300")  # created before the goal...
    set_goal(stream)
    assert raised(stream) == Decimal("0.00")
    complete(api, paid_later)  # ...but completed after it: counts
    complete(api, pending_donation(stream, amount="500"))
    assert raised(stream) == Decimal("800.00")
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("1500.00")
    # Refunding a donation from before the goal does not touch the goal.
    assert refund(api, before, 700) == "refunded"
    assert raised(stream) == Decimal("800.00")


def test_each_counted_completion_updates_the_goal_after_its_alert_with_a_higher_version(
    api, stripe_keys
):
    stream = live_stream()
    set_goal(stream, amount="1000")
    donation = pending_donation(stream, amount="600")
    with capture_events() as sent:
        complete(api, donation)
    assert [event["type"] for _, event in sent][:2] == ["donation", "goal"]
    goal_groups, event = sent[1]
    assert goal_groups == [
        groups.stream_room(stream.id),
        groups.stream_dashboard(stream.id),
        groups.streamer_overlays(stream.streamer_id),
    ]
    assert event == {
        "type": "goal",
        "stream_id": stream.id,
        "title": "Goal",
        "amount": "1000.00",
        "raised": "600.00",
        "currency": "jpy",
        "version": 2,
    }
    with capture_events() as sent:
        complete(api, pending_donation(stream, amount="500"))
    goal_events = [event for _, event in sent if event["type"] == "goal"]
    assert [(e["raised"], e["version"]) for e in goal_events] == [("1100.00", 3)]


def test_the_same_payment_delivered_again_counts_once(api, stripe_keys):
    stream = live_stream()
    set_goal(stream)
    donation = pending_donation(stream, amount="1500")
    evt = succeeded_event(donation)
    assert post_webhook(api, evt).json()["result"] == "completed"
    with capture_events() as sent:
        assert post_webhook(api, evt).json()["result"] == "duplicate"
        assert complete(api, donation) == "already_completed"
    assert sent == []
    assert raised(stream) == Decimal("1500.00")
    assert StreamGoal.objects.get(stream=stream).version == 2


def test_refunds_lower_raised_by_what_was_newly_refunded_in_any_order(api, stripe_keys):
    stream = live_stream()
    set_goal(stream)
    donation = pending_donation(stream, amount="1000")
    complete(api, donation)
    kept = pending_donation(stream, amount="400")
    complete(api, kept)
    assert raised(stream) == Decimal("1400.00")
    with capture_events() as sent:
        assert refund(api, donation, 600) == "partially_refunded"
    assert [(e["raised"], e["version"]) for _, e in sent] == [("800.00", 4)]
    assert refund(api, donation, 200) == "noop"  # an older, smaller cumulative figure
    assert raised(stream) == Decimal("800.00")
    assert refund(api, donation, 1000) == "refunded"
    assert raised(stream) == Decimal("400.00")
    assert refund(api, donation, 1000) == "noop"
    assert raised(stream) == Decimal("400.00")


def test_a_refund_that_arrived_before_the_payment_is_netted_at_completion(api, stripe_keys):
    stream = live_stream()
    set_goal(stream)
    partly = pending_donation(stream, amount="1000")
    assert refund(api, partly, 300) == "partially_refunded"
    assert complete(api, partly) == "completed"
    fully = pending_donation(stream, amount="500")
    assert refund(api, fully, 500) == "refunded"
    with capture_events() as sent:
        assert complete(api, fully) == "completed_refunded"
    assert [e for _, e in sent if e["type"] == "goal"] == []  # nothing counted, nothing sent
    assert raised(stream) == Decimal("700.00")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [({"amount": 50}, "amount_mismatch"), ({"currency": "usd"}, "amount_mismatch")],
)
def test_a_flagged_payment_never_counts_nor_does_its_refund(api, stripe_keys, overrides, reason):
    stream = live_stream()
    set_goal(stream)
    donation = pending_donation(stream, amount="1000")
    with capture_events() as sent:
        assert post_webhook(api, succeeded_event(donation, **overrides)).json()["result"] == reason
        assert complete(api, donation) == "flagged"
        refund(api, donation, 1000)
    assert sent == []
    assert raised(stream) == Decimal("0.00")
    assert StreamGoal.objects.get(stream=stream).version == 1


def test_a_payment_the_stream_total_cannot_hold_does_not_count_for_the_goal(api, stripe_keys):
    stream = live_stream()
    set_goal(stream)
    first, second = (pending_donation(stream, amount="1000") for _ in range(2))
    LiveStream.objects.filter(id=stream.id).update(total_donations=Decimal("99998999.99"))
    assert complete(api, first) == "completed"
    assert complete(api, second) == "stream_total_overflow"
    refund(api, second, 1000)
    assert raised(stream) == Decimal("1000.00")


def test_starting_over_and_clearing_leave_earlier_donations_and_their_refunds_out(api, stripe_keys):
    stream = live_stream()
    set_goal(stream)
    old = pending_donation(stream, amount="900")
    complete(api, old)
    set_goal(stream, reset=True)
    assert raised(stream) == Decimal("0.00")
    refund(api, old, 500)
    assert raised(stream) == Decimal("0.00")  # it counted for the previous run only
    new = pending_donation(stream, amount="200")
    complete(api, new)
    assert raised(stream) == Decimal("200.00")

    goals.do_clear_goal(stream_id=stream.id)
    while_cleared = pending_donation(stream, amount="5000")
    complete(api, while_cleared)
    refund(api, new, 200)  # counted for the cleared goal: the cleared goal stays as it was
    assert StreamGoal.objects.get(stream=stream).raised == Decimal("200.00")
    set_goal(stream)
    assert raised(stream) == Decimal("0.00")
    refund(api, while_cleared, 5000)
    assert raised(stream) == Decimal("0.00")


def test_goals_of_other_streams_are_untouched(api, stripe_keys):
    streamer = make_user()
    mine, other = live_stream(streamer), live_stream(streamer)
    set_goal(mine)
    set_goal(other)
    complete(api, pending_donation(mine, amount="250"))
    assert (raised(mine), raised(other)) == (Decimal("250.00"), Decimal("0.00"))


def test_the_public_list_reads_goals_without_a_query_per_stream(api, stripe_keys):
    def list_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            response = api.call("GET", "/api/streams?status=live")
        assert response.status_code == 200
        return len(queries)

    set_goal(live_stream())
    one = list_queries()
    for _ in range(6):
        set_goal(live_stream(make_user()))
    live_stream()  # and one without a goal
    assert list_queries() == one
    goals_listed = [
        s["goal"] for s in api.call("GET", "/api/streams?status=live").json()["results"]
    ]
    assert sum(g is not None for g in goals_listed) == 7


def test_the_join_snapshot_carries_the_goal_and_still_takes_two_queries(
    stripe_keys, django_assert_num_queries
):
    stream = live_stream()
    set_goal(stream, amount="3000", title="Camera")
    with django_assert_num_queries(2):
        payload, _ = room_snapshot_data(stream.id)
    assert payload["goal"] == {
        "title": "Camera",
        "amount": "3000.00",
        "raised": "0.00",
        "version": 1,
    }
