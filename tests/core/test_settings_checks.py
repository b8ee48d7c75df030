from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from django.core.checks import run_checks

from tests.support.servers import ROOT, asgi_script, asgi_server, free_port, subprocess_env


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


def _start(server: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    port = free_port()
    return subprocess.run(
        asgi_script.command("127.0.0.1", port, server=server, python=sys.executable),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "s" * 50,
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "ALLOWED_HOSTS": "127.0.0.1",
    "INGEST_SECRET": "ingest",
}


def _production_env(**overrides: str) -> dict[str, str]:
    env = subprocess_env(**PRODUCTION)
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "ALLOWED_HOSTS"]
)
def test_the_server_refuses_to_start_without_production_settings(server, missing):
    result = _start(server, _production_env(**{missing: ""}))
    assert result.returncode != 0
    assert "Refusing to start" in result.stderr
    assert f"{missing} is" in result.stderr
    assert "s" * 50 not in result.stderr + result.stdout


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_refuses_to_start_without_production_settings(log_dir):
    env = _production_env(STRIPE_WEBHOOK_SECRET="")
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "STRIPE_WEBHOOK_SECRET is not set" in result.stderr


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_server_starts_with_production_settings(log_dir):
    with asgi_server(log_dir, **PRODUCTION) as server:
        response = httpx.get(f"{server.http_url}/healthz", timeout=10)
    assert response.status_code == 200
