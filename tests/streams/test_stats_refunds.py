"""``GET /api/streams/{id}/stats`` (also what the dashboard shows) agrees with the
stream's ``total_donations`` after refunds: the total is net of refunds, a partially
refunded donation still counts, a fully refunded or flagged one does not."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.models import LiveStream
from tests.donations.helpers import (
    live_stream,
    pending_donation,
    post_webhook,
    refunded_event,
    succeeded_event,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(api, user):
    api.login_as(user)
    return user


def stats(api, stream) -> dict:
    response = api.get(f"/api/streams/{stream.id}/stats")
    assert response.status_code == 200, response.content
    return response.json()


def public_total(api, stream) -> str:
    return api.get(f"/api/streams/{stream.id}").json()["total_donations"]


def test_stats_agree_with_the_stream_total_after_partial_and_full_refunds(api, owner, stripe_keys):
    stream = live_stream(owner)
    kept, partly, fully = (pending_donation(stream, amount=x) for x in ("500", "700", "1000"))
    pending_donation(stream, amount="9999")  # never paid
    for donation in (kept, partly, fully):
        post_webhook(api, succeeded_event(donation))
    assert stats(api, stream)["donation_total"] == "2200.00"

    post_webhook(api, refunded_event(partly, refunded_minor=200))
    post_webhook(api, refunded_event(fully, refunded_minor=400))
    assert (stats(api, stream)["donation_total"], public_total(api, stream)) == (
        "1600.00",
        "1600.00",
    )
    assert stats(api, stream)["donation_count"] == 3  # partial refunds keep them counted

    post_webhook(api, refunded_event(fully, refunded_minor=1000))
    body = stats(api, stream)
    assert body["donation_total"] == public_total(api, stream) == "1000.00"
    assert body["donation_count"] == 2  # the fully refunded one is no longer counted
    total = LiveStream.objects.get(id=stream.id).total_donations
    assert Decimal(body["donation_total"]) == total


def test_refunds_delivered_before_the_success_are_not_counted_twice(api, owner, stripe_keys):
    stream = live_stream(owner)
    partly, fully = (pending_donation(stream, amount=x) for x in ("1000", "300"))
    post_webhook(api, refunded_event(partly, refunded_minor=400))
    post_webhook(api, refunded_event(fully, refunded_minor=300))
    post_webhook(api, succeeded_event(partly))
    post_webhook(api, succeeded_event(fully))
    body = stats(api, stream)
    assert body["donation_total"] == public_total(api, stream) == "600.00"
    assert body["donation_count"] == 1


def test_a_flagged_payment_is_in_neither_the_stats_nor_the_total(api, owner, stripe_keys):
    stream = live_stream(owner)
    good, odd = (pending_donation(stream, amount=x) for x in ("500", "800"))
    post_webhook(api, succeeded_event(good))
    post_webhook(api, succeeded_event(odd, amount=80))  # amount mismatch → flagged
    body = stats(api, stream)
    assert (body["donation_total"], body["donation_count"]) == ("500.00", 1)
    assert public_total(api, stream) == "500.00"
