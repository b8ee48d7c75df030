"""Login and signup throttles (SPEC §5): failed logins per account and per client IP,
signups per client IP; 429 with ``Retry-After``; across server processes."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.support.factories import PASSWORD, make_user
from tests.support.throttles import (
    UNLIMITED,
    UNLIMITED_ENV,
    clean_throttles,  # noqa: F401 (fixture)
    csrf_client,
    servers,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_throttles")]

ATTACKER = "198.51.100.66"
SOMEONE_ELSE = "203.0.113.10"


@pytest.fixture
def limits(settings):
    """3 failed logins per account and 5 per IP, per 5 minutes."""
    settings.THROTTLE_LOGIN_ACCOUNT = ((3, 300),)
    settings.THROTTLE_LOGIN_IP = ((5, 300),)
    settings.TRUSTED_PROXIES = []
    return settings


def login(api, username, password="wrong-password", ip=ATTACKER, **headers):
    return api.call(
        "POST",
        "/api/auth/login",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        headers=headers,
    )


def assert_rate_limited(response, *, at_most: int) -> None:
    assert response.status_code == 429, response.content
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= at_most
    assert response.json() == {
        "error": {
            "code": "rate_limited",
            "message": response.json()["error"]["message"],
            "retry_after": retry_after,
        }
    }
    assert response.json()["error"]["message"]


def test_failed_logins_lock_the_account_even_for_the_right_password(api, limits):
    alice = make_user("alice")
    for _ in range(3):
        assert login(api, "alice").status_code == 401
    assert_rate_limited(login(api, "alice"), at_most=300)
    # The password is not even checked while locked, from anywhere.
    assert_rate_limited(login(api, "alice", PASSWORD, ip=SOMEONE_ELSE), at_most=300)
    assert api.get("/api/auth/me").status_code == 401
    # Other accounts are not affected.
    make_user("bob")
    assert login(api, "bob", PASSWORD, ip=SOMEONE_ELSE).status_code == 200
    alice.refresh_from_db()
    assert alice.last_login is None


def test_every_spelling_of_a_username_counts_against_the_same_account(api, limits):
    make_user("alice")
    for username in ("alice", "ALICE", " Alice "):
        assert login(api, username, ip=f"192.0.2.{len(username)}").status_code == 401
    assert_rate_limited(login(api, "aLiCe", PASSWORD, ip=SOMEONE_ELSE), at_most=300)


def test_successful_logins_do_not_count(api, limits):
    alice = make_user("alice")
    for _ in range(8):
        assert login(api, alice.username, PASSWORD).status_code == 200
    for _ in range(3):
        assert login(api, alice.username).status_code == 401
    assert login(api, alice.username, PASSWORD).status_code == 429


def test_failed_logins_from_one_ip_are_limited_across_accounts(api, limits):
    limits.THROTTLE_LOGIN_ACCOUNT = UNLIMITED
    for n in range(5):
        assert login(api, f"victim{n}").status_code == 401
    assert_rate_limited(login(api, "victim9"), at_most=300)
    # Another client still logs in.
    make_user("carol")
    assert login(api, "carol", PASSWORD, ip=SOMEONE_ELSE).status_code == 200


def test_a_client_cannot_escape_the_ip_limit_with_x_forwarded_for(api, limits):
    limits.THROTTLE_LOGIN_ACCOUNT = UNLIMITED
    for n in range(5):
        response = login(api, f"victim{n}", **{"X-Forwarded-For": f"192.0.2.{n}"})
        assert response.status_code == 401
    response = login(api, "victim9", **{"X-Forwarded-For": "192.0.2.99"})
    assert_rate_limited(response, at_most=300)


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(api, limits):
    limits.THROTTLE_LOGIN_ACCOUNT = UNLIMITED
    limits.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = "10.0.0.2"
    for n in range(5):
        # The attacker varies the part of the header they write; the proxy appends
        # the address it saw, which is what counts.
        forwarded = f"192.0.2.{n}, {ATTACKER}"
        response = login(api, f"victim{n}", ip=proxy, **{"X-Forwarded-For": forwarded})
        assert response.status_code == 401
    response = login(api, "victim9", ip=proxy, **{"X-Forwarded-For": f"1.1.1.1, {ATTACKER}"})
    assert_rate_limited(response, at_most=300)
    # Other clients behind the same proxy are not.
    make_user("dave")
    response = login(api, "dave", PASSWORD, ip=proxy, **{"X-Forwarded-For": SOMEONE_ELSE})
    assert response.status_code == 200


# --------------------------------------------------------------------------- signup


def signup(api, username, ip=ATTACKER):
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    return api.call("POST", "/api/auth/signup", body, REMOTE_ADDR=ip)


def test_signups_are_limited_per_ip_and_failed_ones_do_not_use_it_up(api, settings):
    settings.THROTTLE_SIGNUP_IP = ((2, 3600),)
    settings.THROTTLE_SIGNUP_ATTEMPT_IP = UNLIMITED
    make_user("taken")
    for _ in range(4):
        assert signup(api, "taken").json()["error"]["code"] == "username_taken"
    assert signup(api, "first").status_code == 201
    assert signup(api, "second").status_code == 201
    assert_rate_limited(signup(api, "third"), at_most=3600)
    assert not User.objects.filter(username="third").exists()
    assert signup(api, "third", ip=SOMEONE_ELSE).status_code == 201


def test_signup_attempts_are_limited_per_ip_whatever_their_outcome(api, settings):
    settings.THROTTLE_SIGNUP_IP = UNLIMITED
    settings.THROTTLE_SIGNUP_ATTEMPT_IP = ((3, 3600),)
    make_user("taken")
    for _ in range(3):
        assert signup(api, "taken").status_code == 400
    assert_rate_limited(signup(api, "fresh"), at_most=3600)


# --------------------------------------------------------------------------- live servers


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_across_two_server_processes_and_ignores_x_forwarded_for(log_dir):
    """uvicorn runs with ``--no-proxy-headers``: the header from a loopback peer does
    not become the client address."""
    make_user("erin")
    env = {"THROTTLE_LOGIN_IP": "4/300", "THROTTLE_LOGIN_ACCOUNT": UNLIMITED_ENV}
    with servers(log_dir, 2, **env) as (a, b):
        clients = [csrf_client(a), csrf_client(b)]
        for n in range(4):
            response = clients[n % 2].post(
                "/api/auth/login",
                json={"username": f"victim{n}", "password": "wrong"},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
            )
            assert response.status_code == 401, response.text
        for client in clients:
            response = client.post(
                "/api/auth/login",
                json={"username": "erin", "password": PASSWORD},
                headers={"X-Forwarded-For": "192.0.2.200"},
            )
            assert response.status_code == 429, response.text
            assert 1 <= int(response.headers["Retry-After"]) <= 300
            assert response.json()["error"]["code"] == "rate_limited"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_a_server_behind_a_trusted_proxy_counts_the_forwarded_clients(log_dir, server):
    make_user("frank")
    env = {
        "THROTTLE_LOGIN_IP": "2/300",
        "THROTTLE_LOGIN_ACCOUNT": UNLIMITED_ENV,
        "TRUSTED_PROXIES": "127.0.0.1,::1",
        "ASGI_SERVER": server,
    }
    from tests.support.servers import asgi_server

    with asgi_server(log_dir, server=server, **env) as app:
        client = csrf_client(app)

        def attempt(forwarded, username="nobody", password="wrong"):
            return client.post(
                "/api/auth/login",
                json={"username": username, "password": password},
                headers={"X-Forwarded-For": forwarded},
            )

        assert attempt(f"6.6.6.1, {ATTACKER}").status_code == 401
        assert attempt(f"6.6.6.2, {ATTACKER}").status_code == 401
        assert attempt(f"6.6.6.3, {ATTACKER}").status_code == 429
        assert attempt(SOMEONE_ELSE, "frank", PASSWORD).status_code == 200
