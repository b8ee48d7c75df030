"""Webhook URLs may not reach the server's own network (SPEC §7a, §10): private,
loopback and link-local targets are 400 ``webhook_url_not_allowed`` unless the
operator lists them in ``WEBHOOK_ALLOWED_HOSTS``."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.management import call_command

from webhooks import ssrf
from webhooks.models import WebhookSubscription

pytestmark = pytest.mark.django_db

EVENTS = ["stream.online"]


def create(api, url):
    return api.call("POST", "/api/me/webhooks", {"url": url, "events": EVENTS})


@pytest.mark.parametrize(
    "url,why",
    [
        ("http://127.0.0.1:8000/hook", "loopback"),
        ("http://127.1/hook", "loopback"),  # the resolver's short form of 127.0.0.1
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.0.0.1/hook", "loopback"),
        ("http://localhost:8000/hook", "loopback"),  # a name that resolves to loopback
        ("http://LOCALHOST./hook", "loopback"),
        ("http://[::1]:8000/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6
        ("http://10.0.0.5/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00::1]/hook", "private"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://100.64.0.1/hook", "non-public"),  # carrier-grade NAT
        ("http://[2002:7f00:1::]/hook", "loopback"),  # 6to4 around 127.0.0.1
    ],
)
def test_private_and_loopback_targets_are_refused(api, user, settings, url, why):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    api.login_as(user)
    response = create(api, url)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("webhook_url_not_allowed", "url")
    assert why in error["message"]
    assert "WEBHOOK_ALLOWED_HOSTS" in error["message"]
    assert not WebhookSubscription.objects.exists()


def test_a_host_that_does_not_resolve_is_refused(api, user):
    api.login_as(user)
    response = create(api, "https://no-such-host.invalid/hook")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "webhook_url_not_allowed"
    assert "could not be resolved" in error["message"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "allowed,url",
    [
        (["127.0.0.1"], "http://127.0.0.1:9/hook"),
        (["127.0.0.0/8"], "http://127.0.0.1:9/hook"),
        (["localhost"], "http://localhost:9/hook"),  # the name: whatever it resolves to
        (["10.0.0.0/8"], "http://10.20.30.40/hook"),
        (["::1"], "http://[::1]:9/hook"),
        (["[::1]"], "http://[::1]:9/hook"),
        (["169.254.169.254/32"], "http://169.254.169.254/"),
    ],
)
def test_the_operator_can_allow_a_private_host_by_name_ip_or_cidr(
    api, user, settings, allowed, url
):
    settings.WEBHOOK_ALLOWED_HOSTS = allowed
    api.login_as(user)
    response = create(api, url)
    assert response.status_code == 201, response.content
    assert response.json()["url"] == url


def test_listing_one_private_address_does_not_allow_another(api, user, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["10.0.0.1", "hooks.internal"]
    api.login_as(user)
    assert create(api, "http://10.0.0.1/hook").status_code == 201
    assert create(api, "http://10.0.0.2/hook").status_code == 400
    assert create(api, "http://127.0.0.1/hook").status_code == 400


def test_public_addresses_need_no_listing(api, user, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    api.login_as(user)
    for url in ("https://203.0.114.10/hook", "http://[2001:4860:4860::8888]/hook"):
        assert create(api, url).status_code == 201, url


def test_every_resolved_address_must_be_allowed():
    """A name resolving to a public and a private address (a rebinding trick) is refused."""
    allowed = ssrf.parse_allow_list([])
    public, private = ipaddress.ip_address("203.0.114.10"), ipaddress.ip_address("10.0.0.1")
    assert ssrf.check_addresses("evil.example", [public], allowed) == public
    for addresses in ([public, private], [private, public]):
        with pytest.raises(ssrf.UrlRefused, match="private"):
            ssrf.check_addresses("evil.example", addresses, allowed)


def test_a_bad_allow_list_entry_stops_start_up(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.internal", "not a host!"]
    with pytest.raises(Exception, match="WEBHOOK_ALLOWED_HOSTS: 'not a host!'"):
        call_command("check")
