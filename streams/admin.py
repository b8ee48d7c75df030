"""``live_streams`` in the admin.

The stream key is a secret: never listed, never shown (not even masked), never
searchable. An admin who suspects a leak rotates it with the "Rotate stream key"
action (``do_rotate_stream_key``); the streamer reveals the new one on the dashboard.
Streams are created by streamers (``do_create_stream``) and change state only through
``streams.services``, so the admin has no add page and the lifecycle columns are
read-only; a new title or description goes through ``do_update_stream``, which tells
the open rooms.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.exceptions import ApplicationError
from realtime.events import invalidate_snapshots_on_commit
from streams.models import LiveStream, StreamRecording
from streams.services import do_rotate_stream_key, do_update_stream

# Shown to viewers: a change goes through do_update_stream, which broadcasts it.
_BROADCAST_FIELDS = ("title", "description")


@admin.register(LiveStream)
class LiveStreamAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "title",
        "streamer",
        "status",
        "scheduled_start",
        "actual_start",
        "actual_end",
        "max_viewers",
        "total_donations",
    )
    list_filter = ("status", "is_archived")
    search_fields = ("title", "streamer__username")
    list_select_related = ("streamer",)
    exclude = ("stream_key",)
    readonly_fields = (
        "streamer",
        "status",
        "actual_start",
        "actual_end",
        "max_viewers",
        "total_donations",
        "ingest_client_id",
        "ingest_seen_at",
        "ingest_done_at",
        "created_at",
        "updated_at",
    )
    date_hierarchy = "created_at"
    actions = ("rotate_stream_key",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: LiveStream, form, change: bool) -> None:
        changed = set(form.changed_data)
        others = sorted(changed.difference(_BROADCAST_FIELDS))
        if others:
            obj.save(update_fields=[*others, "updated_at"])
            invalidate_snapshots_on_commit([obj.id])  # e.g. scheduled_start: no event says so
        if changed.intersection(_BROADCAST_FIELDS):
            do_update_stream(
                user=None, stream_id=obj.id, title=obj.title, description=obj.description
            )

    @admin.action(description="Rotate stream key (the old key stops working)")
    def rotate_stream_key(self, request: HttpRequest, queryset: QuerySet[LiveStream]) -> None:
        rotated = 0
        for stream_id in queryset.values_list("id", flat=True):
            try:
                do_rotate_stream_key(stream_id=stream_id)
            except ApplicationError as exc:
                self.message_user(request, f"Stream {stream_id}: {exc}", messages.WARNING)
            else:
                rotated += 1
        if rotated:
            self.message_user(request, f"Rotated the key of {rotated} stream(s).")


@admin.register(StreamRecording)
class StreamRecordingAdmin(admin.ModelAdmin):
    """Recordings the ingest reported; read-only (the archive task joins them). The
    file name is never shown: without the relay rename it is the stream key."""

    list_display = ("id", "stream", "size", "created_at")
    list_select_related = ("stream",)
    fields = readonly_fields = ("stream", "size", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
