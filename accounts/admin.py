from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "username",
        "email",
        "display_name",
        "current_level",
        "total_exp",
        "account_status",
        "subscription_type",
        "is_staff",
    )
    list_filter = ("account_status", "subscription_type", "is_staff", "is_active")
    search_fields = ("username", "email", "display_name")
    ordering = ("-id",)
    readonly_fields = ("total_exp", "current_level", "created_at", "updated_at")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (
            "Profile",
            {
                "fields": (
                    "display_name",
                    "bio",
                    "avatar_url",
                    "website_url",
                    "location",
                    "birth_date",
                    "gender",
                    "phone_number",
                    "account_status",
                    "subscription_type",
                )
            },
        ),
        ("Gamification", {"fields": ("total_exp", "current_level", "fan_count", "fanning_count")}),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )
