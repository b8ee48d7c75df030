"""A donation rush (SPEC §6) against two real server processes: concurrent deliveries of
different donations of one stream, with duplicates, count every donation exactly once,
book every sale once, and alert every overlay once per donation. The completions share
only the stream's row, written last; the one race that row can lose (two completions
that only together overflow the total) answers 503 and loses nothing."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import psycopg
import pytest
import websockets
from django.db import connection

from donations.models import StreamDonation, StripeEvent, Transaction
from donations.services import STREAM_TOTAL_MAX, platform_fee
from streams.models import LiveStream
from tests.donations.helpers import live_stream, pending_donation, succeeded_event
from tests.support import rooms
from tests.support import stripe_server as stripe_support
from tests.support.servers import test_database_url as database_url
from tests.support.servers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STRIPE_ENV = {
    "STRIPE_SECRET_KEY": stripe_support.SECRET_KEY,
    "STRIPE_PUBLISHABLE_KEY": stripe_support.PUBLISHABLE_KEY,
    "STRIPE_WEBHOOK_SECRET": stripe_support.WEBHOOK_SECRET,
    "DONATION_CURRENCY": "jpy",
    "PLATFORM_FEE_PERCENT": "10",
}


def deliver(url: str, evt: dict) -> httpx.Response:
    payload = stripe_support.body(evt)
    headers = {"Stripe-Signature": stripe_support.sign(payload), "Content-Type": "application/json"}
    return httpx.post(f"{url}/webhooks/stripe/", content=payload, headers=headers, timeout=60)


def test_a_rush_over_two_processes_counts_each_donation_once(log_dir, stripe_keys):
    stream = live_stream()
    donations = [pending_donation(stream, amount=str(100 + 10 * i)) for i in range(60)]
    events = [succeeded_event(d) for d in donations]
    rng = random.Random(7)
    burst = events + rng.sample(events, 20)  # Stripe delivers some twice
    rng.shuffle(burst)
    with rooms.two_servers(log_dir, **STRIPE_ENV) as (a, b):

        async def rush() -> tuple[list[httpx.Response], list[dict]]:
            alerts: list[dict] = []
            async with websockets.connect(
                f"{a.ws_url}/ws/streams/{stream.id}/", origin=a.origin
            ) as viewer:
                for _ in range(2):  # stream.state, chat.history
                    await viewer.recv()

                def send_all() -> list[httpx.Response]:
                    with ThreadPoolExecutor(16) as pool:
                        return list(
                            pool.map(
                                lambda item: deliver((a, b)[item[0] % 2].http_url, item[1]),
                                enumerate(burst),
                            )
                        )

                sending = asyncio.ensure_future(asyncio.to_thread(send_all))
                deadline = time.monotonic() + 60
                while len(alerts) < len(donations) and time.monotonic() < deadline:
                    try:
                        frame = json.loads(await asyncio.wait_for(viewer.recv(), 5))
                    except TimeoutError:
                        break
                    if frame["type"] == "donation":
                        alerts.append(frame)
                answers = await sending
                try:  # nothing more may follow
                    while True:
                        frame = json.loads(await asyncio.wait_for(viewer.recv(), 1))
                        if frame["type"] == "donation":
                            alerts.append(frame)
                except TimeoutError:
                    pass
            return answers, alerts

        answers, alerts = asyncio.run(rush())

    # A delivery that waited too long for a lock gets 503 and is redelivered by Stripe;
    # on this machine none should, and every answer says what happened.
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers][:3]
    results = sorted(r.json()["result"] for r in answers)
    assert results == ["completed"] * 60 + ["duplicate"] * 20
    assert sorted(alert["id"] for alert in alerts) == sorted(d.id for d in donations)
    expected = sum((d.amount for d in donations), Decimal(0))
    assert LiveStream.objects.get(id=stream.id).total_donations == expected
    assert set(StreamDonation.objects.values_list("payment_status", flat=True)) == {"completed"}
    sales = Transaction.objects.filter(reference_type="donation", transaction_type="sale")
    assert sales.count() == 60
    for sale in sales:
        donation = next(d for d in donations if d.id == sale.reference_id)
        assert sale.amount == donation.amount
        assert sale.fee_amount == platform_fee(donation.amount, "jpy")
        assert sale.net_amount == sale.amount - sale.fee_amount
        assert sale.user_id == stream.streamer_id
    assert StripeEvent.objects.count() == 60


def test_two_completions_that_only_together_overflow_the_total_lose_nothing(
    stripe_app, stripe_keys
):
    """The completion checks for room without the stream's lock; another transaction
    fills the total before it writes: its guarded UPDATE finds no room, the delivery
    answers 503 with nothing changed, and Stripe's redelivery flags the donation."""
    app, _ = stripe_app
    stream = live_stream()
    late = pending_donation(stream, amount="1000")
    LiveStream.objects.filter(id=stream.id).update(total_donations=STREAM_TOTAL_MAX - 1500)
    connection.close()
    evt = succeeded_event(late)
    other = psycopg.connect(database_url(), autocommit=False)
    try:
        # Someone else holds the stream's row (as a concurrent completion would).
        other.execute("SELECT id FROM live_streams WHERE id = %s FOR UPDATE", [stream.id])
        result: dict = {}
        delivery = threading.Thread(target=lambda: result.update(r=deliver(app.http_url, evt)))
        delivery.start()

        def waiting_for_the_row() -> bool:
            with psycopg.connect(database_url(), autocommit=True) as probe:
                return bool(
                    probe.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE live_streams%%'"
                    ).fetchone()[0]
                )

        wait_until(waiting_for_the_row, "the completion waiting for the stream's row", 15)
        # That other completion takes the room, and commits.
        other.execute(
            "UPDATE live_streams SET total_donations = total_donations + 1000 WHERE id = %s",
            [stream.id],
        )
        other.commit()
        delivery.join(30)
    finally:
        other.close()
    assert result["r"].status_code == 503, result["r"].text
    assert result["r"].json()["error"]["code"] == "temporarily_unavailable"
    late.refresh_from_db()
    assert (late.payment_status, late.flag_reason) == ("pending", None)
    assert not StripeEvent.objects.exists()
    assert not Transaction.objects.exists()
    total = LiveStream.objects.get(id=stream.id).total_donations
    assert total == STREAM_TOTAL_MAX - 500
    # Stripe redelivers the same event: now there is no room, and it is flagged.
    again = deliver(app.http_url, evt)
    assert again.status_code == 200
    assert again.json()["result"] == "stream_total_overflow"
    late.refresh_from_db()
    assert late.flag_reason == "stream_total_overflow"
    assert LiveStream.objects.get(id=stream.id).total_donations == total
    assert deliver(app.http_url, evt).json()["result"] == "duplicate"
