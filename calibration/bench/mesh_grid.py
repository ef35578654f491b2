"""The measured grid of mesh_bench.py: the bench's limits, the configurations and the
passes their roles measure, the points of each grid and how long their runs take."""

from __future__ import annotations

import dataclasses

# --------------------------------------------------------------------------- limits

MAX_POINTS = 2000
MAX_RUNS = 10
MAX_RPS = 50_000
MAX_IDLE_CONNECTIONS = 8000
MAX_ENDPOINTS = 20_000
MAX_DURATION_S = 120.0
STARTUP_TIMEOUT_S = 20.0
PAYLOAD_SIZES = (100, 1024, 16384, 65536)

# --------------------------------------------------------------------------- the grid


@dataclasses.dataclass(frozen=True)
class Point:
    """One measured load level: what the proxies run and what the load generator sends."""

    config: str          # baseline | sidecar | l4 | hbone | waypoint
    proto: str           # h1 | h2
    conn_mode: str       # pooled | new (a new connection per request)
    payload_bytes: int   # response body size
    concurrency: int     # Envoy worker threads (0 for the baseline: no proxy)
    rps: int             # target request rate (open loop)
    dimension: str       # which sweep of the grid this point belongs to

    def group(self) -> tuple:
        """Points of one group share the same running proxies."""
        return (self.config, self.proto, self.concurrency)


# What each configuration mirrors, and the proxy processes (roles) in its path, in order.
CONFIGS = {
    "baseline": ("no proxy: oha straight to the backend", []),
    "sidecar": ("sidecar pair: outbound Envoy (HTTP in, originates mTLS) -> inbound Envoy "
                "(terminates mTLS) -> backend", ["sidecar-out", "sidecar-in"]),
    "l4": ("L4-only mTLS TCP pair: tcp_proxy originating TLS -> tcp_proxy terminating TLS -> backend "
           "(a per-node L4 proxy pair)", ["l4-out", "l4-in"]),
    "hbone": ("ztunnel-like pair: tcp_proxy tunnelling into HTTP/2 CONNECT over mTLS -> "
              "CONNECT termination -> backend", ["hbone-out", "hbone-in"]),
    "waypoint": ("waypoint between two HBONE hops: hbone-out -> waypoint (terminates CONNECT, "
                 "L7 route, originates CONNECT) -> hbone-in -> backend",
                 ["hbone-out", "waypoint", "hbone-in"]),
    "ztunnel": ("ztunnel itself (--ztunnel-bin), local file-configured mode, fake CA: one process "
                "makes both L4 passes, outbound (from an iptables redirect) and HBONE inbound, as on "
                "one node", ["ztunnel"]),
}
# Passes per request where one process makes more than one.
ROLE_PASSES = {"ztunnel": 2}

# Which placement's pass each role measures.
ROLE_PASS = {
    "sidecar-out": "sidecar (client side, L7)",
    "sidecar-in": "sidecar (server side, L7)",
    "l4-out": "per-node L4 (client side, TLS TCP)",
    "l4-in": "per-node L4 (server side, TLS TCP)",
    "hbone-out": "ztunnel-like L4 (client side, HBONE)",
    "hbone-in": "ztunnel-like L4 (server side, HBONE)",
    "waypoint": "waypoint (L7, HBONE in and out)",
    "ztunnel": "ztunnel (client and server side L4 passes, HBONE, one process)",
}

H1_RATES = (100, 500, 1000, 2000, 4000, 8000)
C1_RATES = (100, 1000, 4000, 8000)
H2_RATES = (100, 1000, 4000)
NEW_CONN_RATES = (100, 500, 1000)
PAYLOAD_RATE = 1000
MAIN_PAYLOAD = 1024


def grid_points(name: str, configs: list[str]) -> list[Point]:
    """The measured grid. `full`: complete in protocol, connection mode, payload, rate and
    workers for every configuration (hbone only in the rate and connection sweeps, since
    its passes are measured again inside `waypoint`); `rates`: only the rate and
    new-connection sweeps (a shorter run for another proxy); `smoke`: one point each."""
    pts: list[Point] = []
    for cfg in configs:
        if cfg not in CONFIGS:
            raise ValueError(f"unknown configuration {cfg!r} (known: {', '.join(CONFIGS)})")
        k2 = 0 if cfg == "baseline" else 2
        if name == "smoke":
            pts.append(Point(cfg, "h1", "pooled", MAIN_PAYLOAD, k2, 200, "smoke"))
            continue
        if name not in ("full", "rates"):
            raise ValueError(f"unknown grid {name!r} (full, rates or smoke)")
        for rps in H1_RATES:
            pts.append(Point(cfg, "h1", "pooled", MAIN_PAYLOAD, k2, rps, "rate"))
        for rps in NEW_CONN_RATES:
            pts.append(Point(cfg, "h1", "new", MAIN_PAYLOAD, k2, rps, "new-connection"))
        if cfg == "hbone" or name == "rates":
            continue
        if cfg == "ztunnel":
            for rps in H2_RATES:
                pts.append(Point(cfg, "h2", "pooled", MAIN_PAYLOAD, k2, rps, "http2"))
            for rps in C1_RATES:
                pts.append(Point(cfg, "h1", "pooled", MAIN_PAYLOAD, 1, rps, "one-worker"))
            continue
        for size in PAYLOAD_SIZES:
            if size != MAIN_PAYLOAD:
                pts.append(Point(cfg, "h1", "pooled", size, k2, PAYLOAD_RATE, "payload"))
        for rps in H2_RATES:
            pts.append(Point(cfg, "h2", "pooled", MAIN_PAYLOAD, k2, rps, "http2"))
        if cfg != "baseline":  # the baseline has no workers to vary
            for rps in C1_RATES:
                pts.append(Point(cfg, "h1", "pooled", MAIN_PAYLOAD, 1, rps, "one-worker"))
    if len(pts) > MAX_POINTS:
        raise ValueError(f"grid has {len(pts)} points, at most {MAX_POINTS}")
    return pts


def run_duration_s(rps: int, base_s: float) -> float:
    """Low rates run longer so every run has at least ~1000 requests for its percentiles."""
    return min(MAX_DURATION_S, max(base_s, 1000.0 / rps))


def estimate_seconds(points: list[Point], runs: int, base_s: float, per_run_overhead_s: float = 2.0,
                     per_group_s: float = 6.0) -> float:
    groups = {p.group() for p in points}
    return sum(runs * (run_duration_s(p.rps, base_s) + per_run_overhead_s) for p in points) + per_group_s * len(groups)
