#!/usr/bin/env python3
"""Realtime load generator for ``make bench`` (run by ``bench/run.py`` in its own process).

Standard library only (uvloop when importable). Every connection is a minimal RFC 6455
client on a bare ``asyncio.Protocol``: HTTP/1.1 upgrade, unmasked server frames, masked
client frames, no extensions, ping -> pong, close handshake.

Two wire modes:

* ``project``: ``/ws/streams/<id>/`` with ``Origin: http://<host:port>``. Viewers are
  anonymous and joined when ``chat.history`` arrives; senders carry a ``Cookie`` header and
  send ``{"type":"chat.send","text":...}``; only ``chat.message`` frames are deliveries.
* ``sio``: Socket.IO 4 / Engine.IO 4 on the websocket transport,
  ``/socket.io/?EIO=4&transport=websocket&room=<room>``; sends ``40``, joined on ``40{...}``,
  answers the Engine.IO ping ``2`` with ``3``; chat is ``42["chat",{...}]`` both ways.

Three scenarios:

* ``fanout``: viewers spread over rooms and servers, senders per room inside the flood
  limit, a warm-up, a measured window (server/Redis/generator CPU, box load), a drain.
  Optional bursts in some rooms and slow readers that stop reading (pause the transport).
* ``connect``: open N viewers at a given rate, hold them: join latency, failures, RSS.
* ``churn``: N viewers, then joins + leaves per second, observers that record the
  ``viewers {count, peak}`` frames, optional ``kill -9`` of one server: count accuracy
  against the truth this process knows, push rate, convergence after the kill.

Every chat text is ``@@<seq>@<unix time>@`` padded to ``--size`` bytes (UTF-8) within
``--max-chars`` characters. Every ``--sample``-th viewer of a room parses each frame and
records send->receive latency; the others only classify the frame and read the sequence
number (no JSON). Output: one summary line on stdout and the full JSON (``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import contextlib
import hashlib
import itertools
import json
import math
import os
import random
import re
import resource
import signal
import socket
import struct
import sys
import time
from collections import deque
from urllib.parse import urlsplit

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TYPE_RE = re.compile(rb'"type"\s*:\s*"([^"]*)"')
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

VIEWER, SENDER, OBSERVER = 0, 1, 2
CLOSE_SLOW = 4429


# --------------------------------------------------------------------------- framing


def masked_frame(payload: bytes, opcode: int = 1) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    key = os.urandom(4)
    if not n:
        return head + key
    stream = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return head + key + (int.from_bytes(payload, "big") ^ stream).to_bytes(n, "big")


def close_frame(code: int = 1000) -> bytes:
    return masked_frame(struct.pack("!H", code), 8)


def pad_text(head: str, size: int, max_chars: int) -> str:
    """``head`` padded to exactly ``size`` UTF-8 bytes using at most ``max_chars`` characters.

    ASCII ``x`` while it fits; beyond that some 3-byte ``\u20ac`` so a 1 KB payload stays
    inside a 500-character limit.
    """
    room_bytes, room_chars = size - len(head), max_chars - len(head)
    if room_bytes <= room_chars:
        return head + "x" * max(0, room_bytes)
    wide = min(room_bytes // 3, math.ceil((room_bytes - room_chars) / 2))
    return head + "\u20ac" * wide + "x" * (room_bytes - 3 * wide)


def chat_text(seq: int, ts: float, size: int, max_chars: int) -> str:
    return pad_text(f"@@{seq}@{ts:.6f}@", size, max_chars)


# --------------------------------------------------------------------------- /proc


def proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, cpu ticks incl. reaped children, rss pages) for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after "comm)": state ppid ... utime(11) stime cutime cstime ... rss(21)
        table[int(name)] = (
            int(fields[1]),
            int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14]),
            int(fields[21]),
        )
    return table


def tree(table, pid: int) -> list[int]:
    if pid not in table:
        return []
    kids: dict[int, list[int]] = {}
    for p, (pp, _, _) in table.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def tree_usage(table, pid: int) -> tuple[float, float] | None:
    """(CPU seconds, RSS MiB) of ``pid`` and its live descendants; None when it is gone."""
    pids = tree(table, pid)
    if not pids:
        return None
    cpu = sum(table[p][1] for p in pids) / CLK_TCK
    rss = sum(table[p][2] for p in pids) * PAGE_KIB / 1024
    return cpu, rss


def box_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)  # busy (no idle, iowait), total


def pct(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))]


def ms(v):
    return None if v is None else round(v * 1000, 2)


def dist_ms(values) -> dict:
    v = sorted(values)
    return {
        "n": len(v),
        "p50": ms(pct(v, 0.5)),
        "p95": ms(pct(v, 0.95)),
        "p99": ms(pct(v, 0.99)),
        "max": ms(v[-1] if v else None),
    }


# --------------------------------------------------------------------------- state


class Gen:
    """Run-wide state shared by every connection."""

    def __init__(self, a):
        self.a = a
        self.sio = a.mode == "sio"
        self.urls = []
        for u in a.urls.split(","):
            p = urlsplit(u.strip())
            self.urls.append((p.hostname, p.port or 80, p.netloc))
        self.rooms = [r.strip() for r in a.rooms.split(",") if r.strip()]
        self.cookies = []
        if a.cookies_file:
            with open(a.cookies_file) as f:
                self.cookies = [line.strip() for line in f if line.strip()]
        self.s0 = 1 << 62  # first sequence number of the measured window
        self.seq = 0
        self.rx = 0  # chat frames read by viewers
        self.failed = 0
        self.errors: dict[str, int] = {}
        self.lags: list[float] = []
        self.measuring = False
        self.rss_max = 0.0
        self.batch_s = a.batch_ms / 1000
        self.batch_q: deque[tuple[float, Conn]] = deque()
        self.unresolved = 0
        self.all_resolved = asyncio.Event()
        self.truth = 0  # joined project viewers (churn)
        self.truth_log: list[tuple[float, int]] = []
        self.active: list[Conn] = []  # churn: joined viewers that may leave
        self.track_truth = False  # churn, project: keep the true viewer count
        self.track_active = False  # churn: keep the list of viewers that may leave
        self.pong = masked_frame(b"3")
        self.join_frame = masked_frame(b"40")

    def fail(self, reason: str) -> None:
        self.failed += 1
        reason = reason[:120]
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def path(self, room: str) -> str:
        if self.sio:
            return f"/socket.io/?EIO=4&transport=websocket&room={room}"
        return f"/ws/streams/{room}/"

    def encode_chat(self, room: str, text: str) -> bytes:
        if self.sio:
            body = json.dumps(["chat", {"room": room, "text": text}], ensure_ascii=False)
            return masked_frame(("42" + body).encode())
        body = json.dumps({"type": "chat.send", "text": text}, ensure_ascii=False)
        return masked_frame(body.encode())

    def change_truth(self, delta: int) -> None:
        self.truth += delta
        self.truth_log.append((time.time(), self.truth))


class Conn(asyncio.Protocol):
    """One WebSocket connection: viewer, sender or observer."""

    __slots__ = (
        "aborted",
        "batch",
        "buf",
        "close_code",
        "cookie",
        "counted",
        "delivered",
        "dups",
        "errors",
        "frag",
        "frame_bytes",
        "g",
        "group",
        "hs",
        "idx",
        "key",
        "kind",
        "lat",
        "leaving",
        "other",
        "paused_at",
        "resolved",
        "room",
        "sampled",
        "seqs",
        "slow",
        "t_closed",
        "t_join",
        "t_start",
        "tr",
        "url",
        "viewers",
    )

    def __init__(self, g: Gen, url: int, room: int, kind=VIEWER, *, sampled=False, slow=False):
        self.g, self.url, self.room, self.kind = g, url, room, kind
        self.sampled, self.slow = sampled, slow
        self.batch = False  # read at most every --batch-ms (cheap non-sampled viewers)
        self.group = "main"
        self.cookie = None
        self.tr = self.frag = self.key = None
        self.t_start = self.t_join = self.t_closed = self.paused_at = None
        self.hs = bytearray()  # None once upgraded
        self.buf = bytearray()
        self.delivered = self.dups = self.errors = self.other = self.frame_bytes = 0
        self.lat: list[float] = []
        self.seqs: set[int] = set()
        self.viewers: list[tuple[float, int, int]] = []
        self.close_code = None
        self.aborted = self.leaving = self.resolved = self.counted = False
        self.idx = -1

    # -- lifecycle

    def start(self) -> asyncio.Task:
        """Count the connection as pending and open it in a task."""
        self.g.unresolved += 1
        return asyncio.create_task(self.open())

    async def open(self) -> None:
        g = self.g
        host, port, netloc = g.urls[self.url]
        loop = asyncio.get_running_loop()
        self.t_start = time.time()
        try:
            if self.slow and g.a.slow_rcvbuf:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, g.a.slow_rcvbuf)
                sock.setblocking(False)
                try:
                    await asyncio.wait_for(loop.sock_connect(sock, (host, port)), g.a.timeout)
                    await loop.create_connection(lambda: self, sock=sock)
                except BaseException:
                    sock.close()
                    raise
            else:
                await asyncio.wait_for(
                    loop.create_connection(lambda: self, host, port), g.a.timeout
                )
        except (OSError, TimeoutError) as e:
            self.t_closed = time.time()
            self.resolve(False, f"connect: {type(e).__name__}: {e}")
            return
        self.key = base64.b64encode(os.urandom(16))
        lines = [
            f"GET {g.path(g.rooms[self.room])} HTTP/1.1",
            f"Host: {netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if not g.sio:
            lines.append(f"Origin: {g.a.origin or 'http://' + netloc}")
            if self.cookie:
                lines.append(f"Cookie: {self.cookie}")
        self.tr.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def resolve(self, ok: bool, reason: str = "") -> None:
        if self.resolved:
            return
        self.resolved = True
        g = self.g
        if ok:
            self.t_join = time.time()
            if g.track_truth and self.kind != SENDER:
                self.counted = True
                g.change_truth(+1)
            if g.track_active and self.kind == VIEWER:
                self.idx = len(g.active)
                g.active.append(self)
        else:
            g.fail(reason)
        g.unresolved -= 1
        if g.unresolved == 0:
            g.all_resolved.set()

    def uncount(self) -> None:
        g = self.g
        if self.counted:
            self.counted = False
            g.change_truth(-1)
        if self.idx >= 0:  # swap-pop out of the churn list
            last = g.active.pop()
            if last is not self:
                g.active[self.idx] = last
                last.idx = self.idx
            self.idx = -1

    def leave(self) -> None:
        """Close from our side (churn leave or the end of the run)."""
        self.leaving = True
        self.uncount()
        if self.tr is not None and not self.tr.is_closing():
            if self.hs is None:
                self.tr.write(close_frame(1000))
            self.tr.close()

    def connection_made(self, transport) -> None:
        self.tr = transport

    def connection_lost(self, exc) -> None:
        if self.t_closed is None:
            self.t_closed = time.time()
        if self.close_code is None and not self.leaving:
            self.aborted = True
        self.uncount()
        if not self.resolved:
            why = f"closed {self.close_code}" if self.close_code else "connection lost"
            self.resolve(False, f"{why} before joining")

    # -- reading

    def upgrade(self, data: bytes):
        self.hs += data
        end = self.hs.find(b"\r\n\r\n")
        if end < 0:
            if len(self.hs) > 65536:
                self.resolve(False, "oversized HTTP answer")
                self.tr.close()
            return None
        head, rest = bytes(self.hs[:end]), bytes(self.hs[end + 4 :])
        status = head.split(b" ", 2)[1] if head.count(b" ") else b"?"
        accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest())
        if status != b"101" or accept not in head:
            self.resolve(False, f"HTTP {status.decode(errors='replace')}")
            self.tr.close()
            return None
        self.hs = None
        if self.g.sio:
            self.tr.write(self.g.join_frame)
        return rest

    def data_received(self, data: bytes) -> None:
        if self.hs is not None:
            data = self.upgrade(data)
            if not data:
                return
        buf = self.buf
        buf += data
        p, n = 0, len(buf)
        while n - p >= 2:
            b0, ln = buf[p], buf[p + 1] & 0x7F
            s = p + 2
            if ln == 126:
                if n - p < 4:
                    break
                ln, s = (buf[p + 2] << 8) | buf[p + 3], p + 4
            elif ln == 127:
                if n - p < 10:
                    break
                ln, s = int.from_bytes(buf[p + 2 : p + 10], "big"), p + 10
            e = s + ln
            if e > n:
                break
            op = b0 & 0x0F
            fin = b0 & 0x80
            if op == 1 and fin:
                self.on_text(buf, s, e)
            elif op == 8:
                self.on_close(bytes(buf[s:e]))
                return
            elif op == 9:
                self.tr.write(masked_frame(bytes(buf[s:e]), 10))
            elif op in (0, 1):  # fragmented text
                self.frag = (self.frag or bytearray()) + buf[s:e]
                if fin:
                    frag, self.frag = self.frag, None
                    self.on_text(frag, 0, len(frag))
            p = e
        if p:
            del buf[:p]
        if self.batch and self.t_join is not None and self.paused_at is None:
            self.tr.pause_reading()  # frames wait in the kernel; batch_resumer resumes
            self.g.batch_q.append((time.monotonic() + self.g.batch_s, self))

    def on_close(self, payload: bytes) -> None:
        self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        if self.t_closed is None:
            self.t_closed = time.time()
        if not self.resolved:
            why = payload[2:62].decode(errors="replace")
            self.resolve(False, f"closed {self.close_code} {why}".strip() + " before joining")
        self.uncount()
        if not self.tr.is_closing():
            if not self.leaving:
                self.tr.write(masked_frame(payload[:2], 8))
            self.tr.close()

    def on_text(self, buf, s: int, e: int) -> None:
        g = self.g
        if g.sio:
            c0 = buf[s]
            if c0 == 0x32 and e - s == 1:  # Engine.IO ping
                self.tr.write(g.pong)
                return
            c1 = buf[s + 1] if e - s > 1 else 0
            if c0 == 0x34 and c1 == 0x32:  # "42": event
                self.on_chat(buf, s + 2, e)
            elif c0 == 0x34 and c1 == 0x30:  # "40{...}": namespace joined
                self.resolve(True)
            elif c0 == 0x34 and c1 == 0x34:  # "44": connect error
                self.errors += 1
                self.resolve(False, "socket.io connect error")
            else:
                self.other += 1
            return
        m = TYPE_RE.search(buf, s, e)
        kind = m.group(1) if m else b""
        if kind == b"chat.message":
            self.on_chat(buf, s, e)
        elif kind == b"chat.history":
            self.resolve(True)
        elif kind == b"viewers" and self.kind == OBSERVER:
            try:
                obj = json.loads(bytes(buf[s:e]))
                self.viewers.append((time.time(), int(obj["count"]), int(obj.get("peak") or 0)))
            except (ValueError, KeyError, TypeError):
                self.other += 1
        elif kind == b"error":
            self.errors += 1
            if self.kind == SENDER:
                try:
                    code = str(json.loads(bytes(buf[s:e])).get("code"))
                except (ValueError, AttributeError):
                    code = "?"
                g.errors["sender error: " + code] = g.errors.get("sender error: " + code, 0) + 1
        else:
            self.other += 1

    def on_chat(self, buf, s: int, e: int) -> None:
        if self.kind != VIEWER:
            return
        g = self.g
        g.rx += 1
        if not self.sampled:
            i = buf.find(b"@@", s, e)
            j = buf.find(b"@", i + 2, e) if i >= 0 else -1
            try:
                seq = int(buf[i + 2 : j]) if j > 0 else -1
            except ValueError:
                seq = -1
            if seq >= g.s0:
                self.delivered += 1
            elif seq < 0:
                self.other += 1
            return
        now = time.time()
        try:
            raw = bytes(buf[s:e])
            obj = json.loads(raw)
            text = obj[1]["text"] if g.sio else obj["text"]
            _, _, seq, ts, _ = text.split("@", 4)
            seq, ts = int(seq), float(ts)
        except (ValueError, KeyError, IndexError, TypeError):
            self.other += 1
            return
        if seq < g.s0:
            return
        if seq in self.seqs:
            self.dups += 1
            return
        self.seqs.add(seq)
        self.delivered += 1
        self.frame_bytes += e - s
        self.lat.append(now - ts)


# --------------------------------------------------------------------------- measuring


def snapshot(g: Gen) -> dict:
    a = g.a
    table = proc_table()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "t": time.time(),
        "rx": g.rx,
        "srv": {p: tree_usage(table, p) for p in a.pids},
        "redis": {p: tree_usage(table, p) for p in a.redis_pids},
        "self": ru.ru_utime + ru.ru_stime,
        "box": box_ticks(),
    }


def usage(g: Gen, w0: dict, w1: dict, deliveries: int | None, conns: int) -> dict:
    """CPU / memory figures between two snapshots."""
    a = g.a
    span = max(1e-6, w1["t"] - w0["t"])
    out: dict = {"window_s": round(span, 2)}
    gone = []

    def cpu(key, pid):
        u0, u1 = w0[key].get(pid), w1[key].get(pid)
        if u0 is None or u1 is None:
            gone.append(pid)
            return None
        return round(u1[0] - u0[0], 3)

    srv = {p: cpu("srv", p) for p in a.pids}
    srv_s = sum(v or 0 for v in srv.values())
    rss_end = sum(u[1] for u in w1["srv"].values() if u)
    rss_start = sum(u[1] for u in w0["srv"].values() if u)
    out["server"] = {
        "cpu_s": round(srv_s, 3),
        "cores": round(srv_s / span, 3),
        "per_pid_cpu_s": {str(p): v for p, v in srv.items()},
        "us_per_delivery": round(srv_s / deliveries * 1e6, 2) if deliveries else None,
        "rss_mib_start": round(rss_start, 1),
        "rss_mib_end": round(rss_end, 1),
        "rss_kib_per_conn": round(rss_end * 1024 / conns, 1) if conns else None,
    }
    if a.redis_pids:
        red = {p: cpu("redis", p) for p in a.redis_pids}
        red_s = sum(v or 0 for v in red.values())
        out["redis"] = {
            "cpu_s": round(red_s, 3),
            "cores": round(red_s / span, 4),
            "rss_mib_end": round(sum(u[1] for u in w1["redis"].values() if u), 1),
        }
    self_s = w1["self"] - w0["self"]
    lags = sorted(g.lags)
    out["loadgen"] = {
        "cpu_s": round(self_s, 3),
        "cores": round(self_s / span, 3),
        "lag_ms_p99": ms(pct(lags, 0.99)),
        "lag_ms_max": ms(lags[-1] if lags else None),
    }
    b0, b1 = w0["box"], w1["box"]
    out["box_busy_pct"] = round(100 * (b1[0] - b0[0]) / max(1, b1[1] - b0[1]), 1)
    warnings = []
    if out["loadgen"]["cores"] > 0.85 or (out["loadgen"]["lag_ms_p99"] or 0) > 20:
        warnings.append("generator saturated (>0.85 core or loop lag p99 >20 ms)")
    if out["box_busy_pct"] > 90:
        warnings.append("box saturated (>90% of all cores busy)")
    if gone:
        warnings.append(f"pid {','.join(map(str, sorted(set(gone))))} gone: CPU incomplete")
    out["warnings"] = warnings
    return out


async def lag_monitor(g: Gen, period: float = 0.02) -> None:
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(period)
        if g.measuring:
            g.lags.append(max(0.0, loop.time() - t - period))


async def rss_sampler(g: Gen, period: float = 1.0) -> None:
    """Largest server RSS (MiB, all --pids trees) seen once a second while measuring."""
    while True:
        await asyncio.sleep(period)
        if g.measuring and g.a.pids:
            table = proc_table()
            rss = sum(u[1] for u in (tree_usage(table, p) for p in g.a.pids) if u)
            g.rss_max = max(g.rss_max, rss)


async def batch_resumer(g: Gen) -> None:
    """Resume the viewers paused by --batch-ms once their time is up (every 5 ms)."""
    q = g.batch_q
    while True:
        await asyncio.sleep(0.005)
        now = time.monotonic()
        while q and q[0][0] <= now:
            c = q.popleft()[1]
            if c.paused_at is None and c.tr is not None and not c.tr.is_closing():
                c.tr.resume_reading()


async def open_all(g: Gen, conns: list[Conn], rate: float) -> list[asyncio.Task]:
    """Open ``conns`` at ``rate`` per second; return the connect tasks."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    tasks = []
    for j, c in enumerate(conns):
        delay = t0 + j / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(c.start())
    return tasks


async def wait_resolved(g: Gen, conns: list[Conn]) -> None:
    """Until every connection joined or failed, at most --timeout after the last opened."""
    if g.unresolved > 0:
        g.all_resolved.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(g.all_resolved.wait(), g.a.timeout + 1)
    for c in conns:
        if not c.resolved:
            c.resolve(False, "not joined in time")
            c.leave()


def join_stats(conns: list[Conn]) -> dict:
    joined = [c for c in conns if c.t_join is not None]
    return dist_ms(c.t_join - c.t_start for c in joined)


def close_all(conns) -> None:
    for c in conns:
        c.leave()


# --------------------------------------------------------------------------- fanout


def schedule(a, nrooms: int) -> list[tuple[float, int]]:
    """Sorted (offset s, room) of every message: ``--rate`` per room, spread phases,
    ``--burst-rate`` for ``--burst-len`` s every ``--burst-every`` s in the first
    ``--burst-rooms`` rooms."""
    total = a.warmup + a.duration
    events = []
    for r in range(nrooms):
        bursty = r < a.burst_rooms and a.burst_rate > 0
        t = (r / nrooms) / a.rate if a.rate > 0 else total
        while t < total:
            in_burst = bursty and (t % a.burst_every) >= a.burst_every - a.burst_len
            if not in_burst:
                events.append((t, r))
            t += 1 / a.rate
        if bursty:
            start = a.burst_every - a.burst_len
            while start < total:
                t = start + (r / nrooms) / a.burst_rate
                while t < min(total, start + a.burst_len):
                    events.append((t, r))
                    t += 1 / a.burst_rate
                start += a.burst_every
    events.sort()
    return events


def senders_needed(events, nrooms: int, a) -> list[int]:
    """Per room: senders so that none sends more than 90% of the flood limit per window."""
    per_room: list[list[float]] = [[] for _ in range(nrooms)]
    for t, r in events:
        per_room[r].append(t)
    budget = max(1, int(a.flood_limit * 0.9))
    out = []
    for times in per_room:
        peak, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - a.flood_window:
                lo += 1
            peak = max(peak, hi - lo + 1)
        out.append(max(1, math.ceil(peak / budget)))
    return out


async def run_fanout(g: Gen) -> dict:
    a, loop = g.a, asyncio.get_running_loop()
    nrooms, nurls = len(g.rooms), len(g.urls)
    events = schedule(a, nrooms)
    need = senders_needed(events, nrooms, a)
    warnings = []
    if a.senders_per_room:
        need = [a.senders_per_room] * nrooms
    if not g.sio:
        if not g.cookies:
            raise SystemExit("project mode needs --cookies-file with sender session cookies")
        if max(need) > len(g.cookies):
            warnings.append(
                f"flood limit needs {max(need)} senders per room, only {len(g.cookies)} "
                "sender users: expect rate_limited errors"
            )
            need = [min(k, len(g.cookies)) for k in need]
    senders: list[list[Conn]] = []
    for r in range(nrooms):
        room_senders = []
        for j in range(need[r]):
            c = Conn(g, (j + r) % nurls, r, SENDER)
            if g.cookies:
                c.cookie = g.cookies[j % len(g.cookies)]
            room_senders.append(c)
        senders.append(room_senders)
    slow_every = round(100 / a.slow_pct) if a.slow_pct > 0 else 0
    viewers = []
    for i in range(a.viewers):
        r, k = i % nrooms, i // nrooms
        slow = bool(slow_every) and (k + r) % slow_every == slow_every // 2
        v = Conn(g, (k + r) % nurls, r, sampled=not slow and (k + r) % a.sample == 0, slow=slow)
        v.batch = bool(a.batch_ms) and not slow and not v.sampled
        v.group = "slow" if slow else ("burst" if r < a.burst_rooms and a.burst_rate else "calm")
        if nrooms == 1 and not slow:
            v.group = "main"
        viewers.append(v)
    all_senders = [s for room in senders for s in room]
    conns = all_senders + viewers

    g.measuring = True
    c0 = snapshot(g)
    tasks = await open_all(g, conns, a.connect_rate)
    await wait_resolved(g, conns)
    c1 = snapshot(g)
    g.measuring = False
    g.lags.clear()
    connect_usage = usage(g, c0, c1, None, len(conns))
    live = [[s for s in room if s.t_join and not s.t_closed] for room in senders]
    if not any(live):
        close_all(conns)
        return {"error": "no sender could join", "errors": g.errors}

    # send: warm-up, then the measured window (opened by its first message)
    sent_ts: list[list[float]] = [[] for _ in range(nrooms)]
    rr = [0] * nrooms
    skipped = 0
    slow_viewers = [v for v in viewers if v.slow and v.t_join and not v.t_closed]
    t_begin = loop.time() + 0.05
    w0 = None
    resume_at = None
    for t, r in events:
        now = loop.time()
        if t_begin + t > now:
            await asyncio.sleep(t_begin + t - now)
        if w0 is None and t >= a.warmup:
            g.s0 = g.seq
            g.measuring = True
            w0 = snapshot(g)
            for v in slow_viewers:
                if v.tr and not v.tr.is_closing():
                    v.tr.pause_reading()
                    v.paused_at = w0["t"]
            resume_at = loop.time() + a.slow_resume
        if resume_at is not None and slow_viewers and loop.time() >= resume_at:
            for v in slow_viewers:
                if v.tr and not v.tr.is_closing():
                    v.tr.resume_reading()
            slow_viewers = []
        room = live[r]
        if not room:
            skipped += 1
            continue
        s = room[rr[r] % len(room)]
        rr[r] += 1
        if s.t_closed:
            skipped += 1
            continue
        seq = g.seq
        g.seq += 1
        ts = time.time()
        s.tr.write(g.encode_chat(g.rooms[r], chat_text(seq, ts, a.size, a.max_chars)))
        if w0 is not None:
            sent_ts[r].append(ts)
    end = t_begin + a.warmup + a.duration
    while loop.time() < end:
        await asyncio.sleep(min(0.05, end - loop.time()))
        if resume_at is not None and slow_viewers and loop.time() >= resume_at:
            for v in slow_viewers:
                if v.tr and not v.tr.is_closing():
                    v.tr.resume_reading()
            slow_viewers = []
    for v in slow_viewers:  # window shorter than --slow-resume
        if v.tr and not v.tr.is_closing():
            v.tr.resume_reading()
    if w0 is None:
        close_all(conns)
        return {"error": "the window never opened (duration 0?)"}
    w1 = snapshot(g)
    g.measuring = False
    rx_window = w1["rx"] - w0["rx"]

    def expected(c: Conn) -> int:
        if c.t_join is None:
            return 0
        ts = sent_ts[c.room]
        lo = bisect.bisect_left(ts, c.t_join)
        hi = len(ts) if c.t_closed is None else bisect.bisect_left(ts, c.t_closed)
        return max(0, hi - lo)

    healthy = [v for v in viewers if not v.slow]
    t_drain = moved = loop.time()
    last = -1
    while loop.time() - t_drain < a.drain_max:
        got = sum(v.delivered for v in healthy)
        if got >= sum(expected(v) for v in healthy):
            break
        if got != last:
            last, moved = got, loop.time()
        elif loop.time() - moved > a.drain_idle:
            break
        await asyncio.sleep(0.1)
    drain_s = loop.time() - t_drain
    rss_after = snapshot(g)

    out = {
        "connections": {
            "viewers": len(viewers),
            "senders": len(all_senders),
            "joined": sum(1 for c in conns if c.t_join),
            "viewers_joined": sum(1 for v in viewers if v.t_join),
            "failed": g.failed,
            "errors": dict(g.errors),
            "join_ms": join_stats(conns),
            "connect_s": connect_usage["window_s"],
            "server_cpu_ms_per_join": round(
                connect_usage["server"]["cpu_s"] * 1000 / max(1, sum(1 for c in conns if c.t_join)),
                3,
            ),
            "dropped": sum(1 for v in healthy if v.t_join and v.t_closed and v.t_closed < w1["t"]),
        },
        "messages": {
            "sent_in_window": sum(len(x) for x in sent_ts),
            "target_in_window": sum(1 for t, _ in events if t >= a.warmup),
            "skipped": skipped,
            "senders_per_room": {"min": min(need), "max": max(need)},
            "sender_error_frames": sum(s.errors for s in all_senders),
        },
    }
    groups: dict[str, list[Conn]] = {}
    for v in viewers:
        groups.setdefault(v.group, []).append(v)
    healthy_report = delivery_report(healthy, expected)
    out["deliveries"] = healthy_report["deliveries"]
    out["deliveries"]["read_in_window"] = rx_window
    out["deliveries"]["per_s"] = round(rx_window / max(1e-6, w1["t"] - w0["t"]), 1)
    out["deliveries"]["drain_s"] = round(drain_s, 2)
    out["latency_ms"] = healthy_report["latency_ms"]
    out["frame_bytes_avg"] = healthy_report["frame_bytes_avg"]
    if len([name for name in groups if name != "slow"]) > 1:
        out["groups"] = {
            name: delivery_report(vs, expected) for name, vs in groups.items() if name != "slow"
        }
    if "slow" in groups:
        out["slow_readers"] = slow_report(groups["slow"], expected)
    out.update(usage(g, w0, w1, rx_window, len(conns)))
    out["server"]["rss_mib_max"] = round(max(g.rss_max, out["server"]["rss_mib_end"]), 1)
    out["server"]["rss_mib_after_drain"] = round(
        sum(u[1] for u in rss_after["srv"].values() if u), 1
    )
    warnings = warnings + out.pop("warnings")
    if out["messages"]["sent_in_window"] < 0.95 * out["messages"]["target_in_window"]:
        warnings.append("send rate below 95% of target")
    if g.failed:
        warnings.append(f"{g.failed} connections failed")
    if out["messages"]["sender_error_frames"]:
        warnings.append(f"{out['messages']['sender_error_frames']} sender error frames")
    if drain_s > 1.0 + a.batch_ms / 1000:
        warnings.append(f"deliveries still arriving {drain_s:.1f} s after the last send")
    out["warnings"] = warnings
    close_all(conns)
    await asyncio.sleep(0.3)
    for t in tasks:
        t.cancel()
    return out


def delivery_report(vs: list[Conn], expected) -> dict:
    exp = [expected(v) for v in vs]
    got = [v.delivered for v in vs]
    exp_total = sum(exp)
    lost = sum(max(0, e - d) for e, d in zip(exp, got, strict=True))
    sampled = [v for v in vs if v.sampled]
    n_lat = sum(len(v.lat) for v in sampled)
    return {
        "deliveries": {
            "expected": exp_total,
            "delivered": sum(min(e, d) for e, d in zip(exp, got, strict=True)),
            "lost": lost,
            "loss_pct": round(100 * lost / exp_total, 4) if exp_total else None,
            "extra": sum(max(0, d - e) for e, d in zip(exp, got, strict=True)),
            "viewers_with_loss": sum(1 for e, d in zip(exp, got, strict=True) if d < e),
            "dups_sampled": sum(v.dups for v in sampled),
        },
        "latency_ms": {
            **dist_ms(x for v in sampled for x in v.lat),
            "viewers_sampled": len(sampled),
        },
        "frame_bytes_avg": round(sum(v.frame_bytes for v in sampled) / n_lat) if n_lat else None,
    }


def slow_report(vs: list[Conn], expected) -> dict:
    codes: dict[str, int] = {}
    for v in vs:
        if v.close_code is not None:
            codes[str(v.close_code)] = codes.get(str(v.close_code), 0) + 1
    closed_after = sorted(
        v.t_closed - v.paused_at for v in vs if v.t_closed and v.paused_at and not v.leaving
    )
    return {
        "count": len(vs),
        "joined": sum(1 for v in vs if v.t_join),
        "closed_4429": sum(1 for v in vs if v.close_code == CLOSE_SLOW),
        "close_codes": codes,
        "aborted": sum(1 for v in vs if v.aborted),
        "still_open": sum(1 for v in vs if v.t_join and v.t_closed is None),
        "closed_s_after_pause": {
            "p50": pct(closed_after, 0.5) and round(pct(closed_after, 0.5), 2),
            "max": round(closed_after[-1], 2) if closed_after else None,
        },
        "delivered": sum(v.delivered for v in vs),
        "expected_if_kept": sum(expected(v) for v in vs),
    }


# --------------------------------------------------------------------------- connect


async def run_connect(g: Gen) -> dict:
    a, nurls, nrooms = g.a, len(g.urls), len(g.rooms)
    viewers = [Conn(g, (i // nrooms + i % nrooms) % nurls, i % nrooms) for i in range(a.viewers)]
    g.measuring = True
    w0 = snapshot(g)
    tasks = await open_all(g, viewers, a.connect_rate)
    await wait_resolved(g, viewers)
    w1 = snapshot(g)
    g.measuring = False
    await asyncio.sleep(a.hold)
    w2 = snapshot(g)
    joined = sum(1 for v in viewers if v.t_join)
    open_now = sum(1 for v in viewers if v.t_join and v.t_closed is None)
    out = {
        "connections": {
            "viewers": len(viewers),
            "joined": joined,
            "failed": g.failed,
            "errors": dict(g.errors),
            "join_ms": join_stats(viewers),
            "connect_s": round(w1["t"] - w0["t"], 2),
            "open_after_hold": open_now,
            "dropped": joined - open_now,
        }
    }
    out.update(usage(g, w0, w1, None, joined))
    out["server"]["cpu_ms_per_join"] = round(out["server"]["cpu_s"] * 1000 / max(1, joined), 3)
    rss_hold = sum(u[1] for u in w2["srv"].values() if u)
    out["server"]["rss_mib_end"] = round(rss_hold, 1)
    out["server"]["rss_kib_per_conn"] = round(rss_hold * 1024 / open_now, 1) if open_now else None
    grown = rss_hold - out["server"]["rss_mib_start"]
    out["server"]["rss_growth_kib_per_conn"] = (
        round(grown * 1024 / open_now, 1) if open_now else None
    )
    if g.failed:
        out["warnings"].append(f"{g.failed} connections failed")
    close_all(viewers)
    await asyncio.sleep(0.3)
    for t in tasks:
        t.cancel()
    return out


# --------------------------------------------------------------------------- churn


async def poll_api(g: Gen, url: str, log: list, stop: asyncio.Event) -> None:
    """GET the stream once a second; log (time, viewer_count)."""
    u = urlsplit(url)
    req = (
        f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    while not stop.is_set():
        t = time.time()
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port), 2)
            w.write(req)
            raw = await asyncio.wait_for(r.read(), 3)  # Connection: close -> until EOF
            w.close()
            body = raw.split(b"\r\n\r\n", 1)[1]
            if b"transfer-encoding: chunked" in raw.split(b"\r\n\r\n", 1)[0].lower():
                body = dechunk(body)
            log.append((t, int(json.loads(body)["viewer_count"])))
        except (OSError, TimeoutError, ValueError, KeyError, IndexError, TypeError):
            log.append((t, None))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.05, 1 - (time.time() - t)))


def dechunk(body: bytes) -> bytes:
    out, p = bytearray(), 0
    while True:
        eol = body.index(b"\r\n", p)
        size = int(body[p:eol].split(b";")[0], 16)
        if not size:
            return bytes(out)
        out += body[eol + 2 : eol + 2 + size]
        p = eol + 4 + size


class Truth:
    """The true count over time, from the generator's own log."""

    def __init__(self, log: list[tuple[float, int]]):
        self.t = [t for t, _ in log]
        self.v = [v for _, v in log]

    def at(self, t: float) -> int:
        i = bisect.bisect_right(self.t, t) - 1
        return self.v[i] if i >= 0 else 0

    def band(self, t: float, lag: float) -> tuple[int, int]:
        """min/max of the truth over [t - lag, t]."""
        lo = bisect.bisect_right(self.t, t - lag) - 1
        hi = bisect.bisect_right(self.t, t)
        vals = self.v[max(0, lo) : hi] or [self.at(t)]
        return min(vals), max(vals)


def count_errors(samples, truth: Truth, a) -> list[tuple[float, int, int, bool]]:
    """(t, count, error vs truth now, within tolerance of the lagged band) per sample."""
    out = []
    for t, count in samples:
        if count is None:
            continue
        lo, hi = truth.band(t, a.count_lag)
        tol = max(a.tolerance_abs, a.tolerance_pct / 100 * hi)
        out.append((t, count, count - truth.at(t), lo - tol <= count <= hi + tol))
    return out


def accuracy(errs) -> dict:
    if not errs:
        return {"samples": 0}
    absolute = sorted(abs(e) for _, _, e, _ in errs)
    return {
        "samples": len(errs),
        "mean_abs_err": round(sum(absolute) / len(absolute), 1),
        "p95_abs_err": pct(absolute, 0.95),
        "max_abs_err": absolute[-1],
        "within_tolerance_pct": round(100 * sum(1 for *_, ok in errs if ok) / len(errs), 1),
    }


def converged_at(errs, t_kill: float) -> float | None:
    """Time of the first post-kill sample after which every sample is within tolerance."""
    post = [(t, ok) for t, _, _, ok in errs if t > t_kill]
    if not post or not post[-1][1]:
        return None
    t_conv = post[-1][0]
    for t, ok in reversed(post):
        if not ok:
            break
        t_conv = t
    return t_conv


async def run_churn(g: Gen) -> dict:
    a, loop = g.a, asyncio.get_running_loop()
    nurls = len(g.urls)
    g.track_truth = not g.sio
    g.track_active = True
    kill_url = a.kill_url if a.kill_pid else -1
    observer_url = 0 if kill_url != 0 else 1 % nurls
    observers = [Conn(g, observer_url, 0, OBSERVER) for _ in range(a.observers)]
    viewers = [Conn(g, i % nurls, 0) for i in range(a.viewers)]
    conns = observers + viewers
    tasks = await open_all(g, conns, a.connect_rate)
    await wait_resolved(g, conns)
    initial_failed = g.failed
    initial_join = join_stats(conns)
    api_log: list[tuple[float, int | None]] = []
    stop_poll = asyncio.Event()
    poller = asyncio.create_task(poll_api(g, a.api_url, api_log, stop_poll)) if a.api_url else None
    await asyncio.sleep(a.settle)

    alive_urls = list(range(nurls))
    churn_conns: list[Conn] = []
    counters = {"joins": 0, "leaves": 0}
    rng = random.Random(1)

    async def churn(until: float) -> None:
        rate = a.joins_per_s + a.leaves_per_s
        if rate <= 0:
            await asyncio.sleep(max(0, until - loop.time()))
            return
        step = 1 / rate
        t = loop.time()
        while t < until:
            if t > loop.time():
                await asyncio.sleep(t - loop.time())
            joins, leaves = counters["joins"], counters["leaves"]
            if joins * a.leaves_per_s <= leaves * a.joins_per_s or not g.active:
                c = Conn(g, alive_urls[joins % len(alive_urls)], 0)
                churn_conns.append(c)
                tasks.append(c.start())
                counters["joins"] += 1
            else:
                g.active[rng.randrange(len(g.active))].leave()
                counters["leaves"] += 1
            t += step

    g.measuring = True
    w0 = snapshot(g)
    t_churn = time.time()
    failed_before_churn = g.failed
    await churn(loop.time() + a.churn)
    w1 = snapshot(g)
    g.measuring = False
    open_at_w1 = sum(1 for c in conns + churn_conns if c.t_join and not c.t_closed)
    t_kill = None
    killed_open = 0
    observe_until = None
    churned = dict(counters)
    if a.kill_pid:
        killed_open = sum(
            1 for c in viewers + churn_conns if c.url == kill_url and c.t_join and not c.t_closed
        )
        t_kill = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.kill(a.kill_pid, signal.SIGKILL)
        alive_urls = [i for i in range(nurls) if i != kill_url] or [0]
        deadline = loop.time() + a.converge_max
        # keep churning on the survivors while waiting for the count to converge
        while loop.time() < deadline:
            await churn(min(deadline, loop.time() + 0.5))
            if g.sio or not observers:
                if loop.time() - (deadline - a.converge_max) >= min(5, a.converge_max):
                    break
                continue
            samples = [(t, c) for t, c, _ in observers[0].viewers]
            errs = [e for e in count_errors(samples, Truth(g.truth_log), a) if e[0] > t_kill]
            tc = converged_at(errs, t_kill)
            if tc is not None and time.time() - tc >= a.converge_hold and len(errs) >= 3:
                break
        observe_until = time.time()
    stop_poll.set()
    if poller:
        await poller
    failed_after_churn = g.failed - failed_before_churn

    out: dict = {
        "connections": {
            "viewers": len(viewers),
            "observers": len(observers),
            "joined": sum(1 for c in conns if c.t_join),
            "failed": initial_failed,
            "errors": dict(g.errors),
            "join_ms": initial_join,
        },
        "churn": {
            "seconds": a.churn,
            "joins": churned["joins"],
            "leaves": churned["leaves"],
            "joins_after_kill": counters["joins"] - churned["joins"],
            "leaves_after_kill": counters["leaves"] - churned["leaves"],
            "join_failed": failed_after_churn,
            "join_ms": join_stats(churn_conns),
        },
    }
    out.update(usage(g, w0, w1, None, open_at_w1))
    if t_kill is not None:
        out["kill"] = {
            "pid": a.kill_pid,
            "url": kill_url,
            "viewers_on_killed_server": killed_open,
            "observed_s": round(observe_until - t_kill, 1),
        }
    if g.sio:
        out["viewer_count"] = None  # Socket.IO has no viewer count
    else:
        truth = Truth(g.truth_log)
        per_obs = []
        for o in observers:
            times = [t for t, _, _ in o.viewers]
            gaps = [b - a_ for a_, b in itertools.pairwise(times)]
            max_1s = 0
            lo = 0
            for hi, t in enumerate(times):
                while times[lo] <= t - 1.0:
                    lo += 1
                max_1s = max(max_1s, hi - lo + 1)
            span = (times[-1] - times[0]) if len(times) > 1 else 0
            per_obs.append(
                {
                    "frames": len(times),
                    "per_s": round((len(times) - 1) / span, 3) if span else None,
                    "max_in_1s": max_1s,
                    "min_gap_s": round(min(gaps), 3) if gaps else None,
                    "gaps_under_0_9s": sum(1 for x in gaps if x < 0.9),
                }
            )
        obs_samples = [(t, c) for t, c, _ in observers[0].viewers] if observers else []
        errs = count_errors(obs_samples, truth, a)
        churn_end = t_kill or w1["t"]
        pre = [e for e in errs if t_churn <= e[0] <= churn_end]
        api_errs = count_errors(api_log, truth, a)
        api_pre = [e for e in api_errs if t_churn <= e[0] <= churn_end]
        vc: dict = {
            "truth_before_churn": truth.at(t_churn),
            "truth_at_kill": truth.at(t_kill) if t_kill else None,
            "truth_end": g.truth,
            "accuracy_ws_during_churn": accuracy(pre),
            "accuracy_api_during_churn": accuracy(api_pre),
            "push": {
                "observers": per_obs,
                "max_per_s": max((p["per_s"] or 0) for p in per_obs) if per_obs else None,
                "max_in_any_1s": max((p["max_in_1s"] for p in per_obs), default=None),
                "min_gap_s": min(
                    (p["min_gap_s"] for p in per_obs if p["min_gap_s"] is not None),
                    default=None,
                ),
                "gaps_under_0_9s": max((p["gaps_under_0_9s"] for p in per_obs), default=0),
            },
            "tolerance": {
                "abs": a.tolerance_abs,
                "pct": a.tolerance_pct,
                "lag_s": a.count_lag,
            },
            "last_ws_count": obs_samples[-1][1] if obs_samples else None,
            "last_api_count": next((c for _, c in reversed(api_log) if c is not None), None),
            "api_polls": len(api_log),
            "api_poll_failures": sum(1 for _, c in api_log if c is None),
        }
        if t_kill is not None:
            tc = converged_at(errs, t_kill)
            tca = converged_at(api_errs, t_kill)
            vc["converge_s_ws"] = round(tc - t_kill, 1) if tc else None
            vc["converge_s_api"] = round(tca - t_kill, 1) if tca else None
            vc["accuracy_ws_after_kill"] = accuracy([e for e in errs if e[0] > t_kill])
        out["viewer_count"] = vc
        if vc["push"]["gaps_under_0_9s"]:
            out["warnings"].append(
                f"{vc['push']['gaps_under_0_9s']} viewers frames less than 0.9 s after the previous"
            )
        if t_kill is not None and vc.get("converge_s_ws") is None:
            out["warnings"].append(f"count not converged {a.converge_max:.0f} s after the kill")
    if g.failed:
        out["warnings"].append(f"{g.failed} connections failed (incl. after the kill)")
    close_all(conns + churn_conns)
    await asyncio.sleep(0.3)
    for t in tasks:
        t.cancel()
    return out


# --------------------------------------------------------------------------- main


def summary(o: dict) -> str:
    def f(v, fmt=".1f"):
        return "-" if v is None else format(v, fmt)

    if "error" in o:
        return f"[{o['label']}] ERROR: {o['error']}"
    c = o.get("connections", {})
    parts = [f"[{o['label']}]", f"conn {c.get('joined')} ok {c.get('failed')} fail"]
    j = c.get("join_ms") or {}
    parts.append(f"join ms p50 {f(j.get('p50'))} p99 {f(j.get('p99'))}")
    if "deliveries" in o:
        d, lat = o["deliveries"], o["latency_ms"]
        parts.append(
            f"deliv {d['delivered']}/{d['expected']} loss {f(d['loss_pct'], '.3f')}% "
            f"({d['per_s']:.0f}/s)"
        )
        parts.append(
            f"lat ms p50 {f(lat['p50'])} p95 {f(lat['p95'])} p99 {f(lat['p99'])} "
            f"max {f(lat['max'])}"
        )
    s = o.get("server", {})
    srv = f"srv {s.get('cores', 0):.2f} cores"
    if s.get("us_per_delivery") is not None:
        srv += f" {s['us_per_delivery']:.1f} us/deliv"
    if s.get("rss_kib_per_conn") is not None:
        srv += f" rss {s['rss_mib_end']:.0f} MiB ({s['rss_kib_per_conn']:.0f} KiB/conn)"
    parts.append(srv)
    if "redis" in o:
        parts.append(f"redis {o['redis']['cores']:.3f} cores")
    if "slow_readers" in o:
        sr = o["slow_readers"]
        parts.append(
            f"slow {sr['count']}: 4429 {sr['closed_4429']} abort {sr['aborted']} "
            f"open {sr['still_open']}"
        )
    vc = o.get("viewer_count")
    if vc:
        acc = vc["accuracy_ws_during_churn"]
        parts.append(
            f"count err mean {acc.get('mean_abs_err', '-')} max {acc.get('max_abs_err', '-')} "
            f"push {f(vc['push']['max_per_s'], '.2f')}/s "
            f"min gap {f(vc['push']['min_gap_s'], '.2f')} s "
            f"converge {f(vc.get('converge_s_ws'))} s"
        )
    lg = o.get("loadgen", {})
    parts.append(f"gen {lg.get('cores', 0):.2f} cores lag p99 {f(lg.get('lag_ms_p99'))} ms")
    parts.append(f"box {o.get('box_busy_pct', 0):.0f}%")
    if o.get("warnings"):
        parts.append("WARN: " + "; ".join(o["warnings"]))
    return " | ".join(parts)


async def amain(a) -> dict:
    g = Gen(a)
    lag = asyncio.create_task(lag_monitor(g))
    rss = asyncio.create_task(rss_sampler(g))
    resumer = asyncio.create_task(batch_resumer(g)) if a.batch_ms else None
    runner = {"fanout": run_fanout, "connect": run_connect, "churn": run_churn}[a.scenario]
    try:
        out = await asyncio.wait_for(runner(g), a.max_runtime)
    except TimeoutError:
        out = {"error": f"scenario exceeded --max-runtime {a.max_runtime:.0f} s"}
    lag.cancel()
    rss.cancel()
    if resumer:
        resumer.cancel()
    return out


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = ap.add_argument
    add("--mode", choices=("project", "sio"), required=True)
    add("--scenario", choices=("fanout", "connect", "churn"), default="fanout")
    add("--label", default="", help="name printed in the summary")
    add("--urls", required=True, help="comma-separated ws://host:port of every server")
    add("--rooms", default="bench", help="comma-separated stream ids (project) / room names")
    add("--viewers", type=int, default=1000, help="viewers in total, spread over rooms")
    add("--connect-rate", type=float, default=500, help="connections opened per second")
    add("--timeout", type=float, default=20, help="seconds to connect and join")
    add("--sample", type=int, default=10, help="every M-th viewer of a room times every frame")
    add("--pids", default="", help="server pids (CPU and RSS include live descendants)")
    add("--redis-pids", default="", help="Redis pids, reported apart")
    add("--cookies-file", help="project: sender Cookie headers, one per line")
    add("--origin", help="project: Origin header (default http://<host:port> of the URL)")
    add("--max-runtime", type=float, default=600, help="hard limit for the scenario, s")
    add("--json", help="write the full result here")
    add("--no-uvloop", action="store_true")
    # fanout
    add("--rate", type=float, default=10, help="messages per second per room")
    add("--size", type=int, default=200, help="chat text size in UTF-8 bytes")
    add("--max-chars", type=int, default=500, help="chat text length limit in characters")
    add("--warmup", type=float, default=3)
    add("--duration", type=float, default=15, help="measured window, s")
    add("--burst-rooms", type=int, default=0, help="the first B rooms have bursts")
    add("--burst-rate", type=float, default=0, help="messages/s of a room during a burst")
    add("--burst-every", type=float, default=5)
    add("--burst-len", type=float, default=1)
    add("--flood-limit", type=int, default=20, help="messages per user per room per window")
    add("--flood-window", type=float, default=30)
    add("--senders-per-room", type=int, default=0, help="0: enough for the flood limit")
    add("--slow-pct", type=float, default=0, help="%% of viewers that stop reading")
    add("--slow-resume", type=float, default=15, help="s after the window opens to read again")
    add("--slow-rcvbuf", type=int, default=16384, help="SO_RCVBUF of slow readers (0: default)")
    add(
        "--batch-ms",
        type=float,
        default=0,
        help="non-sampled healthy viewers read at most every B ms (0: at once)",
    )
    add("--drain-max", type=float, default=10)
    add("--drain-idle", type=float, default=2)
    # connect
    add("--hold", type=float, default=3, help="connect: seconds to hold the sockets open")
    # churn
    add("--observers", type=int, default=3)
    add("--joins-per-s", type=float, default=50)
    add("--leaves-per-s", type=float, default=50)
    add("--settle", type=float, default=3, help="s between the joins and the churn")
    add("--churn", type=float, default=15, help="measured churn, s")
    add("--kill-pid", type=int, default=0, help="kill -9 this server after the churn")
    add("--kill-url", type=int, default=1, help="index in --urls of the killed server")
    add("--converge-max", type=float, default=65, help="max s to watch after the kill")
    add("--converge-hold", type=float, default=5, help="s the count must stay right")
    add("--tolerance-abs", type=int, default=5)
    add("--tolerance-pct", type=float, default=1.0)
    add("--count-lag", type=float, default=2.0, help="a count may trail the truth by this")
    add("--api-url", help="churn: GET this URL once a second for viewer_count")
    a = ap.parse_args(argv)
    a.pids = [int(p) for p in a.pids.split(",") if p.strip()]
    a.redis_pids = [int(p) for p in a.redis_pids.split(",") if p.strip()]
    head = len(f"@@{10**8}@{time.time():.6f}@")
    if a.size < head or a.max_chars < head:
        ap.error(f"--size and --max-chars must be >= {head}")
    if a.size > 3 * a.max_chars:
        ap.error("--size cannot exceed 3 x --max-chars")
    a.sample = max(1, a.sample)
    return a


def main(argv=None) -> dict:
    a = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    total = a.viewers + a.observers + 2000
    if total > hard:
        print(f"warning: up to {total} sockets, RLIMIT_NOFILE is {hard}", file=sys.stderr)
    try:
        import uvloop
    except ImportError:
        uvloop = None
    use_uvloop = uvloop is not None and not a.no_uvloop
    started = time.time()
    out = uvloop.run(amain(a)) if use_uvloop else asyncio.run(amain(a))
    out = {
        "label": a.label or f"{a.mode} {a.scenario}",
        "mode": a.mode,
        "scenario": a.scenario,
        "params": {k: v for k, v in vars(a).items() if k not in ("json", "cookies_file", "label")},
        "uvloop": use_uvloop,
        "elapsed_s": round(time.time() - started, 1),
        **out,
    }
    out["summary"] = summary(out)
    print(out["summary"], flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
