from django.urls import path

from gamification import apis

urlpatterns = [
    path("me/exp", apis.MyExpApi.as_view(), name="me-exp"),
]
