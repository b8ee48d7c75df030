"""``exp_actions``, ``user_exp_log``, ``achievements``, ``user_achievements`` (seed §2.8)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class ExpAction(models.Model):
    id = models.AutoField(primary_key=True)  # SERIAL in the seed
    action_type = models.CharField(max_length=50, unique=True)
    base_exp = models.IntegerField()
    description = models.CharField(max_length=255, null=True, blank=True)
    max_daily_count = models.IntegerField(null=True, default=0, db_default=0)  # 0 = unlimited
    is_active = models.BooleanField(null=True, default=True, db_default=True)
    created_at = models.DateTimeField(null=True, auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "exp_actions"

    def __str__(self) -> str:
        return f"{self.action_type} (+{self.base_exp})"


class UserExpLog(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exp_log"
    )
    action_type = models.ForeignKey(
        ExpAction,
        on_delete=models.PROTECT,
        to_field="action_type",
        db_column="action_type",
        related_name="log_entries",
    )
    exp_gained = models.IntegerField()
    reference_id = models.BigIntegerField(null=True, blank=True)
    reference_type = models.CharField(max_length=50, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "user_exp_log"
        indexes = [
            models.Index(fields=["user"], name="idx_user_exp_user"),
            models.Index(fields=["action_type"], name="idx_user_exp_action"),
            models.Index(fields=["created_at"], name="idx_user_exp_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(exp_gained__gte=0), name="check_exp_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} +{self.exp_gained} ({self.action_type_id})"


class Achievement(models.Model):
    class Rarity(models.TextChoices):
        COMMON = "common", "Common"
        RARE = "rare", "Rare"
        EPIC = "epic", "Epic"
        LEGENDARY = "legendary", "Legendary"

    id = models.AutoField(primary_key=True)  # SERIAL in the seed
    # Not in the seed: a stable identifier the code looks achievements up by (the
    # seed's ``name`` is display text and may be translated or edited).
    code = models.CharField(max_length=50, null=True, blank=True, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(null=True, blank=True)
    category = models.CharField(max_length=50, null=True, blank=True)
    condition_type = models.CharField(max_length=50)
    condition_value = models.IntegerField()
    badge_icon_url = models.CharField(max_length=500, null=True, blank=True)
    badge_color = models.CharField(max_length=7, null=True, blank=True)
    rarity = models.CharField(
        max_length=20,
        null=True,
        choices=Rarity.choices,
        default=Rarity.COMMON,
        db_default=Rarity.COMMON,
    )
    is_hidden = models.BooleanField(null=True, default=False, db_default=False)
    is_active = models.BooleanField(null=True, default=True, db_default=True)
    created_at = models.DateTimeField(null=True, auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "achievements"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rarity__in=["common", "rare", "epic", "legendary"])
                | models.Q(rarity__isnull=True),
                name="achievements_rarity_check",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class UserAchievement(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="achievements"
    )
    achievement = models.ForeignKey(
        Achievement, on_delete=models.CASCADE, related_name="unlocked_by"
    )
    progress = models.IntegerField(null=True, default=0, db_default=0)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "user_achievements"
        # The seed's idx_user_achievements_completed is longer than Django allows an
        # index name to be; migration 0002 creates it with SQL.
        indexes = [
            models.Index(fields=["user"], name="idx_user_achievements_user"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "achievement"], name="user_achievements_user_id_achievement_id_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} / {self.achievement_id}"


class StreamExp(models.Model):
    """Per-stream ``stream_minute`` progress: the data that makes the award exact.

    ``minutes_awarded`` only moves forward, by a conditional ``UPDATE … WHERE
    minutes_awarded = <old>`` in the same transaction as the ``user_exp_log`` insert
    and the ``users.total_exp`` increment, so a minute is paid at most once whoever
    runs the tick and however often. ``settled_at`` is set once an ended stream has
    had its last minute counted; settled rows drop out of the minute tick.
    """

    stream = models.OneToOneField(
        "streams.LiveStream",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="exp_progress",
    )
    minutes_awarded = models.IntegerField(default=0, db_default=0)
    exp_awarded = models.BigIntegerField(default=0, db_default=0)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        db_table = "gamification_stream_exp"
        indexes = [
            models.Index(
                fields=["stream"],
                name="gamif_stream_exp_open",
                condition=models.Q(settled_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minutes_awarded__gte=0) & models.Q(exp_awarded__gte=0),
                name="gamif_stream_exp_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return f"stream {self.stream_id}: {self.minutes_awarded} min"


class DailyActionCount(models.Model):
    """How many units of an action a user was credited on one UTC day, for
    ``exp_actions.max_daily_count``. For ``stream_minute`` one unit is one live minute
    credited with EXP (see docs/gamification.md)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    action_type = models.CharField(max_length=50)
    day = models.DateField()
    count = models.IntegerField(default=0, db_default=0)

    class Meta:
        db_table = "gamification_daily_action_count"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "action_type", "day"], name="gamif_daily_action_count_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.action_type} {self.day}: {self.count}"
