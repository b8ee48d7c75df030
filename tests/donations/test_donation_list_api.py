"""``GET /api/streams/{id}/donations``: the owner's list of a stream's donations."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from donations.models import StreamDonation
from tests.donations.helpers import live_stream, pending_donation
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db

URL = "/api/streams/{}/donations"
FIELDS = {
    "id",
    "display_name",
    "amount",
    "amount_refunded",
    "currency",
    "message",
    "status",
    "flag_reason",
    "created_at",
    "completed_at",
}


def _donation(stream, status, *, minutes_ago: int = 0, **fields):
    flag_reason = fields.pop("flag_reason", None)
    refunded = fields.pop("amount_refunded", "0")
    donation = pending_donation(stream, **fields)
    now = timezone.now() - timedelta(minutes=minutes_ago)
    StreamDonation.objects.filter(id=donation.id).update(
        payment_status=status,
        flag_reason=flag_reason,
        amount_refunded=Decimal(refunded),
        created_at=now,
        completed_at=now if status in ("completed", "refunded") else None,
    )
    donation.refresh_from_db()
    return donation


@pytest.fixture
def stream(api, user):
    api.login_as(user)
    return live_stream(user)


def test_the_owner_gets_paid_refunded_and_flagged_donations_newest_first(api, stream):
    donor = make_user("donor1", email="donor-secret@example.com")
    oldest = _donation(stream, "completed", minutes_ago=30, donor=donor, display_name="Fan")
    refunded = _donation(stream, "refunded", minutes_ago=20, amount_refunded="500")
    flagged = _donation(stream, "pending", minutes_ago=10, flag_reason="amount_mismatch")
    anonymous = _donation(stream, "completed", minutes_ago=5, is_anonymous=True, display_name="Me")
    _donation(stream, "pending", minutes_ago=1)
    _donation(stream, "failed", minutes_ago=2)
    _donation(live_stream(), "completed")  # someone else's stream

    response = api.call("GET", URL.format(stream.id))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["count"] == 4 and body["next"] is None
    rows = body["results"]
    assert [r["id"] for r in rows] == [anonymous.id, flagged.id, refunded.id, oldest.id]
    assert all(set(r) == FIELDS for r in rows)
    assert rows[0]["display_name"] == "Anonymous"
    assert rows[1]["flag_reason"] == "amount_mismatch"
    assert rows[2]["status"] == "refunded" and rows[2]["amount_refunded"] == "500.00"
    last = rows[3]
    assert last == {
        **last,
        "display_name": "Fan",
        "amount": "500.00",
        "currency": "jpy",
        "message": "Great stream!",
        "status": "completed",
        "flag_reason": None,
    }
    assert last["completed_at"] and last["created_at"]
    text = json.dumps(body)
    assert "donor-secret@example.com" not in text
    assert oldest.payment_intent_id not in text and "pi_" not in text


def test_the_list_is_paged_like_the_stream_list(api, stream):
    for i in range(23):
        _donation(stream, "completed", minutes_ago=i)
    first = api.call("GET", URL.format(stream.id)).json()
    assert first["count"] == 23 and len(first["results"]) == 20 and first["next"]
    second = api.call("GET", URL.format(stream.id) + "?page=2").json()
    assert len(second["results"]) == 3 and second["next"] is None
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 23
    small = api.call("GET", URL.format(stream.id) + "?page_size=5").json()
    assert len(small["results"]) == 5
    assert api.call("GET", URL.format(stream.id) + "?page=9").status_code == 404


def test_anonymous_is_401_someone_else_403_unknown_404(api, user):
    stream = live_stream(user)
    _donation(stream, "completed")
    response = api.call("GET", URL.format(stream.id))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"

    api.login_as(make_user("stranger"))
    response = api.call("GET", URL.format(stream.id))
    assert response.status_code == 403
    assert "results" not in response.json()

    assert api.call("GET", URL.format(stream.id + 999)).status_code == 404


def test_posting_a_donation_still_works_on_the_same_path(api, stream):
    # GET was added to the create endpoint: the POST side is unchanged (here: refused
    # for a missing amount before any payment call).
    response = api.call("POST", URL.format(stream.id), {})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_amount"
