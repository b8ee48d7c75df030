from django.urls import re_path

from donations.consumers import OverlaySocket

websocket_urlpatterns = [
    re_path(r"^ws/overlays/(?P<token>[A-Za-z0-9_-]{1,100})/$", OverlaySocket.as_asgi()),
]
