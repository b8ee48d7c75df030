"""Events are recorded in the same transaction as the change they report (a
transactional outbox): a rolled-back change reports nothing, each change reports once,
also when Stripe delivers its webhook twice."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from core.exceptions import InvalidTransition
from donations.models import StreamDonation
from streams import services as stream_services
from streams.models import LiveStream
from tests.donations.helpers import (
    live_stream,
    pending_donation,
    post_webhook,
    refunded_event,
    succeeded_event,
)
from tests.support import factories
from tests.webhooks.helpers import ALL_EVENTS
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def subscription(owner, events=ALL_EVENTS, active=True) -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        owner=owner, url="https://203.0.114.10/hook", events=events, secret="whsec_x", active=active
    )


def events_of(sub) -> list[tuple[str, dict]]:
    rows = WebhookDelivery.objects.filter(subscription=sub).order_by("id")
    return [(row.event_type, row.payload) for row in rows]


def types_of(sub) -> list[str]:
    return [event_type for event_type, _ in events_of(sub)]


@pytest.fixture
def nginx(settings):
    from django.test import Client

    settings.INGEST_SECRET = ""
    settings.STREAM_RECONNECT_GRACE_SECONDS = 30
    return Client(enforce_csrf_checks=True)


def ingest(client, kind, key, clientid="1"):
    call = {"on_publish": "publish", "on_publish_done": "publish_done"}.get(kind, "update_publish")
    return client.post(
        f"/ingest/{kind}",
        {"app": "live", "name": key, "clientid": clientid, "call": call, "addr": "203.0.113.9"},
    )


def test_going_live_and_ending_on_the_dashboard_record_one_event_each(api, user):
    sub = subscription(user)
    stream = factories.make_stream(user, title="Launch day")
    api.login_as(user)
    with TestCase.captureOnCommitCallbacks() as enqueued:
        assert api.call("POST", f"/api/streams/{stream.id}/start").status_code == 200
    assert len(enqueued) >= 1  # the delivery is enqueued after commit
    assert api.call("POST", f"/api/streams/{stream.id}/start").status_code == 409
    assert api.call("POST", f"/api/streams/{stream.id}/end").status_code == 200
    assert api.call("POST", f"/api/streams/{stream.id}/end").status_code == 409
    stream.refresh_from_db()
    (online_type, online), (offline_type, offline) = events_of(sub)
    assert (online_type, offline_type) == ("stream.online", "stream.offline")
    assert online == {
        "id": stream.id,
        "title": "Launch day",
        "status": "live",
        "streamer": {"id": user.id, "username": user.username, "display_name": user.username},
        "actual_start": stream.actual_start.isoformat(),
        "actual_end": None,
    }
    assert offline == {
        **online,
        "status": "ended",
        "actual_end": stream.actual_end.isoformat(),
    }
    assert stream.stream_key not in str(online) + str(offline)


def test_an_obs_reconnect_resumes_the_stream_without_a_second_online(nginx, user):
    sub = subscription(user)
    stream = factories.make_stream(user)
    assert ingest(nginx, "on_publish", stream.stream_key, "1").status_code == 200
    assert ingest(nginx, "on_publish_done", stream.stream_key, "1").status_code == 200
    assert ingest(nginx, "on_publish", stream.stream_key, "2").status_code == 200  # resumed
    assert types_of(sub) == ["stream.online"]
    stream_services.do_end_stream(stream_id=stream.id)
    assert types_of(sub) == ["stream.online", "stream.offline"]


def test_a_rolled_back_change_records_and_enqueues_nothing(user):
    sub = subscription(user)
    stream = factories.make_stream(user)
    with (
        TestCase.captureOnCommitCallbacks(execute=True) as enqueued,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        stream_services.do_go_live(stream_id=stream.id)
        assert types_of(sub) == ["stream.online"]  # inside: recorded
        raise RuntimeError("something after it failed")
    assert enqueued == []
    assert types_of(sub) == []
    assert LiveStream.objects.get(id=stream.id).status == "scheduled"
    # An illegal transition changes nothing and reports nothing either.
    with pytest.raises(InvalidTransition):
        stream_services.do_end_stream(stream_id=stream.id)
    assert not WebhookDelivery.objects.exists()


def test_only_the_owners_active_subscriptions_that_want_the_type_get_it(user):
    online_only = subscription(user, ["stream.online"])
    donations_only = subscription(user, ["donation.completed"])
    switched_off = subscription(user, active=False)
    someone_else = subscription(factories.make_user())
    stream = factories.make_stream(user)
    stream_services.do_go_live(stream_id=stream.id)
    assert types_of(online_only) == ["stream.online"]
    for sub in (donations_only, switched_off, someone_else):
        assert types_of(sub) == []
    # Every subscription that gets it gets the same event id (receivers de-duplicate).
    subscription(user, ["stream.offline"])
    subscription(user, ["stream.offline", "stream.online"])
    stream_services.do_end_stream(stream_id=stream.id)
    offline = WebhookDelivery.objects.filter(event_type="stream.offline")
    assert offline.count() == 2
    assert len({row.event_id for row in offline}) == 1


def test_emitting_for_an_owner_without_webhooks_costs_one_query(user, django_assert_num_queries):
    with (
        TestCase.captureOnCommitCallbacks() as enqueued,
        transaction.atomic(),
        django_assert_num_queries(1),
    ):
        result = services.emit(owner_id=user.id, event_type="stream.online", data={})
    assert result is None
    assert enqueued == []


def test_a_paid_donation_is_reported_once_also_when_stripe_redelivers(api, user, stripe_keys):
    sub = subscription(user)
    stream = live_stream(user)
    donation = pending_donation(stream, amount="500", message="<b>gg</b>", display_name="Kind")
    event = succeeded_event(donation)
    assert post_webhook(api, event).json()["result"] == "completed"
    assert post_webhook(api, event).json()["result"] == "duplicate"
    # A second, distinct event for the same payment.
    assert post_webhook(api, succeeded_event(donation)).json()["result"] == "already_completed"
    donation.refresh_from_db()
    [(event_type, data)] = events_of(sub)
    assert event_type == "donation.completed"
    assert data == {
        "id": donation.id,
        "stream_id": stream.id,
        "display_name": "Kind",
        "amount": "500.00",
        "amount_refunded": "0.00",
        "currency": "jpy",
        "message": "<b>gg</b>",
        "created_at": donation.created_at.isoformat(),
        "completed_at": donation.completed_at.isoformat(),
    }
    assert donation.payment_intent_id not in str(data)


def test_an_anonymous_donation_is_reported_as_anonymous(api, user, stripe_keys):
    sub = subscription(user, ["donation.completed"])
    donor = factories.make_user(email="donor-secret@example.com")
    donation = pending_donation(
        live_stream(user), display_name="Real Name", is_anonymous=True, donor=donor
    )
    post_webhook(api, succeeded_event(donation))
    [(_, data)] = events_of(sub)
    assert data["display_name"] == "Anonymous"
    assert "Real Name" not in str(data) and "donor-secret" not in str(data)


def test_a_payment_that_does_not_match_its_donation_is_not_reported(api, user, stripe_keys):
    sub = subscription(user)
    donation = pending_donation(live_stream(user), amount="500")
    assert (
        post_webhook(api, succeeded_event(donation, amount=1)).json()["result"] == "amount_mismatch"
    )
    assert events_of(sub) == []


def test_refunds_are_reported_with_the_refunded_amount(api, user, stripe_keys):
    sub = subscription(user, ["donation.refunded"])
    donation = pending_donation(live_stream(user), amount="1000")
    post_webhook(api, succeeded_event(donation))
    assert post_webhook(api, refunded_event(donation, refunded_minor=300)).status_code == 200
    duplicate = refunded_event(donation, refunded_minor=300)
    assert post_webhook(api, duplicate).json()["result"] == "noop"
    assert post_webhook(api, refunded_event(donation, refunded_minor=1000)).status_code == 200
    partial, full = (data for _, data in events_of(sub))
    assert types_of(sub) == ["donation.refunded", "donation.refunded"]
    assert (partial["refund_amount"], partial["amount_refunded"], partial["fully_refunded"]) == (
        "300.00",
        "300.00",
        False,
    )
    assert (full["refund_amount"], full["amount_refunded"], full["fully_refunded"]) == (
        "700.00",
        "1000.00",
        True,
    )
    assert full["id"] == donation.id and full["amount"] == "1000.00"


def test_a_refund_reported_before_the_payment_is_in_the_completed_event(api, user, stripe_keys):
    """Stripe may deliver the refund first: the completion then carries it, and the
    refund itself (of a donation not yet counted) is not a separate event."""
    sub = subscription(user)
    donation = pending_donation(live_stream(user), amount="1000")
    post_webhook(api, refunded_event(donation, refunded_minor=400))
    assert events_of(sub) == []
    post_webhook(api, succeeded_event(donation))
    [(event_type, data)] = events_of(sub)
    assert (event_type, data["amount"], data["amount_refunded"]) == (
        "donation.completed",
        "1000.00",
        "400.00",
    )
    assert StreamDonation.objects.get(id=donation.id).payment_status == "completed"


def test_a_full_backlog_records_new_events_as_given_up(user, monkeypatch):
    monkeypatch.setattr(services, "MAX_BACKLOG", 3)
    sub = subscription(user)
    for _ in range(4):
        services.emit(owner_id=user.id, event_type="stream.online", data={})
    rows = list(WebhookDelivery.objects.filter(subscription=sub).order_by("id"))
    assert [r.given_up_at is None for r in rows] == [True, True, True, False]
    assert rows[3].last_error == services.BACKLOG_FULL
    rows[0].delivered_at = timezone.now()
    rows[0].save()
    services.emit(owner_id=user.id, event_type="stream.online", data={})
    assert WebhookDelivery.objects.filter(subscription=sub, given_up_at__isnull=True).count() == 4
