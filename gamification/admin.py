from django.contrib import admin

from gamification.models import Achievement, ExpAction, UserAchievement, UserExpLog


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
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(Achievement)
class AchievementAdmin(admin.ModelAdmin):
    list_display = (
        "id",
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
