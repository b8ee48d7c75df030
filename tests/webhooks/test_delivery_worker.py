"""Deliveries by a real Celery worker to a real local HTTP receiver (SPEC §7a): signed,
retried with backoff and the same event id, timed out, in order across two worker
processes, re-checked against the allow-list at send time, never lost to a killed
worker or a lost enqueue, stopped by deleting the webhook, given up after the window."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from config.celery import app as celery_app
from streams import services as stream_services
from tests.conftest import ApiClient
from tests.support import factories
from tests.support.servers import ROOT, CeleryWorker, celery_worker, subprocess_env, wait_until
from tests.webhooks.helpers import (
    WORKER_ENV,
    delivery,
    emit_test_events,
    subscribe,
    wait_delivered,
)
from tests.webhooks.receiver import Hang, Receiver
from webhooks import sender, services, tasks
from webhooks.models import WebhookDelivery

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    celery_app.control.purge()
    yield
    celery_app.control.purge()


def parse_signature(header: str) -> tuple[int, str]:
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert match, header
    return int(match[1]), match[2]


def assert_clean(worker) -> None:
    log = worker.log()
    assert "Traceback" not in log, log


# --------------------------------------------------------------------------- signature


def docs_receiver() -> str:
    """The 10-line receiver of docs/webhooks.md (the README shows the same code)."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    match = re.search(r"a receiver in 10 lines.*?```python\n(.*?)```", text, re.S)
    assert match, "docs/webhooks.md lost its receiver"
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{match[1]}```" in readme, "README.md's receiver differs from the docs'"
    return match[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_ten_line_receiver_from_the_docs_verifies_real_deliveries(log_dir):
    code = docs_receiver()
    assert len(code.strip().splitlines()) == 10
    port = free_port()
    owner = factories.make_user()
    sub = subscribe(owner, url=f"http://127.0.0.1:{port}/eldonia")
    env = {"PATH": os.environ["PATH"], "WEBHOOK_SECRET": sub.secret, "PORT": str(port)}
    out = (log_dir / "receiver.out").open("w+")
    receiver = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: _accepts(port), "the docs receiver to listen")
        stream = factories.make_stream(owner, title="Signed")
        with celery_worker(log_dir, **WORKER_ENV) as worker:
            test = services.do_send_test_event(user=owner, subscription_id=sub.id)
            stream_services.do_go_live(stream_id=stream.id)
            online = WebhookDelivery.objects.get(subscription=sub, event_type="stream.online")
            for event_id in (test.event_id, online.event_id):
                assert wait_delivered(event_id).last_status == 204
            assert_clean(worker)
        out.seek(0)
        printed = [json.loads(line) for line in out.read().splitlines()]
        assert [(e["id"], e["type"]) for e in printed] == [
            (test.event_id, "webhook.test"),
            (online.event_id, "stream.online"),
        ]
        assert printed[1]["data"]["title"] == "Signed"

        # What it refuses: a wrong secret, a tampered body, a replayed old signature.
        body = json.dumps(printed[0]).encode()
        url = f"http://127.0.0.1:{port}/eldonia"

        def post(payload: bytes, header: str) -> int:
            headers = {"Eldonia-Signature": header, "Content-Type": "application/json"}
            return httpx.post(url, content=payload, headers=headers, timeout=10).status_code

        assert post(body, sender.signature_header(sub.secret, body)) == 204
        assert post(body, sender.signature_header("whsec_wrong", body)) == 400
        assert post(body + b" ", sender.signature_header(sub.secret, body)) == 400
        old = int(time.time()) - 600
        assert post(body, sender.signature_header(sub.secret, body, timestamp=old)) == 400
    finally:
        receiver.kill()
        receiver.wait(timeout=10)
        out.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- retries


def test_a_failing_receiver_gets_the_same_event_until_it_answers_200(log_dir):
    owner = factories.make_user()
    with Receiver(decide=lambda request, nth: 500 if nth <= 2 else 200) as hook:
        sub = subscribe(owner, url=hook.url())
        with celery_worker(log_dir, **WORKER_ENV) as worker:
            [event_id] = emit_test_events(sub, 1)
            row = wait_delivered(event_id)
            assert_clean(worker)
        attempts = hook.requests
    assert [r.answered for r in attempts] == [500, 500, 200]
    assert {r.event_id for r in attempts} == {event_id}
    assert (row.attempts, row.last_status, row.last_error) == (3, 200, "")
    # Backoff: 0.3 s, then 0.6 s (WEBHOOK_BACKOFF_BASE_SECONDS=0.3 for the worker).
    assert attempts[1].started - attempts[0].started >= 0.3
    assert attempts[2].started - attempts[1].started >= 0.6
    for request in attempts:
        assert request.method == "POST"
        assert request.path == "/hooks/eldonia?token=receiver-query-token"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == "Eldonia-Webhooks/1"
        assert request.headers["eldonia-event-id"] == event_id
        assert request.headers["eldonia-event-type"] == "stream.online"
        t, v1 = parse_signature(request.headers["eldonia-signature"])
        assert abs(time.time() - t) < 120
        # The body received is exactly the bytes that were signed.
        assert v1 == sender.signature(sub.secret, t, request.body)
        body = request.json()
        assert set(body) == {"id", "type", "created_at", "data"}
        assert (body["id"], body["type"], body["data"]) == (event_id, "stream.online", {"n": 0})
    assert attempts[0].body == attempts[2].body  # the same body on every retry

    api = ApiClient()
    api.login_as(owner)
    [logged] = api.call("GET", f"/api/me/webhooks/{sub.id}/deliveries").json()["items"]
    assert (logged["event_id"], logged["attempts"], logged["last_status"], logged["state"]) == (
        event_id,
        3,
        200,
        "delivered",
    )
    assert logged["next_attempt_at"] is None and logged["delivered_at"] is not None


def test_a_receiver_that_hangs_is_timed_out_and_retried(log_dir):
    owner = factories.make_user()
    env = {**WORKER_ENV, "WEBHOOK_TIMEOUT_SECONDS": "1"}
    with Receiver(decide=lambda request, nth: Hang(20) if nth == 1 else 200) as hook:
        sub = subscribe(owner, url=hook.url())
        with celery_worker(log_dir, **env) as worker:
            [event_id] = emit_test_events(sub, 1)
            failed = wait_until(
                lambda: (d := delivery(event_id)).attempts >= 1 and d,
                "the first attempt to time out",
            )
            assert failed.last_status is None
            assert failed.last_error == "timed out after 1 s"
            row = wait_delivered(event_id)
            assert_clean(worker)
        first, second = hook.requests
    assert first.event_id == second.event_id == event_id
    # Given up after the 1 s timeout, retried after the 0.3 s backoff, not after 20 s.
    assert 1.2 <= second.started - first.started < 5
    assert (row.attempts, row.last_status) == (2, 200)


# --------------------------------------------------------------------------- order


def test_two_workers_deliver_in_order_even_while_an_earlier_event_is_retried(log_dir):
    owner = factories.make_user()

    def decide(request, nth):
        if request.json()["data"]["n"] == 3 and nth <= 2:
            return 500  # the 4th event fails twice: everything after it must wait
        return Hang(0.02)  # a little work, so that deliveries would overlap if they could

    with Receiver(decide=decide) as hook:
        sub = subscribe(owner, url=hook.url())
        with (
            celery_worker(log_dir, name="worker-a", **WORKER_ENV) as a,
            celery_worker(log_dir, name="worker-b", **WORKER_ENV) as b,
        ):
            ids = emit_test_events(sub, 25)
            wait_delivered(ids[-1], timeout=120)
            for worker in (a, b):
                assert "webhooks.tasks.deliver" in worker.log()
                assert_clean(worker)
        delivered = [r.event_id for r in hook.delivered()]
        requests = list(hook.requests)
    assert delivered == ids
    assert hook.max_in_flight == 1  # one request at a time per webhook
    retried = [i for i, r in enumerate(requests) if r.event_id == ids[3]]
    assert [requests[i].answered for i in retried] == [500, 500, 200]
    # Nothing after the 4th event was sent before the 4th got through.
    assert all(r.event_id in ids[:4] for r in requests[: retried[-1] + 1])
    assert WebhookDelivery.objects.filter(subscription=sub, attempts=1).count() == 24


# --------------------------------------------------------------------------- SSRF at send time


def test_the_allow_list_is_checked_again_before_every_attempt(log_dir):
    owner = factories.make_user()
    with Receiver() as hook:
        sub = subscribe(owner, url=hook.url())  # allowed when it was added
        # The operator removed 127.0.0.1 since: the worker sends nothing.
        with celery_worker(log_dir, **{**WORKER_ENV, "WEBHOOK_ALLOWED_HOSTS": ""}) as worker:
            [event_id] = emit_test_events(sub, 1)
            refused = wait_until(
                lambda: (d := delivery(event_id)).attempts >= 2 and d, "refused attempts"
            )
            assert_clean(worker)
        assert hook.requests == []
        assert refused.state == "pending" and refused.last_status is None
        assert refused.last_error.startswith("not sent: the host resolves to a loopback address")
        assert "receiver-query-token" not in refused.last_error
        # Listed again: the pending event goes out (found by the periodic sweep).
        with celery_worker(log_dir, name="worker-allowed", **WORKER_ENV) as worker:
            tasks.sweep_deliveries.delay()
            wait_delivered(event_id)
            assert_clean(worker)
        assert [r.event_id for r in hook.requests] == [event_id]


# --------------------------------------------------------------------------- never lost


def test_an_event_whose_enqueue_was_lost_is_sent_by_the_sweep(log_dir):
    owner = factories.make_user()
    with Receiver() as hook:
        sub = subscribe(owner, url=hook.url())
        now = timezone.now()
        # As if the broker had been down when the change committed: a row, no task.
        row = WebhookDelivery.objects.create(
            subscription=sub,
            event_id="evt_" + "a" * 32,
            event_type="stream.offline",
            payload={"id": 1},
            created_at=now,
            next_attempt_at=now,
        )
        with celery_worker(log_dir, **WORKER_ENV) as worker:
            time.sleep(1)
            assert hook.requests == []
            tasks.sweep_deliveries.delay()
            wait_delivered(row.event_id)
            assert_clean(worker)
        assert [r.event_id for r in hook.requests] == [row.event_id]


def test_a_worker_killed_mid_delivery_loses_nothing(log_dir):
    owner = factories.make_user()
    with Receiver(decide=lambda request, nth: Hang(60) if nth == 1 else 200) as hook:
        sub = subscribe(owner, url=hook.url())
        slow = {**WORKER_ENV, "WEBHOOK_TIMEOUT_SECONDS": "30"}
        killed = CeleryWorker(log_dir, subprocess_env(**slow), name="worker-killed")
        try:
            [event_id] = emit_test_events(sub, 1)
            hook.wait_for(1)
            killed.kill()  # SIGKILL while the request is on the wire
        finally:
            killed.kill()
            killed.stop()
        row = delivery(event_id)
        assert (row.state, row.attempts) == ("pending", 0)  # the outcome was never recorded
        with celery_worker(log_dir, name="worker-restarted", **WORKER_ENV) as worker:
            tasks.sweep_deliveries.delay()
            row = wait_delivered(event_id)
            assert_clean(worker)
    # At least once: the same event again, with the same id.
    assert [r.event_id for r in hook.requests] == [event_id, event_id]
    assert row.last_status == 200


# --------------------------------------------------------------------------- stop, give up


def test_deleting_a_webhook_stops_its_pending_deliveries(log_dir):
    owner = factories.make_user()
    with Receiver(decide=lambda request, nth: 500) as hook:
        sub = subscribe(owner, url=hook.url())
        api = ApiClient()
        api.login_as(owner)
        with celery_worker(log_dir, **WORKER_ENV) as worker:
            emit_test_events(sub, 3)
            hook.wait_for(2)
            assert api.call("DELETE", f"/api/me/webhooks/{sub.id}").status_code == 204
            time.sleep(0.5)  # an attempt already on the wire may finish
            seen = len(hook.requests)
            tasks.sweep_deliveries.delay()
            time.sleep(3)  # several backoff periods
            assert len(hook.requests) == seen
            assert_clean(worker)
    assert not WebhookDelivery.objects.exists()


def test_an_event_is_given_up_after_its_window_and_the_next_one_goes_out(log_dir):
    owner = factories.make_user()

    def decide(request, nth):
        return 500 if request.json()["data"]["n"] == 0 else 200

    env = {**WORKER_ENV, "WEBHOOK_RETRY_WINDOW_SECONDS": "3"}
    with Receiver(decide=decide) as hook:
        sub = subscribe(owner, url=hook.url())
        stale_at = timezone.now() - timedelta(hours=25)
        stale = WebhookDelivery.objects.create(
            subscription=sub,
            event_id="evt_" + "b" * 32,
            event_type="stream.online",
            payload={"n": -1},
            created_at=stale_at,
            next_attempt_at=stale_at,
        )
        with celery_worker(log_dir, **env) as worker:
            failing, ok = emit_test_events(sub, 2)
            wait_delivered(ok, timeout=60)
            assert_clean(worker)
        requests = list(hook.requests)
    stale.refresh_from_db()
    assert stale.state == "given_up" and stale.attempts == 0
    assert stale.last_error == "not delivered within the retry window"
    given_up = delivery(failing)
    assert given_up.state == "given_up"
    assert (given_up.last_status, given_up.last_error) == (500, "HTTP 500")
    assert given_up.attempts >= 3
    assert [r.event_id for r in requests] == [failing] * given_up.attempts + [ok]
    assert stale.event_id not in {r.event_id for r in requests}
