"""Donation test data and webhook posting, shared by the donation tests."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.utils import timezone

from donations.models import StreamDonation
from tests.support import factories
from tests.support import stripe_server as stripe_support


def live_stream(streamer=None, **fields):
    return factories.make_stream(
        streamer=streamer, status="live", actual_start=timezone.now(), **fields
    )


def pending_donation(
    stream,
    *,
    amount: str = "500",
    currency: str = "jpy",
    message: str | None = "Great stream!",
    display_name: str | None = "Kind viewer",
    is_anonymous: bool = False,
    donor=None,
) -> StreamDonation:
    return StreamDonation.objects.create(
        stream=stream,
        donor=donor,
        amount=Decimal(amount),
        currency=currency,
        message=message,
        display_name=display_name,
        is_anonymous=is_anonymous,
        payment_intent_id=f"pi_{secrets.token_hex(12)}",
    )


def minor(donation: StreamDonation) -> int:
    from donations.stripe_gateway import to_minor

    return to_minor(donation.amount, donation.currency)


def succeeded_event(donation: StreamDonation, *, event_id: str | None = None, **overrides):
    obj = stripe_support.payment_intent(
        donation.payment_intent_id,
        amount=overrides.pop("amount", minor(donation)),
        currency=overrides.pop("currency", donation.currency),
        metadata=overrides.pop(
            "metadata",
            {"donation_id": str(donation.id), "stream_id": str(donation.stream_id)},
        ),
        **overrides,
    )
    return stripe_support.event("payment_intent.succeeded", obj, event_id)


def failed_event(donation: StreamDonation, *, event_id: str | None = None):
    obj = stripe_support.payment_intent(
        donation.payment_intent_id,
        amount=minor(donation),
        currency=donation.currency,
        metadata={"donation_id": str(donation.id), "stream_id": str(donation.stream_id)},
        status="requires_payment_method",
        amount_received=0,
        last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds"},
    )
    return stripe_support.event("payment_intent.payment_failed", obj, event_id)


def refunded_event(donation: StreamDonation, *, refunded_minor: int, event_id: str | None = None):
    obj = stripe_support.charge(
        donation.payment_intent_id,
        amount=minor(donation),
        amount_refunded=refunded_minor,
        currency=donation.currency,
    )
    return stripe_support.event("charge.refunded", obj, event_id)


def post_webhook(client, evt, *, secret=stripe_support.WEBHOOK_SECRET, timestamp=None):
    """POST a Stripe-signed event with Django's test client (no CSRF token: Stripe
    sends none)."""
    payload = stripe_support.body(evt)
    return client.post(
        "/webhooks/stripe/",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": stripe_support.sign(payload, secret, timestamp)},
    )
