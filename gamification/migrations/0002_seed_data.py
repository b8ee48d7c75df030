"""The seed's 8 ``exp_actions`` rows (seed §2.8.1) and its completed_at index."""

from django.db import migrations

EXP_ACTIONS = [
    ("artwork_post", 100, "作品投稿"),
    ("artwork_purchase", 50, "作品購入"),
    ("like_received", 10, "いいね獲得"),
    ("comment_post", 5, "コメント投稿"),
    ("sale_completed", 500, "販売成約"),
    ("stream_minute", 10, "Live配信（分）"),
    ("event_created", 1000, "イベント開催"),
    ("daily_login", 10, "デイリーログイン"),
]


def insert_exp_actions(apps, schema_editor):
    ExpAction = apps.get_model("gamification", "ExpAction")
    for action_type, base_exp, description in EXP_ACTIONS:
        ExpAction.objects.get_or_create(
            action_type=action_type,
            defaults={"base_exp": base_exp, "description": description},
        )


def remove_exp_actions(apps, schema_editor):
    ExpAction = apps.get_model("gamification", "ExpAction")
    ExpAction.objects.filter(action_type__in=[a for a, _, _ in EXP_ACTIONS]).delete()


class Migration(migrations.Migration):
    dependencies = [("gamification", "0001_initial")]

    operations = [
        migrations.RunPython(insert_exp_actions, remove_exp_actions),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS idx_user_achievements_completed "
            "ON user_achievements(completed_at);",
            "DROP INDEX IF EXISTS idx_user_achievements_completed;",
        ),
    ]
