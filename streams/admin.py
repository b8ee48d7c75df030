from django.contrib import admin

from streams.models import LiveStream


@admin.register(LiveStream)
class LiveStreamAdmin(admin.ModelAdmin):
    # The stream key is a secret: never listed, never shown, never searchable.
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
    readonly_fields = ("actual_start", "actual_end", "max_viewers", "total_donations")
    raw_id_fields = ("streamer",)
    date_hierarchy = "created_at"
