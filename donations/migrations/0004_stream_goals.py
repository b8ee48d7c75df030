# Donation goals (SPEC §7 "Donation goal"): the project's own table.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("donations", "0003_flag_stream_total_overflow"),
        ("streams", "0002_ingest_tracking"),
    ]

    operations = [
        migrations.CreateModel(
            name="StreamGoal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=100)),
                ("amount", models.DecimalField(decimal_places=2, max_digits=10)),
                (
                    "raised",
                    models.DecimalField(db_default=0, decimal_places=2, default=0, max_digits=12),
                ),
                ("set_at", models.DateTimeField()),
                ("cleared_at", models.DateTimeField(blank=True, null=True)),
                ("version", models.BigIntegerField(db_default=1, default=1)),
                ("updated_at", models.DateTimeField()),
                (
                    "stream",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="goal",
                        to="streams.livestream",
                    ),
                ),
            ],
            options={
                "db_table": "donations_stream_goals",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("amount__gt", 0)),
                        name="donations_stream_goals_amount_positive",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("version__gt", 0)),
                        name="donations_stream_goals_version_positive",
                    ),
                ],
            },
        ),
    ]
