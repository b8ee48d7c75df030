"""``make run`` (scripts/run.py) with the default test-mode placeholder keys starts the
local Stripe-compatible server and points ``STRIPE_API_BASE`` at it (SPEC §9 "Local
payments"): a donation made against it completes through the signed webhook; with
real keys or an explicit ``STRIPE_API_BASE`` nothing extra is started."""

from __future__ import annotations

import time
from decimal import Decimal
from types import ModuleType

import httpx
import pytest

from donations.models import StreamDonation
from streams.models import LiveStream
from tests.donations.helpers import live_stream
from tests.e2e.test_make_run_ingest import RunPy, port_open
from tests.support.servers import free_port, load_module, subprocess_env
from tests.support.throttles import UNLIMITED_ENV

STRIPE_VARIABLES = (
    "STRIPE_API_BASE",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_LOCAL_PORT",
)


def load_run_py() -> ModuleType:
    return load_module("scripts/run.py", "make_run")


@pytest.mark.parametrize(
    "env",
    [
        {"STRIPE_API_BASE": "http://127.0.0.1:9999"},
        {"STRIPE_SECRET_KEY": "sk_test_mine", "STRIPE_PUBLISHABLE_KEY": "pk_test_mine"},
    ],
)
def test_make_run_leaves_payments_alone_with_real_keys_or_an_api_base(env):
    command, note = load_run_py()._local_payments(dict(env), "127.0.0.1", 8000)
    assert command is None and "test mode" not in note


def test_make_run_picks_the_local_server_port_and_webhook_url():
    env = {"STRIPE_LOCAL_PORT": "23456", "STRIPE_SECRET_KEY": "sk_test_placeholder"}
    command, note = load_run_py()._local_payments(env, "0.0.0.0", 8123)
    assert command is not None and command[1:3] == ["-m", "donations.local_stripe"]
    assert env["STRIPE_API_BASE"] == "http://127.0.0.1:23456"
    assert command[command.index("--webhook-url") + 1] == "http://127.0.0.1:8123/webhooks/stripe/"
    assert "payments    test mode (local Stripe-compatible server on http://127.0.0.1:23456" in note


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_make_run_starts_the_local_stripe_server_and_a_donation_completes(tmp_path):
    stream = live_stream(title="Donate locally")
    web_port, stripe_port = free_port(), free_port()
    env = subprocess_env(
        PORT=str(web_port),
        STRIPE_LOCAL_PORT=str(stripe_port),
        DATA_DIR=str(tmp_path / "data"),
        INGEST="0",
        DONATION_CURRENCY="jpy",
        THROTTLE_DONATION_IP=UNLIMITED_ENV,
    )
    for name in STRIPE_VARIABLES[:-1]:
        env.pop(name, None)
    run = RunPy(env)
    try:
        base = run.wait_for(
            r"payments\s+test mode \(local Stripe-compatible server on (http://\S+),"
        ).group(1)
        assert base == f"http://127.0.0.1:{stripe_port}"
        run.wait_for(r"Press Ctrl-C to stop")
        deadline = time.monotonic() + 60
        while not (port_open(web_port) and port_open(stripe_port)):
            assert time.monotonic() < deadline, run.text
            time.sleep(0.3)

        with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=30) as client:
            client.get("/api/auth/csrf")
            csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
            created = client.post(
                f"/api/streams/{stream.id}/donations", json={"amount": "500"}, headers=csrf
            )
            assert created.status_code == 201, (created.text, run.text)
            donation = created.json()
            paid = client.post(
                f"/api/donations/{donation['id']}/test-complete",
                json={"client_secret": donation["client_secret"]},
                headers=csrf,
            )
            assert paid.status_code == 202, (paid.text, run.text)
            page = client.get(f"/streams/{stream.id}/")
            assert 'data-test-mode="true"' in page.text
        deadline = time.monotonic() + 30
        while StreamDonation.objects.get(id=donation["id"]).payment_status != "completed":
            assert time.monotonic() < deadline, run.text
            time.sleep(0.2)
        assert LiveStream.objects.get(id=stream.id).total_donations == Decimal("500.00")
    finally:
        code = run.stop()
    assert code == 0, run.text
    assert not port_open(stripe_port) and not port_open(web_port)
