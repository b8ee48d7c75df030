"""Celery tasks of donations (SPEC §8)."""

from __future__ import annotations

import logging

from celery import shared_task

from donations.services import do_reconcile_stream_total, streams_with_wrong_totals

logger = logging.getLogger(__name__)


@shared_task(
    name="donations.tasks.reconcile_donation_totals",
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
)
def reconcile_donation_totals() -> int:
    """Make every ``live_streams.total_donations`` equal completed minus refunded
    donations. Safe at any time, any number of times, concurrently: each stream is
    recomputed under its row lock. Returns how many totals were repaired."""
    repaired = 0
    for stream_id in streams_with_wrong_totals():
        if do_reconcile_stream_total(stream_id=stream_id):
            repaired += 1
    if repaired:
        logger.warning("reconcile_donation_totals repaired %d stream totals", repaired)
    return repaired
