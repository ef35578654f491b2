#!/usr/bin/env python3
"""Loopback benchmark of service-mesh passes: real Envoy in the configurations that mirror
each mesh placement's pass, with mTLS from a throwaway CA made here.

One command measures, on 127.0.0.1 only:

- per-pass CPU (ns of run time from /proc/<pid>/task/*/schedstat, clock ticks as a check)
  and added latency (oha percentiles minus a no-proxy baseline at equal load), over a grid
  of configurations x HTTP/1.1 and HTTP/2 x pooled or new connection per request x
  payload sizes x request rates x 1 and 2 worker threads;
- memory: idle RSS, RSS with N idle connections open, with a cluster of N endpoints, and
  with N requests in flight (a backend that holds each request);

and writes tidy CSVs (one row per run and configuration, units in column names) plus the
machine, versions and exact command. Runs hold a quiet lock in chunks so that builds
started through /work/tools/quiet wait, and every run records the CPU other processes used
while it ran, so that disturbed runs are flagged (and repeated once).

Python 3 standard library; drives envoy, oha, nginx and openssl. See README.md here.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import LOOPBACK, Children, command_version, cpu_model  # noqa: E402
from mesh_grid import (  # noqa: E402
    CONFIGS,
    MAX_ENDPOINTS,
    MAX_IDLE_CONNECTIONS,
    MAX_RPS,
    MAX_RUNS,
    Point,
    estimate_seconds,
    grid_points,
)
from mesh_load import raise_fd_limit  # noqa: E402
from mesh_output import point_key, write_summaries  # noqa: E402
from mesh_runs import Bench  # noqa: E402
from mesh_sampling import QuietLock, _read  # noqa: E402
from mesh_setup import identities_for, make_certs, netns_commands, serve_slow_backend  # noqa: E402

# ------------------------------------------------------------------------ main


def parse_int_list(spec: str, lo: int, hi: int, what: str) -> list[int]:
    vals = [int(x) for x in spec.replace(" ", "").split(",") if x]
    for v in vals:
        if not lo <= v <= hi:
            raise ValueError(f"{what} {v} outside {lo}..{hi}")
    return vals


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envoy", default="envoy", help="path of the envoy binary")
    p.add_argument("--oha", default="oha", help="path of the oha load generator")
    p.add_argument("--nginx", default="nginx", help="path of nginx (the backend)")
    p.add_argument("--openssl", default="openssl", help="path of the openssl CLI (certificates)")
    p.add_argument("--ztunnel-bin", help="path of a ztunnel binary built with its `testing` feature "
                   "(needed by the `ztunnel` configuration; run in a private network namespace)")
    p.add_argument("--iptables", default="iptables", help="path of iptables (the `ztunnel` configuration)")
    p.add_argument("--out", type=Path, help="output folder (created; must not hold results already)")
    p.add_argument("--grid", default="full", choices=["full", "rates", "smoke"])
    p.add_argument("--configs", default="baseline,sidecar,l4,hbone,waypoint",
                   help="configurations to measure, comma-separated")
    p.add_argument("--runs", type=int, default=3, help="runs per point")
    p.add_argument("--duration", type=float, default=6.0,
                   help="seconds of load per run (longer at low rates: at least 1000 requests)")
    p.add_argument("--settle", type=float, default=0.5, help="idle seconds before each run")
    p.add_argument("--connections", type=int, default=32, help="load generator connections (HTTP/1.1)")
    p.add_argument("--key-type", default="rsa2048", choices=["rsa2048", "ec-p256"],
                   help="workload key type (Istio's default is RSA 2048)")
    p.add_argument("--memory", default="on", choices=["on", "off", "only"], help="memory tests")
    p.add_argument("--idle-connections", default="0,100,1000,4000")
    p.add_argument("--endpoints", default="1,100,1000,5000")
    p.add_argument("--in-flight-rates", default="100,500,1000",
                   help="rates against the slow backend (in flight = rate x delay)")
    p.add_argument("--in-flight-connections", type=int, default=256)
    p.add_argument("--in-flight-seconds", type=float, default=8.0)
    p.add_argument("--slow-delay-ms", type=float, default=100.0)
    p.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU window per configuration")
    p.add_argument("--quiet-lock", type=Path, help="file held while measuring (e.g. /work/.bench-quiet)")
    p.add_argument("--lock-chunk", type=float, default=480.0, help="longest hold of the quiet lock, s")
    p.add_argument("--lock-gap", type=float, default=120.0, help="shortest release between chunks, s")
    p.add_argument("--disturbed-mc", type=float, default=50.0,
                   help="a run is disturbed when other processes used more CPU than this (millicores)")
    p.add_argument("--disturbed-wait", type=float, default=5.0)
    p.add_argument("--wait-quiet", type=float, default=60.0,
                   help="before each run, wait up to this long for other processes to go quiet, s")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted bench in --out: skip the runs and memory tests it finished")
    p.add_argument("--dry-run", action="store_true", help="print the grid and its estimated time, then stop")
    p.add_argument("--aggregate", type=Path, metavar="DIR", help="only recompute the summaries in DIR")
    p.add_argument("--serve-slow-backend", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p


def environment(args, argv: list[str]) -> dict:
    def ver(cmd):
        return command_version(cmd)
    return {
        "command": "python3 calibration/bench/mesh_bench.py " + shlex.join(argv),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(), "cpus": os.cpu_count(),
        "kernel": " ".join(platform.uname()[i] for i in (0, 2, 3, 4)),
        "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"),
        "memory_total": next((line.split(":", 1)[1].strip() for line in (_read("/proc/meminfo") or "").splitlines()
                              if line.startswith("MemTotal")), ""),
        "python": platform.python_version(),
        "envoy": ver([args.envoy, "--version"]) if shutil.which(args.envoy) else None, "oha": ver([args.oha, "--version"]),
        "nginx": ver([args.nginx, "-v"]), "openssl": ver([args.openssl, "version"]),
        "ztunnel": ver([args.ztunnel_bin, "version"]) if args.ztunnel_bin else None,
        "network_namespace": "private (unshare --net), iptables REDIRECT of 127.10.0.0/24:80 to 15001"
        if os.environ.get(NETNS_ENV) == "1" else "host",
        "key_type": args.key_type, "grid": args.grid, "runs": args.runs, "duration_s": args.duration,
        "connections_h1": args.connections, "connections_h2": f"{max(1, args.connections // 4)} x 4 streams",
        "slow_backend_delay_ms": args.slow_delay_ms,
        "configs": {k: CONFIGS[k][0] for k in args.configs.split(",")},
        "quiet_lock": str(args.quiet_lock) if args.quiet_lock else None,
        "disturbed_threshold_mc": args.disturbed_mc,
    }


NETNS_ENV = "MESH_BENCH_NETNS"


def run_in_netns(argv: list[str]) -> int:
    """Run this bench again inside a new network namespace (its own loopback and iptables),
    forwarding SIGTERM/SIGINT so that its clean-up (quiet lock included) runs."""
    cmd = ["unshare", "--net", "--", sys.executable, os.path.abspath(__file__), *argv]
    proc = subprocess.Popen(cmd, env=dict(os.environ, **{NETNS_ENV: "1"}))

    def forward(signum, frame):
        proc.send_signal(signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    return proc.wait()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.serve_slow_backend:
        serve_slow_backend(args.serve_slow_backend, args.slow_delay_ms)
        return 0
    if args.aggregate:
        write_summaries(args.aggregate)
        print((args.aggregate / "headline.md").read_text(), end="")
        return 0
    configs = [c for c in args.configs.split(",") if c]
    points = grid_points(args.grid, configs)
    if not 1 <= args.runs <= MAX_RUNS:
        raise SystemExit(f"--runs must be in 1..{MAX_RUNS}")
    for pt in points:
        if pt.rps > MAX_RPS:
            raise SystemExit(f"rate {pt.rps} above {MAX_RPS}")
    idle_levels = parse_int_list(args.idle_connections, 0, MAX_IDLE_CONNECTIONS, "idle connections")
    endpoint_levels = parse_int_list(args.endpoints, 0, MAX_ENDPOINTS, "endpoints")
    inflight_rates = parse_int_list(args.in_flight_rates, 1, MAX_RPS, "in-flight rate")
    est = estimate_seconds(points, args.runs, args.duration) if args.memory != "only" else 0
    print(f"{len(points)} points x {args.runs} runs, about {est / 60:.0f} min of load runs", flush=True)
    if args.dry_run:
        for pt in points:
            print(f"  {pt.config} {pt.dimension} {pt.proto} {pt.conn_mode} {pt.payload_bytes}B "
                  f"c{pt.concurrency} {pt.rps} rps")
        return 0
    if args.out is None:
        raise SystemExit("--out is required")
    tools = [("oha", "oha"), ("nginx", "nginx"), ("openssl", "openssl")]
    if any(c not in ("baseline", "ztunnel") for c in configs):
        tools.append(("envoy", "envoy"))
    for attr, name in tools:
        found = shutil.which(getattr(args, attr))
        if not found:
            raise SystemExit(f"{name} not found at {getattr(args, attr)!r}: see calibration/bench/README.md")
        setattr(args, attr, found)
    if args.out.exists() and any(args.out.glob("*.csv")) and not args.resume:
        raise SystemExit(f"{args.out} already holds results: give a new --out (or --resume)")
    if "ztunnel" in configs:
        if not args.ztunnel_bin or not shutil.which(args.ztunnel_bin):
            raise SystemExit("the ztunnel configuration needs --ztunnel-bin PATH")
        args.ztunnel_bin = shutil.which(args.ztunnel_bin)
        if os.environ.get(NETNS_ENV) != "1":
            return run_in_netns(argv)
        for cmd in netns_commands(args.iptables):
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            if res.returncode != 0:
                raise SystemExit(f"{shlex.join(cmd)} failed: {res.stderr.strip()}")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    raise_fd_limit()
    args.out.mkdir(parents=True, exist_ok=True)
    env_path = args.out / "environment.json"
    env = environment(args, argv)
    if args.resume and env_path.exists():
        # The first command stays the record; each resumption is appended to it.
        first = json.loads(env_path.read_text())
        first.setdefault("resumed", []).append({"command": env["command"], "date_utc": env["date_utc"]})
        env = first
    env_path.write_text(json.dumps(env, indent=2) + "\n")
    children = Children()
    lock = QuietLock(args.quiet_lock, args.lock_chunk, args.lock_gap)
    workdir = Path(tempfile.mkdtemp(prefix="meshsim-mesh-bench-"))
    t0 = time.monotonic()
    try:
        make_certs(args.openssl, workdir / "certs", args.key_type, identities_for(configs))
        bench = Bench(args, args.out, workdir, children, lock)
        bench.start_backend()
        if args.memory != "only":
            groups: dict[tuple, list[Point]] = {}
            for pt in points:
                groups.setdefault(pt.group(), []).append(pt)
            for (cfg, proto, conc), pts in groups.items():
                if all((point_key(pt), run) in bench.done_runs for pt in pts for run in range(1, args.runs + 1)):
                    continue
                print(f"{cfg} {proto} concurrency {conc}: {len(pts)} points", flush=True)
                started, front = ([], (LOOPBACK, bench.h2_port if proto == "h2" else bench.h1_port))
                if cfg != "baseline":
                    started, front = bench.start_proxies(cfg, proto, conc)
                try:
                    for pt in pts:
                        for run in range(1, args.runs + 1):
                            bench.measure_point(pt, run, started, front)
                finally:
                    bench.stop_proxies(started)
        if args.memory != "off":
            for cfg in configs:
                if cfg == "baseline":
                    continue
                for conc in (1, 2):
                    if (cfg, "connections", str(conc)) in bench.done_memory:
                        continue
                    print(f"memory: {cfg} concurrency {conc}", flush=True)
                    bench.memory_base_and_connections(cfg, conc, idle_levels)
            for cfg in ("sidecar", "ztunnel"):
                if cfg in configs:
                    for conc in (1, 2):
                        if (cfg, "endpoints", str(conc)) not in bench.done_memory:
                            bench.memory_endpoints(cfg, conc, endpoint_levels)
            for cfg in configs:
                if cfg in ("baseline", "hbone") or (cfg, "in-flight", "2") in bench.done_memory:
                    continue
                print(f"memory: {cfg} in flight", flush=True)
                bench.memory_in_flight(cfg, 2, inflight_rates)
        write_summaries(args.out)
        print(f"done in {(time.monotonic() - t0) / 60:.1f} min; {bench.disturbed_total} disturbed runs "
              f"(each repeated once); quiet-lock chunks: {lock.chunks}", flush=True)
        return 0
    except KeyboardInterrupt:
        print("interrupted; stopping", file=sys.stderr)
        return 130
    finally:
        lock.release()
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
