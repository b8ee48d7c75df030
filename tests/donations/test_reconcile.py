"""``donations.tasks.reconcile_donation_totals`` repairs ``total_donations``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from config.celery import app
from donations.tasks import reconcile_donation_totals
from streams.models import LiveStream
from tests.donations.helpers import (
    live_stream,
    pending_donation,
    post_webhook,
    refunded_event,
    succeeded_event,
)

pytestmark = pytest.mark.django_db


def test_the_task_has_its_stable_name():
    assert reconcile_donation_totals.name == "donations.tasks.reconcile_donation_totals"
    assert "donations.tasks.reconcile_donation_totals" in app.tasks


def test_reconcile_repairs_a_corrupted_total_from_completed_minus_refunded(api, stripe_keys):
    stream = live_stream()
    quiet = live_stream()
    a, b, c = (pending_donation(stream, amount=x) for x in ("500", "1000", "700"))
    pending_donation(stream, amount="9999")  # never paid: not counted
    for d in (a, b, c):
        post_webhook(api, succeeded_event(d))
    post_webhook(api, refunded_event(b, refunded_minor=1000))
    post_webhook(api, refunded_event(c, refunded_minor=200))
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("1000.00")

    LiveStream.objects.filter(id=stream.id).update(total_donations=Decimal("123456.78"))
    LiveStream.objects.filter(id=quiet.id).update(total_donations=None)
    assert reconcile_donation_totals() == 2
    assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("1000.00")
    assert LiveStream.objects.get(id=quiet.id).total_donations == Decimal("0.00")
    assert reconcile_donation_totals() == 0  # nothing left to repair


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_runs_the_task_by_its_name(log_dir):
    import sys
    import time

    from tests.support.servers import ManagedProcess, subprocess_env

    stream = live_stream()
    LiveStream.objects.filter(id=stream.id).update(total_donations=Decimal("42.00"))
    worker = ManagedProcess(
        "celery-worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
        ],
        subprocess_env(),
        log_dir,
    )
    try:
        app.send_task("donations.tasks.reconcile_donation_totals")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and worker.alive():
            if LiveStream.objects.get(id=stream.id).total_donations == Decimal("0.00"):
                break
            time.sleep(0.3)
        assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("0.00"), worker.log()
    finally:
        worker.stop()


def test_the_stream_stats_summary_counts_completed_donations_net_of_refunds(api, stripe_keys):
    from donations.selectors import donation_summary

    stream = live_stream()
    a, b, c = (pending_donation(stream, amount=x) for x in ("500", "1000", "700"))
    pending_donation(stream, amount="9999")
    for d in (a, b, c):
        post_webhook(api, succeeded_event(d))
    post_webhook(api, refunded_event(b, refunded_minor=1000))
    post_webhook(api, refunded_event(c, refunded_minor=200))
    assert donation_summary(stream.id) == {"count": 2, "total": "1000.00"}
