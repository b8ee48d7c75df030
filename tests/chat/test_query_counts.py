"""Query-count pins on the hot paths: sending a chat message, the join snapshot."""

from __future__ import annotations

import pytest

from chat.models import ChatMessage, ChatModerator, ChatSettings
from chat.selectors import room_snapshot_data
from chat.services import check_send_chat_message
from tests.support.events import capture_events
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db


def test_sending_a_chat_message_takes_two_queries(django_assert_num_queries):
    owner, viewer = make_user(), make_user()
    stream = make_stream(owner, status="live")
    ChatSettings.objects.create(stream=stream, slow_mode_seconds=0)
    ChatModerator.objects.create(channel=owner, user=make_user())
    # One SELECT (stream + slow mode + moderator + ban), then the INSERT, which is its
    # own transaction (no SAVEPOINT/RELEASE or BEGIN/COMMIT pair around it).
    with capture_events() as sent, django_assert_num_queries(2):
        message = check_send_chat_message(user=viewer, stream_id=stream.id, text="hi")
    assert ChatMessage.objects.get().id == message.id
    assert [groups for groups, _ in sent] == [[f"stream.{stream.id}", f"dashboard.{stream.id}"]]


def test_the_join_snapshot_takes_two_queries_however_long_the_history(
    django_assert_num_queries,
):
    owner = make_user()
    stream = make_stream(owner, status="live")
    authors = [make_user() for _ in range(5)]
    for i in range(60):
        ChatMessage.objects.create(stream=stream, user=authors[i % 5], text=f"m{i}")
    with django_assert_num_queries(2):
        payload, history = room_snapshot_data(stream.id)
    # One more than a join sends: it tells the cache there is more than it holds.
    assert len(history) == 51 and payload["id"] == stream.id
