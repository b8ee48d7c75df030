"""``POST /webhooks/stripe/``: genuine events change the data exactly once; anything
else gets 400 and changes nothing (SPEC §6)."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import connections, transaction

from donations.models import StreamDonation, StripeEvent, Transaction
from realtime import groups
from streams.models import LiveStream
from tests.donations.helpers import (
    failed_event,
    live_stream,
    pending_donation,
    post_webhook,
    refunded_event,
    succeeded_event,
)
from tests.support import stripe_server as stripe_support
from tests.support.events import capture_events

pytestmark = pytest.mark.django_db


def total(stream) -> Decimal:
    return LiveStream.objects.get(id=stream.id).total_donations


def assert_nothing_changed(donation):
    donation.refresh_from_db()
    assert donation.payment_status == "pending"
    assert not StripeEvent.objects.exists()
    assert not Transaction.objects.exists()
    assert total(donation.stream) == 0


def test_a_succeeded_payment_completes_the_donation_books_it_and_tells_everyone(api, stripe_keys):
    stream = live_stream()
    donation = pending_donation(stream, amount="1000", message="<b>hi</b>")
    with capture_events() as sent:
        response = post_webhook(api, succeeded_event(donation))
    assert response.status_code == 200, response.content
    assert response.json()["result"] == "completed"
    donation.refresh_from_db()
    assert donation.payment_status == "completed" and donation.completed_at is not None
    assert total(stream) == Decimal("1000.00")
    [sale] = Transaction.objects.all()
    assert (sale.user_id, sale.transaction_type, sale.status) == (
        stream.streamer_id,
        "sale",
        "completed",
    )
    assert (sale.reference_type, sale.reference_id) == ("donation", donation.id)
    assert (sale.amount, sale.fee_amount, sale.net_amount) == (
        Decimal("1000.00"),
        Decimal("100.00"),
        Decimal("900.00"),
    )
    assert sale.payment_reference == donation.payment_intent_id
    assert sent[0] == (
        [
            groups.stream_room(stream.id),
            groups.stream_dashboard(stream.id),
            groups.streamer_overlays(stream.streamer_id),
        ],
        {
            "type": "donation",
            "id": donation.id,
            "display_name": "Kind viewer",
            "amount": "1000.00",
            "currency": "jpy",
            "message": "<b>hi</b>",
            "created_at": donation.created_at.isoformat(),
        },
    )
    # The streamer's first donation also unlocks an achievement, on the dashboard only.
    assert [(groups_, event["type"], event["code"]) for groups_, event in sent[1:]] == [
        ([groups.stream_dashboard(stream.id)], "achievement", "first_donation_received")
    ]


def test_an_anonymous_donation_is_announced_as_anonymous(api, stripe_keys):
    donation = pending_donation(live_stream(), is_anonymous=True, display_name="Secret Sam")
    with capture_events() as sent:
        post_webhook(api, succeeded_event(donation))
    assert sent[0][1]["display_name"] == "Anonymous"
    assert "Secret Sam" not in json.dumps(sent)


def test_a_guest_without_a_name_is_announced_as_anonymous(api, stripe_keys):
    donation = pending_donation(live_stream(), display_name=None, message=None)
    with capture_events() as sent:
        post_webhook(api, succeeded_event(donation))
    assert (sent[0][1]["display_name"], sent[0][1]["message"]) == ("Anonymous", "")


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong_secret", "stale", "tampered_body", "invalid_json", "garbage_header"],
)
def test_a_webhook_not_genuinely_from_stripe_gets_400_and_changes_nothing(api, stripe_keys, tamper):
    donation = pending_donation(live_stream())
    payload = stripe_support.body(succeeded_event(donation))
    header = stripe_support.sign(payload)
    if tamper == "missing":
        header = None
    elif tamper == "wrong_secret":
        header = stripe_support.sign(payload, "whsec_someone_else")
    elif tamper == "stale":
        header = stripe_support.sign(payload, timestamp=int(time.time()) - 301)
    elif tamper == "tampered_body":
        payload = payload.replace(b'"amount": 500', b'"amount": 5')
        assert b'"amount": 5,' in payload
    elif tamper == "invalid_json":
        payload = b'{"id": "evt_1", "type": "payment_intent.succeeded",'
        header = stripe_support.sign(payload)
    elif tamper == "garbage_header":
        header = "nonsense"
    headers = {"Stripe-Signature": header} if header is not None else {}
    with capture_events() as sent:
        response = api.post(
            "/webhooks/stripe/", data=payload, content_type="application/json", headers=headers
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert stripe_support.WEBHOOK_SECRET not in response.content.decode()
    assert sent == []
    assert_nothing_changed(donation)


def test_the_same_event_delivered_twice_counts_once(api, stripe_keys):
    donation = pending_donation(live_stream())
    evt = succeeded_event(donation)
    with capture_events() as sent:
        assert post_webhook(api, evt).json()["result"] == "completed"
        assert post_webhook(api, evt).json()["result"] == "duplicate"
    assert [event["type"] for _, event in sent] == ["donation", "achievement"]
    assert total(donation.stream) == Decimal("500.00")
    assert Transaction.objects.count() == 1
    assert StripeEvent.objects.get().event_id == evt["id"]


def test_a_second_event_for_the_same_payment_changes_nothing(api, stripe_keys):
    donation = pending_donation(live_stream())
    with capture_events() as sent:
        post_webhook(api, succeeded_event(donation))
        response = post_webhook(api, succeeded_event(donation))
    assert response.status_code == 200 and response.json()["result"] == "already_completed"
    assert [event["type"] for _, event in sent] == ["donation", "achievement"]
    assert Transaction.objects.count() == 1
    assert total(donation.stream) == Decimal("500.00")


def test_a_failure_then_a_successful_retry_completes(api, stripe_keys):
    donation = pending_donation(live_stream())
    assert post_webhook(api, failed_event(donation)).json()["result"] == "failed"
    donation.refresh_from_db()
    assert (donation.payment_status, donation.failure_code) == ("failed", "insufficient_funds")
    assert post_webhook(api, succeeded_event(donation)).json()["result"] == "completed"
    donation.refresh_from_db()
    assert donation.payment_status == "completed" and donation.failure_code is None
    assert total(donation.stream) == Decimal("500.00")


def test_a_late_failure_after_success_changes_nothing(api, stripe_keys):
    donation = pending_donation(live_stream())
    post_webhook(api, succeeded_event(donation))
    assert post_webhook(api, failed_event(donation)).json()["result"] == "already_completed"
    donation.refresh_from_db()
    assert donation.payment_status == "completed"
    assert total(donation.stream) == Decimal("500.00")


def test_a_full_refund_marks_refunded_and_lowers_the_total(api, stripe_keys):
    stream = live_stream()
    kept = pending_donation(stream, amount="300")
    refunded = pending_donation(stream, amount="1000")
    post_webhook(api, succeeded_event(kept))
    post_webhook(api, succeeded_event(refunded))
    assert total(stream) == Decimal("1300.00")
    evt = refunded_event(refunded, refunded_minor=1000)
    assert post_webhook(api, evt).json()["result"] == "refunded"
    assert post_webhook(api, evt).json()["result"] == "duplicate"
    refunded.refresh_from_db()
    assert refunded.payment_status == "refunded" and refunded.refunded_at is not None
    assert refunded.amount_refunded == Decimal("1000.00")
    assert total(stream) == Decimal("300.00")
    refund = Transaction.objects.get(transaction_type="refund")
    assert (refund.reference_id, refund.amount, refund.fee_amount, refund.net_amount) == (
        refunded.id,
        Decimal("1000.00"),
        Decimal("100.00"),
        Decimal("900.00"),
    )
    # A late success for the refunded payment does not count it again.
    assert post_webhook(api, succeeded_event(refunded)).json()["result"] == "already_refunded"
    assert total(stream) == Decimal("300.00")


def test_partial_refunds_apply_once_even_out_of_order(api, stripe_keys):
    stream = live_stream()
    donation = pending_donation(stream, amount="1000")
    post_webhook(api, succeeded_event(donation))
    second = refunded_event(donation, refunded_minor=600)  # cumulative figures
    first = refunded_event(donation, refunded_minor=200)
    assert post_webhook(api, second).json()["result"] == "partially_refunded"
    assert post_webhook(api, first).json()["result"] == "noop"
    donation.refresh_from_db()
    assert donation.payment_status == "completed"
    assert total(stream) == Decimal("400.00")
    assert Transaction.objects.get(transaction_type="refund").amount == Decimal("600.00")
    post_webhook(api, refunded_event(donation, refunded_minor=1000))
    donation.refresh_from_db()
    assert donation.payment_status == "refunded" and total(stream) == Decimal("0.00")
    assert Transaction.objects.get(transaction_type="refund").amount == Decimal("1000.00")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"amount": 50}, "amount_mismatch"),
        ({"amount_received": 50}, "amount_mismatch"),
        ({"currency": "usd"}, "amount_mismatch"),
        ({"metadata": {"donation_id": "1", "stream_id": "1"}}, "metadata_mismatch"),
    ],
)
def test_a_payment_that_does_not_match_the_donation_is_flagged_and_not_counted(
    api, stripe_keys, overrides, reason
):
    donation = pending_donation(live_stream())
    with capture_events() as sent:
        response = post_webhook(api, succeeded_event(donation, **overrides))
        # Even a later, correct event does not count a flagged donation.
        post_webhook(api, succeeded_event(donation))
    assert response.status_code == 200 and response.json()["result"] == reason
    donation.refresh_from_db()
    assert donation.flag_reason == reason and donation.payment_status == "pending"
    assert total(donation.stream) == 0
    assert not Transaction.objects.exists() and sent == []


def test_an_unknown_event_type_is_acknowledged_and_ignored(api, stripe_keys):
    donation = pending_donation(live_stream())
    evt = stripe_support.event("customer.created", {"id": "cus_1", "object": "customer"})
    response = post_webhook(api, evt)
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    donation.refresh_from_db()
    assert donation.payment_status == "pending"


def test_a_payment_for_something_else_is_acknowledged(api, stripe_keys):
    obj = stripe_support.payment_intent("pi_other", amount=100, currency="jpy", metadata={})
    response = post_webhook(api, stripe_support.event("payment_intent.succeeded", obj))
    assert response.status_code == 200 and response.json()["result"] == "unknown_donation"


def test_a_donation_whose_intent_id_was_never_saved_is_found_by_metadata(api, stripe_keys):
    donation = pending_donation(live_stream())
    evt = succeeded_event(donation)
    StreamDonation.objects.filter(id=donation.id).update(payment_intent_id=None)
    assert post_webhook(api, evt).json()["result"] == "completed"


def test_get_is_not_allowed(api):
    assert api.get("/webhooks/stripe/").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_a_database_failure_answers_5xx_and_stripes_retry_counts_once(api, stripe_keys):
    stripe_keys.STRIPE_WEBHOOK_LOCK_TIMEOUT_MS = 300
    donation = pending_donation(live_stream())
    evt = succeeded_event(donation)
    locked, release = threading.Event(), threading.Event()

    def hold_row_lock():
        try:
            with transaction.atomic():
                StreamDonation.objects.select_for_update().get(id=donation.id)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_row_lock)
    holder.start()
    try:
        assert locked.wait(10)
        response = post_webhook(api, evt)
    finally:
        release.set()
        holder.join(10)
    assert response.status_code == 503
    assert_nothing_changed(donation)
    retry = post_webhook(api, evt)
    assert retry.status_code == 200 and retry.json()["result"] == "completed"
    assert total(donation.stream) == Decimal("500.00")
    assert StripeEvent.objects.count() == 1
