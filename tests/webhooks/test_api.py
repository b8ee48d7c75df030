"""``/api/me/webhooks*`` (SPEC §7a): who may do what, what is validated, and that the
secret is shown once and nowhere else."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from tests.conftest import ApiClient
from tests.support import factories
from tests.support.throttles import clean_throttles  # noqa: F401 (fixture)
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db

# A public address literal: accepted without a DNS lookup (nothing is sent in these tests).
PUBLIC_URL = "https://203.0.114.10/hooks"
EVENTS = ["stream.online", "donation.completed"]


@pytest.fixture(autouse=True)
def _allow_local(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


def create(api, url=PUBLIC_URL, events=EVENTS):
    return api.call("POST", "/api/me/webhooks", {"url": url, "events": events})


def test_creating_a_webhook_shows_its_secret_once_and_never_again(api, user, caplog):
    caplog.set_level(logging.DEBUG)
    api.login_as(user)
    response = create(api)
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"id", "url", "events", "active", "created_at", "secret"}
    assert body["url"] == PUBLIC_URL
    assert body["events"] == EVENTS
    assert body["active"] is True
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 40
    assert WebhookSubscription.objects.get(id=body["id"]).secret == secret

    listed = api.call("GET", "/api/me/webhooks")
    detail = api.call("GET", f"/api/me/webhooks/{body['id']}")
    assert listed.status_code == detail.status_code == 200
    assert listed.json() == {"items": [{k: v for k, v in body.items() if k != "secret"}]}
    assert detail.json() == listed.json()["items"][0]
    for response in (listed, detail):
        assert secret not in response.content.decode()
    assert secret not in caplog.text
    # A second webhook gets its own secret.
    assert create(api).json()["secret"] != secret


def test_events_come_back_in_a_fixed_order_without_duplicates(api, user):
    api.login_as(user)
    body = create(api, events=["donation.refunded", "stream.online", "stream.online"]).json()
    assert body["events"] == ["stream.online", "donation.refunded"]


@pytest.mark.parametrize(
    "events,message",
    [
        ([], "choose at least one"),
        (None, "choose at least one"),
        ("stream.online", "choose at least one"),
        (["stream.online", "chat.message"], "unknown event type 'chat.message'"),
        (["webhook.test"], "unknown event type"),
        ([1], "a list of event types"),
        (["stream.online"] * 21, "a list of event types"),
    ],
)
def test_unknown_or_empty_events_are_400_and_store_nothing(api, user, events, message):
    api.login_as(user)
    response = create(api, events=events)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "events"
    assert message in error["message"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url,message",
    [
        ("", "give the address"),
        (None, "give the address"),
        (42, "give the address"),
        ("ftp://203.0.114.10/x", "https:// or http://"),
        ("javascript:alert(1)", "https:// or http://"),
        ("//203.0.114.10/x", "https:// or http://"),
        ("https://user:pass@203.0.114.10/x", "user name or password"),
        ("https://token@203.0.114.10/x", "user name or password"),
        ("https://203.0.114.10/x#frag", "fragment"),
        ("https:///path", "host is missing"),
        ("https://203.0.114.10:0/", "between 1 and 65535"),
        ("https://203.0.114.10:99999/", "not a valid URL"),
        ("https://203.0.114.10/a b", "printable ASCII"),
        ("https://exämple.com/", "printable ASCII"),
        ("https://203.0.114.10/" + "a" * 480, "at most 500"),
    ],
)
def test_malformed_urls_are_400_with_a_clear_reason(api, user, url, message):
    api.login_as(user)
    response = create(api, url=url)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", "url")
    assert message in error["message"]
    assert not WebhookSubscription.objects.exists()


def test_a_bad_url_never_echoes_the_url_or_its_token(api, user):
    api.login_as(user)
    response = create(api, url="http://10.1.2.3/hook?token=very-secret-token-123")
    assert response.status_code == 400
    assert "very-secret-token-123" not in response.content.decode()
    assert "10.1.2.3" not in response.json()["error"]["message"]


def test_a_body_that_is_not_an_object_is_400(api, user):
    api.login_as(user)
    for body in (["x"], "x", 3):
        response = api.call("POST", "/api/me/webhooks", body)
        assert response.status_code == 400, response.content
    response = api.generic(
        "POST",
        "/api/me/webhooks",
        '{"url": "https://203.0.114.10/\\ud800", "events": ["stream.online"]}',
        content_type="application/json",
        headers={"X-CSRFToken": api.csrf()},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_at_most_ten_webhooks_per_account(api, user, settings):
    api.login_as(user)
    for _ in range(settings.WEBHOOK_MAX_SUBSCRIPTIONS):
        assert create(api).status_code == 201
    response = create(api)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "webhook_limit_reached"
    assert WebhookSubscription.objects.filter(owner=user).count() == 10
    # Someone else is not affected.
    other = logged_in_client(factories.make_user())
    assert create(other).status_code == 201


def logged_in_client(user):
    client = ApiClient()
    client.login_as(user)
    return client


def test_logged_out_visitors_get_401_everywhere(api, user):
    sub = services.check_create_subscription(owner=user, url=PUBLIC_URL, events=EVENTS).subscription
    for method, path in [
        ("GET", "/api/me/webhooks"),
        ("POST", "/api/me/webhooks"),
        ("GET", f"/api/me/webhooks/{sub.id}"),
        ("DELETE", f"/api/me/webhooks/{sub.id}"),
        ("GET", f"/api/me/webhooks/{sub.id}/deliveries"),
        ("POST", f"/api/me/webhooks/{sub.id}/test"),
    ]:
        response = api.call(method, path, {"url": PUBLIC_URL, "events": EVENTS})
        assert response.status_code == 401, (method, path, response.content)
        assert response.json()["error"]["code"] == "not_authenticated"
    assert WebhookSubscription.objects.count() == 1
    assert not WebhookDelivery.objects.exists()


def test_someone_elses_webhook_is_403_and_an_unknown_one_404(api, user):
    owner = factories.make_user()
    sub = services.check_create_subscription(
        owner=owner, url=PUBLIC_URL, events=EVENTS
    ).subscription
    api.login_as(user)
    for method, path in [
        ("GET", f"/api/me/webhooks/{sub.id}"),
        ("DELETE", f"/api/me/webhooks/{sub.id}"),
        ("GET", f"/api/me/webhooks/{sub.id}/deliveries"),
        ("POST", f"/api/me/webhooks/{sub.id}/test"),
    ]:
        response = api.call(method, path)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "forbidden"
        assert sub.secret not in response.content.decode()
        for missing in (sub.id + 1000, 99999999999999999999999):
            response = api.call(method, path.replace(str(sub.id), str(missing)))
            assert response.status_code == 404, (method, missing)
            assert response.json()["error"]["code"] == "not_found"
    assert api.call("GET", "/api/me/webhooks").json() == {"items": []}
    assert WebhookSubscription.objects.filter(id=sub.id).exists()
    assert not WebhookDelivery.objects.exists()


def test_unsafe_requests_without_the_csrf_token_are_403(user):
    sub = services.check_create_subscription(owner=user, url=PUBLIC_URL, events=EVENTS).subscription
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    body = json.dumps({"url": PUBLIC_URL, "events": EVENTS})
    for method, path in [
        ("post", "/api/me/webhooks"),
        ("delete", f"/api/me/webhooks/{sub.id}"),
        ("post", f"/api/me/webhooks/{sub.id}/test"),
    ]:
        response = getattr(client, method)(path, body, content_type="application/json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "csrf_failed"
    assert WebhookSubscription.objects.count() == 1
    assert not WebhookDelivery.objects.exists()


def test_deleting_a_webhook_removes_it_and_its_pending_events(api, user):
    api.login_as(user)
    sub_id = create(api).json()["id"]
    keep_id = create(api).json()["id"]
    assert api.call("POST", f"/api/me/webhooks/{sub_id}/test").status_code == 202
    assert WebhookDelivery.objects.filter(subscription_id=sub_id).count() == 1
    response = api.call("DELETE", f"/api/me/webhooks/{sub_id}")
    assert response.status_code == 204
    assert not WebhookDelivery.objects.filter(subscription_id=sub_id).exists()
    assert api.call("GET", f"/api/me/webhooks/{sub_id}").status_code == 404
    assert api.call("GET", f"/api/me/webhooks/{sub_id}/deliveries").status_code == 404
    assert [h["id"] for h in api.call("GET", "/api/me/webhooks").json()["items"]] == [keep_id]
    assert api.call("DELETE", f"/api/me/webhooks/{sub_id}").status_code == 404


def test_a_test_event_is_queued_for_that_webhook_and_shows_in_its_log(api, user):
    api.login_as(user)
    sub_id = create(api, events=["donation.refunded"]).json()["id"]
    response = api.call("POST", f"/api/me/webhooks/{sub_id}/test")
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["type"] == "webhook.test"
    assert queued["event_id"].startswith("evt_") and len(queued["event_id"]) == 36
    assert (queued["state"], queued["attempts"], queued["last_status"]) == ("pending", 0, None)
    row = WebhookDelivery.objects.get(event_id=queued["event_id"])
    assert row.subscription_id == sub_id
    assert row.payload == {
        "subscription_id": sub_id,
        "message": "This is a test event from Eldonia-Nex Live. It changes nothing.",
    }
    log = api.call("GET", f"/api/me/webhooks/{sub_id}/deliveries").json()
    assert log == {"items": [queued], "next_before": None}


def test_test_events_are_rate_limited_per_account(api, user, settings, clean_throttles):  # noqa: F811
    settings.THROTTLE_WEBHOOK_TEST_ACCOUNT = ((2, 60),)
    api.login_as(user)
    sub_id = create(api).json()["id"]
    assert api.call("POST", f"/api/me/webhooks/{sub_id}/test").status_code == 202
    assert api.call("POST", f"/api/me/webhooks/{sub_id}/test").status_code == 202
    response = api.call("POST", f"/api/me/webhooks/{sub_id}/test")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    assert WebhookDelivery.objects.count() == 2


def test_webhook_creation_is_rate_limited_per_account(api, user, settings, clean_throttles):  # noqa: F811
    settings.THROTTLE_WEBHOOK_CREATE_ACCOUNT = ((3, 3600),)
    api.login_as(user)
    assert create(api).status_code == 201
    assert create(api, url="http://10.0.0.1/").status_code == 400  # attempts count too
    assert create(api).status_code == 201
    response = create(api)
    assert response.status_code == 429
    assert WebhookSubscription.objects.count() == 2


def test_the_delivery_log_pages_latest_first_with_before(api, user):
    api.login_as(user)
    sub_id = create(api).json()["id"]
    sub = WebhookSubscription.objects.get(id=sub_id)
    from django.utils import timezone

    now = timezone.now()
    rows = [
        WebhookDelivery.objects.create(
            subscription=sub,
            event_id=f"evt_{n:032x}",
            event_type="stream.online",
            payload={},
            created_at=now,
            next_attempt_at=now,
        )
        for n in range(5)
    ]
    first = api.call("GET", f"/api/me/webhooks/{sub_id}/deliveries?limit=2").json()
    assert [d["event_id"] for d in first["items"]] == [rows[4].event_id, rows[3].event_id]
    assert first["next_before"] == rows[3].id
    second = api.call(
        "GET", f"/api/me/webhooks/{sub_id}/deliveries?limit=2&before={first['next_before']}"
    ).json()
    assert [d["id"] for d in second["items"]] == [rows[2].id, rows[1].id]
    last = api.call(
        "GET", f"/api/me/webhooks/{sub_id}/deliveries?limit=2&before={second['next_before']}"
    ).json()
    assert ([d["id"] for d in last["items"]], last["next_before"]) == ([rows[0].id], None)
    for bad in ("limit=0", "limit=101", "before=0", "before=abc", "limit=%C2%B2"):
        response = api.call("GET", f"/api/me/webhooks/{sub_id}/deliveries?{bad}")
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "validation_error"


def test_real_responses_have_the_documented_shapes(api, user):
    """Every webhook response matches its OpenAPI description exactly."""
    from tests.schema.test_openapi import assert_matches, response_body

    schema = Client().get("/api/schema?format=json").json()

    def check(method: str, template: str, status: int, response) -> None:
        assert response.status_code == status, response.content
        node = response_body(schema, method, template, status)
        assert_matches(schema, node, response.json(), f"{method} {template}")

    api.login_as(user)
    created = create(api)
    check("post", "/api/me/webhooks", 201, created)
    sub_id = created.json()["id"]
    check("get", "/api/me/webhooks", 200, api.call("GET", "/api/me/webhooks"))
    detail = "/api/me/webhooks/{subscription_id}"
    check("get", detail, 200, api.call("GET", f"/api/me/webhooks/{sub_id}"))
    test = api.call("POST", f"/api/me/webhooks/{sub_id}/test")
    check("post", detail + "/test", 202, test)
    log = api.call("GET", f"/api/me/webhooks/{sub_id}/deliveries")
    check("get", detail + "/deliveries", 200, log)
    check("get", detail, 404, api.call("GET", f"/api/me/webhooks/{sub_id + 99}"))
    check("post", "/api/me/webhooks", 400, create(api, url="http://127.0.0.2/"))


def test_the_admin_lists_webhooks_and_their_log_but_never_the_secret(user):
    sub = services.check_create_subscription(owner=user, url=PUBLIC_URL, events=EVENTS).subscription
    services.do_send_test_event(user=user, subscription_id=sub.id)
    admin = factories.make_user(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    for path in (
        "/admin/webhooks/webhooksubscription/",
        f"/admin/webhooks/webhooksubscription/{sub.id}/change/",
        "/admin/webhooks/webhookdelivery/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert sub.secret not in response.content.decode(), path
    # Switching it off is the operator's one lever.
    response = client.post(
        f"/admin/webhooks/webhooksubscription/{sub.id}/change/", {"active": ""}, follow=True
    )
    assert response.status_code == 200
    sub.refresh_from_db()
    assert (sub.active, sub.url) == (False, PUBLIC_URL)


def test_a_switched_off_webhook_takes_no_test_events(api, user):
    api.login_as(user)
    sub_id = create(api).json()["id"]
    WebhookSubscription.objects.filter(id=sub_id).update(active=False)
    assert api.call("GET", f"/api/me/webhooks/{sub_id}").json()["active"] is False
    response = api.call("POST", f"/api/me/webhooks/{sub_id}/test")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "webhook_inactive"
    assert not WebhookDelivery.objects.exists()
