from django.urls import path

from pages import views

urlpatterns = [
    path("", views.browse, name="browse"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("streams/<int:stream_id>/", views.watch, name="watch"),
    path("dashboard/webhooks/", views.webhooks, name="webhooks"),
]
