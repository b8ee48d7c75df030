from django.contrib import admin

from gamification.models import (
    Achievement,
    DailyActionCount,
    ExpAction,
    StreamExp,
    UserAchievement,
    UserExpLog,
)


@admin.register(ExpAction)
class ExpActionAdmin(admin.ModelAdmin):
    list_display = ("action_type", "base_exp", "max_daily_count", "is_active", "description")
    list_filter = ("is_active",)
    search_fields = ("action_type", "description")


@admin.register(UserExpLog)
class UserExpLogAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "action_type",
        "exp_gained",
        "reference_type",
        "reference_id",
        "created_at",
    )
    list_filter = ("action_type", "reference_type")
    search_fields = ("user__username",)
    list_select_related = ("user", "action_type")
    raw_id_fields = ("user",)


@admin.register(Achievement)
class AchievementAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "code",
        "name",
        "category",
        "condition_type",
        "condition_value",
        "rarity",
        "is_active",
    )
    list_filter = ("category", "rarity", "is_active", "is_hidden")
    search_fields = ("name", "description")


@admin.register(UserAchievement)
class UserAchievementAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "achievement", "progress", "completed_at")
    list_filter = ("achievement",)
    search_fields = ("user__username", "achievement__name")
    list_select_related = ("user", "achievement")
    raw_id_fields = ("user",)


@admin.register(StreamExp)
class StreamExpAdmin(admin.ModelAdmin):
    """Read-only: progress moves only through ``gamification.services``."""

    list_display = ("stream", "minutes_awarded", "exp_awarded", "settled_at", "updated_at")
    list_filter = ("settled_at",)
    list_select_related = ("stream",)
    raw_id_fields = ("stream",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DailyActionCount)
class DailyActionCountAdmin(admin.ModelAdmin):
    list_display = ("user", "action_type", "day", "count")
    list_filter = ("action_type", "day")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
