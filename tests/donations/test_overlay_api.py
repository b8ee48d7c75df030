"""Overlay endpoints (SPEC §5) and the ``donation`` event shape (SPEC §7)."""

from __future__ import annotations

import pytest

from donations.models import OverlayToken
from donations.selectors import overlay_user_id_for_token
from realtime import event_types, groups
from tests.donations.helpers import live_stream, pending_donation, post_webhook, succeeded_event
from tests.support import factories
from tests.support.events import capture_events

pytestmark = pytest.mark.django_db


def test_the_donation_event_has_exactly_the_spec_shape():
    assert event_types.donation(
        id=7,
        display_name="Anonymous",
        amount="500.00",
        currency="jpy",
        message="",
        created_at="2026-11-27T16:00:00+00:00",
    ) == {
        "type": "donation",
        "id": 7,
        "display_name": "Anonymous",
        "amount": "500.00",
        "currency": "jpy",
        "message": "",
        "created_at": "2026-11-27T16:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/me/overlay"),
        ("POST", "/api/me/overlay/rotate"),
        ("POST", "/api/me/overlay/test"),
        ("POST", "/api/donations/1/replay"),
    ],
)
def test_overlay_endpoints_need_a_login(api, method, path):
    response = api.call(method, path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_streamer_gets_a_stable_secret_overlay_url_until_rotating_it(api, user):
    api.login_as(user)
    first = api.call("GET", "/api/me/overlay")
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    token = first.json()["token"]
    assert len(token) >= 32
    assert first.json()["alerts_url"] == f"http://testserver/overlays/{token}/alerts/"
    assert api.call("GET", "/api/me/overlay").json()["token"] == token
    assert overlay_user_id_for_token(token) == user.id

    rotated = api.call("POST", "/api/me/overlay/rotate").json()["token"]
    assert rotated != token and len(rotated) >= 32
    assert overlay_user_id_for_token(token) is None
    assert overlay_user_id_for_token(rotated) == user.id
    assert OverlayToken.objects.count() == 1


def test_a_made_up_or_tampered_token_finds_nothing(user):
    from donations.services import get_or_create_overlay_token

    token = get_or_create_overlay_token(user=user).token
    assert overlay_user_id_for_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert overlay_user_id_for_token("") is None
    assert overlay_user_id_for_token("x" * 500) is None


def test_a_test_alert_goes_to_the_streamers_overlays_only_and_touches_no_money(api, user):
    api.login_as(user)
    with capture_events() as sent:
        response = api.call("POST", "/api/me/overlay/test")
    assert response.status_code == 202
    [(target, event)] = sent
    assert target == [groups.streamer_overlays(user.id)]
    assert event["type"] == "donation" and event["test"] is True
    assert str(event["id"]).startswith("test-")
    from donations.models import StreamDonation, Transaction

    assert not StreamDonation.objects.exists() and not Transaction.objects.exists()


def test_replay_is_for_the_owner_and_completed_donations_only(api, stripe_keys):
    stream = live_stream()
    donation = pending_donation(stream)
    api.login_as(stream.streamer)
    response = api.call("POST", f"/api/donations/{donation.id}/replay")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "donation_not_completed"
    post_webhook(api, succeeded_event(donation))
    with capture_events() as sent:
        assert api.call("POST", f"/api/donations/{donation.id}/replay").status_code == 202
    assert sent[0][0] == [groups.streamer_overlays(stream.streamer_id)]
    assert sent[0][1]["replay"] is True and sent[0][1]["id"] == donation.id
    assert api.call("POST", "/api/donations/99999/replay").status_code == 404

    stranger = factories.make_user()
    api.login_as(stranger)
    assert api.call("POST", f"/api/donations/{donation.id}/replay").status_code == 403


def test_the_alert_page_is_served_for_a_valid_token_only(client, user):
    from donations.services import get_or_create_overlay_token

    token = get_or_create_overlay_token(user=user).token
    page = client.get(f"/overlays/{token}/alerts/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "no-referrer"
    assert b"textContent" in page.content and b"innerHTML" not in page.content
    assert client.get("/overlays/not-a-real-token/alerts/").status_code == 404
