from __future__ import annotations

import pytest

from tests.support import stripe_server as stripe_support
from tests.support.servers import daphne
from tests.support.stripe_server import StripeServer


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
def stripe_daphne(transactional_db, log_dir, stripe_keys):
    """A real Daphne process configured with the test Stripe keys and a local
    Stripe-compatible server; yields ``(daphne, stripe_server)``."""
    with (
        StripeServer() as server,
        daphne(
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
