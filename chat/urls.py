from django.urls import path

from chat import apis

urlpatterns = [
    path("streams/<int:stream_id>/chat/messages", apis.ChatMessagesApi.as_view()),
    path("streams/<int:stream_id>/chat/messages/<int:message_id>", apis.ChatMessageApi.as_view()),
    path("streams/<int:stream_id>/chat/bans", apis.ChatBansApi.as_view()),
    path("streams/<int:stream_id>/chat/bans/<int:user_id>", apis.ChatBanApi.as_view()),
    path("streams/<int:stream_id>/chat/settings", apis.ChatSettingsApi.as_view()),
    path("streams/<int:stream_id>/chat/moderators", apis.ChatModeratorsApi.as_view()),
    path(
        "streams/<int:stream_id>/chat/moderators/<int:user_id>",
        apis.ChatModeratorApi.as_view(),
    ),
]
