"""The Celery app: Redis broker, JSON only, the beat schedule in code (SPEC §8)."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_misconfiguration(**kwargs: object) -> None:
    """Workers and beat refuse a configuration that cannot work, as the server does."""
    from core.startup import refuse_misconfiguration

    refuse_misconfiguration()


# Periodic jobs. Each task is safe to run at any time, any number of times,
# concurrently; ``expires`` drops a backlog that piled up while workers were down
# instead of running it in a stampede (the next run catches up by itself).
app.conf.beat_schedule = {
    "award-stream-minutes": {
        "task": "gamification.tasks.award_stream_minutes",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "persist-viewer-peaks": {
        "task": "streams.tasks.persist_viewer_peaks",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "end-stale-streams": {
        "task": "streams.tasks.end_stale_streams",
        "schedule": 15.0,
        "options": {"expires": 14},
    },
    "reconcile-donation-totals": {
        "task": "donations.tasks.reconcile_donation_totals",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
}
