from __future__ import annotations

from django.core.checks import run_checks


def test_production_without_secrets_fails_loudly(settings):
    settings.DEBUG = False
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    settings.INGEST_SECRET = ""
    ids = {message.id for message in run_checks()}
    assert {"eldonia.E002", "eldonia.E004", "eldonia.W001"} <= ids


def test_production_with_secrets_passes(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "s" * 50
    settings.STRIPE_SECRET_KEY = "sk_live_x"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_live_x"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    settings.INGEST_SECRET = "ingest"
    settings.ALLOWED_HOSTS = ["live.example.com"]
    ids = {message.id for message in run_checks()}
    assert not {i for i in ids if i.startswith("eldonia.")}
