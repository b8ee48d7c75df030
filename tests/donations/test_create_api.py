"""``POST /api/streams/{id}/donations``: validation first, then a PaymentIntent in
minor units on a (local) Stripe-compatible server."""

from __future__ import annotations

import pytest
from django.conf import settings

from donations.models import StreamDonation
from donations.stripe_gateway import idempotency_key
from tests.donations.helpers import live_stream
from tests.support import factories
from tests.support import stripe_server as stripe_support
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db


def donate(api, stream_id, **data):
    return api.call("POST", f"/api/streams/{stream_id}/donations", data)


def test_a_guest_donation_creates_a_pending_donation_and_a_payment_intent(api, stripe_server):
    stream = live_stream()
    response = donate(
        api, stream.id, amount="500", message="Great stream!", display_name="Kind viewer"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    donation = StreamDonation.objects.get()
    assert body == {
        "id": donation.id,
        "status": "pending",
        "amount": "500.00",
        "currency": "jpy",
        "client_secret": body["client_secret"],
        "publishable_key": stripe_support.PUBLISHABLE_KEY,
    }
    assert body["client_secret"].startswith(donation.payment_intent_id + "_secret_")
    assert donation.payment_status == "pending" and donation.donor is None
    assert (donation.message, donation.display_name) == ("Great stream!", "Kind viewer")

    [request] = stripe_server.requests
    assert request.path == "/v1/payment_intents"
    assert request.form["amount"] == "500"  # JPY is zero-decimal
    assert request.form["currency"] == "jpy"
    assert request.form["metadata[donation_id]"] == str(donation.id)
    assert request.form["metadata[stream_id]"] == str(stream.id)
    assert request.headers["idempotency-key"] == idempotency_key(
        donation_id=donation.id,
        created_at_epoch_us=int(donation.created_at.timestamp() * 1_000_000),
    )
    assert request.headers["authorization"] == f"Bearer {stripe_support.SECRET_KEY}"
    assert request.headers["stripe-version"] == settings.STRIPE_API_VERSION
    assert stripe_support.SECRET_KEY not in response.content.decode()


def test_dollars_are_sent_as_cents(api, stripe_server, settings):
    settings.DONATION_CURRENCY = "usd"
    stream = live_stream()
    response = donate(api, stream.id, amount="5.00", currency="USD")
    assert response.status_code == 201, response.content
    assert response.json()["currency"] == "usd"
    assert stripe_server.requests[0].form["amount"] == "500"
    assert stripe_server.requests[0].form["currency"] == "usd"


def test_a_logged_in_donor_is_named_unless_anonymous(api, stripe_server):
    donor = factories.make_user(display_name="Alice")
    api.login_as(donor)
    stream = live_stream()
    assert donate(api, stream.id, amount="1000").status_code == 201
    assert donate(api, stream.id, amount="1000", is_anonymous=True).status_code == 201
    named, anonymous = StreamDonation.objects.order_by("id")
    assert (named.donor, named.display_name, named.is_anonymous) == (donor, "Alice", False)
    assert anonymous.is_anonymous is True and anonymous.display_name is None


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({"amount": "49"}, 400, "amount_too_small"),
        ({"amount": "500.5"}, 400, "invalid_amount"),
        ({"amount": 500.0}, 400, "invalid_amount"),
        ({"amount": "-500"}, 400, "invalid_amount"),
        ({"amount": "1e3"}, 400, "invalid_amount"),
        ({"amount": "NaN"}, 400, "invalid_amount"),
        ({}, 400, "invalid_amount"),
        ({"amount": "1000001"}, 400, "amount_too_large"),
        ({"amount": "500", "currency": "usd"}, 400, "unsupported_currency"),
        ({"amount": "500", "message": "x" * 256}, 400, "message_too_long"),
        ({"amount": "500", "display_name": "y" * 26}, 400, "display_name_too_long"),
        ({"amount": "500", "is_anonymous": "yes"}, 400, "validation_error"),
    ],
)
def test_bad_donations_get_a_clear_error_and_nothing_is_stored_or_charged(
    api, stripe_server, data, status, code
):
    stream = live_stream()
    response = donate(api, stream.id, **data)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not StreamDonation.objects.exists()
    assert stripe_server.requests == []


def test_the_longest_allowed_message_and_name_are_accepted(api, stripe_server):
    stream = live_stream()
    response = donate(api, stream.id, amount="50", message="m" * 255, display_name="n" * 25)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("status", ["scheduled", "ended", "cancelled"])
def test_only_a_live_stream_accepts_donations(api, stripe_server, status):
    stream = factories.make_stream(status=status)
    response = donate(api, stream.id, amount="500")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stream_not_live"
    assert not StreamDonation.objects.exists() and stripe_server.requests == []


def test_an_unknown_stream_is_404(api, stripe_server):
    assert donate(api, 987654, amount="500").status_code == 404


def test_a_donation_needs_the_csrf_token(api, stripe_server):
    stream = live_stream()
    response = api.call(
        "POST", f"/api/streams/{stream.id}/donations", {"amount": "500"}, csrf=False
    )
    assert response.status_code == 403
    assert not StreamDonation.objects.exists()


def test_stripe_unreachable_gives_503_and_the_donation_stays_pending(api, stripe_keys):
    stripe_keys.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens
    stream = live_stream()
    response = donate(api, stream.id, amount="500")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payment_provider_unavailable"
    donation = StreamDonation.objects.get()
    assert donation.payment_status == "pending" and donation.payment_intent_id is None
    assert stripe_support.SECRET_KEY not in response.content.decode()


@pytest.mark.parametrize(("mode", "status"), [("error500", 503), ("error400", 502)])
def test_stripe_errors_become_payment_provider_unavailable(api, stripe_server, mode, status):
    stripe_server.mode = mode
    stream = live_stream()
    response = donate(api, stream.id, amount="500")
    assert response.status_code == status
    assert response.json()["error"]["code"] == "payment_provider_unavailable"
    assert StreamDonation.objects.get().payment_status == "pending"
