from django.urls import path

from streams import apis

urlpatterns = [
    path("streams", apis.StreamListCreateApi.as_view(), name="streams"),
    path("streams/<int:stream_id>", apis.StreamDetailApi.as_view(), name="stream-detail"),
    path("streams/<int:stream_id>/key", apis.StreamKeyApi.as_view(), name="stream-key"),
    path(
        "streams/<int:stream_id>/key/rotate",
        apis.StreamKeyRotateApi.as_view(),
        name="stream-key-rotate",
    ),
    path("streams/<int:stream_id>/start", apis.StreamStartApi.as_view(), name="stream-start"),
    path("streams/<int:stream_id>/end", apis.StreamEndApi.as_view(), name="stream-end"),
    path("streams/<int:stream_id>/cancel", apis.StreamCancelApi.as_view(), name="stream-cancel"),
    path("streams/<int:stream_id>/stats", apis.StreamStatsApi.as_view(), name="stream-stats"),
]
