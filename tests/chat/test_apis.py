"""Chat REST endpoints (SPEC §5): history paging and moderation."""

from __future__ import annotations

import pytest

from chat.models import ChatBan, ChatMessage, ChatModerator, ChatSettings
from chat.selectors import room_snapshot_data
from chat.services import check_send_chat_message
from tests.support.events import capture_events
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def room():
    owner, viewer, mod = make_user(), make_user(), make_user()
    stream = make_stream(owner, status="live")
    ChatModerator.objects.create(channel=owner, user=mod)
    return owner, viewer, mod, stream


def say(stream, user, text):
    return ChatMessage.objects.create(stream=stream, user=user, text=text)


def base(stream) -> str:
    return f"/api/streams/{stream.id}/chat"


def test_history_pages_newest_first_with_before_and_limit(api, room):
    _, viewer, _, stream = room
    ids = [say(stream, viewer, f"m{i}").id for i in range(7)]
    first = api.get(f"{base(stream)}/messages?limit=3").json()
    assert [m["id"] for m in first["messages"]] == ids[:-4:-1]
    assert first["has_more"] is True
    second = api.get(f"{base(stream)}/messages?limit=3&before={ids[-3]}").json()
    assert [m["text"] for m in second["messages"]] == ["m3", "m2", "m1"]
    item = second["messages"][0]
    assert set(item) == {"id", "user", "text", "created_at"}
    assert set(item["user"]) == {"id", "username", "display_name", "current_level"}


@pytest.mark.parametrize("query", ["limit=101", "limit=0", "limit=x", "before=-1"])
def test_history_rejects_bad_paging_with_a_clear_error(api, room, query):
    *_, stream = room
    response = api.get(f"{base(stream)}/messages?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_history_of_an_unknown_stream_is_404(api):
    assert api.get("/api/streams/424242/chat/messages").status_code == 404


def test_the_owner_deletes_a_message_everywhere(api, room):
    owner, viewer, _, stream = room
    message = say(stream, viewer, "oops")
    api.login_as(owner)
    with capture_events() as sent:
        response = api.call("DELETE", f"{base(stream)}/messages/{message.id}")
    assert response.status_code == 204
    assert sent == [
        (
            [f"stream.{stream.id}", f"dashboard.{stream.id}"],
            {"type": "chat.message_deleted", "id": message.id},
        )
    ]
    assert api.get(f"{base(stream)}/messages").json()["messages"] == []
    assert room_snapshot_data(stream.id)[1] == []


def test_a_moderator_may_delete_but_a_viewer_may_not(api, room):
    _, viewer, mod, stream = room
    message = say(stream, viewer, "x")
    api.login_as(viewer)
    response = api.call("DELETE", f"{base(stream)}/messages/{message.id}")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert ChatMessage.objects.get().deleted_at is None
    api.login_as(mod)
    assert api.call("DELETE", f"{base(stream)}/messages/{message.id}").status_code == 204


def test_moderation_needs_login(api, room):
    *_, stream = room
    response = api.call("POST", f"{base(stream)}/bans", {"user_id": 1})
    assert response.status_code == 401


def test_deleting_a_message_of_another_stream_is_404(api, room):
    owner, viewer, _, stream = room
    other = make_stream(owner, status="live")
    message = say(other, viewer, "elsewhere")
    api.login_as(owner)
    assert api.call("DELETE", f"{base(stream)}/messages/{message.id}").status_code == 404
    assert ChatMessage.objects.get().deleted_at is None


def test_a_permanent_ban_hides_history_and_is_announced_in_all_open_streams(api, room):
    owner, viewer, _, stream = room
    second = make_stream(owner, status="scheduled")
    make_stream(owner, status="ended")
    say(stream, viewer, "spam")
    keep = say(stream, owner, "hello")
    api.login_as(owner)
    with capture_events() as sent:
        response = api.call(
            "POST", f"{base(stream)}/bans", {"user_id": viewer.id, "reason": "spam"}
        )
    assert response.status_code == 201
    assert response.json()["until"] is None and response.json()["user_id"] == viewer.id
    [(groups, event)] = sent
    assert event == {"type": "chat.user_banned", "user_id": viewer.id, "until": None}
    assert sorted(groups) == sorted(
        [f"stream.{s}" for s in (stream.id, second.id)]
        + [f"dashboard.{s}" for s in (stream.id, second.id)]
    )
    assert [m["id"] for m in api.get(f"{base(stream)}/messages").json()["messages"]] == [keep.id]
    with pytest.raises(Exception) as refused:
        check_send_chat_message(user=viewer, stream_id=second.id, text="again")
    assert refused.value.code == "banned"


def test_a_timeout_keeps_history_and_ends(api, room):
    owner, viewer, _, stream = room
    say(stream, viewer, "borderline")
    api.login_as(owner)
    response = api.call(
        "POST", f"{base(stream)}/bans", {"user_id": viewer.id, "duration_seconds": 60}
    )
    assert response.status_code == 201 and response.json()["until"] is not None
    assert len(api.get(f"{base(stream)}/messages").json()["messages"]) == 1


def test_unban_lets_the_user_chat_again(api, room):
    owner, viewer, _, stream = room
    ChatBan.objects.create(channel=owner, user=viewer)
    api.login_as(owner)
    assert api.call("DELETE", f"{base(stream)}/bans/{viewer.id}").status_code == 204
    assert not ChatBan.objects.exists()
    check_send_chat_message(user=viewer, stream_id=stream.id, text="back")


def test_moderators_cannot_ban_the_streamer_or_each_other(api, room):
    owner, _, mod, stream = room
    other_mod = make_user()
    ChatModerator.objects.create(channel=owner, user=other_mod)
    api.login_as(mod)
    assert api.call("POST", f"{base(stream)}/bans", {"user_id": owner.id}).status_code == 403
    assert api.call("POST", f"{base(stream)}/bans", {"user_id": other_mod.id}).status_code == 403
    assert not ChatBan.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_id": "x"},
        {"user_id": 1, "duration_seconds": 0},
        {"user_id": 1, "reason": "r" * 256},
    ],
)
def test_bad_ban_requests_get_400(api, room, body):
    owner, *_, stream = room
    api.login_as(owner)
    response = api.call("POST", f"{base(stream)}/bans", body)
    assert response.status_code == 400
    assert not ChatBan.objects.exists()


def test_banning_an_unknown_user_is_404(api, room):
    owner, *_, stream = room
    api.login_as(owner)
    assert api.call("POST", f"{base(stream)}/bans", {"user_id": 999999}).status_code == 404


def test_slow_mode_setting_is_saved_and_announced(api, room):
    owner, *_, stream = room
    api.login_as(owner)
    with capture_events() as sent:
        response = api.call("PATCH", f"{base(stream)}/settings", {"slow_mode_seconds": 10})
    assert response.status_code == 200 and response.json() == {"slow_mode_seconds": 10}
    assert sent[0][1] == {"type": "chat.settings", "slow_mode_seconds": 10}
    assert ChatSettings.objects.get(stream=stream).slow_mode_seconds == 10
    assert api.get(f"{base(stream)}/settings").json() == {"slow_mode_seconds": 10}
    bad = api.call("PATCH", f"{base(stream)}/settings", {"slow_mode_seconds": -1})
    assert bad.status_code == 400


def test_only_the_owner_appoints_and_removes_moderators(api, room):
    owner, viewer, mod, stream = room
    api.login_as(mod)
    assert api.call("POST", f"{base(stream)}/moderators", {"user_id": viewer.id}).status_code == 403
    api.login_as(owner)
    response = api.call("POST", f"{base(stream)}/moderators", {"user_id": viewer.id})
    assert response.status_code == 201 and response.json()["id"] == viewer.id
    listed = api.get(f"{base(stream)}/moderators").json()["moderators"]
    assert {m["id"] for m in listed} == {mod.id, viewer.id}
    assert api.call("DELETE", f"{base(stream)}/moderators/{mod.id}").status_code == 204
    assert list(ChatModerator.objects.values_list("user_id", flat=True)) == [viewer.id]
