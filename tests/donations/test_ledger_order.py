"""Whatever order Stripe delivers a payment's events in (succeeded, failed, partial
and full refunds, redeliveries), the donation row, the stream total and the ledger
agree, and they end in the same state.

The invariant, for every donation ``d`` (``counted(d)`` is what
``live_streams.total_donations`` counts for it: ``amount - amount_refunded`` once it
was completed and is not flagged, else 0):

- ``sum(+amount of its sale row, -amount of its refund row) == counted(d)``;
- ``sum(+fee of its sale row, -fee of its refund row) == platform_fee(counted(d))``:
  the platform keeps its percentage of what the streamer keeps, rounded once;
- on every row ``net_amount == amount - fee_amount``; at most one sale and one
  refund row; no ledger row for a donation that was never completed;
- the stream total is the sum of ``counted`` over its donations.

Also here: the stream total never goes past what its DECIMAL(10,2) column holds, and a
payment that would take it there is refused at creation or, if it was already
accepted, flagged at completion (the webhook still answers 200).
"""

from __future__ import annotations

from decimal import Decimal
from itertools import permutations

import pytest

from donations.models import StreamDonation, Transaction
from donations.services import STREAM_TOTAL_MAX, platform_fee, streams_with_wrong_totals
from streams.models import LiveStream
from tests.donations.helpers import (
    failed_event,
    live_stream,
    pending_donation,
    post_webhook,
    refunded_event,
    succeeded_event,
)
from tests.support import factories
from tests.support.events import capture_events

pytestmark = pytest.mark.django_db

SIGN = {"sale": 1, "refund": -1}


def counted(donation: StreamDonation) -> Decimal:
    if (
        donation.payment_status in ("completed", "refunded")
        and donation.completed_at is not None
        and not donation.flag_reason
    ):
        return donation.amount - donation.amount_refunded
    return Decimal("0.00")


def ledger(donation: StreamDonation) -> tuple[tuple[str, Decimal, Decimal, Decimal], ...]:
    rows = Transaction.objects.filter(reference_type="donation", reference_id=donation.id)
    return tuple(
        sorted((row.transaction_type, row.amount, row.fee_amount, row.net_amount) for row in rows)
    )


def assert_ledger_agrees(donation: StreamDonation) -> None:
    """The donation's ledger rows against what the stream total counts for it."""
    donation.refresh_from_db()
    rows = ledger(donation)
    types = [row[0] for row in rows]
    assert types in ([], ["sale"], ["refund", "sale"]), rows
    for _, amount, fee, net in rows:
        assert net == amount - fee, rows
    signed_amount = sum((SIGN[t] * amount for t, amount, _, _ in rows), Decimal("0.00"))
    signed_fee = sum((SIGN[t] * fee for t, _, fee, _ in rows), Decimal("0.00"))
    assert signed_amount == counted(donation), (rows, donation.__dict__)
    assert signed_fee == platform_fee(counted(donation), "jpy"), rows
    if donation.completed_at is None:
        assert rows == ()


def assert_consistent(donation: StreamDonation) -> None:
    """The ledger, and the stream total against its donations."""
    assert_ledger_agrees(donation)
    total = LiveStream.objects.get(id=donation.stream_id).total_donations
    stream_donations = StreamDonation.objects.filter(stream_id=donation.stream_id)
    assert total == sum((counted(d) for d in stream_donations), Decimal("0.00"))
    assert donation.stream_id not in streams_with_wrong_totals()


def final_state(donation: StreamDonation) -> tuple:
    donation.refresh_from_db()
    return (
        donation.payment_status,
        donation.amount_refunded,
        donation.completed_at is not None,
        donation.flag_reason,
        LiveStream.objects.get(id=donation.stream_id).total_donations,
        ledger(donation),
    )


def run_all_orders(api, labels: list[str]) -> dict[tuple, list[str]]:
    """Deliver every distinct order of the ``EVENTS`` named by ``labels`` to a fresh
    ¥1,000 donation each, checking the invariant after every delivery. Returns each
    final state with the orders that led to it."""
    finals: dict[tuple, list[str]] = {}
    streamer = factories.make_user()  # one streamer: password hashing is slow
    for order in sorted(set(permutations(labels))):
        donation = pending_donation(live_stream(streamer), amount="1000")
        built = {label: EVENTS[label](donation) for label in set(labels)}
        with capture_events() as sent:
            for label in order:
                response = post_webhook(api, built[label])
                assert response.status_code == 200, (order, label, response.content)
                assert_consistent(donation)
        alerts = [event for _, event in sent if event["type"] == "donation"]
        assert len(alerts) <= 1, order
        finals.setdefault(final_state(donation), []).append(" → ".join(order))
    return finals


# The events of one payment, by label; refunds carry Stripe's cumulative figure. Equal
# labels in an event list are redeliveries of one event (same id).
EVENTS = {
    "S": lambda d: succeeded_event(d, event_id=f"evt_s_{d.id}"),
    # A second, distinct succeeded event for the same payment.
    "S2": lambda d: succeeded_event(d, event_id=f"evt_s2_{d.id}"),
    "F": lambda d: failed_event(d, event_id=f"evt_f_{d.id}"),
    "R400": lambda d: refunded_event(d, refunded_minor=400, event_id=f"evt_r400_{d.id}"),
    "R700": lambda d: refunded_event(d, refunded_minor=700, event_id=f"evt_r700_{d.id}"),
    "RFULL": lambda d: refunded_event(d, refunded_minor=1000, event_id=f"evt_rfull_{d.id}"),
}


SALE = ("sale", Decimal("1000.00"), Decimal("100.00"), Decimal("900.00"))


def test_a_partial_refund_delivered_before_success_is_booked(api, stripe_keys):
    stream = live_stream()
    donation = pending_donation(stream, amount="1000")
    post_webhook(api, refunded_event(donation, refunded_minor=400))
    assert post_webhook(api, succeeded_event(donation)).json()["result"] == "completed"
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("600.00")
    assert ledger(donation) == (
        ("refund", Decimal("400.00"), Decimal("40.00"), Decimal("360.00")),
        SALE,
    )
    assert_consistent(donation)


def test_a_full_refund_delivered_before_success_books_sale_and_refund_without_an_alert(
    api, stripe_keys
):
    stream = live_stream()
    donation = pending_donation(stream, amount="1000")
    assert post_webhook(api, refunded_event(donation, refunded_minor=1000)).json()["result"] == (
        "refunded"
    )
    with capture_events() as sent:
        result = post_webhook(api, succeeded_event(donation)).json()["result"]
    assert result == "completed_refunded"
    assert sent == []  # the money is already back with the donor: nothing to celebrate
    donation.refresh_from_db()
    assert donation.payment_status == "refunded" and donation.completed_at is not None
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("0.00")
    assert ledger(donation) == (
        ("refund", Decimal("1000.00"), Decimal("100.00"), Decimal("900.00")),
        SALE,
    )
    assert_consistent(donation)


def test_refund_fees_are_rounded_once_on_the_cumulative_refund(api, stripe_keys):
    # ¥1,005 at 10 %: fee 101 (100.5 rounded half-up). Refunds of ¥5 and then ¥10 in
    # all: per-step rounding would hand back 1 + 1 = 2 and keep 99 of the 100 due on
    # the ¥995 left; rounding the cumulative figure keeps exactly platform_fee(995).
    donation = pending_donation(live_stream(), amount="1005")
    post_webhook(api, succeeded_event(donation))
    post_webhook(api, refunded_event(donation, refunded_minor=5))
    post_webhook(api, refunded_event(donation, refunded_minor=10))
    assert ledger(donation) == (
        ("refund", Decimal("10.00"), Decimal("1.00"), Decimal("9.00")),
        ("sale", Decimal("1005.00"), Decimal("101.00"), Decimal("904.00")),
    )
    assert_consistent(donation)


def test_every_order_of_success_partial_refunds_failure_and_redelivery_agrees(api, stripe_keys):
    finals = run_all_orders(api, ["S", "S", "F", "R400", "R700"])
    assert list(finals) == [
        (
            "completed",
            Decimal("700.00"),
            True,
            None,
            Decimal("300.00"),
            (("refund", Decimal("700.00"), Decimal("70.00"), Decimal("630.00")), SALE),
        )
    ], finals


def test_every_order_of_success_and_partial_then_full_refunds_agrees(api, stripe_keys):
    finals = run_all_orders(api, ["S", "S2", "R400", "RFULL", "RFULL"])
    assert list(finals) == [
        (
            "refunded",
            Decimal("1000.00"),
            True,
            None,
            Decimal("0.00"),
            (("refund", Decimal("1000.00"), Decimal("100.00"), Decimal("900.00")), SALE),
        )
    ], finals


def test_every_order_of_failure_success_and_a_refund_agrees(api, stripe_keys):
    # Covers failed → succeeded (the donor retried) and succeeded → late failure.
    finals = run_all_orders(api, ["F", "S", "R400", "R700"])
    assert list(finals) == [
        (
            "completed",
            Decimal("700.00"),
            True,
            None,
            Decimal("300.00"),
            (("refund", Decimal("700.00"), Decimal("70.00"), Decimal("630.00")), SALE),
        )
    ], finals


def test_without_a_success_nothing_is_counted_or_booked_in_any_order(api, stripe_keys):
    finals = run_all_orders(api, ["F", "R400", "RFULL"])
    assert list(finals) == [("refunded", Decimal("1000.00"), False, None, Decimal("0.00"), ())], (
        finals
    )


def test_a_failure_then_success_and_success_then_failure_both_count_once(api, stripe_keys):
    for order in (("F", "S"), ("S", "F")):
        donation = pending_donation(live_stream(), amount="1000")
        built = {label: EVENTS[label](donation) for label in order}
        for label in order:
            assert post_webhook(api, built[label]).status_code == 200
        donation.refresh_from_db()
        assert donation.payment_status == "completed", order
        assert ledger(donation) == (SALE,), order
        assert_consistent(donation)


# --------------------------------------------------------------------------- total limit
# ``live_streams.total_donations`` is DECIMAL(10,2): at most 99,999,999.99.


def set_total(stream, value: str) -> None:
    LiveStream.objects.filter(id=stream.id).update(total_donations=Decimal(value))


def test_the_stream_total_limit_is_the_columns_maximum():
    assert Decimal("99999999.99") == STREAM_TOTAL_MAX


def test_a_donation_that_would_take_the_total_past_its_column_is_refused_up_front(
    api, stripe_server
):
    stream = live_stream()
    set_total(stream, "99998999.99")  # room for exactly ¥1,000
    response = api.call("POST", f"/api/streams/{stream.id}/donations", {"amount": "1001"})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["maximum"]) == ("stream_total_limit", "1000.00")
    assert error["message"]
    assert not StreamDonation.objects.exists() and stripe_server.requests == []

    response = api.call("POST", f"/api/streams/{stream.id}/donations", {"amount": "1000"})
    assert response.status_code == 201, response.content


def test_a_completion_the_total_cannot_hold_is_flagged_and_acknowledged(api, stripe_keys, caplog):
    stream = live_stream()
    # Both were accepted while there was room; the first to complete takes it.
    first, second = (pending_donation(stream, amount="1000") for _ in range(2))
    set_total(stream, "99998999.99")
    assert post_webhook(api, succeeded_event(first)).json()["result"] == "completed"

    evt = succeeded_event(second)
    with caplog.at_level("ERROR", logger="donations.services"), capture_events() as sent:
        response = post_webhook(api, evt)
    assert response.status_code == 200, response.content
    assert response.json()["result"] == "stream_total_overflow"
    assert f"donation {second.id}" in caplog.text
    assert sent == []
    second.refresh_from_db()
    assert (second.flag_reason, second.payment_status) == ("stream_total_overflow", "pending")
    # Stripe's redelivery and any later event change nothing; nothing ever 503s.
    assert post_webhook(api, evt).json()["result"] == "duplicate"
    assert post_webhook(api, succeeded_event(second)).json()["result"] == "flagged"
    assert post_webhook(api, refunded_event(second, refunded_minor=1000)).status_code == 200
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("99999999.99")
    assert ledger(second) == ()
    assert_ledger_agrees(first)
    assert_ledger_agrees(second)

    # Room made by a refund is used normally again.
    post_webhook(api, refunded_event(first, refunded_minor=1000))
    third = pending_donation(stream, amount="1000")
    assert post_webhook(api, succeeded_event(third)).json()["result"] == "completed"
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("99999999.99")
    assert_ledger_agrees(third)


def test_reconcile_leaves_a_total_its_column_cannot_hold_to_a_person(caplog):
    from django.utils import timezone

    from donations.services import do_reconcile_stream_total

    stream = live_stream()
    for _ in range(2):  # written around the services, which would have flagged one
        StreamDonation.objects.create(
            stream=stream,
            amount=Decimal("60000000.00"),
            payment_status="completed",
            completed_at=timezone.now(),
        )
    with caplog.at_level("ERROR", logger="donations.services"):
        assert do_reconcile_stream_total(stream_id=stream.id) is False
    assert "more than total_donations can hold" in caplog.text
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("0.00")
