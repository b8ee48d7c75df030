from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.health import healthz
from core.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema", SpectacularAPIView.as_view(), name="openapi-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="openapi-schema"),
        name="openapi-docs",
    ),
    path("api/", include("accounts.urls")),
    path("api/", include("streams.urls")),
    path("ingest/", include("streams.ingest")),
    path("api/", include("donations.urls")),
    path("", include("donations.page_urls")),
    path("api/", include("gamification.urls")),
    path("api/", include("chat.urls")),
    path("api/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
    path("", include("core.media")),  # MEDIA_URL: archives and thumbnails
    path("", include("pages.urls")),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
