from django.urls import re_path

from streams.consumers import StreamDashboardSocket, StreamRoomSocket

websocket_urlpatterns = [
    re_path(r"^ws/streams/(?P<stream_id>\d+)/$", StreamRoomSocket.as_asgi()),
    re_path(r"^ws/dashboard/streams/(?P<stream_id>\d+)/$", StreamDashboardSocket.as_asgi()),
]
