"""Donation and overlay-test throttles (SPEC §5) and the donation ``Idempotency-Key``:
a guest cannot create PaymentIntents without bound, and a repeated request creates
one donation."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid

import httpx
import pytest

from core.redis import get_redis, key
from donations import services
from donations.models import StreamDonation
from tests.donations.helpers import live_stream
from tests.support import factories
from tests.support.throttles import (
    UNLIMITED,
    UNLIMITED_ENV,
    SlowStripeServer,
    clean_throttles,  # noqa: F401 (fixture)
    csrf_client,
    servers,
    stripe_env,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_throttles")]

GUEST = "198.51.100.30"
OTHER_GUEST = "198.51.100.31"


@pytest.fixture
def limits(settings):
    settings.THROTTLE_DONATION_IP = ((3, 60),)
    settings.THROTTLE_DONATION_ACCOUNT = UNLIMITED
    settings.TRUSTED_PROXIES = []
    return settings


def donate(api, stream_id, *, ip=GUEST, idempotency_key=None, **data):
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    data.setdefault("amount", "500")
    return api.call(
        "POST", f"/api/streams/{stream_id}/donations", data, REMOTE_ADDR=ip, headers=headers
    )


def assert_rate_limited(response, *, at_most: int) -> None:
    assert response.status_code == 429, response.content
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= at_most
    error = response.json()["error"]
    assert error == {
        "code": "rate_limited",
        "message": error["message"],
        "retry_after": retry_after,
    }


# --------------------------------------------------------------------------- throttles


def test_a_guest_is_limited_per_ip_before_stripe_is_called(api, stripe_server, limits):
    stream = live_stream()
    for _ in range(3):
        assert donate(api, stream.id).status_code == 201
    assert_rate_limited(donate(api, stream.id), at_most=60)
    assert StreamDonation.objects.count() == 3
    assert len(stripe_server.requests) == 3
    # Another client is not affected.
    assert donate(api, stream.id, ip=OTHER_GUEST).status_code == 201


def test_refused_donations_do_not_use_up_the_limit(api, stripe_server, limits):
    stream = live_stream()
    for _ in range(5):
        assert donate(api, stream.id, amount="1").status_code == 400
    for _ in range(3):
        assert donate(api, stream.id).status_code == 201
    assert donate(api, stream.id).status_code == 429


def test_a_failed_payment_provider_call_counts(api, stripe_server, limits):
    stripe_server.mode = "error500"
    stream = live_stream()
    for _ in range(3):
        assert donate(api, stream.id).status_code in (502, 503)
    assert donate(api, stream.id).status_code == 429
    assert len(stripe_server.requests) == 3


def test_a_donor_account_is_limited_from_every_ip(api, stripe_server, limits):
    limits.THROTTLE_DONATION_IP = UNLIMITED
    limits.THROTTLE_DONATION_ACCOUNT = ((2, 60), (10, 3600))
    donor = factories.make_user()
    api.login_as(donor)
    stream = live_stream()
    assert donate(api, stream.id, ip="192.0.2.1").status_code == 201
    assert donate(api, stream.id, ip="192.0.2.2").status_code == 201
    assert_rate_limited(donate(api, stream.id, ip="192.0.2.3"), at_most=60)
    # A guest on the donor's IP is not limited by the donor's account.
    guest = type(api)()
    assert donate(guest, stream.id, ip="192.0.2.3").status_code == 201


def test_x_forwarded_for_from_an_untrusted_peer_does_not_reset_the_limit(
    api, stripe_server, limits
):
    stream = live_stream()
    for n in range(3):
        response = api.call(
            "POST",
            f"/api/streams/{stream.id}/donations",
            {"amount": "500"},
            REMOTE_ADDR=GUEST,
            headers={"X-Forwarded-For": f"192.0.2.{n}"},
        )
        assert response.status_code == 201
    response = api.call(
        "POST",
        f"/api/streams/{stream.id}/donations",
        {"amount": "500"},
        REMOTE_ADDR=GUEST,
        headers={"X-Forwarded-For": "192.0.2.77"},
    )
    assert response.status_code == 429


def test_overlay_test_alerts_are_limited_per_streamer(api, settings):
    settings.THROTTLE_OVERLAY_TEST_ACCOUNT = ((2, 60),)
    streamer = factories.make_user()
    api.login_as(streamer)
    assert api.call("POST", "/api/me/overlay/test").status_code == 202
    assert api.call("POST", "/api/me/overlay/test").status_code == 202
    assert_rate_limited(api.call("POST", "/api/me/overlay/test"), at_most=60)
    other = type(api)()
    other.login_as(factories.make_user())
    assert other.call("POST", "/api/me/overlay/test").status_code == 202


# --------------------------------------------------------------------------- idempotency


def test_a_repeated_key_returns_the_same_donation_without_counting_or_calling_stripe(
    api, stripe_server, limits
):
    limits.THROTTLE_DONATION_IP = ((1, 60),)
    stream = live_stream()
    attempt = str(uuid.uuid4())
    first = donate(api, stream.id, idempotency_key=attempt, message="hi")
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    for _ in range(3):
        again = donate(api, stream.id, idempotency_key=attempt, message="hi")
        assert again.status_code == 201, again.content
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert again["Cache-Control"] == "no-store"
    assert StreamDonation.objects.count() == 1
    assert len(stripe_server.requests) == 1
    # A new attempt is a new donation (here: over the limit of one).
    assert donate(api, stream.id, idempotency_key=str(uuid.uuid4())).status_code == 429


def test_the_same_key_with_a_different_request_is_refused(api, stripe_server, limits):
    stream = live_stream()
    attempt = str(uuid.uuid4())
    assert donate(api, stream.id, idempotency_key=attempt).status_code == 201
    changed = donate(api, stream.id, idempotency_key=attempt, amount="1000")
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    other_stream = live_stream()
    assert donate(api, other_stream.id, idempotency_key=attempt).status_code == 422
    assert StreamDonation.objects.count() == 1


def test_keys_belong_to_their_requester(api, stripe_server, limits):
    stream = live_stream()
    attempt = str(uuid.uuid4())
    mine = donate(api, stream.id, idempotency_key=attempt)
    theirs = donate(api, stream.id, idempotency_key=attempt, ip=OTHER_GUEST)
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]
    donor = factories.make_user()
    api.login_as(donor)
    as_donor = donate(api, stream.id, idempotency_key=attempt)
    assert as_donor.status_code == 201
    assert as_donor.json()["id"] not in (mine.json()["id"], theirs.json()["id"])
    assert StreamDonation.objects.get(id=as_donor.json()["id"]).donor == donor


def test_a_refused_request_leaves_its_key_free_for_the_corrected_one(api, stripe_server, limits):
    stream = live_stream()
    attempt = str(uuid.uuid4())
    assert donate(api, stream.id, idempotency_key=attempt, amount="1").status_code == 400
    assert donate(api, stream.id, idempotency_key=attempt, amount="600").status_code == 201
    stripe_server.mode = "error500"
    retry = str(uuid.uuid4())
    assert donate(api, stream.id, idempotency_key=retry).status_code in (502, 503)
    stripe_server.mode = "ok"
    response = donate(api, stream.id, idempotency_key=retry)
    assert response.status_code == 201
    assert StreamDonation.objects.get(id=response.json()["id"]).payment_intent_id


@pytest.mark.parametrize("bad", ["", "x" * 256, "has space", "ключ"])
def test_a_malformed_key_is_a_validation_error(api, stripe_server, limits, bad):
    stream = live_stream()
    response = api.call(
        "POST",
        f"/api/streams/{stream.id}/donations",
        {"amount": "500"},
        headers={"Idempotency-Key": bad},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not StreamDonation.objects.exists() and stripe_server.requests == []


def test_a_key_still_being_used_answers_409_with_retry_after(
    api, stripe_server, limits, monkeypatch
):
    """The first request holds the key (its record is ``pending``) past the wait."""
    monkeypatch.setattr(services, "IDEMPOTENCY_WAIT_SECONDS", 0.2)
    stream = live_stream()
    attempt = "attempt-in-progress"
    body = {"amount": "500"}
    first = donate(api, stream.id, idempotency_key=attempt, **body)
    assert first.status_code == 201
    # Turn its record back into "pending", as while the first request is running.
    digest = hashlib.sha256(attempt.encode()).hexdigest()
    store_key = key("donations", "idempotency", f"ip:{GUEST}", digest)
    record = json.loads(get_redis().get(store_key))
    get_redis().set(store_key, json.dumps({**record, "state": "pending"}), ex=60)
    response = donate(api, stream.id, idempotency_key=attempt, **body)
    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "idempotency_key_in_progress"
    assert StreamDonation.objects.count() == 1


# --------------------------------------------------------------------------- live servers


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_on_two_processes_create_one_donation(log_dir):
    stream = live_stream()
    with (
        SlowStripeServer(delay=1.0) as stripe,
        servers(
            log_dir,
            2,
            THROTTLE_DONATION_IP="100/60",
            THROTTLE_DONATION_ACCOUNT=UNLIMITED_ENV,
            **stripe_env(stripe),
        ) as (a, b),
    ):
        clients = [csrf_client(a), csrf_client(b)]
        # Each client has its own CSRF cookie; the requester is the same guest IP.
        attempt = str(uuid.uuid4())
        start = threading.Barrier(6)
        responses: list[httpx.Response] = []

        def post(client):
            start.wait()
            responses.append(
                client.post(
                    f"/api/streams/{stream.id}/donations",
                    json={"amount": "500", "message": "once"},
                    headers={"Idempotency-Key": attempt},
                )
            )

        threads = [threading.Thread(target=post, args=(clients[n % 2],)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
        bodies = {json.dumps(r.json(), sort_keys=True) for r in responses}
        assert len(bodies) == 1  # same id, same client_secret
        assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 5
        assert StreamDonation.objects.count() == 1
        assert len(stripe.requests) == 1


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_guest_limit_holds_across_two_server_processes(log_dir):
    stream = live_stream()
    with (
        SlowStripeServer(delay=0) as stripe,
        servers(log_dir, 2, THROTTLE_DONATION_IP="3/60", **stripe_env(stripe)) as (a, b),
    ):
        clients = [csrf_client(a), csrf_client(b)]
        codes = [
            clients[n % 2].post(f"/api/streams/{stream.id}/donations", json={"amount": "500"})
            for n in range(5)
        ]
        assert [r.status_code for r in codes] == [201, 201, 201, 429, 429]
        assert 1 <= int(codes[-1].headers["Retry-After"]) <= 60
        assert StreamDonation.objects.count() == 3 and len(stripe.requests) == 3
