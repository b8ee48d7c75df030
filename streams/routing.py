from django.urls import re_path

from streams.consumers import StreamRoomConsumer

websocket_urlpatterns = [
    re_path(r"^ws/streams/(?P<stream_id>\d+)/$", StreamRoomConsumer.as_asgi()),
]
