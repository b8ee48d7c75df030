"""``/api/...`` routes of donations and overlays (included under ``api/``)."""

from django.urls import path

from donations import apis

urlpatterns = [
    path(
        "streams/<int:stream_id>/donations",
        apis.DonationListCreateApi.as_view(),
        name="donation-create",
    ),
    path("streams/<int:stream_id>/goal", apis.GoalApi.as_view(), name="stream-goal"),
    path("me/overlay", apis.OverlayApi.as_view(), name="overlay"),
    path("me/overlay/rotate", apis.OverlayRotateApi.as_view(), name="overlay-rotate"),
    path("me/overlay/test", apis.OverlayTestApi.as_view(), name="overlay-test"),
    path(
        "donations/<int:donation_id>/replay",
        apis.DonationReplayApi.as_view(),
        name="donation-replay",
    ),
    path(
        "donations/<int:donation_id>/test-complete",
        apis.DonationTestCompleteApi.as_view(),
        name="donation-test-complete",
    ),
]
