"""Prometheus metrics (SPEC §9a): every metric of the project, and ``GET /metrics``.

``GET /metrics`` answers only with ``Authorization: Bearer <METRICS_TOKEN>`` (404
while ``METRICS_TOKEN`` is unset, 401 without the right token). Each server process
counts for itself and serves its own numbers: scrape every process (one target per
process/port), and let Prometheus sum them.

Two kinds of counters:

* **Plain ints** where the cost per event matters: the realtime fan-out's
  ``realtime.fanout.stats`` (one ``+= 1`` per delivery) and the socket counters below
  (``sockets_open`` …), bumped only on the event loop's thread. ``PlainCounters``
  reads them when Prometheus scrapes; nothing else happens on the hot path.
* **prometheus_client metrics** (``Counter``, ``Histogram``) for everything that
  costs a database write or a request anyway (chat messages, webhooks, ingest
  callbacks, HTTP latency, Celery tasks).

Celery workers (``CELERY_METRICS_PORT``): ``config/celery.py`` switches the worker to
prometheus_client's multiprocess mode before anything imports it, so that each pool
process (prefork children included) writes its counts to files in
``PROMETHEUS_MULTIPROC_DIR``, and the worker's main process serves their sum on that
port (``start_worker_metrics_server``).

Labels never hold request data: HTTP requests are labelled with their route pattern
(``overlays/<str:token>/alerts/``, never the token), ``static`` for static files,
``unmatched`` when no route matched; webhook types outside those we handle are
``other``.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from core import logging as log_context
from core.middleware import HybridMiddleware

logger = logging.getLogger(__name__)

SOCKET_KINDS = ("room", "dashboard", "overlay")

# --------------------------------------------------------------------------- plain ints
# Bumped by realtime/sockets.py on the event loop's thread; read by ``PlainCounters``.

sockets_open: defaultdict[str, int] = defaultdict(int)  # kind
socket_joins: defaultdict[str, int] = defaultdict(int)  # kind
socket_leaves: defaultdict[str, int] = defaultdict(int)  # kind
socket_refusals: defaultdict[tuple[str, int], int] = defaultdict(int)  # kind, close code
socket_error_frames: defaultdict[tuple[str, str], int] = defaultdict(int)  # kind, code
# A handler refused a client frame (ApplicationError): kind, frame type, error code.
socket_frame_rejections: defaultdict[tuple[str, str, str], int] = defaultdict(int)

# --------------------------------------------------------------------------- metrics

CHAT_MESSAGES = Counter("eldonia_chat_messages", "Chat messages stored.")
WEBHOOK_EVENTS = Counter(
    "eldonia_webhook_events",
    "Stripe webhook deliveries by event type and outcome (the handler's result, "
    "bad_signature, unavailable, error).",
    ["type", "outcome"],
)
INGEST_CALLBACKS = Counter(
    "eldonia_ingest_callbacks",
    "Ingest server callbacks by kind (publish, publish_done, update, record_done) and "
    "verdict (allowed, refused, bad_secret, invalid).",
    ["kind", "verdict"],
)
HTTP_REQUEST_DURATION = Histogram(
    "eldonia_http_request_duration_seconds",
    "HTTP requests: time in Django by method, route pattern and status class.",
    ["method", "route", "status"],
)

# Celery workers only (not registered: the worker serves them from the multiprocess
# directory, see start_worker_metrics_server).
CELERY_TASK_RUNS = Counter(
    "eldonia_celery_task_runs", "Celery task runs started.", ["task"], registry=None
)
CELERY_TASK_FAILURES = Counter(
    "eldonia_celery_task_failures",
    "Celery task runs that failed (raised, hit the hard time limit, lost their process).",
    ["task"],
    registry=None,
)
CELERY_TASK_DURATION = Histogram(
    "eldonia_celery_task_duration_seconds",
    "Celery task run time.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=None,
)
CELERY_EVENTS_LOST = Counter(
    "eldonia_realtime_events_lost",
    "Realtime events committed by tasks but not published (Redis down after commit).",
    registry=None,
)
# Outbound webhooks (webhooks/delivery.py), sent by workers: attempts by event type and
# outcome (delivered, failed, refused, given_up).
WEBHOOK_DELIVERIES = Counter(
    "eldonia_outbound_webhook_deliveries",
    "Outbound webhook delivery attempts by event type and outcome (delivered, failed:"
    " will retry, refused: address not allowed, given_up).",
    ["type", "outcome"],
    registry=None,
)

_FANOUT_COUNTERS = (
    ("events_received", "eldonia_realtime_events_received", "Room events received from Redis."),
    ("deliveries", "eldonia_realtime_deliveries", "Room events delivered to sockets."),
    (
        "slow_closed",
        "eldonia_realtime_slow_clients_closed",
        "Sockets closed with 4429 for not reading fast enough.",
    ),
    (
        "redis_reconnects",
        "eldonia_realtime_redis_reconnects",
        "Reconnections of the Redis pub/sub connection.",
    ),
    (
        "publish_failed",
        "eldonia_realtime_events_lost",
        "Realtime events committed but not published (Redis down after commit).",
    ),
)


class PlainCounters(Collector):
    """Exports the plain-int counters at scrape time."""

    def describe(self) -> Iterable[Metric]:
        return self._families(sockets={}, fanout={})

    def collect(self) -> Iterable[Metric]:
        from realtime.fanout import stats  # the realtime app, loaded only to scrape

        # Copies: dict() of a dict is one step for the interpreter, so the view sees
        # a consistent snapshot even if a thread bumps a counter meanwhile.
        sockets = {
            "open": dict(sockets_open),
            "joins": dict(socket_joins),
            "leaves": dict(socket_leaves),
            "refusals": dict(socket_refusals),
            "errors": dict(socket_error_frames),
            "rejections": dict(socket_frame_rejections),
        }
        return self._families(sockets=sockets, fanout=dict(stats))

    @staticmethod
    def _families(*, sockets: dict[str, dict], fanout: dict[str, int]) -> list[Metric]:
        def by_kind(counts: dict[str, int]) -> dict[str, int]:
            return {**dict.fromkeys(SOCKET_KINDS, 0), **counts}

        open_ = GaugeMetricFamily(
            "eldonia_sockets_open", "WebSockets open now, by kind.", labels=["kind"]
        )
        joins = CounterMetricFamily(
            "eldonia_socket_joins", "WebSockets accepted, by kind.", labels=["kind"]
        )
        leaves = CounterMetricFamily(
            "eldonia_socket_leaves", "Accepted WebSockets that ended, by kind.", labels=["kind"]
        )
        for family, key in ((open_, "open"), (joins, "joins"), (leaves, "leaves")):
            for kind, value in sorted(by_kind(sockets.get(key, {})).items()):
                family.add_metric([kind], value)
        refusals = CounterMetricFamily(
            "eldonia_socket_refusals",
            "WebSockets refused at connect, by kind and close code.",
            labels=["kind", "code"],
        )
        for (kind, code), value in sorted(sockets.get("refusals", {}).items()):
            refusals.add_metric([kind, str(code)], value)
        errors = CounterMetricFamily(
            "eldonia_socket_error_frames",
            "error frames sent to clients, by socket kind and error code.",
            labels=["kind", "code"],
        )
        for (kind, code), value in sorted(sockets.get("errors", {}).items()):
            errors.add_metric([kind, code], value)
        rejections = CounterMetricFamily(
            "eldonia_socket_frame_rejections",
            "Client frames refused by their handler, by socket kind, frame type and error "
            'code (chat rejections: frame="chat.send").',
            labels=["kind", "frame", "code"],
        )
        for (kind, frame, code), value in sorted(sockets.get("rejections", {}).items()):
            rejections.add_metric([kind, frame, code], value)
        families: list[Metric] = [open_, joins, leaves, refusals, errors, rejections]
        for key, name, documentation in _FANOUT_COUNTERS:
            families.append(CounterMetricFamily(name, documentation, value=fanout.get(key, 0)))
        return families


REGISTRY.register(PlainCounters())


# --------------------------------------------------------------------------- the view


def _authorized(header: str | None) -> bool:
    scheme, _, given = (header or "").partition(" ")
    token = settings.METRICS_TOKEN
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` (async: it reads the socket counters on the event loop's
    thread, where they are written)."""
    if not settings.METRICS_TOKEN:
        raise Http404("No metrics here.")
    if not _authorized(request.headers.get("Authorization")):
        response = HttpResponse("Unauthorized.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- HTTP requests

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _static_prefix() -> str:
    return "/" + settings.STATIC_URL.lstrip("/")


class RequestTelemetryMiddleware(HybridMiddleware):
    """First in ``MIDDLEWARE``: gives each request its id (``core/logging.py``: the log
    context, echoed as ``X-Request-ID``) and times it into
    ``eldonia_http_request_duration_seconds``."""

    def handle(self, request: HttpRequest) -> Any:
        request_id, token, started = self._begin(request)
        response = None
        try:
            response = self.get_response(request)
            return response
        finally:
            self._end(request, response, request_id, token, started)

    async def ahandle(self, request: HttpRequest) -> Any:
        request_id, token, started = self._begin(request)
        response = None
        try:
            response = await self.get_response(request)
            return response
        finally:
            self._end(request, response, request_id, token, started)

    @staticmethod
    def _begin(request: HttpRequest) -> tuple[str, Any, float]:
        request_id = log_context.request_id_from(request.headers.get(log_context.REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        return request_id, log_context.bind_request(request, request_id), time.perf_counter()

    @staticmethod
    def _end(
        request: HttpRequest, response: Any, request_id: str, token: Any, started: float
    ) -> None:
        elapsed = time.perf_counter() - started
        log_context.unbind(token)
        status = getattr(response, "status_code", 500)
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None) if match is not None else None
        if not route:
            # Static files are answered (by WhiteNoise) before any URL is resolved.
            route = "static" if request.path.startswith(_static_prefix()) else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUEST_DURATION.labels(method, route, f"{status // 100}xx").observe(elapsed)
        if response is not None:
            response[log_context.REQUEST_ID_HEADER] = request_id


# --------------------------------------------------------------------------- Celery


def worker_metrics_address(value: str) -> tuple[str, int]:
    """``CELERY_METRICS_PORT``: ``PORT`` (all interfaces) or ``HOST:PORT``."""
    host, _, port = value.rpartition(":")
    return host or "0.0.0.0", int(port)  # noqa: S104  (Prometheus scrapes from elsewhere)


_task_started: dict[str, float] = {}
_events_lost_seen = 0


def _task_prerun(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    name = getattr(sender, "name", "unknown")
    CELERY_TASK_RUNS.labels(name).inc()
    if task_id is not None:
        _task_started[task_id] = time.perf_counter()


def _task_postrun(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    global _events_lost_seen
    started = _task_started.pop(task_id, None) if task_id is not None else None
    if started is not None:
        CELERY_TASK_DURATION.labels(getattr(sender, "name", "unknown")).observe(
            time.perf_counter() - started
        )
    from realtime.fanout import stats

    lost = stats["publish_failed"]
    if lost > _events_lost_seen:
        CELERY_EVENTS_LOST.inc(lost - _events_lost_seen)
        _events_lost_seen = lost


def _task_failure(sender: Any = None, **kwargs: Any) -> None:
    CELERY_TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()


def count_celery_tasks() -> None:
    """Count every task run of this worker (all its pool processes: the signals are
    connected in the main process before the pool forks)."""
    from celery import signals

    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="eldonia-metrics-pre")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="eldonia-metrics-post")
    signals.task_failure.connect(_task_failure, weak=False, dispatch_uid="eldonia-metrics-fail")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def worker_metrics_app(registry: CollectorRegistry) -> Callable[..., Iterable[bytes]]:
    """``GET /metrics`` of a worker, behind the same bearer token as the server's."""
    inner = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found.\n"]
        if not _authorized(environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"Unauthorized.\n"]
        return inner(environ, start_response)

    return app


def start_worker_metrics_server(address: str) -> None:
    """Serve the sum of this worker's pool processes on ``address`` (in a thread of
    the worker's main process). Precondition: ``PROMETHEUS_MULTIPROC_DIR`` was set
    before prometheus_client was imported (``config/celery.py``)."""
    from prometheus_client import multiprocess, values

    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if values.ValueClass.__name__ != "MmapedValue":  # imported before the switch
        logger.error("worker metrics not served: prometheus_client is not in multiprocess mode")
        return
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    host, port = worker_metrics_address(address)
    server = make_server(
        host, port, worker_metrics_app(registry), ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    logger.info("worker metrics on http://%s:%s/metrics (%s)", host, port, path)
