"""docker-compose.yml kept consistent with the code it runs. There is no Docker engine
on this machine, so the stack is not started here: the file is parsed and every
service's command, environment and ports are checked against the settings, the
server command (scripts/asgi_server.py), the ingest renderer (deploy/ingest_conf.py)
and the production start-up checks."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from tests.support.nginx import ingest_conf
from tests.support.servers import ROOT, asgi_script

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "web", "worker", "beat")
# What an operator puts in .env for the required variables.
DOT_ENV = {
    "SECRET_KEY": "k" * 50,
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "INGEST_SECRET": "ingest-secret",
    "METRICS_TOKEN": "metrics-token",
}


def interpolate(value: object, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name, "")
        if op == ":-":
            return current or arg
        if op == ":?":
            if not current:
                raise AssertionError(f"{name} is required: {arg}")
            return current
        return current

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, str(value))


def service_env(name: str) -> dict[str, str]:
    return {
        k: interpolate(v, DOT_ENV) for k, v in (SERVICES[name].get("environment") or {}).items()
    }


def command(name: str) -> list[str]:
    cmd = SERVICES[name]["command"]
    return cmd if isinstance(cmd, list) else str(cmd).split()


def settings_env_names() -> set[str]:
    text = (ROOT / "config" / "settings.py").read_text()
    names = set(re.findall(r'env\w*\(\s*"([A-Z][A-Z0-9_]*)"', text))
    names |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]*)"', text))
    return names


def test_every_app_service_shares_one_environment():
    envs = [service_env(name) for name in APP_SERVICES]
    worker_only = {"CELERY_METRICS_PORT"}
    assert all({k: v for k, v in env.items() if k not in worker_only} == envs[0] for env in envs)


def test_the_worker_serves_its_metrics_on_the_published_port():
    port = service_env("worker")["CELERY_METRICS_PORT"]
    assert SERVICES["worker"]["ports"] == [f"{port}:{port}"]
    assert "CELERY_METRICS_PORT" not in service_env("web")
    assert service_env("web")["METRICS_TOKEN"] == DOT_ENV["METRICS_TOKEN"]


def test_every_app_variable_is_a_setting_and_documented():
    readme = (ROOT / "README.md").read_text() + (ROOT / "docs" / "streams.md").read_text()
    known = settings_env_names() | {"CELERY_METRICS_PORT"}  # read by config/celery.py
    for name in service_env("worker"):
        assert name in known, f"{name} in docker-compose.yml is not read by config/settings.py"
        assert f"`{name}`" in readme, f"{name} is not documented"


def test_cookies_are_secure_by_default_and_debug_is_off():
    env = service_env("web")
    assert env["SECURE_COOKIES"] == "1"
    assert env["DEBUG"] == "0"


def test_the_web_command_is_the_server_command_and_the_dockerfile_cmd():
    expected = asgi_script.command("0.0.0.0", 8000, server="uvicorn", python="python")
    assert command("web") == expected
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd_line = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert json.loads(cmd_line[4:]) == expected
    assert SERVICES["web"]["ports"] == ["8000:8000"]


def test_worker_and_beat_run_the_celery_app():
    assert command("worker")[:4] == ["celery", "-A", "config", "worker"]
    assert command("beat")[:4] == ["celery", "-A", "config", "beat"]
    assert command("migrate") == ["python", "manage.py", "migrate", "--noinput"]


def test_the_production_environment_passes_the_start_up_checks():
    """The server and workers refuse to start on a bad configuration
    (core/startup.py): the compose environment, with .env filled in, must pass."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **service_env("web")}
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "django.setup(); from core.startup import refuse_misconfiguration;"
        "refuse_misconfiguration(); print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    missing = {**env}
    missing.pop("SECRET_KEY")
    refused = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=missing, capture_output=True, text=True
    )
    assert refused.returncode == 3 and "SECRET_KEY" in refused.stderr


def test_the_ingest_is_rendered_by_the_same_renderer_and_calls_the_web_service(tmp_path):
    env = service_env("ingest")
    assert SERVICES["ingest"]["build"] == {"context": ".", "dockerfile": "deploy/ingest.Dockerfile"}
    dockerfile = (ROOT / "deploy" / "ingest.Dockerfile").read_text()
    assert "ingest_conf.py" in dockerfile and "--exec" in dockerfile
    values = ingest_conf.settings_from_env(env)
    text = ingest_conf.render(values)
    assert "http://web:8000/ingest/on_publish?secret=ingest-secret&relay=" in text
    assert env["INGEST_SECRET"] == service_env("web")["INGEST_SECRET"]
    # The ports nginx listens on are the ones published, and the ones the app shows.
    rtmp, http = values["rtmp_port"], values["http_port"]
    assert SERVICES["ingest"]["ports"] == [f"{rtmp}:{rtmp}", f"{http}:{http}"]
    app = service_env("web")
    assert app["INGEST_RTMP_URL"].endswith(f":{rtmp}/live")
    assert f":{http}/hls/{{stream_id}}.m3u8" in app["PLAYBACK_URL_TEMPLATE"]
    assert int(app["INGEST_UPDATE_INTERVAL_SECONDS"]) == values["update_seconds"]
    assert values["user"] == "www-data"


@pytest.mark.parametrize("name", ["INGEST_APP_URL", "INGEST_RTMP_PORT", "INGEST_BIND"])
def test_the_renderer_refuses_bad_values(name):
    bad = {"INGEST_APP_URL": "web:8000; evil", "INGEST_RTMP_PORT": "70000", "INGEST_BIND": "a b"}
    with pytest.raises(ingest_conf.ConfigError):
        ingest_conf.settings_from_env({name: bad[name]})


def mounts(name: str) -> dict[str, str]:
    """A service's named volumes: mount path → ``volume`` or ``volume:ro``."""
    result = {}
    for spec in SERVICES[name].get("volumes") or []:
        volume, path, *mode = spec.split(":")
        result[path] = volume + (f":{mode[0]}" if mode else "")
    return result


def test_recordings_hls_and_media_are_shared_volumes_at_the_same_paths():
    """The ingest records and cuts HLS where the app looks for them (on_record_done only
    accepts files inside its INGEST_RECORD_DIR; thumbnails read HLS_DIR), and the web
    service serves the MEDIA_ROOT the worker writes."""
    app, ingest = service_env("worker"), service_env("ingest")
    assert app == {**service_env("web"), "CELERY_METRICS_PORT": app["CELERY_METRICS_PORT"]}
    for name in ("INGEST_RECORD_DIR", "HLS_DIR"):
        assert app[name] == ingest[name], name
    records, hls, media = app["INGEST_RECORD_DIR"], app["HLS_DIR"], app["MEDIA_ROOT"]
    assert len({records, hls, media}) == 3
    assert mounts("ingest")[records] == mounts("worker")[records].split(":")[0] == "recordings"
    assert mounts("web")[records] == "recordings:ro"  # checked, never written
    assert mounts("ingest")[hls] == "hls" and mounts("worker")[hls] == "hls:ro"
    assert mounts("worker")[media] == "media"  # the worker writes archives and thumbnails
    assert mounts("web")[media] == "media:ro"  # the web serves them
    assert media not in mounts("ingest")  # nginx serves HLS only, never recordings
    assert {"media", "recordings", "hls"} <= set(COMPOSE["volumes"])


def test_the_ingest_records_into_its_private_dir_and_reports_each_file(tmp_path):
    env = {
        **service_env("ingest"),
        "INGEST_WORK_DIR": str(tmp_path / "work"),
        "HLS_DIR": str(tmp_path / "hls"),
        "INGEST_RECORD_DIR": str(tmp_path / "rec"),
        "INGEST_USER": "",
    }
    values = ingest_conf.write(tmp_path / "nginx.conf", env)
    text = (tmp_path / "nginx.conf").read_text()
    live = text[text.index("application live") : text.index("application hls")]
    assert "record all;" in live and "record_unique on;" in live
    assert f"record_path {tmp_path / 'rec'};" in live
    assert (
        "on_record_done http://web:8000/ingest/on_record_done?secret=ingest-secret"
        f"&relay=rtmp://127.0.0.1:{values['rtmp_port']}/hls;" in live
    )
    # Private: the file names may hold stream keys; nothing serves the dir.
    assert (tmp_path / "rec").stat().st_mode & 0o777 == 0o700
    assert str(tmp_path / "rec") not in text[text.index("http {") :]
