"""The load driver: oha's command line for a point, its extra percentiles, the file
descriptor limit, and Envoy's admin statistics read over HTTP.
"""

from __future__ import annotations

import os
import resource
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (  # noqa: E402
    LOOPBACK,
)
from mesh_grid import (  # noqa: E402
    Point,
)

# ------------------------------------------------------------------------ load driver


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


def http_get(port: int, path: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=timeout_s) as r:
        return r.status, r.read()


def envoy_stats(admin_port: int, pattern: str) -> dict[str, int]:
    """Counters and gauges matching `pattern` from Envoy's admin page (text format)."""
    try:
        _, body = http_get(admin_port, "/stats?filter=" + urllib.parse.quote(pattern), 5)
    except OSError:
        return {}
    return parse_envoy_stats(body.decode(errors="replace"))


def parse_envoy_stats(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and value.strip().lstrip("-").isdigit():
            out[name.strip()] = int(value)
    return out


def sum_stats(stats: dict[str, int], suffix: str) -> int:
    return sum(v for k, v in stats.items() if k.endswith(suffix))
