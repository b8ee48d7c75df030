"""The ``users`` table in the admin.

Every field of the change form is an editable column of ``accounts.User`` or listed in
``readonly_fields``: Django's ``UserAdmin`` shows ``date_joined`` in a form, but here
it is ``auto_now_add`` (not editable), which made the change page a ``FieldError``.
"""

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
    # EXP and level move only through gamification.services; the dates are set by the
    # database or by Django itself.
    readonly_fields = (
        "total_exp",
        "current_level",
        "last_login",
        "date_joined",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        (
            "Permissions",
            {
                "fields": (
                    "account_status",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
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
                    "is_email_verified",
                    "is_phone_verified",
                    "subscription_type",
                )
            },
        ),
        ("Gamification", {"fields": ("total_exp", "current_level", "fan_count", "fanning_count")}),
        ("Dates", {"fields": ("last_login", "date_joined", "created_at", "updated_at")}),
    )
    # The email is unique and required: ask for it when adding a user.
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
