"""The Celery app: Redis broker, JSON only, the beat schedule in code (SPEC §8)."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)


def _task_metrics_address() -> str:
    """``CELERY_METRICS_PORT`` when task metrics are on (they need ``METRICS_TOKEN``)."""
    from django.conf import settings

    address = os.environ.get("CELERY_METRICS_PORT", "")
    return address if address and settings.METRICS_TOKEN else ""


# Connected before the app exists, so that it runs before the Django fix-up's receiver
# of the same signal sets Django up, which imports the task modules and with them
# prometheus_client.
@signals.import_modules.connect
def _count_tasks(**kwargs: object) -> None:
    """With ``CELERY_METRICS_PORT``, every task run of this worker is counted
    (``core/metrics.py``) in prometheus_client's multiprocess mode: each pool process
    (prefork children included) writes its counts to files under
    ``PROMETHEUS_MULTIPROC_DIR`` (a new temporary directory, removed at exit, unless
    set: then it must be empty and this worker's own), and the main process serves
    their sum (``_serve_task_metrics``). Correct with every pool (prefork, threads,
    solo). The mode is chosen when prometheus_client is first imported: here, before
    anything else imports it, and before the pool's processes start."""
    if not _task_metrics_address():
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = tempfile.mkdtemp(prefix="celery-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        pid = os.getpid()
        atexit.register(lambda: os.getpid() == pid and shutil.rmtree(path, ignore_errors=True))
    from core import metrics

    metrics.count_celery_tasks()


app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_misconfiguration(**kwargs: object) -> None:
    """Workers and beat refuse a configuration that cannot work, as the server does."""
    from core.startup import refuse_misconfiguration

    refuse_misconfiguration()


@signals.worker_init.connect
def _serve_task_metrics(**kwargs: object) -> None:
    """The worker's main process serves its task metrics on ``CELERY_METRICS_PORT``."""
    if not os.environ.get("CELERY_METRICS_PORT"):
        return
    if not _task_metrics_address():
        logger.warning("CELERY_METRICS_PORT ignored: METRICS_TOKEN is unset")
        return
    from core import metrics

    metrics.start_worker_metrics_server(_task_metrics_address())


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
    "capture-thumbnails": {
        "task": "streams.tasks.capture_thumbnails",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "reconcile-donation-totals": {
        "task": "donations.tasks.reconcile_donation_totals",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    "sweep-webhook-deliveries": {
        "task": "webhooks.tasks.sweep_deliveries",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
}
