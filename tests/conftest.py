from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.test import Client

from tests.support import factories, servers
from tests.support import stripe_server as stripe_support
from tests.support.stripe_server import StripeServer


class ApiClient(Client):
    """A browser-like client: session cookie, CSRF enforced, JSON in and out."""

    def __init__(self) -> None:
        super().__init__(enforce_csrf_checks=True)

    def csrf(self) -> str:
        self.get("/api/auth/csrf")
        return self.cookies["csrftoken"].value

    def call(self, method: str, path: str, data: Any = None, *, csrf: bool = True, **extra):
        headers = extra.pop("headers", {})
        if csrf and method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers["X-CSRFToken"] = self.csrf()
        body = json.dumps(data) if data is not None else ""
        return self.generic(
            method.upper(), path, body, content_type="application/json", headers=headers, **extra
        )

    def login_as(self, user, password: str = factories.PASSWORD):
        response = self.call(
            "POST", "/api/auth/login", {"username": user.username, "password": password}
        )
        assert response.status_code == 200, response.content
        return response


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Create the test database as usual; before it is dropped, end the sessions that
    async tests left open in worker threads (Django would refuse to drop it)."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


@pytest.fixture
def user(db):
    return factories.make_user()


@pytest.fixture
def log_dir(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture
def asgi_server(transactional_db, log_dir):
    """A real ASGI server process (uvicorn unless ``TEST_ASGI_SERVER`` says
    otherwise) serving config.asgi:application on a free port."""
    with servers.asgi_server(log_dir) as server:
        yield server


@pytest.fixture
def stripe_keys(settings):
    settings.STRIPE_SECRET_KEY = stripe_support.SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = stripe_support.PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = stripe_support.WEBHOOK_SECRET
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.DONATION_CURRENCY = "jpy"
    settings.PLATFORM_FEE_PERCENT = "10"
    return settings


@pytest.fixture
def stripe_server(stripe_keys):
    with StripeServer() as server:
        stripe_keys.STRIPE_API_BASE = server.url
        yield server


@pytest.fixture
def stripe_app(transactional_db, log_dir, stripe_keys):
    """A real ASGI server process (as ``asgi_server``) configured with the test Stripe
    keys and a local Stripe-compatible server; yields ``(app, stripe_server)``."""
    with (
        StripeServer() as server,
        servers.asgi_server(
            log_dir,
            STRIPE_API_BASE=server.url,
            STRIPE_SECRET_KEY=stripe_support.SECRET_KEY,
            STRIPE_PUBLISHABLE_KEY=stripe_support.PUBLISHABLE_KEY,
            STRIPE_WEBHOOK_SECRET=stripe_support.WEBHOOK_SECRET,
            STRIPE_MAX_NETWORK_RETRIES="0",
            DONATION_CURRENCY="jpy",
            PLATFORM_FEE_PERCENT="10",
        ) as app,
    ):
        yield app, server


@pytest.fixture(autouse=True)
def seeded_gamification(django_db_blocker, request):
    """The seed rows that migrations insert (``exp_actions``, the six achievements).

    Tests with ``transaction=True`` end with a flush that deletes them; put them
    back so every test starts from the migrated state.
    """
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    seed_actions = importlib.import_module("gamification.migrations.0002_seed_data")
    seed_achievements = importlib.import_module(
        "gamification.migrations.0004_seed_streaming_achievements"
    )
    request.getfixturevalue("_django_db_helper")
    with django_db_blocker.unblock():
        seed_actions.insert_exp_actions(django_apps, None)
        seed_achievements.insert_achievements(django_apps, None)
    yield
