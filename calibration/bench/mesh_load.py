"""Load generation for mesh_bench.py: oha's command line for a point and the extra
percentiles read from its JSON, the file-descriptor limit, and idle keep-alive
connections held open through a proxy path."""

from __future__ import annotations

import resource
import socket

from bench import LOOPBACK
from mesh_grid import Point

Front = tuple[str, int]  # where the load generator sends: (address, port)


def oha_argv(oha: str, front: Front, pt: Point, duration_s: float, connections: int) -> list[str]:
    argv = [oha, f"http://{front[0]}:{front[1]}/{pt.payload_bytes}", "-z", f"{duration_s:g}s", "-q", str(pt.rps),
            "--latency-correction", "--no-tui", "--output-format", "json",
            # Requests still open at the deadline finish rather than count as errors.
            "-w"]
    if pt.proto == "h2":
        # 8 connections x 4 streams: the same 32 requests at most in flight as HTTP/1.1.
        argv += ["--http2", "-c", str(max(1, connections // 4)), "-p", "4"]
    else:
        argv += ["-c", str(connections)]
    if pt.conn_mode == "new":
        argv.append("--disable-keepalive")
    return argv


def oha_extra_percentiles(data: dict) -> dict:
    """p25, p75, p95 and p99.99 (us) from oha's JSON, for fitting a latency distribution."""
    pct = data.get("latencyPercentiles", {}) or {}
    out = {}
    for key, col in (("p25", "p25_us"), ("p75", "p75_us"), ("p95", "p95_us"), ("p99.99", "p9999_us")):
        v = pct.get(key)
        out[col] = None if v is None else float(v) * 1e6
    return out


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_idle_connections(front: Front, n: int, socks: list[socket.socket]) -> int:
    """Open n keep-alive HTTP/1.1 connections through the proxy path, one request each (so
    every hop has its upstream connection too), and leave them open. Bounded: 5 s a
    connection at most. Returns how many opened."""
    req = f"GET /100 HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    opened = 0
    for _ in range(max(0, n)):
        s = socket.create_connection(front, timeout=5)
        try:
            s.sendall(req)
            got = b""
            while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) < 100:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("closed")
                got += chunk
        except OSError:
            s.close()
            continue
        socks.append(s)
        opened += 1
    return opened
