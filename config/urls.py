from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/schema", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/", include("accounts.urls")),
    path("api/", include("chat.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
