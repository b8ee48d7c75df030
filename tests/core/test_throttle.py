"""``core/throttle.py``: Redis sliding-window limits and the client IP (SPEC §5)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.test import RequestFactory

from core import throttle
from core.exceptions import RateLimited
from core.redis import get_redis
from tests.support.servers import ROOT, asgi_script
from tests.support.throttles import clean_throttles  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("clean_throttles")


def limit(rates, identity="203.0.113.7", scope="test-scope"):
    return throttle.Limit(scope, identity, rates)


# --------------------------------------------------------------------------- counting


def test_the_hit_over_the_limit_is_refused_with_the_seconds_to_wait():
    for _ in range(3):
        throttle.take(limit(((3, 300),)))
    with pytest.raises(RateLimited) as refused:
        throttle.take(limit(((3, 300),)))
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    assert 299 <= refused.value.retry_after <= 300
    assert refused.value.as_dict()["retry_after"] == refused.value.retry_after


def test_the_window_slides_a_hit_is_admitted_again_once_the_oldest_expires():
    rates = ((2, 3),)
    throttle.take(limit(rates))
    time.sleep(1.5)
    throttle.take(limit(rates))
    with pytest.raises(RateLimited) as refused:
        throttle.take(limit(rates))
    assert refused.value.retry_after in (1, 2)  # the first hit leaves in ~1.5 s
    time.sleep(1.7)  # the first hit left the window, the second has ~1.3 s to go
    throttle.take(limit(rates))
    with pytest.raises(RateLimited):
        throttle.take(limit(rates))


def test_every_rate_of_a_limit_must_hold():
    rates = ((5, 60), (2, 3600))
    throttle.take(limit(rates))
    throttle.take(limit(rates))
    with pytest.raises(RateLimited) as refused:
        throttle.take(limit(rates))
    assert refused.value.retry_after > 3000  # the hourly rate is what blocks


def test_identities_and_scopes_are_counted_apart():
    throttle.take(limit(((1, 60),), identity="a"))
    throttle.take(limit(((1, 60),), identity="b"))
    throttle.take(limit(((1, 60),), identity="a", scope="other"))
    with pytest.raises(RateLimited):
        throttle.take(limit(((1, 60),), identity="a"))


def test_several_limits_are_taken_all_or_nothing():
    full = limit(((1, 60),), identity="full")
    free = limit(((1, 60),), identity="free")
    throttle.take(full)
    with pytest.raises(RateLimited):
        throttle.take(free, full)
    throttle.take(free)  # the refused call recorded nothing against it


def test_a_released_hit_does_not_count():
    for _ in range(5):
        throttle.take(limit(((1, 60),))).release()
    throttle.take(limit(((1, 60),)))


def test_no_rates_means_no_limit_and_no_redis_key():
    for _ in range(50):
        throttle.take(limit(()))
    assert not get_redis().exists(limit(()).redis_key())


def test_counters_expire_with_their_longest_window():
    throttle.take(limit(((5, 30), (10, 90))))
    ttl = get_redis().pttl(limit(()).redis_key())
    assert 89_000 < ttl <= 90_000


def test_the_limit_holds_under_concurrent_callers():
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_):
        try:
            throttle.take(limit(((7, 60),)))
            return True
        except RateLimited:
            return False

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(64)))
    assert results.count(True) == 7


def test_without_redis_the_throttled_action_is_refused_with_503(settings):
    from tests.support.servers import free_port

    working = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    get_redis.cache_clear()
    throttle._take_script.cache_clear()
    try:
        with pytest.raises(throttle.ThrottleUnavailable) as refused:
            throttle.take(limit(((100, 60),)))
        assert refused.value.status == 503 and refused.value.code == "service_unavailable"
        assert refused.value.extra == {"retry_after": 1}
    finally:
        settings.REDIS_URL = working
        get_redis.cache_clear()
        throttle._take_script.cache_clear()


# --------------------------------------------------------------------------- client IP


def request(remote_addr="198.51.100.20", xff=None):
    extra = {"REMOTE_ADDR": remote_addr}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().post("/api/auth/login", **extra)


def test_without_trusted_proxies_the_client_ip_is_the_peer_whatever_the_header_says(settings):
    settings.TRUSTED_PROXIES = []
    assert throttle.client_ip(request("198.51.100.20", "1.2.3.4")) == "198.51.100.20"
    assert throttle.client_ip(request("127.0.0.1", "1.2.3.4, 5.6.7.8")) == "127.0.0.1"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_choose_its_ip(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert throttle.client_ip(request("198.51.100.20", "10.0.0.5")) == "198.51.100.20"


def test_behind_trusted_proxies_the_right_most_untrusted_entry_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]
    # The client wrote "6.6.6.6" itself; the edge proxy appended the address it saw
    # (203.0.113.9), an inner proxy appended the edge proxy's (10.1.1.1).
    forwarded = "6.6.6.6, 203.0.113.9, 10.1.1.1"
    assert throttle.client_ip(request("192.0.2.1", forwarded)) == "203.0.113.9"
    assert throttle.client_ip(request("10.2.2.2", "203.0.113.9")) == "203.0.113.9"
    # Two X-Forwarded-For headers arrive joined with a comma.
    assert throttle.client_ip(request("10.2.2.2", "6.6.6.6,203.0.113.9,  ")) == "203.0.113.9"


def test_behind_a_trusted_proxy_without_a_header_the_proxy_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert throttle.client_ip(request("10.0.0.3")) == "10.0.0.3"
    assert throttle.client_ip(request("10.0.0.3", "10.0.0.9")) == "10.0.0.9"


def test_a_garbled_entry_stops_the_walk_at_the_last_trusted_hop(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert throttle.client_ip(request("10.0.0.3", "1.2.3.4, unknown")) == "10.0.0.3"
    assert throttle.client_ip(request("10.0.0.3", "unknown, 10.0.0.7")) == "10.0.0.7"


def test_addresses_are_read_as_proxies_write_them(settings):
    settings.TRUSTED_PROXIES = ["::1", "127.0.0.1"]
    assert throttle.client_ip(request("::1", "203.0.113.9:5123")) == "203.0.113.9"
    assert throttle.client_ip(request("::1", "[2001:db8::7]:443")) == "2001:db8::7"
    assert throttle.client_ip(request("::ffff:127.0.0.1", "2001:DB8::7")) == "2001:db8::7"


def test_ipv6_clients_are_counted_per_64():
    assert throttle.ip_identity("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle.ip_identity("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert throttle.ip_identity("203.0.113.9") == "203.0.113.9"


# --------------------------------------------------------------------------- settings


def settings_value(name: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; print(settings.{name})"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_limits_are_read_from_the_environment():
    ok = settings_value("THROTTLE_DONATION_IP", THROTTLE_DONATION_IP=" 3/60, 20/3600 ")
    assert ok.returncode == 0 and ok.stdout.strip() == "((3, 60), (20, 3600))"
    off = settings_value("THROTTLE_DONATION_IP", THROTTLE_DONATION_IP="off")
    assert off.returncode == 0 and off.stdout.strip() == "()"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THROTTLE_LOGIN_IP", "10"),
        ("THROTTLE_LOGIN_IP", "ten/60"),
        ("THROTTLE_LOGIN_IP", "0/60"),
        ("THROTTLE_SIGNUP_IP", "5/3600,"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.local"),
    ],
)
def test_a_bad_limit_or_proxy_stops_start_up(name, value):
    result = settings_value(name, **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_the_servers_take_the_client_address_from_the_socket_only():
    uvicorn = asgi_script.command("127.0.0.1", 8000, server="uvicorn")
    assert "--no-proxy-headers" in uvicorn and "--forwarded-allow-ips" not in uvicorn
    assert "--proxy-headers" not in asgi_script.command("127.0.0.1", 8000, server="daphne")
