from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps


@pytest.fixture(autouse=True)
def seeded_gamification(django_db_blocker, request):
    """The seed rows that migrations insert (``exp_actions``, the six achievements).

    Tests with ``transaction=True`` end with a flush that deletes them; put them
    back so every test starts from the migrated state.
    """
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    seed_actions = importlib.import_module("gamification.migrations.0002_seed_data")
    seed_achievements = importlib.import_module(
        "gamification.migrations.0004_seed_streaming_achievements"
    )
    request.getfixturevalue("_django_db_helper")
    with django_db_blocker.unblock():
        seed_actions.insert_exp_actions(django_apps, None)
        seed_achievements.insert_achievements(django_apps, None)
    yield
