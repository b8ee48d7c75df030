"""The drainer's rules, run in the test process against a real receiver and the real
database: one drainer per webhook (the advisory lock), redirects are failures,
backoff, the sweep, the log purge and the delivery metrics."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from config.celery import app as celery_app
from core.metrics import WEBHOOK_DELIVERIES
from tests.support import factories, servers
from tests.webhooks.helpers import emit_test_events, subscribe
from tests.webhooks.receiver import Receiver
from webhooks import delivery, sender
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 10.0
    yield
    celery_app.control.purge()  # the retries these tests enqueued


def counted(outcome: str, event_type: str = "stream.online") -> float:
    return WEBHOOK_DELIVERIES.labels(event_type, outcome)._value.get()


def test_while_another_worker_drains_a_webhook_nothing_is_sent_twice():
    with Receiver() as hook:
        sub = subscribe(url=hook.url())
        [event_id] = emit_test_events(sub, 1)
        lock = (0x7764 << 48) | sub.id
        with psycopg.connect(servers.test_database_url(), autocommit=True) as other_worker:
            other_worker.execute("SELECT pg_advisory_lock(%s)", [lock])
            assert delivery.deliver_subscription(subscription_id=sub.id) == "busy"
            assert hook.requests == []
            other_worker.execute("SELECT pg_advisory_unlock(%s)", [lock])
        assert delivery.deliver_subscription(subscription_id=sub.id) == "idle"
        assert [r.event_id for r in hook.requests] == [event_id]
        assert delivery.deliver_subscription(subscription_id=sub.id) == "idle"
        assert len(hook.requests) == 1


def test_a_redirect_is_a_failure_and_is_not_followed():
    with Receiver(decide=lambda request, nth: 302) as hook:
        sub = subscribe(url=hook.url())
        [event_id] = emit_test_events(sub, 1)
        failed_before = counted("failed")
        assert delivery.deliver_subscription(subscription_id=sub.id) == "retrying"
        row = WebhookDelivery.objects.get(event_id=event_id)
        assert (row.state, row.attempts, row.last_status, row.last_error) == (
            "pending",
            1,
            302,
            "HTTP 302",
        )
        assert 9 <= (row.next_attempt_at - row.last_attempt_at).total_seconds() <= 11
        assert len(hook.requests) == 1
        assert counted("failed") == failed_before + 1
        # Not due yet: a second drainer sends nothing.
        assert delivery.deliver_subscription(subscription_id=sub.id) == "waiting"
        assert len(hook.requests) == 1


def test_a_closed_port_is_a_failure_with_a_short_reason():
    with Receiver() as hook:
        sub = subscribe(url=hook.url())
    # The receiver is gone: nothing listens on its port any more.
    [event_id] = emit_test_events(sub, 1)
    assert delivery.deliver_subscription(subscription_id=sub.id) == "retrying"
    row = WebhookDelivery.objects.get(event_id=event_id)
    assert (row.last_status, row.last_error) == (None, "connection refused")


def test_delivered_events_are_counted_by_type_and_outcome():
    with Receiver() as hook:
        sub = subscribe(url=hook.url())
        before = counted("delivered")
        emit_test_events(sub, 3)
        assert delivery.deliver_subscription(subscription_id=sub.id) == "idle"
        assert len(hook.requests) == 3
    assert counted("delivered") == before + 3


def test_backoff_doubles_from_ten_seconds_up_to_an_hour(settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 10.0
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600.0
    assert [delivery.backoff(n) for n in range(1, 11)] == [
        10,
        20,
        40,
        80,
        160,
        320,
        640,
        1280,
        2560,
        3600,
    ]
    assert delivery.backoff(500) == 3600


def test_the_sweep_finds_due_heads_and_purges_old_log_rows():
    owner = factories.make_user()
    due = subscribe(owner, url="https://203.0.114.10/a")
    waiting = subscribe(owner, url="https://203.0.114.10/b")
    switched_off = subscribe(owner, url="https://203.0.114.10/c")
    switched_off.active = False
    switched_off.save()
    now = timezone.now()

    def row(sub, event_id, **fields):
        values = {"created_at": now, "next_attempt_at": now, **fields}
        return WebhookDelivery.objects.create(
            subscription=sub, event_id=event_id, event_type="stream.online", payload={}, **values
        )

    row(due, "evt_1")
    row(waiting, "evt_2", next_attempt_at=now + timedelta(minutes=5), attempts=3)
    row(waiting, "evt_3")  # behind a head that is not due: waits with it
    row(switched_off, "evt_4")
    assert delivery.subscriptions_due() == [due.id]

    old = now - timedelta(days=31)
    row(due, "evt_old_done", created_at=old, delivered_at=old)
    row(due, "evt_old_given_up", created_at=old, given_up_at=old)
    row(due, "evt_recent_done", delivered_at=now)
    assert delivery.purge_finished() == 2
    assert not WebhookDelivery.objects.filter(event_id__startswith="evt_old").exists()
    assert WebhookDelivery.objects.filter(event_id="evt_recent_done").exists()


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body():
    header = sender.signature_header("whsec_k", b'{"a":1}', timestamp=1700000000)
    expected = hmac.new(b"whsec_k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
