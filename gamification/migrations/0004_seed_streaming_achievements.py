"""The six streaming achievements (SPEC §8), keyed by their stable ``code``."""

from django.db import migrations

# code, name, description, condition_type, condition_value, rarity, badge_color
ACHIEVEMENTS = [
    (
        "first_stream_ended",
        "First Broadcast",
        "End your first live stream.",
        "streams_ended",
        1,
        "common",
        "#4CAF50",
    ),
    (
        "minutes_streamed_60",
        "One Hour Live",
        "Stream 60 minutes in total.",
        "minutes_streamed",
        60,
        "common",
        "#2196F3",
    ),
    (
        "minutes_streamed_600",
        "Ten Hours Live",
        "Stream 600 minutes in total.",
        "minutes_streamed",
        600,
        "rare",
        "#3F51B5",
    ),
    (
        "peak_viewers_10",
        "Small Crowd",
        "Reach a peak of 10 viewers on a stream.",
        "peak_viewers",
        10,
        "common",
        "#FF9800",
    ),
    (
        "peak_viewers_100",
        "Packed House",
        "Reach a peak of 100 viewers on a stream.",
        "peak_viewers",
        100,
        "epic",
        "#E91E63",
    ),
    (
        "first_donation_received",
        "First Supporter",
        "Receive your first donation.",
        "donations_received",
        1,
        "common",
        "#FFC107",
    ),
]


def insert_achievements(apps, schema_editor):
    Achievement = apps.get_model("gamification", "Achievement")
    for code, name, description, ctype, value, rarity, color in ACHIEVEMENTS:
        Achievement.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "category": "streaming",
                "condition_type": ctype,
                "condition_value": value,
                "rarity": rarity,
                "badge_color": color,
            },
        )


def remove_achievements(apps, schema_editor):
    Achievement = apps.get_model("gamification", "Achievement")
    Achievement.objects.filter(code__in=[a[0] for a in ACHIEVEMENTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("gamification", "0003_stream_exp_and_codes")]

    operations = [migrations.RunPython(insert_achievements, remove_achievements)]
