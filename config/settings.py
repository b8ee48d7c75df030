"""Settings, read from the environment once (SPEC §10).

Development defaults apply only while ``DEBUG`` is on; with ``DEBUG`` off the secrets
must be set (``core/checks.py``; ``core/startup.py`` stops the server and workers).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of `make run`: embedded services, demo logins, the ingest's files.
DATA_DIR = Path(os.environ.get("DATA_DIR") or BASE_DIR / ".data")


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return default if value is None else int(value)


def env_float(name: str, default: float) -> float:
    value = env(name)
    return default if value is None else float(value)


# --------------------------------------------------------------------------- Django core

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY", "dev-insecure-secret-key-change-me" if DEBUG else None) or ""

ALLOWED_HOSTS = [
    h.strip()
    for h in (env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "") or "").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in (env("CSRF_TRUSTED_ORIGINS", "") or "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
]
# The project's own apps; config.routing collects their websocket routes.
PROJECT_APPS = [
    "core",
    "accounts",
    "realtime",
    "streams",
    "chat",
    "donations",
    "gamification",
    "pages",
    "webhooks",
]
INSTALLED_APPS += PROJECT_APPS

# Django's own middleware and WhiteNoise as core/async_middleware.py subclasses: same
# behaviour, but on the event loop under ASGI (no thread hop per middleware).
MIDDLEWARE = [
    "core.metrics.RequestTelemetryMiddleware",  # first: request id, times everything
    "core.async_middleware.SecurityMiddleware",
    "core.async_middleware.WhiteNoiseMiddleware",
    "core.async_middleware.SessionMiddleware",
    "core.async_middleware.CommonMiddleware",
    "core.async_middleware.CsrfViewMiddleware",
    "core.async_middleware.AuthenticationMiddleware",
    "accounts.middleware.AccountStatusMiddleware",
    "core.async_middleware.MessageMiddleware",
    "core.async_middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
# Honours users.account_status: suspended/deleted accounts cannot log in (SPEC §5).
# Logins go through AccountStatusBackend alone (it ends authentication on a refusal).
# Django's ModelBackend is listed so that sessions other parts of the platform create
# with it (the shared sessions naming Django's default backend) keep working here;
# account_status is enforced on every request and socket either way.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.AccountStatusBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# How often an open dashboard socket re-reads its owner's account_status.
ACCOUNT_RECHECK_SECONDS = env_float("ACCOUNT_RECHECK_SECONDS", 15.0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files (the admin's) are served by the application itself through WhiteNoise,
# under uvicorn and Daphne alike (SPEC §9a). With DEBUG off they come from STATIC_ROOT,
# which `manage.py collectstatic` fills (the Dockerfile does; needs no secrets); with
# DEBUG on, straight from the apps' static/ directories, looked up per request.
# No manifest (hashed names): `{% static %}` then never depends on collectstatic having
# run, so a missing collectstatic means unstyled admin pages, never a 500.
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# WhiteNoise streams files with a synchronous iterator, which Django's ASGI handler
# consumes in a thread and warns about once per process: expected, not a problem.
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators"
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --------------------------------------------------------------------------- Database

DATABASE_URL = env("DATABASE_URL", "")
if not DATABASE_URL:
    # The run and test commands export the embedded server's URL (scripts/services.py).
    DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/eldonia"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# One pool of connections per process (Django's psycopg pool, DATABASE_POOL=1, the
# default): a request, a socket's database work (chat send, a snapshot miss) or a task
# borrows a connection while it needs one and gives it back; nothing opens a connection
# of its own, so a process never holds more than DATABASE_POOL_SIZE, whatever the load
# (past that, callers queue for up to DATABASE_POOL_TIMEOUT seconds). Size it so that
#   server processes x (DATABASE_POOL_SIZE + 1)   (+1: the ingest's account listener)
#   + Celery worker processes + 2 (beat, a manage.py shell)
#   <= PostgreSQL's max_connections - superuser_reserved_connections (100 - 3 by default)
# e.g. 2 servers x (20 + 1) + 4 worker children + 2 = 48. Per server process it should
# cover REALTIME_DB_THREADS plus the requests that wait on the database at once.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 20)
DATABASE_APPLICATION_NAME = env("DATABASE_APPLICATION_NAME", "eldonia-live") or "eldonia-live"
# pg_stat_activity shows who holds which connection (the account listener: "<name>-listen").
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("application_name", DATABASE_APPLICATION_NAME)
if env_bool("DATABASE_POOL", True):
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_SIZE,
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
    }
DATABASES["default"].setdefault("TEST", {})
if env("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"]["NAME"] = env("TEST_DATABASE_NAME")

# --------------------------------------------------------------------------- Redis

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0") or ""
# Every Redis key and pub/sub channel of this deployment starts with this prefix, so
# two deployments (or two test runs) may share one Redis server.
REDIS_PREFIX = env("REDIS_PREFIX", "eldonia") or "eldonia"

# --------------------------------------------------------------------------- Realtime

# /healthz runs its checks at most once per this many seconds per process (every
# caller in between gets the last result), so a flood of probes costs nothing.
HEALTHZ_CACHE_SECONDS = env_float("HEALTHZ_CACHE_SECONDS", 1.0)

# Threads per process for the database work of sockets (chat send, snapshot misses,
# session lookups): mostly waiting on PostgreSQL and Redis. Keep DATABASE_POOL_SIZE
# above this plus the HTTP requests served at once.
REALTIME_DB_THREADS = env_int("REALTIME_DB_THREADS", 16)

# Daphne's runserver refuses client WebSocket messages larger than this (the
# production command passes the same value as --websocket-max-message-size).
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = 64 * 1024

# --------------------------------------------------------------------------- Celery

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 50
CELERY_TASK_TIME_LIMIT = 60
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died un-acked is redelivered after this many seconds.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300),
    # How often a worker sweeps for such messages: every interval x throttle seconds
    # (kombu's defaults, 10 x 10). Tests lower both to see a redelivery promptly.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10),
    "global_keyprefix": f"{REDIS_PREFIX}:celery:",
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --------------------------------------------------------------------------- REST API

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["core.api.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.inputs.StrictJSONParser"],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Eldonia-Nex Live API",
    "DESCRIPTION": (
        "Stream lifecycle, chat, donations and EXP for Eldonia-Nex Live. Browsers log in"
        " with the session cookie; every POST/PATCH/PUT/DELETE also sends `X-CSRFToken`"
        ' (from `GET /api/auth/csrf`). Errors: `{"error": {"code", "message"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # PATCH bodies are validated like the others (no partial=True): same component.
    "COMPONENT_SPLIT_PATCH": False,
    # /api/docs/ works offline: Swagger UI and Redoc come from drf-spectacular-sidecar
    # under STATIC_URL, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl None: no badge fetched from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "StreamStatusEnum": "streams.models.LiveStream.Status",
        "DonationStatusEnum": "donations.models.StreamDonation.PaymentStatus",
    },
}

# --------------------------------------------------------------------------- Stripe

STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", "sk_test_placeholder" if DEBUG else None) or ""
STRIPE_PUBLISHABLE_KEY = (
    env("STRIPE_PUBLISHABLE_KEY", "pk_test_placeholder" if DEBUG else None) or ""
)
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", "whsec_placeholder" if DEBUG else None) or ""
STRIPE_API_BASE = env("STRIPE_API_BASE", "https://api.stripe.com") or ""
DONATION_CURRENCY = (env("DONATION_CURRENCY", "jpy") or "jpy").lower()
# Pinned Stripe API version: webhook payloads and responses keep this shape.
STRIPE_API_VERSION = env("STRIPE_API_VERSION", "2026-10-28.endive") or ""
# Seconds before an outbound Stripe call gives up (the donor gets a 503, nothing is lost).
STRIPE_TIMEOUT_SECONDS = float(env("STRIPE_TIMEOUT_SECONDS", "10") or 10)
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 1)
# A webhook waits at most this long for a donation's row lock, then answers 5xx
# so that Stripe redelivers it.
STRIPE_WEBHOOK_LOCK_TIMEOUT_MS = env_int("STRIPE_WEBHOOK_LOCK_TIMEOUT_MS", 5000)
# The platform's cut of every completed donation, in percent (Decimal string):
# transactions.fee_amount = amount x PLATFORM_FEE_PERCENT / 100, net = amount - fee.
PLATFORM_FEE_PERCENT = env("PLATFORM_FEE_PERCENT", "10") or "10"
# Largest single donation, in major units of DONATION_CURRENCY (Stripe caps at
# 99,999,999 minor units anyway). The minimum is Stripe's per-currency minimum charge.
DONATION_MAX_AMOUNT = env("DONATION_MAX_AMOUNT", "1000000") or "1000000"

# Local test-mode payments (SPEC §9 "Local payments"): test-mode keys and a
# STRIPE_API_BASE on this machine (make run's donations/local_stripe.py) let the watch
# page complete a payment through POST /api/donations/{id}/test-complete, which has that
# server deliver the signed webhook. Never with live keys or against api.stripe.com.
STRIPE_LOCAL_TEST_MODE = (
    STRIPE_SECRET_KEY.startswith("sk_test_")
    and STRIPE_PUBLISHABLE_KEY.startswith("pk_test_")
    and STRIPE_API_BASE.startswith("http://")
    and (STRIPE_API_BASE[len("http://") :].split("/")[0].rsplit(":", 1)[0])
    in ("127.0.0.1", "localhost", "[::1]")
)

# --------------------------------------------------------------------------- Ingest

INGEST_SECRET = env("INGEST_SECRET", "") or ""
INGEST_RTMP_URL = env("INGEST_RTMP_URL", "rtmp://127.0.0.1:1935/live") or ""
PLAYBACK_URL_TEMPLATE = (
    env("PLAYBACK_URL_TEMPLATE", "http://127.0.0.1:8080/hls/{stream_id}.m3u8") or ""
)
# Where the ingest server writes HLS (make run renders nginx-rtmp with the same value).
HLS_DIR = env("HLS_DIR", str(DATA_DIR / "hls")) or ""
STREAM_RECONNECT_GRACE_SECONDS = env_int("STREAM_RECONNECT_GRACE_SECONDS", 90)
# How often the ingest server sends its update callback (nginx-rtmp
# ``notify_update_timeout``); a publisher not heard of for two of these may be replaced
# by a new publish of the same key (a zombie session after an unclean drop).
INGEST_UPDATE_INTERVAL_SECONDS = env_int("INGEST_UPDATE_INTERVAL_SECONDS", 30)
# A heartbeat the database verified lets the same publisher's next ones through on
# Redis alone for this long (streams/heartbeats.py), capped at the grace minus one
# update interval minus 10 s; 0 sends every heartbeat to the database.
INGEST_LEASE_SECONDS = env_int("INGEST_LEASE_SECONDS", 60)

# --------------------------------------------------------------------------- Archives, thumbnails
# (SPEC §4) The ingest records every broadcast into INGEST_RECORD_DIR (private: the
# ingest renders nginx-rtmp with the same value; on_record_done accepts only files in
# it). The worker writes MEDIA_ROOT/archives/<id>-<hash>.mp4 and thumbnails/<id>.jpg;
# the app serves those two folders under MEDIA_URL (core/media.py), DEBUG or not.
INGEST_RECORD_DIR = env("INGEST_RECORD_DIR", str(DATA_DIR / "recordings")) or ""
MEDIA_ROOT = env("MEDIA_ROOT", str(DATA_DIR / "media")) or ""
MEDIA_URL = "/" + ((env("MEDIA_URL", "") or "").strip("/") or "media") + "/"  # a path
# ffmpeg's limits: the whole remux of one stream's recordings, one frame grab.
ARCHIVE_FFMPEG_TIMEOUT_SECONDS = env_int("ARCHIVE_FFMPEG_TIMEOUT_SECONDS", 1800)
THUMBNAIL_FFMPEG_TIMEOUT_SECONDS = env_int("THUMBNAIL_FFMPEG_TIMEOUT_SECONDS", 15)

# --------------------------------------------------------------------------- Throttles (SPEC §5)
# Counted in Redis (core/throttle.py), so they hold across server processes. Each limit
# is "COUNT/SECONDS[,COUNT/SECONDS...]" (every rate must hold; sliding windows), or
# "off". A bad value stops start-up.


def env_rates(name: str, default: str) -> tuple[tuple[int, int], ...]:
    import re

    from django.core.exceptions import ImproperlyConfigured

    raw = (env(name, default) or default).strip().lower()
    if raw in ("off", "none"):
        return ()
    rates = []
    for part in raw.split(","):
        match = re.fullmatch(r"([0-9]+)/([0-9]+)", part.strip())
        if not match or not int(match[1]) or not int(match[2]):
            raise ImproperlyConfigured(
                f'{name}={raw!r}: expected COUNT/SECONDS[,COUNT/SECONDS...] such as "10/60"'
                ' (both at least 1), or "off"'
            )
        rates.append((int(match[1]), int(match[2])))
    return tuple(rates)


def env_networks(name: str) -> list[str]:
    import ipaddress

    from django.core.exceptions import ImproperlyConfigured

    networks = []
    for part in (env(name, "") or "").split(","):
        if part.strip():
            try:
                networks.append(str(ipaddress.ip_network(part.strip(), strict=False)))
            except ValueError as exc:
                raise ImproperlyConfigured(f"{name}: {exc}") from None
    return networks


# Reverse proxies (IPs/CIDRs) whose X-Forwarded-For is believed; none by default, so the
# client IP is the peer address.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# Failed logins per account (the username, case-insensitively) and per client IP.
THROTTLE_LOGIN_ACCOUNT = env_rates("THROTTLE_LOGIN_ACCOUNT", "10/300")
THROTTLE_LOGIN_IP = env_rates("THROTTLE_LOGIN_IP", "30/300")
# Accounts created per client IP, and signup attempts (any outcome) per client IP.
THROTTLE_SIGNUP_IP = env_rates("THROTTLE_SIGNUP_IP", "5/3600")
THROTTLE_SIGNUP_ATTEMPT_IP = env_rates("THROTTLE_SIGNUP_ATTEMPT_IP", "30/3600")
# Donations created (each a Stripe PaymentIntent) per client IP and per logged-in donor.
THROTTLE_DONATION_IP = env_rates("THROTTLE_DONATION_IP", "10/60,60/3600")
THROTTLE_DONATION_ACCOUNT = env_rates("THROTTLE_DONATION_ACCOUNT", "10/60,60/3600")
# Overlay test alerts per streamer.
THROTTLE_OVERLAY_TEST_ACCOUNT = env_rates("THROTTLE_OVERLAY_TEST_ACCOUNT", "5/60")
# How long a donation's Idempotency-Key is remembered (per donor, or per IP for guests).
DONATION_IDEMPOTENCY_TTL_SECONDS = env_int("DONATION_IDEMPOTENCY_TTL_SECONDS", 24 * 3600)

# ------------------------------------------------------------------ Outbound webhooks (SPEC §7a)
# Hosts webhook URLs may target besides public ones: hostnames, IPs or CIDRs, comma-
# separated. Private, loopback, link-local, multicast and reserved addresses are refused
# unless the URL's host or the address it resolves to is listed (webhooks/ssrf.py).
WEBHOOK_ALLOWED_HOSTS = [
    h.strip() for h in (env("WEBHOOK_ALLOWED_HOSTS", "") or "").split(",") if h.strip()
]
# One delivery attempt, DNS lookup included, gives up after this many seconds.
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
# Retries wait BASE, 2 x BASE, 4 x BASE ... at most MAX seconds; an event is given up
# when its next retry would fall later than RETRY_WINDOW seconds after it happened.
WEBHOOK_BACKOFF_BASE_SECONDS = env_float("WEBHOOK_BACKOFF_BASE_SECONDS", 10.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env_float("WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0)
WEBHOOK_RETRY_WINDOW_SECONDS = env_float("WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600.0)
WEBHOOK_MAX_SUBSCRIPTIONS = env_int("WEBHOOK_MAX_SUBSCRIPTIONS", 10)
# Test events per account, and subscriptions created (each resolves a hostname) per account.
THROTTLE_WEBHOOK_TEST_ACCOUNT = env_rates("THROTTLE_WEBHOOK_TEST_ACCOUNT", "5/60")
THROTTLE_WEBHOOK_CREATE_ACCOUNT = env_rates("THROTTLE_WEBHOOK_CREATE_ACCOUNT", "20/3600")

# --------------------------------------------------------------------------- Metrics

# Bearer token of GET /metrics (and of a Celery worker's CELERY_METRICS_PORT); unset:
# no metrics are served (404).
METRICS_TOKEN = env("METRICS_TOKEN", "") or ""

# --------------------------------------------------------------------------- Logging

# "plain" (the default) or "json": one JSON object per line (core/logging.py).
LOG_FORMAT = (env("LOG_FORMAT", "plain") or "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f'LOG_FORMAT={LOG_FORMAT!r}: expected "plain" or "json"')

# Every record goes through the root's one handler, once.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own defaults (applied before this) give "django" a handler of its
        # own (printing while DEBUG is on) besides the root's: every django.request
        # warning appeared twice. No handler here; "django.server" loses its own too.
        "django": {"handlers": [], "level": "NOTSET", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # uvicorn configures its loggers before it loads the application, with a
        # handler and format of its own: its messages take ours instead (the level
        # stays the one uvicorn's --log-level set).
        "uvicorn.error": {"handlers": ["console"], "propagate": False},
    },
}
