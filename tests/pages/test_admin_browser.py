"""The Django admin under the production server (SPEC §9a), in a real headless Chromium.

For every model registered with the admin: the changelist and one object's change
page answer 200, with the admin's own stylesheet loaded (static files are served by
the application, WhiteNoise), and no page ever contains a stream key or an overlay
token. Once with DEBUG on (files found in the apps, as under ``make run``) and once as
production runs it: DEBUG off, the production secrets set, the files collected by
``collectstatic`` (as the Dockerfile does, with no secret set) into STATIC_ROOT.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from chat.models import ChatBan, ChatMessage, ChatModerator, ChatSettings
from donations.models import (
    OverlayToken,
    StreamDonation,
    StreamGoal,
    StripeEvent,
    Transaction,
)
from donations.services import get_or_create_overlay_token
from gamification.models import (
    Achievement,
    DailyActionCount,
    ExpAction,
    StreamExp,
    UserAchievement,
    UserExpLog,
)
from streams.models import LiveStream, StreamRecording
from tests.support import stripe_server as stripe_support
from tests.support.browser import WAIT_MS, chromium
from tests.support.factories import make_stream, make_user
from tests.support.servers import ROOT, asgi_server, subprocess_env
from webhooks.models import WebhookDelivery, WebhookSubscription

ADMIN_USERNAME = "site-admin"
ADMIN_PASSWORD = "admin-horse-battery-42"
SECRETS = ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")

# The admin stylesheet is loaded and readable, and it styles the page. (A stylesheet
# that failed to load is still listed; reading its rules then throws.)
STYLED = """() => {
    const sheet = Array.from(document.styleSheets).find(
        (s) => s.href && new URL(s.href).pathname === '/static/admin/css/base.css');
    let rules = 0;
    try { rules = sheet ? sheet.cssRules.length : 0; } catch (e) { rules = 0; }
    const header = document.getElementById('header');
    return rules > 0 && Boolean(header)
        && getComputedStyle(header).backgroundColor !== 'rgba(0, 0, 0, 0)';
}"""


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """``collectstatic`` as the Dockerfile runs it: DEBUG off and no secret set."""
    root = tmp_path_factory.mktemp("staticfiles")
    env = {k: v for k, v in os.environ.items() if k not in (*SECRETS, "DEBUG")}
    env["STATIC_ROOT"] = str(root)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    assert (root / "admin" / "css" / "base.css").is_file()
    assert (root / "admin" / "css" / "base.css.gz").is_file()  # served compressed
    return root


def production_env(static_root: Path) -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": "admin-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "STRIPE_SECRET_KEY": stripe_support.SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": stripe_support.PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": stripe_support.WEBHOOK_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_COOKIES": "0",  # plain http on 127.0.0.1
        "INGEST_SECRET": "admin-test-ingest-secret",
        "STATIC_ROOT": str(static_root),
    }


def create_superuser_as_documented() -> User:
    """``scripts/manage.py createsuperuser``: the second-terminal command of ``make run``
    (no DEBUG set: the wrapper defaults it as the run command does)."""
    env = {k: v for k, v in subprocess_env().items() if k != "DEBUG"}
    env["DJANGO_SUPERUSER_PASSWORD"] = ADMIN_PASSWORD
    subprocess.run(
        [
            sys.executable,
            "scripts/manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            ADMIN_USERNAME,
            "--email",
            "site-admin@example.com",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    user = User.objects.get(username=ADMIN_USERNAME)
    assert user.is_superuser and user.is_staff and user.check_password(ADMIN_PASSWORD)
    return user


def one_of_each_model(superuser: User) -> dict[type[Model], Model]:
    streamer = make_user("adm-streamer", display_name="Streamer")
    viewer = make_user("adm-viewer")
    moderator = make_user("adm-moderator")
    stream = make_stream(streamer, title="Admin stream", description="desc")
    donation = StreamDonation.objects.create(
        stream=stream,
        donor=viewer,
        amount=Decimal("500"),
        currency="jpy",
        message="gg",
        payment_status="completed",
        payment_intent_id="pi_admin_test",
    )
    subscription = WebhookSubscription.objects.create(
        owner=streamer,
        url="https://hooks.example.com/eldonia",
        events=["stream.online"],
        secret="whsec_admin_test_secret_value",
    )
    now = timezone.now()
    action = ExpAction.objects.order_by("id").first()
    achievement = Achievement.objects.order_by("id").first()
    assert action is not None and achievement is not None  # the migrations' seed rows
    return {
        User: streamer,
        Group: Group.objects.create(name="Support"),
        LiveStream: stream,
        ChatMessage: ChatMessage.objects.create(stream=stream, user=viewer, text="hello admin"),
        ChatBan: ChatBan.objects.create(
            channel=streamer, user=viewer, reason="spam", created_by=streamer
        ),
        ChatModerator: ChatModerator.objects.create(channel=streamer, user=moderator),
        ChatSettings: ChatSettings.objects.create(stream=stream, slow_mode_seconds=5),
        StreamDonation: donation,
        Transaction: Transaction.objects.create(
            user=streamer,
            transaction_type="sale",
            amount=Decimal("500"),
            fee_amount=Decimal("50"),
            net_amount=Decimal("450"),
            reference_type="donation",
            reference_id=donation.id,
            status="completed",
        ),
        StripeEvent: StripeEvent.objects.create(
            event_id="evt_admin_test",
            event_type="payment_intent.succeeded",
            payment_intent_id="pi_admin_test",
            result="completed",
        ),
        OverlayToken: get_or_create_overlay_token(user=streamer),
        ExpAction: action,
        UserExpLog: UserExpLog.objects.create(user=viewer, action_type=action, exp_gained=10),
        Achievement: achievement,
        UserAchievement: UserAchievement.objects.create(
            user=viewer, achievement=achievement, progress=1
        ),
        StreamExp: StreamExp.objects.create(stream=stream, minutes_awarded=3, exp_awarded=30),
        DailyActionCount: DailyActionCount.objects.create(
            user=viewer, action_type=action.action_type, day=date.today(), count=3
        ),
        StreamGoal: StreamGoal.objects.create(
            stream=stream, title="New camera", amount=Decimal("10000"), set_at=now, updated_at=now
        ),
        StreamRecording: StreamRecording.objects.create(
            stream=stream, path=f"{stream.stream_key}-1700000000.flv", size=1024
        ),
        WebhookSubscription: subscription,
        WebhookDelivery: WebhookDelivery.objects.create(
            subscription=subscription,
            event_id="evt_admin_test",
            event_type="stream.online",
            payload={"id": "evt_admin_test", "type": "stream.online", "data": {}},
            created_at=now,
            next_attempt_at=now,
        ),
    }


def admin_urls(model: type[Model], obj: Model) -> tuple[str, str]:
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    return reverse(f"{name}_changelist"), reverse(f"{name}_change", args=[quote(obj.pk)])


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["debug", "production"])
def test_every_admin_page_opens_styled_and_never_shows_a_secret(mode, log_dir, static_root):
    superuser = create_superuser_as_documented()
    objects = one_of_each_model(superuser)
    missing = [m.__name__ for m in admin.site._registry if m not in objects]
    assert not missing, f"give the test an object of each admin model: {missing}"
    stream: LiveStream = objects[LiveStream]
    overlay: OverlayToken = objects[OverlayToken]
    secrets = {
        "stream key": stream.stream_key,
        "overlay token": overlay.token,
        "overlay token digest": overlay.token_digest,
        "webhook secret": objects[WebhookSubscription].secret,
    }

    env = production_env(static_root) if mode == "production" else {}
    with asgi_server(log_dir, name=f"admin-{mode}", **env) as server, chromium() as browser:
        base = server.http_url
        page = browser.new_page()
        bad_static: list[str] = []
        page.on(
            "response",
            lambda r: (
                bad_static.append(f"{r.status} {r.url}")
                if "/static/" in r.url and r.status >= 400
                else None
            ),
        )
        page.goto(f"{base}/admin/login/?next=/admin/")
        page.fill("#id_username", ADMIN_USERNAME)
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools", timeout=WAIT_MS)
        assert page.evaluate(STYLED), "the admin stylesheet did not load"

        seen: dict[str, str] = {}
        for model in admin.site._registry:
            for url in admin_urls(model, objects[model]):
                response = page.goto(f"{base}{url}")
                assert response is not None and response.status == 200, (url, server.log())
                page.wait_for_selector("#content", timeout=WAIT_MS)
                assert page.evaluate(STYLED), f"{url}: the admin stylesheet did not load"
                seen[url] = page.content()

        # The change forms save: the user (its page was a 500) and slow mode (a service).
        user_url = admin_urls(User, objects[User])[1]
        page.goto(f"{base}{user_url}")
        page.fill("#id_display_name", "Renamed by admin")
        page.click("input[name=_save]")
        page.wait_for_selector(".messagelist .success", timeout=WAIT_MS)
        seen[page.url] = page.content()
        settings_url = admin_urls(ChatSettings, objects[ChatSettings])[1]
        page.goto(f"{base}{settings_url}")
        page.fill("#id_slow_mode_seconds", "7")
        page.click("input[name=_save]")
        page.wait_for_selector(".messagelist .success", timeout=WAIT_MS)

        # Searching the stream list for the key finds nothing (the page echoes the query).
        page.goto(f"{base}{admin_urls(LiveStream, stream)[0]}?q={stream.stream_key}")
        assert "0 results" in page.text_content("#changelist-search")

        css = httpx.get(
            f"{base}/static/admin/css/base.css", headers={"Accept-Encoding": "gzip"}, timeout=10
        )
        log = server.log()

    assert not bad_static, bad_static
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    if mode == "production":  # collectstatic's compressed copy
        assert css.headers.get("content-encoding") == "gzip"
    assert "Traceback" not in log and "Internal Server Error" not in log, log
    objects[User].refresh_from_db()
    assert objects[User].display_name == "Renamed by admin"
    assert ChatSettings.objects.get(pk=stream.pk).slow_mode_seconds == 7
    for url, html in seen.items():
        for what, secret in secrets.items():
            assert secret not in html, f"{what} shown on {url}"
    assert f"{overlay.token_digest[:8]}…" in seen[admin_urls(OverlayToken, overlay)[0]]


# --------------------------------------------------------------------------- actions


@pytest.fixture
def superuser(db) -> User:
    return make_user(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def run_action(client: Client, model: type[Model], action: str, obj: Model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return client.post(url, {"action": action, ACTION_CHECKBOX_NAME: [obj.pk]})


def test_the_rotate_actions_replace_the_secrets_without_showing_them(admin_client):
    stream = make_stream()
    overlay = get_or_create_overlay_token(user=stream.streamer)
    old_key, old_token = stream.stream_key, overlay.token
    for model, action, obj in (
        (LiveStream, "rotate_stream_key", stream),
        (OverlayToken, "rotate_overlay_token", overlay),
    ):
        response = run_action(admin_client, model, action, obj)
        assert response.status_code == 302
    stream.refresh_from_db()
    overlay.refresh_from_db()
    assert stream.stream_key != old_key and overlay.token != old_token
    assert overlay.rotated_at is not None
    listing = admin_client.get(reverse("admin:streams_livestream_changelist"), follow=True)
    assert "Rotated the key of 1 stream(s)." in listing.content.decode()
    assert stream.stream_key not in listing.content.decode()


def test_hiding_a_message_goes_through_the_moderation_service(admin_client):
    stream = make_stream()
    message = ChatMessage.objects.create(stream=stream, user=stream.streamer, text="bad words")
    assert run_action(admin_client, ChatMessage, "hide_messages", message).status_code == 302
    message.refresh_from_db()
    assert message.deleted_at is not None and message.deleted_by is not None
    # Rows are hidden, never deleted or edited here.
    change = reverse("admin:chat_chatmessage_change", args=[message.pk])
    assert admin_client.post(change, {"text": "edited"}).status_code == 403
    delete = reverse("admin:chat_chatmessage_delete", args=[message.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403


def test_slow_mode_above_the_limit_is_a_form_error(admin_client):
    stream = make_stream()
    ChatSettings.objects.create(stream=stream, slow_mode_seconds=5)
    url = reverse("admin:chat_chatsettings_change", args=[stream.pk])
    response = admin_client.post(url, {"slow_mode_seconds": "3601"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert ChatSettings.objects.get(pk=stream.pk).slow_mode_seconds == 5


def test_lifting_a_ban_deletes_it(admin_client):
    streamer, viewer = make_user(), make_user()
    ban = ChatBan.objects.create(channel=streamer, user=viewer)
    url = reverse("admin:chat_chatban_delete", args=[ban.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not ChatBan.objects.filter(pk=ban.pk).exists()


def test_every_add_page_the_admin_offers_opens(admin_client, superuser, rf):
    request = rf.get("/admin/")
    request.user = superuser
    offered = [
        model
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_add_permission(request)
    ]
    assert User in offered and LiveStream not in offered and StreamDonation not in offered
    for model in offered:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        assert admin_client.get(url).status_code == 200, url


def test_a_superuser_adds_a_user_with_an_email_and_sets_a_password(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "added-by-admin",
            "email": "added@example.com",
            "usable_password": "true",
            "password1": "a-long-password-9876",
            "password2": "a-long-password-9876",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="added-by-admin")
    assert user.email == "added@example.com" and user.check_password("a-long-password-9876")
    password_page = reverse("admin:auth_user_password_change", args=[user.pk])
    assert admin_client.get(password_page).status_code == 200
