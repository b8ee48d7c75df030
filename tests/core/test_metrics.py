"""``GET /metrics`` (SPEC §9a): bearer token only, and the counters move with real
traffic against a real server process and a real Celery worker."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from config.celery import app as celery_app
from donations.services import get_or_create_overlay_token
from gamification import tasks
from tests.gamification.helpers import wait_until
from tests.support import stripe_server as stripe_support
from tests.support.factories import make_stream, make_user
from tests.support.rooms import connect, cookie_for, next_of_type
from tests.support.servers import asgi_server, celery_worker, free_port

TOKEN = "t0k-metrics-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def value(text: str, sample: str, **labels: str) -> float:
    """The sum of the samples called ``sample`` whose labels include ``labels``."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def label_values(text: str, sample: str, label: str) -> set[str]:
    return {
        s.labels[label]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and label in s.labels
    }


# --------------------------------------------------------------------------- access


def test_no_metrics_without_a_configured_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_metrics_need_the_bearer_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    for wrong in (f"Bearer {TOKEN}x", "Bearer t0k", f"Basic {TOKEN}", TOKEN, "Bearer"):
        response = client.get("/metrics", headers={"Authorization": wrong})
        assert response.status_code == 401, wrong
        assert b"eldonia_" not in response.content
    response = client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "eldonia_sockets_open" in response.content.decode()


# --------------------------------------------------------------------------- a real server


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_real_traffic_moves_the_counters_of_the_server_that_served_it(log_dir):
    owner, viewer = make_user(), make_user()
    stream = make_stream(owner, status="live")
    overlay_token = get_or_create_overlay_token(user=owner).token
    viewer_cookie = cookie_for(viewer)
    unknown_key = "unknown-key-" + "k" * 30
    unknown_overlay = "no-such-overlay-" + "q" * 30

    with asgi_server(
        log_dir,
        METRICS_TOKEN=TOKEN,
        INGEST_SECRET="ingest-secret-42",
        STRIPE_WEBHOOK_SECRET=stripe_support.WEBHOOK_SECRET,
    ) as server:
        base = server.http_url

        def scrape() -> str:
            response = httpx.get(f"{base}/metrics", headers=AUTH)
            assert response.status_code == 200, response.text
            return response.text

        assert httpx.get(f"{base}/metrics").status_code == 401
        assert (
            httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        assert value(scrape(), "eldonia_sockets_open", kind="room") == 0

        async def sockets() -> str:
            ws = await connect(server, f"/ws/streams/{stream.id}/", viewer_cookie)
            during = await asyncio.to_thread(scrape)
            await ws.send(json.dumps({"type": "chat.send", "text": "hello", "client_id": "c1"}))
            await next_of_type(ws, "chat.message")
            await ws.send("not json")
            assert (await next_of_type(ws, "error"))["code"] == "invalid_json"
            await ws.send(json.dumps({"type": "chat.send", "text": "   "}))
            assert (await next_of_type(ws, "error"))["code"] == "empty_message"
            await ws.close()
            async with websockets.connect(
                f"{server.ws_url}/ws/overlays/{unknown_overlay}/", origin=server.origin
            ) as refused:
                with pytest.raises(websockets.ConnectionClosed):
                    await refused.recv()
                assert refused.close_code == 4404
            return during

        during = asyncio.run(sockets())

        # Ingest callbacks: a wrong secret, an unknown key, a player's update.
        ingest = f"{base}/ingest"
        assert (
            httpx.post(
                f"{ingest}/on_publish?secret=wrong-guess",
                data={"call": "publish", "name": stream.stream_key},
            ).status_code
            == 403
        )
        assert (
            httpx.post(
                f"{ingest}/on_publish?secret=ingest-secret-42",
                data={"call": "publish", "name": unknown_key},
            ).status_code
            == 403
        )
        assert (
            httpx.post(
                f"{ingest}/on_update?secret=ingest-secret-42",
                data={"call": "update_play", "name": unknown_key},
            ).status_code
            == 200
        )
        # Stripe webhooks: a bad signature, then a genuine event of a type we ignore.
        bad = httpx.post(
            f"{base}/webhooks/stripe/", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
        )
        assert bad.status_code == 400
        payload = stripe_support.body(stripe_support.event("customer.created", {"id": "cus_1"}))
        good = httpx.post(
            f"{base}/webhooks/stripe/",
            content=payload,
            headers={"Stripe-Signature": stripe_support.sign(payload)},
        )
        assert good.status_code == 200, good.text
        # Routes with secrets in their paths, and no route at all.
        assert httpx.get(f"{base}/overlays/{overlay_token}/alerts/").status_code == 200
        assert httpx.get(f"{base}/overlays/{unknown_overlay}/alerts/").status_code == 404
        assert httpx.get(f"{base}/api/streams/{stream.id}").status_code == 200
        assert httpx.get(f"{base}/no-such-page-{unknown_key}").status_code == 404
        httpx.get(f"{base}/static/admin/css/base.css")

        wait_until(
            lambda: value(scrape(), "eldonia_socket_leaves_total", kind="room") == 1,
            timeout=10,
            what="the room socket counted as left",
        )
        text = scrape()

    # Sockets: the gauge went up while the socket was open, and back down.
    assert value(during, "eldonia_sockets_open", kind="room") == 1
    assert value(text, "eldonia_sockets_open", kind="room") == 0
    assert value(text, "eldonia_socket_joins_total", kind="room") == 1
    assert value(text, "eldonia_socket_refusals_total", kind="overlay", code="4404") == 1
    assert value(text, "eldonia_sockets_open", kind="overlay") == 0
    # Chat: one stored, one rejected by code; every error frame by kind and code.
    assert value(text, "eldonia_chat_messages_total") == 1
    assert (
        value(
            text,
            "eldonia_socket_frame_rejections_total",
            kind="room",
            frame="chat.send",
            code="empty_message",
        )
        == 1
    )
    assert value(text, "eldonia_socket_error_frames_total", kind="room", code="invalid_json") == 1
    assert value(text, "eldonia_socket_error_frames_total", kind="room", code="empty_message") == 1
    # The fan-out's own counters: the chat message reached the socket.
    assert value(text, "eldonia_realtime_events_received_total") >= 1
    assert value(text, "eldonia_realtime_deliveries_total") >= 1
    assert value(text, "eldonia_realtime_slow_clients_closed_total") == 0
    assert value(text, "eldonia_realtime_events_lost_total") == 0
    # Ingest and webhooks.
    assert value(text, "eldonia_ingest_callbacks_total", kind="publish", verdict="bad_secret") == 1
    assert value(text, "eldonia_ingest_callbacks_total", kind="publish", verdict="refused") == 1
    assert value(text, "eldonia_ingest_callbacks_total", kind="update", verdict="allowed") == 1
    assert value(text, "eldonia_webhook_events_total", type="unknown", outcome="bad_signature") == 1
    assert value(text, "eldonia_webhook_events_total", type="other", outcome="ignored") == 1
    # HTTP latency by route pattern: never a token, a stream key or a raw path.
    routes = label_values(text, "eldonia_http_request_duration_seconds_count", "route")
    assert {
        "overlays/<str:token>/alerts/",
        "api/streams/<int:stream_id>",
        "webhooks/stripe/",
        "ingest/on_publish",
        "healthz",
        "metrics",
        "static",
        "unmatched",
    } <= routes
    assert (
        value(
            text,
            "eldonia_http_request_duration_seconds_count",
            method="GET",
            route="overlays/<str:token>/alerts/",
        )
        == 2
    )
    assert value(text, "eldonia_http_request_duration_seconds_count", route="unmatched") >= 1
    for secret in (overlay_token, unknown_overlay, stream.stream_key, unknown_key, "ingest-secret"):
        assert secret not in text


# --------------------------------------------------------------------------- a real worker


@pytest.fixture
def empty_queue():
    celery_app.control.purge()
    yield
    celery_app.control.purge()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_prefork_worker_serves_the_task_counts_of_all_its_processes(log_dir, empty_queue):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    name = "gamification.tasks.settle_stream_gamification"

    def scrape() -> str:
        response = httpx.get(url, headers=AUTH)
        assert response.status_code == 200, response.text
        return response.text

    with celery_worker(
        log_dir,
        pool="prefork",
        concurrency=2,
        CELERY_METRICS_PORT=f"127.0.0.1:{port}",
        METRICS_TOKEN=TOKEN,
    ) as worker:
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
        for _ in range(3):
            tasks.settle_stream_gamification.delay(987654321)  # no such stream: returns
        celery_app.send_task(name, args=[])  # a missing argument: the run fails
        wait_until(
            lambda: value(scrape(), "eldonia_celery_task_duration_seconds_count", task=name) == 4,
            timeout=30,
            what="4 task runs finished",
        )
        text = scrape()
        assert worker.alive()

    assert value(text, "eldonia_celery_task_runs_total", task=name) == 4
    assert value(text, "eldonia_celery_task_failures_total", task=name) == 1
    assert value(text, "eldonia_celery_task_duration_seconds_sum", task=name) > 0
    assert value(text, "eldonia_realtime_events_lost_total") == 0


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_without_metrics_token_serves_nothing(log_dir, empty_queue):
    port = free_port()
    with celery_worker(log_dir, CELERY_METRICS_PORT=f"127.0.0.1:{port}", METRICS_TOKEN="") as w:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert "CELERY_METRICS_PORT ignored: METRICS_TOKEN is unset" in w.log()
