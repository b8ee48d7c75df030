"""The embedded default: real PostgreSQL and Redis under a data dir, reused, stopped."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import services


def test_urls_from_the_environment_start_nothing(tmp_path):
    env = {"DATABASE_URL": "postgresql://db.example/x", "REDIS_URL": "redis://cache.example:1/0"}
    result = services.ensure_services(env, data_dir=tmp_path)
    assert result.started == []
    assert result.database_url == env["DATABASE_URL"] and result.redis_url == env["REDIS_URL"]
    assert not any(tmp_path.iterdir())


def test_embedded_servers_start_once_are_reused_and_stop(tmp_path):
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
