"""The embedded default: real PostgreSQL and Redis under a data dir, reused, stopped."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import services


def test_urls_from_the_environment_start_nothing(tmp_path):
    env = {"DATABASE_URL": "postgresql://db.example/x", "REDIS_URL": "redis://cache.example:1/0"}
    result = services.ensure_services(env, data_dir=tmp_path)
    assert result.started == []
    assert result.database_url == env["DATABASE_URL"] and result.redis_url == env["REDIS_URL"]
    assert not any(tmp_path.iterdir())


@pytest.fixture
def data_dir():
    """A data dir inside the checkout's .data/: the PostgreSQL server runs as its own
    system user, which must be able to reach the directory (pytest's tmp dirs are 0700)."""
    path = services.DEFAULT_DATA_DIR / "test-runs" / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_embedded_servers_start_once_are_reused_and_stop(data_dir):
    tmp_path = data_dir
    first = services.ensure_services({}, data_dir=tmp_path)
    try:
        assert sorted(first.started) == ["postgres", "redis"]
        with psycopg.connect(first.database_url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("eldonia",)
        assert redis.Redis.from_url(first.redis_url).ping()

        second = services.ensure_services({}, data_dir=tmp_path)
        assert second.started == []
        assert second.database_url == first.database_url and second.redis_url == first.redis_url
        services.stop_services(second)  # started nothing, so stops nothing
        assert services.postgres_running(tmp_path) and services.redis_running(tmp_path)
    finally:
        services.stop_services(first)
    assert not services.postgres_running(tmp_path)
    assert not services.redis_running(tmp_path)
