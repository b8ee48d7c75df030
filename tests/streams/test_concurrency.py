"""Two ingest servers (or retries) racing on one key: the row lock decides once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from streams import services
from streams.models import LiveStream
from tests.support.factories import make_stream

pytestmark = pytest.mark.django_db(transaction=True)


def _race(n, target):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = target(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_concurrent_publishes_on_one_key_let_exactly_one_publisher_in():
    stream = make_stream()
    results = _race(
        4,
        lambda i: services.do_ingest_publish(stream_key=stream.stream_key, client_id=str(i)),
    )
    winners = [str(i) for i, r in enumerate(results) if r.allowed]
    assert len(winners) == 1
    live = LiveStream.objects.get(id=stream.id)
    assert live.status == "live" and live.ingest_client_id == winners[0]


def test_concurrent_owner_ends_end_the_stream_once():
    stream = make_stream()
    services.do_go_live(stream_id=stream.id)

    def end(_i):
        try:
            services.do_end_stream(stream_id=stream.id)
            return "ended"
        except services.InvalidTransition:
            return "409"

    assert sorted(_race(3, end)) == ["409", "409", "ended"]
