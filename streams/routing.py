from django.urls import re_path

from streams.consumers import StreamDashboardConsumer, StreamRoomConsumer

websocket_urlpatterns = [
    re_path(r"^ws/streams/(?P<stream_id>\d+)/$", StreamRoomConsumer.as_asgi()),
    re_path(r"^ws/dashboard/streams/(?P<stream_id>\d+)/$", StreamDashboardConsumer.as_asgi()),
]
