#!/usr/bin/env python3
"""HTTP benchmark: the project's hot HTTP endpoints against a Django floor, in one run.

Everything runs on this machine over 127.0.0.1 (``make bench-http``; also a part of
``make bench``). It creates a database ``bench_http_<random>`` on the PostgreSQL server
of ``BENCH_PG_ADMIN`` (default: the server of ``DATABASE_URL``, else
postgresql://postgres@127.0.0.1:5432/postgres), migrates and seeds it, starts its own
``redis-server``, and drops / stops all of it at the end.

1. **wrk** (``-t2 -c16``, a warm-up, then ``--duration`` seconds), one server process
   each, the same ASGI server command (``scripts/asgi_server.py``):

   * the floor: ``bench/http_floor.py``, a minimal Django JSON view (no database, no
     middleware), measured before and after the project (the ratio uses their mean);
   * ``GET /api/streams/{id}`` (anonymous, a live stream), ``GET /api/streams?status=live``
     (20 live streams) and ``POST /ingest/on_update`` (a live stream's heartbeat, the key
     and client of its publisher, ``INGEST_SECRET`` set).

2. **Stripe webhook burst** over two server processes: 400 signed
   ``payment_intent.succeeded`` events for 400 pending donations of one live stream, plus
   100 duplicates (the same event again), shuffled, from 16 concurrent senders with
   keep-alive connections (after a warm-up: 64 donations of another stream, not
   measured, so the processes and their pools are warm as in production). Then the
   totals are checked exactly: every donation
   ``completed``, the stream total, 400 sale rows with the right fee and net, 400 event
   rows, 400 ``completed`` + 100 ``duplicate`` answers.

Results: ``bench/results/http-<timestamp>.json`` and ``bench/results/http-latest.md``.
Exit status 1 when a check failed (wrong totals, non-2xx answers, a server died).

    .venv/bin/python bench/http_bench.py
    .venv/bin/python bench/http_bench.py --duration 5 --only floor,read
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import importlib.util
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PARTS = ("floor", "read", "list", "ingest", "ingest-db", "webhooks")
LIST_STREAMS = 20
DONATIONS = 400
DUPLICATES = 100
WARMUP_DONATIONS = 64  # of another stream, delivered first: warm processes and pools
SENDERS = 16
WEBHOOK_PROCESSES = 2
FEE_PERCENT = Decimal(10)
# What the issue asks for (ratios against the floor of the same run; events/s).
TARGETS = {"read": 0.5, "ingest": 0.4, "webhooks": 300.0}


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The realtime benchmark's building blocks: processes, ports, Redis, PostgreSQL.
rt = _load("bench_realtime", BENCH / "run.py")

SEED = """
import json
from decimal import Decimal
from django.contrib.auth import get_user_model
from donations.models import StreamDonation
from streams import services

User = get_user_model()
owner = User.objects.create_user(
    username="bench_http_owner", email="owner@bench.invalid", password=None
)


def live(title, client):
    stream = services.do_create_stream(streamer=owner, title=title, description="bench")
    result = services.do_ingest_publish(stream_key=stream.stream_key, client_id=client)
    assert result.allowed, result.reason
    return stream


read = live("bench read", "read-1")
for i in range(%(list)d - 2):
    live(f"bench list {i}", f"list-{i}")
rush = live("bench rush", "rush-1")
warm = live("bench warm-up", "warm-1")


def pending(stream, n, tag):
    StreamDonation.objects.bulk_create(
        StreamDonation(
            stream=stream,
            amount=Decimal(100 + (i %% 50) * 10),
            currency="jpy",
            display_name=f"donor {i}",
            message="bench",
            payment_intent_id=f"pi_{tag}_{i:05d}",
        )
        for i in range(n)
    )
    return [
        [d, pi, str(a)]
        for d, pi, a in StreamDonation.objects.filter(stream=stream)
        .order_by("id")
        .values_list("id", "payment_intent_id", "amount")
    ]


print("BENCH_SEED " + json.dumps({
    "read": {"id": read.id, "key": read.stream_key, "client": "read-1"},
    "rush": rush.id,
    "donations": pending(rush, %(donations)d, "bench"),
    "warm": warm.id,
    "warm_donations": pending(warm, %(warmup)d, "warm"),
}))
"""


# --------------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    return float(match[1]) * _UNITS[match[2]] if match else float("nan")


def parse_wrk(out: str) -> dict:
    """Requests/s, latency mean and percentiles, errors from ``wrk --latency``."""
    r: dict = {"raw": out}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    r["rps"] = float(m[1]) if m else 0.0
    m = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if m:
        r["latency_mean_ms"] = _ms(m[1])
        r["latency_max_ms"] = _ms(m[3])
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            r[f"latency_p{pct}_ms"] = _ms(m[1])
    m = re.search(r"([0-9]+) requests in", out)
    r["requests"] = int(m[1]) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", out)
    r["non_2xx"] = int(m[1]) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r


def wrk(url: str, *, duration: int, script: Path | None = None, warmup: int = 2) -> dict:
    base = ["wrk", "-t2", "-c16", "--latency"]
    if script is not None:
        base += ["-s", str(script)]
    if warmup:
        subprocess.run([*base, f"-d{warmup}s", url], capture_output=True, timeout=warmup + 60)
    out = subprocess.run(
        [*base, f"-d{duration}s", url], capture_output=True, text=True, timeout=duration + 60
    )
    return parse_wrk(out.stdout + out.stderr)


# --------------------------------------------------------------------------- webhooks


def sign(payload: bytes, secret: str) -> str:
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def succeeded_event(
    donation_id: int, intent_id: str, amount: Decimal, stream_id: int, tag: str = "bench"
) -> bytes:
    obj = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": int(amount),  # JPY: zero-decimal, minor units = major units
        "amount_received": int(amount),
        "currency": "jpy",
        "metadata": {"donation_id": str(donation_id), "stream_id": str(stream_id)},
        "status": "succeeded",
        "livemode": False,
    }
    event = {
        "id": f"evt_{tag}_{donation_id}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payment_intent.succeeded",
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def platform_fee(amount: Decimal) -> Decimal:
    """``donations.services.platform_fee`` for JPY at 10 % (the bench's settings)."""
    fee = (amount * FEE_PERCENT / Decimal(100)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return min(amount, fee).quantize(Decimal("0.01"))


def send_burst(ports: list[int], bodies: list[bytes], secret: str) -> dict:
    """POST every body from ``SENDERS`` threads (keep-alive, round-robin over the
    ports); wall time from the first send to the last answer."""
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    answers: list = [None] * len(bodies)
    latencies: list[float] = []
    start = threading.Barrier(SENDERS + 1)

    def sender(n: int) -> None:
        port = ports[n % len(ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        while True:
            with lock:
                if not queue:
                    break
                i, body = queue.pop(0)
            headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, secret)}
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/webhooks/stripe/", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status, data = 0, str(exc).encode()
            elapsed = time.perf_counter() - t0
            try:
                result = json.loads(data).get("result") if status == 200 else None
            except ValueError:
                result = None
            with lock:
                answers[i] = (status, result, data[:200].decode(errors="replace"))
                latencies.append(elapsed)
        conn.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    counts: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for status, result, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        counts[str(result)] = counts.get(str(result), 0) + 1
    bad = [a for a in answers if a[0] != 200][:5]
    return {
        "events": len(bodies),
        "wall_s": wall,
        "events_per_s": len(bodies) / wall if wall else 0.0,
        "statuses": statuses,
        "results": counts,
        "latency_p50_ms": 1000 * latencies[len(latencies) // 2],
        "latency_p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "bad_answers": bad,
    }


def check_ledger(db_url: str, stream_id: int, donations: list) -> dict:
    """Every total the burst must leave behind, read back from PostgreSQL."""
    import psycopg

    expected_total = sum((Decimal(a) for _, _, a in donations), Decimal(0))
    fees = {d: platform_fee(Decimal(a)) for d, _, a in donations}
    ids = [d for d, _, _ in donations]
    with psycopg.connect(db_url, autocommit=True) as conn:
        (total,) = conn.execute(
            "SELECT total_donations FROM live_streams WHERE id = %s", [stream_id]
        ).fetchone()
        statuses = dict(
            conn.execute(
                "SELECT payment_status, count(*) FROM stream_donations WHERE stream_id = %s"
                " GROUP BY payment_status",
                [stream_id],
            ).fetchall()
        )
        sales = conn.execute(
            "SELECT reference_id, amount, fee_amount, net_amount FROM transactions"
            " WHERE reference_type = 'donation' AND transaction_type = 'sale'"
            " AND reference_id = ANY(%s)",
            [ids],
        ).fetchall()
        refunds = conn.execute(
            "SELECT count(*) FROM transactions WHERE reference_type = 'donation'"
            " AND transaction_type = 'refund' AND reference_id = ANY(%s)",
            [ids],
        ).fetchone()[0]
        events = dict(
            conn.execute(
                "SELECT result, count(*) FROM donations_stripe_events"
                " WHERE event_id LIKE 'evt_bench_%%' GROUP BY result"
            ).fetchall()
        )
    amounts = {d: Decimal(a) for d, _, a in donations}
    wrong_rows = [
        ref
        for ref, amount, fee, net in sales
        if amount != amounts.get(ref) or fee != fees.get(ref) or net != amount - fee
    ]
    problems = []
    if total != expected_total:
        problems.append(f"stream total {total} != {expected_total}")
    if statuses != {"completed": len(donations)}:
        problems.append(f"donation statuses {statuses}")
    if len(sales) != len(donations) or len({r[0] for r in sales}) != len(donations):
        problems.append(f"{len(sales)} sale rows for {len(donations)} donations")
    if wrong_rows:
        problems.append(f"{len(wrong_rows)} sale rows with a wrong amount/fee/net")
    if refunds:
        problems.append(f"{refunds} refund rows")
    if events != {"completed": len(donations)}:
        problems.append(f"event rows {events}")
    return {
        "stream_total": str(total),
        "expected_total": str(expected_total),
        "donation_statuses": statuses,
        "sale_rows": len(sales),
        "fees_total": str(sum((r[2] for r in sales), Decimal(0))),
        "expected_fees_total": str(sum(fees.values(), Decimal(0))),
        "event_rows": events,
        "problems": problems,
    }


# --------------------------------------------------------------------------- the runner


class HttpBench:
    def __init__(self, opts: argparse.Namespace) -> None:
        self.o = opts
        self.procs = rt.Procs()
        self.stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.logs = RESULTS / f"logs-http-{self.stamp}"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.python = (
            str(ROOT / ".venv/bin/python")
            if (ROOT / ".venv/bin/python").exists()
            else sys.executable
        )
        self.redis_bin = rt.redis_binary()
        self.pg_admin = rt.pg_admin_url()
        self.db = "bench_http_" + secrets.token_hex(5)
        self.db_url = rt.with_db(self.pg_admin, self.db)
        self.secret = "bench-" + secrets.token_hex(24)
        self.webhook_secret = "whsec_bench_" + secrets.token_hex(16)
        self.ingest_secret = "ingest-" + secrets.token_hex(8)
        self.n = 0
        self.report: dict = {
            "started": dt.datetime.now().isoformat(timespec="seconds"),
            "machine": rt.machine_info(),
            "server": opts.server,
            "duration_s": opts.duration,
            "wrk": "wrk -t2 -c16 --latency (2 s warm-up, then the measured run)",
            "results": {},
        }
        self.failures: list[str] = []

    def log(self, msg: str) -> None:
        print(f"[bench-http {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def logfile(self, name: str) -> Path:
        self.n += 1
        return self.logs / f"{self.n:03d}-{name}.log"

    def env(self, redis_port: int) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DEBUG", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "SECRET_KEY")
            and not k.startswith(("STRIPE_", "THROTTLE_", "DATABASE_POOL"))
        }
        env.update(
            DEBUG="false",
            SECURE_COOKIES="false",
            SECRET_KEY=self.secret,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            STRIPE_SECRET_KEY="sk_test_bench",
            STRIPE_PUBLISHABLE_KEY="pk_test_bench",
            STRIPE_WEBHOOK_SECRET=self.webhook_secret,
            PLATFORM_FEE_PERCENT=str(FEE_PERCENT),
            DONATION_CURRENCY="jpy",
            LOG_LEVEL="WARNING",
            INGEST_SECRET=self.ingest_secret,
            DATABASE_URL=self.db_url,
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            REDIS_PREFIX="bench-http",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def start_redis(self) -> tuple[subprocess.Popen, int]:
        port = rt.free_port()
        log = self.logfile("redis")
        argv = [self.redis_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.logs)]
        p = self.procs.start(argv, log=log)
        rt.wait_until(lambda: rt.redis_ping(port), p, 15, "redis-server", log)
        return p, port

    def start_server(self, name: str, env: dict, *, floor: bool = False) -> tuple:
        port = rt.free_port()
        argv = rt.asgi_command()("127.0.0.1", port, server=self.o.server, python=self.python)
        if floor:
            # The same server and flags, serving the floor app instead of the project.
            argv = [
                ("http_floor:application" if a == "config.asgi:application" else a) for a in argv
            ]
            if self.o.server == "uvicorn":
                argv += ["--app-dir", str(BENCH)]
        log = self.logfile(name)
        cwd = BENCH if floor and self.o.server == "daphne" else ROOT
        p = self.procs.start(argv, log=log, env=env, cwd=cwd)
        probe = "/api/streams/1" if floor else "/healthz"
        url = f"http://127.0.0.1:{port}{probe}"
        rt.wait_until(lambda: rt.http_ok(url), p, 60, name, log)
        return p, port, log

    def setup(self, env: dict) -> dict:
        self.log(f"database {self.db} on {rt.redact(self.pg_admin)}")
        rt.pg_exec(self.pg_admin, f'CREATE DATABASE "{self.db}"')
        rt.migrate(self.python, env, self.logfile("migrate"))
        code = SEED % {"list": LIST_STREAMS, "donations": DONATIONS, "warmup": WARMUP_DONATIONS}
        r = subprocess.run(
            [self.python, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.logfile("seed").write_text(r.stderr)
        line = next((x for x in r.stdout.splitlines() if x.startswith("BENCH_SEED ")), None)
        if r.returncode or not line:
            raise RuntimeError(f"seeding failed ({r.returncode}):\n{r.stderr[-2000:]}")
        return json.loads(line.split(" ", 1)[1])

    def measure(self, part: str, url: str, script: Path | None = None) -> dict:
        res = wrk(url, duration=self.o.duration, script=script)
        if res["rps"]:
            res.pop("raw", None)
        self.report["results"].setdefault(part, []).append(res)
        self.log(
            f"{part}: {res['rps']:.0f} req/s, mean {res.get('latency_mean_ms', 0):.1f} ms,"
            f" p99 {res.get('latency_p99_ms', 0):.1f} ms, non-2xx {res['non_2xx']},"
            f" socket errors {res['socket_errors']}"
        )
        if res["non_2xx"] or res["socket_errors"] or not res["rps"]:
            self.failures.append(
                f"{part}: {res['non_2xx']} non-2xx answers, {res['socket_errors']} socket errors"
            )
        return res

    def run(self) -> int:
        parts = self.o.only
        _, rport = self.start_redis()
        env = self.env(rport)
        try:
            seed = self.setup(env)
            self.report["seed"] = {"live_streams": LIST_STREAMS, "donations": DONATIONS}
            if parts & {"floor", "read", "list", "ingest", "ingest-db"}:
                self.single_process(parts, env, seed)
            if "webhooks" in parts:
                self.webhooks(env, seed)
        finally:
            self.procs.stop()
            try:
                rt.pg_exec(self.pg_admin, f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
                self.log(f"dropped database {self.db}")
            except Exception as e:
                self.log(f"could not drop database {self.db}: {e}")
        self.report["failures"] = self.failures
        self.write()
        if self.failures:
            for f in self.failures:
                self.log("FAILED: " + f)
        elif not self.o.keep_logs:
            shutil.rmtree(self.logs, ignore_errors=True)
        return 1 if self.failures else 0

    def single_process(self, parts: set[str], env: dict, seed: dict) -> None:
        floor_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
        floor = self.start_server("floor", floor_env, floor=True) if "floor" in parts else None
        project = self.start_server("project", env)
        # The same, with every heartbeat through the database (no lease): what each
        # stream's heartbeat costs once per lease (streams/heartbeats.py).
        no_lease = (
            self.start_server("project-no-lease", {**env, "INGEST_LEASE_SECONDS": "0"})
            if "ingest-db" in parts
            else None
        )
        base = f"http://127.0.0.1:{project[1]}"
        lua = self.logs / "on_update.lua"
        form = (
            f"call=update_publish&app=live&name={seed['read']['key']}"
            f"&addr=127.0.0.1&clientid={seed['read']['client']}"
        )
        lua.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
            f'wrk.body = "{form}"\n'
        )
        on_update = f"/ingest/on_update?secret={self.ingest_secret}"
        try:
            if floor:
                self.measure("floor", f"http://127.0.0.1:{floor[1]}/api/streams/1")
            if "read" in parts:
                self.measure("read", f"{base}/api/streams/{seed['read']['id']}")
            if "ingest" in parts:
                self.measure("ingest", base + on_update, lua)
            if no_lease:
                self.measure("ingest-db", f"http://127.0.0.1:{no_lease[1]}{on_update}", lua)
            if "list" in parts:
                self.measure("list", f"{base}/api/streams?status=live")
            if floor:
                self.measure("floor", f"http://127.0.0.1:{floor[1]}/api/streams/1")
        finally:
            lua.unlink()  # it holds the stream key
            servers = (("floor", floor), ("project", project), ("project-no-lease", no_lease))
            for name, proc in servers:
                if proc and proc[0].poll() is not None:
                    self.failures.append(f"{name} server died:\n{rt.tail(proc[2])}")
            self.procs.stop([p[0] for _, p in servers if p])

    def webhooks(self, env: dict, seed: dict) -> None:
        servers = [self.start_server(f"webhooks{i + 1}", env) for i in range(WEBHOOK_PROCESSES)]
        try:
            donations = seed["donations"]
            bodies = [succeeded_event(d, pi, Decimal(a), seed["rush"]) for d, pi, a in donations]
            rng = random.Random(14)
            burst = bodies + rng.sample(bodies, DUPLICATES)
            rng.shuffle(burst)
            warmup = [
                succeeded_event(d, pi, Decimal(a), seed["warm"], tag="warm")
                for d, pi, a in seed["warm_donations"]
            ]
            warm = send_burst([s[1] for s in servers], warmup, self.webhook_secret)
            if warm["statuses"] != {"200": len(warmup)}:
                self.failures.append(f"webhooks: warm-up answers {warm['statuses']}")
            self.log(
                f"webhooks: {len(bodies)} payment_intent.succeeded + {DUPLICATES} duplicates,"
                f" {SENDERS} senders, {WEBHOOK_PROCESSES} server processes"
            )
            res = send_burst([s[1] for s in servers], burst, self.webhook_secret)
            res["ledger"] = check_ledger(self.db_url, seed["rush"], donations)
            self.report["results"]["webhooks"] = [res]
            self.log(
                f"webhooks: {res['events_per_s']:.0f} events/s ({res['events']} in"
                f" {res['wall_s']:.2f} s), p50 {res['latency_p50_ms']:.0f} ms,"
                f" p99 {res['latency_p99_ms']:.0f} ms, answers {res['results']},"
                f" ledger {'exact' if not res['ledger']['problems'] else res['ledger']['problems']}"
            )
            expected = {"completed": len(bodies), "duplicate": DUPLICATES}
            if res["statuses"] != {"200": len(burst)}:
                self.failures.append(
                    f"webhooks: HTTP statuses {res['statuses']} {res['bad_answers']}"
                )
            if res["results"] != expected:
                self.failures.append(f"webhooks: answers {res['results']} != {expected}")
            self.failures += [f"webhooks: {p}" for p in res["ledger"]["problems"]]
        finally:
            for name, proc, log in (
                (f"webhooks{i + 1}", s[0], s[2]) for i, s in enumerate(servers)
            ):
                if proc.poll() is not None:
                    self.failures.append(f"{name} server died:\n{rt.tail(log)}")
            self.procs.stop([s[0] for s in servers])

    # -- report

    def summary(self) -> list[dict]:
        res = self.report["results"]

        def best(part: str) -> dict | None:
            runs = res.get(part) or []
            return runs[0] if runs else None

        floors = [r["rps"] for r in res.get("floor", [])]
        floor = sum(floors) / len(floors) if floors else None
        rows = []
        labels = {
            "read": "`GET /api/streams/{id}`",
            "list": "`GET /api/streams?status=live` (20 live)",
            "ingest": "`POST /ingest/on_update` (live stream, its publisher)",
            "ingest-db": "`POST /ingest/on_update`, `INGEST_LEASE_SECONDS=0` (database path)",
        }
        for part in ("read", "list", "ingest", "ingest-db"):
            r = best(part)
            if r is None:
                continue
            ratio = r["rps"] / floor if floor else None
            rows.append(
                {
                    "endpoint": labels[part],
                    "project": r["rps"],
                    "mean_ms": r.get("latency_mean_ms"),
                    "p99_ms": r.get("latency_p99_ms"),
                    "floor": floor,
                    "ratio": ratio,
                    "target": TARGETS.get(part),
                }
            )
        wh = best("webhooks")
        if wh is not None:
            rows.append(
                {
                    "endpoint": (
                        f"Stripe webhooks: {DONATIONS} + {DUPLICATES} duplicates,"
                        f" {SENDERS} senders, {WEBHOOK_PROCESSES} processes"
                    ),
                    "events_per_s": wh["events_per_s"],
                    "p99_ms": wh["latency_p99_ms"],
                    "exact": not wh["ledger"]["problems"]
                    and wh["statuses"] == {"200": wh["events"]}
                    and wh["results"] == {"completed": DONATIONS, "duplicate": DUPLICATES},
                    "target": TARGETS["webhooks"],
                }
            )
        return rows

    def write(self) -> None:
        RESULTS.mkdir(exist_ok=True)
        self.report["summary"] = self.summary()
        (RESULTS / f"http-{self.stamp}.json").write_text(json.dumps(self.report, indent=2))
        md = markdown(self.report, f"http-{self.stamp}.json")
        if self.o.only == set(PARTS):
            (RESULTS / "http-latest.md").write_text(md)
        print(md, flush=True)


def fmt(value, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(report: dict, json_name: str) -> str:
    m = report["machine"]
    floors = [r["rps"] for r in report["results"].get("floor", [])]
    out = [
        "# HTTP benchmark: project vs a minimal Django floor",
        "",
        f"Run {report['started']}; {m.get('cpus')} CPUs ({m.get('cpu', '?')}); Python"
        f" {m.get('python')}; server **{report['server']}**, one process each for wrk"
        f" (webhooks: {WEBHOOK_PROCESSES}); {report['wrk']}, {report['duration_s']} s."
        f" Full numbers: `bench/results/{json_name}`.",
        "",
    ]
    if floors:
        out += [
            "Floor: `bench/http_floor.py` (one JSON view, no database, no middleware), measured"
            " before and after the project: " + " / ".join(f"{f:.0f}" for f in floors) + " req/s;"
            " ratios use their mean.",
            "",
        ]
    wrk_rows = [row for row in report["summary"] if "events_per_s" not in row]
    if wrk_rows:
        out += [
            "| endpoint | project req/s | mean / p99 ms | floor req/s | ratio | target |",
            "|---|---|---|---|---|---|",
        ]
    for row in wrk_rows:
        target = row["target"]
        ok = (
            ""
            if target is None or row["ratio"] is None
            else (" ✓" if row["ratio"] >= target else " ✗")
        )
        out.append(
            f"| {row['endpoint']} | {fmt(row['project'])} | {fmt(row['mean_ms'], '.1f')} /"
            f" {fmt(row['p99_ms'], '.1f')} | {fmt(row['floor'])} | {fmt(row['ratio'], '.2f')}x"
            f" | {'-' if target is None else f'≥ {target}x'}{ok} |"
        )
    for row in report["summary"]:
        if "events_per_s" not in row:
            continue
        wh = report["results"]["webhooks"][0]
        ledger = wh["ledger"]
        mark = "✓" if row["events_per_s"] >= row["target"] and row["exact"] else "✗"
        out += [
            "",
            "| webhook burst | events/s | p50 / p99 ms | answers | totals and ledger | target |",
            "|---|---|---|---|---|---|",
            f"| {row['endpoint']} | {row['events_per_s']:.0f} ({wh['events']} in"
            f" {wh['wall_s']:.2f} s) | {wh['latency_p50_ms']:.0f} / {wh['latency_p99_ms']:.0f}"
            f" | {', '.join(f'{k} {v}' for k, v in sorted(wh['results'].items()))}"
            f" | {'exact' if not ledger['problems'] else '; '.join(ledger['problems'])}"
            f" (total {ledger['stream_total']}, {ledger['sale_rows']} sale rows, fees"
            f" {ledger['fees_total']}) | ≥ {row['target']:.0f}/s {mark} |",
        ]
    if report.get("failures"):
        out += ["", "Failures:", *[f"- {f.splitlines()[0]}" for f in report["failures"]]]
    out.append("")
    return "\n".join(out)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    ap.add_argument("--only", default=",".join(PARTS), help=f"parts: {','.join(PARTS)}")
    ap.add_argument(
        "--server",
        default=os.environ.get("BENCH_SERVER", "uvicorn") or "uvicorn",
        choices=("uvicorn", "daphne"),
        help="the ASGI server (env BENCH_SERVER)",
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep bench/results/logs-http-*")
    o = ap.parse_args(argv)
    o.only = {p.strip() for p in o.only.split(",") if p.strip()}
    if not o.only or o.only - set(PARTS):
        ap.error(f"--only: some of {','.join(PARTS)}")
    return o


def main(argv=None) -> int:
    o = parse_args(argv)
    if not shutil.which("wrk") and o.only - {"webhooks"}:
        print("wrk not found (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    rt.raise_nofile()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    bench = HttpBench(o)
    bench.log(f"HTTP benchmark: {','.join(p for p in PARTS if p in o.only)}; server {o.server}")
    try:
        return bench.run()
    except KeyboardInterrupt:
        bench.log("interrupted; stopped everything this run started")
        return 130


if __name__ == "__main__":
    sys.exit(main())
