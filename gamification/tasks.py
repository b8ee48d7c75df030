"""Celery entry points (SPEC §8). Explicit stable names, ids in, a service call inside.

Both tasks are idempotent by data (see ``gamification.services``), so ``acks_late``
is safe: a message redelivered after a worker died runs again and pays nothing twice.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from gamification import services


@shared_task(
    name="gamification.tasks.award_stream_minutes",
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
)
def award_stream_minutes() -> None:
    """Every 60 s from beat: pay new full live minutes of every live stream."""
    services.award_stream_minutes()


@shared_task(
    bind=True,
    name="gamification.tasks.settle_stream_gamification",
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def settle_stream_gamification(self, stream_id: int) -> None:
    """After a stream ended: last minutes and achievements. Missing stream: no-op."""
    services.settle_stream(stream_id=int(stream_id))
