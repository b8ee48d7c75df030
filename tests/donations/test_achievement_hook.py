"""A streamer's first completed donation unlocks "first donation received", once."""

from __future__ import annotations

import pytest

from gamification.models import UserAchievement
from tests.donations.helpers import live_stream, pending_donation, post_webhook, succeeded_event
from tests.support.events import capture_events

pytestmark = pytest.mark.django_db


def test_the_first_completed_donation_unlocks_the_achievement_once(client, stripe_keys):
    stream = live_stream()
    first, second = pending_donation(stream), pending_donation(stream)
    with capture_events() as sent:
        assert post_webhook(client, succeeded_event(first)).status_code == 200
        assert post_webhook(client, succeeded_event(second)).status_code == 200

    unlocked = UserAchievement.objects.filter(user=stream.streamer, completed_at__isnull=False)
    assert list(unlocked.values_list("achievement__code", flat=True)) == ["first_donation_received"]
    achievement_events = [event for _, event in sent if event["type"] == "achievement"]
    assert [e["code"] for e in achievement_events] == ["first_donation_received"]
    assert all(
        groups == [f"dashboard.{stream.id}"]
        for groups, event in sent
        if event["type"] == "achievement"
    )


def test_a_failed_payment_unlocks_nothing(client, stripe_keys):
    from tests.donations.helpers import failed_event

    stream = live_stream()
    donation = pending_donation(stream)
    assert post_webhook(client, failed_event(donation)).status_code == 200
    assert not UserAchievement.objects.filter(user=stream.streamer).exists()
