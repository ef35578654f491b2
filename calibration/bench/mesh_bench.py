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

# This file is the command line and the bench's run loop; its stages live beside it:
# mesh_grid.py (what is measured), mesh_setup.py (certificates, proxy and backend
# configuration), mesh_load.py (the load driver), mesh_sampling.py (readings from /proc and
# the quiet lock) and mesh_output.py (CSV files and summaries).

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (  # noqa: E402
    LOOPBACK,
    Children,
    command_version,
    cpu_model,
    free_port,
    parse_oha_json,
    wait_http_ok,
)
from mesh_grid import (  # noqa: E402
    CONFIGS,
    MAX_ENDPOINTS,
    MAX_IDLE_CONNECTIONS,
    MAX_RPS,
    MAX_RUNS,
    Point,
    ROLE_PASS,
    ROLE_PASSES,
    STARTUP_TIMEOUT_S,
    estimate_seconds,
    grid_points,
    run_duration_s,
)
from mesh_setup import (  # noqa: E402
    NGINX_CONF,
    Role,
    ZTUNNEL_ADMIN_PORT,
    ZTUNNEL_OUTBOUND_PORT,
    ZTUNNEL_READINESS_PORT,
    ZTUNNEL_SERVICE_PORT,
    ZTUNNEL_VIP,
    envoy_argv,
    identities_for,
    make_certs,
    netns_commands,
    payload,
    serve_slow_backend,
    topology,
    write_www,
    yaml_flow,
    ztunnel_env,
    ztunnel_local_config,
)
from mesh_sampling import (  # noqa: E402
    QuietLock,
    RssSampler,
    _read,
    other_cpu_ticks,
    take_snapshot,
    tree_rss,
    tree_rss_anon,
    tree_run_ns,
    tree_ticks,
)
from mesh_load import (  # noqa: E402
    Front,
    envoy_stats,
    http_get,
    oha_argv,
    oha_extra_percentiles,
    raise_fd_limit,
    sum_stats,
)
from mesh_output import (  # noqa: E402
    CsvSink,
    MEMORY_HEADER,
    PASSES_HEADER,
    RUNS_HEADER,
    point_key,
    read_csv,
    runs_done,
    write_summaries,
)

# ------------------------------------------------------------------------ the bench


class Bench:
    def __init__(self, args, out: Path, workdir: Path, children: Children, lock: QuietLock):
        self.args = args
        self.out = out
        self.workdir = workdir
        self.children = children
        self.lock = lock
        self.certdir = workdir / "certs"
        self.clk_tck = os.sysconf("SC_CLK_TCK")
        self.runs = CsvSink(out / "runs.csv", RUNS_HEADER, args.resume)
        self.passes = CsvSink(out / "passes.csv", PASSES_HEADER, args.resume)
        self.memory = CsvSink(out / "memory.csv", MEMORY_HEADER, args.resume)
        previous = read_csv(out / "runs.csv") if args.resume else []
        self.done_runs = runs_done(previous)
        self.done_memory = {(r["config"], r["test"], r["concurrency"]) for r in
                            (read_csv(out / "memory.csv") if args.resume else [])}
        self.run_id = max((int(r["run_id"]) for r in previous), default=0)
        self.disturbed_total = 0
        self.backend_proc = None
        self.slow_proc = None

    # ---- processes

    def start_backend(self) -> None:
        write_www(self.workdir)
        self.h1_port, self.h2_port = free_port(), free_port()
        conf = self.workdir / "backend-nginx.conf"
        conf.write_text(NGINX_CONF.format(workdir=self.workdir, h1_port=self.h1_port, h2_port=self.h2_port))
        self.backend_proc = self.children.start("backend", [self.args.nginx, "-p", str(self.workdir), "-c", str(conf)],
                                                self.workdir / "backend.log")
        wait_http_ok(self.h1_port, self.backend_proc, path="/1024", expect=payload(1024))
        self.slow_port = free_port()
        self.slow_proc = self.children.start(
            "slow-backend", [sys.executable, os.path.abspath(__file__), "--serve-slow-backend", str(self.slow_port),
                             "--slow-delay-ms", str(self.args.slow_delay_ms)], self.workdir / "slow-backend.log")
        wait_http_ok(self.slow_port, self.slow_proc, path="/1024", expect=payload(1024))

    def start_proxies(self, config: str, proto: str, concurrency: int, backend_port: int | None = None,
                      extra_endpoints: int = 0) -> tuple[list[tuple[Role, subprocess.Popen]], Front]:
        if config == "ztunnel":
            return self.start_ztunnel(proto, concurrency, backend_port, extra_endpoints)
        ports = [free_port() for _ in range(8)]
        roles, front_port = topology(config, proto, self.certdir, backend_port or self.h1_port, self.h2_port,
                                     ports, extra_endpoints)
        front = (LOOPBACK, front_port)
        started = []
        try:
            for role in reversed(roles):  # inbound first, so the path is complete when probed
                path = self.workdir / f"{role.name}.yaml"
                path.write_text(json.dumps(role.config, indent=1))
                log = self.workdir / f"{role.name}.log"
                proc = self.children.start(role.name, envoy_argv(self.args.envoy, path, concurrency, log),
                                           self.workdir / f"{role.name}.out")
                started.append((role, proc))
                self.wait_ready(role, proc, log)
            started.reverse()
            self.probe(front, proto, started)
        except Exception:
            self.stop_proxies(started)
            raise
        return started, front

    def start_ztunnel(self, proto: str, concurrency: int, backend_port: int | None,
                      extra_endpoints: int) -> tuple[list[tuple[Role, subprocess.Popen]], Front]:
        cfg = ztunnel_local_config(backend_port or self.h1_port, self.h2_port, extra_endpoints)
        path = self.workdir / "ztunnel-local.yaml"
        path.write_text(yaml_flow(cfg))
        env = dict(os.environ, **ztunnel_env(path, concurrency))
        role = Role("ztunnel", ZTUNNEL_OUTBOUND_PORT, ZTUNNEL_ADMIN_PORT, cfg)
        proc = self.children.start("ztunnel", [self.args.ztunnel_bin], self.workdir / "ztunnel.log", env=env)
        started = [(role, proc)]
        front = (ZTUNNEL_VIP[proto], ZTUNNEL_SERVICE_PORT)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"ztunnel exited with code {proc.returncode}:\n"
                                       + (self.workdir / "ztunnel.log").read_text(errors="replace")[-3000:])
                try:
                    if http_get(ZTUNNEL_READINESS_PORT, "/healthz/ready", 1)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("ztunnel not ready:\n"
                                       + (self.workdir / "ztunnel.log").read_text(errors="replace")[-3000:])
                time.sleep(0.2)
            self.probe(front, proto, started)
        except Exception:
            self.stop_proxies(started)
            raise
        return started, front

    def wait_ready(self, role: Role, proc, log: Path) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = (log.read_text(errors="replace") if log.exists() else "")
                text += (self.workdir / f"{role.name}.out").read_text(errors="replace")
                raise RuntimeError(f"envoy ({role.name}) exited with code {proc.returncode}:\n{text[-3000:]}")
            try:
                status, body = http_get(role.admin_port, "/ready", 1)
                if status == 200 and body.strip() == b"LIVE":
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"envoy ({role.name}) not ready after {STARTUP_TIMEOUT_S:g} s")

    def probe(self, front: Front, proto: str, procs) -> None:
        """A few requests through the whole path, with the protocol the load will use."""
        pt = Point("probe", proto, "pooled", 1024, 0, 50, "probe")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            argv = [self.args.oha, f"http://{front[0]}:{front[1]}/1024", "-n", "5", "-c", "1", "--no-tui",
                    "--output-format", "json"] + (["--http2"] if pt.proto == "h2" else [])
            res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if res.returncode == 0:
                r = parse_oha_json(json.loads(res.stdout))
                if r["status_codes"].get("200") == 5:
                    return
                last = f"status {r['status_codes']} errors {r['errors']}"
            else:
                last = res.stderr[-500:]
            time.sleep(0.3)
        logs = "".join((self.workdir / f"{role.name}.log").read_text(errors="replace")[-1500:]
                       for role, _ in procs if (self.workdir / f"{role.name}.log").exists())
        raise RuntimeError(f"requests through {front[0]}:{front[1]} ({proto}) fail: {last}\n{logs}")

    def stop_proxies(self, started) -> None:
        for _, proc in started:
            self.children.stop(proc)
            self.children.procs = [(n, p) for n, p in self.children.procs if p is not proc]

    # ---- load runs

    def measure_point(self, pt: Point, run: int, started, front: Front) -> None:
        """One run (and one repeat if other processes disturbed it)."""
        if (point_key(pt), run) in self.done_runs:
            return
        for attempt in (1, 2):
            disturbed = self.one_run(pt, run, attempt, started, front)
            if not disturbed:
                return
            self.disturbed_total += 1
            if attempt == 1:
                print(f"  run disturbed by other load; repeating once after {self.args.disturbed_wait:g} s", flush=True)
                time.sleep(self.args.disturbed_wait)

    def wait_for_quiet(self) -> None:
        """While holding the lock, give jobs that started before it up to --wait-quiet
        seconds to finish (new ones wait on the lock)."""
        deadline = time.monotonic() + self.args.wait_quiet
        while time.monotonic() < deadline:
            other_mc, _ = self.quiet_window(1.0)
            if other_mc <= self.args.disturbed_mc:
                return

    def one_run(self, pt: Point, run: int, attempt: int, started, front: Front) -> bool:
        duration = run_duration_s(pt.rps, self.args.duration)
        self.lock.ensure(duration + 5 + self.args.wait_quiet)
        self.wait_for_quiet()
        for role, proc in started:
            if proc.poll() is not None:
                raise RuntimeError(f"envoy ({role.name}) exited with code {proc.returncode}")
        self.run_id += 1
        run_id = self.run_id
        connections = self.args.connections
        argv = oha_argv(self.args.oha, front, pt, duration, connections)
        roots = {role.name: proc.pid for role, proc in started}
        roots["backend"] = self.backend_proc.pid
        roots["harness"] = os.getpid()
        rss = RssSampler({role.name: proc.pid for role, proc in started})
        started_utc = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        time.sleep(self.args.settle)
        before = take_snapshot(roots)
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.children.procs.append(("load", load))
        rss.start()
        load_ns_prev = 0
        try:
            deadline = time.monotonic() + duration + 60
            # oha's threads end with it: read its run time just before it exits.
            while load.poll() is None and time.monotonic() < deadline:
                load_ns_prev = max(load_ns_prev, tree_run_ns({load.pid}))
                time.sleep(0.25)
            stdout, stderr = load.communicate(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            rss.stop_event.set()
            rss.join(timeout=5)
            self.children.procs = [(n, p) for n, p in self.children.procs if p is not load]
        after = take_snapshot(roots)
        if load.returncode != 0:
            raise RuntimeError(f"oha failed ({load.returncode}): {stderr.decode(errors='replace')[-1500:]}")
        raw = json.loads(stdout)
        result = parse_oha_json(raw)
        extra_pct = oha_extra_percentiles(raw)
        window = after.t_s - before.t_s
        ok = int(result["status_codes"].get("200", 0))
        failed = result["requests"] - ok
        ours = set().union(*before.trees.values(), *after.trees.values(), {load.pid})
        other_user, other_kernel = other_cpu_ticks(before, after, ours)
        # oha itself: its final ticks are in `after` only if still listed; use its run time.
        load_ticks = (after.table.get(load.pid, {}).get("utime", 0) + after.table.get(load.pid, {}).get("stime", 0))
        other_user -= min(other_user, load_ticks)
        other_mc = other_user / self.clk_tck / window * 1000
        disturbed = other_mc > self.args.disturbed_mc
        roles = [role for role, _ in started]
        proxy_ns = sum(after.run_ns[r.name] - before.run_ns[r.name] for r in roles)
        proxy_ticks = sum(tree_ticks(after, after.trees[r.name]) - tree_ticks(before, before.trees[r.name]) for r in roles)
        passes = sum(ROLE_PASSES.get(r.name, 1) for r in roles)
        common = {"run_id": run_id, "config": pt.config, "dimension": pt.dimension, "proto": pt.proto,
                  "conn_mode": pt.conn_mode, "payload_bytes": pt.payload_bytes, "concurrency": pt.concurrency,
                  "target_rps": pt.rps, "run": run, "attempt": attempt}
        rss_means = {k: (statistics.fmean(v) if v else tree_rss({roots[k]})) for k, v in rss.samples.items()}
        self.runs.write(dict(common, **{
            "passes": passes, "duration_s": duration, "window_s": window,
            "achieved_rps": result["requests_per_sec"], "requests_ok": ok, "requests_failed": failed,
            **{f"{k}_us": (None if result[f"{k}_ms"] is None else result[f"{k}_ms"] * 1000)
               for k in ("p50", "p90", "p99", "p999", "max", "mean")},
            **extra_pct,
            "proxies_cpu_s": proxy_ns / 1e9 if passes else None,
            "proxies_cpu_us_per_request": proxy_ns / 1e3 / ok if passes and ok else None,
            "cpu_us_per_pass": proxy_ns / 1e3 / ok / passes if passes and ok else None,
            "proxies_cpu_ticks_s": proxy_ticks / self.clk_tck if passes else None,
            "proxies_rss_mean_bytes": sum(rss_means.values()) if passes else None,
            "backend_cpu_s": (after.run_ns["backend"] - before.run_ns["backend"]) / 1e9,
            "load_cpu_s": load_ns_prev / 1e9,
            "harness_cpu_s": (after.run_ns["harness"] - before.run_ns["harness"]) / 1e9,
            "host_busy_cpu_s": (after.host_busy - before.host_busy) / self.clk_tck,
            "host_irq_cpu_s": (after.host_irq - before.host_irq) / self.clk_tck,
            "other_procs_cpu_s": other_user / self.clk_tck, "kernel_threads_cpu_s": other_kernel / self.clk_tck,
            "other_procs_mc": other_mc, "disturbed": disturbed, "started_utc": started_utc}))
        for role in roles:
            ns = after.run_ns[role.name] - before.run_ns[role.name]
            ticks = tree_ticks(after, after.trees[role.name]) - tree_ticks(before, before.trees[role.name])
            samples = rss.samples.get(role.name) or [tree_rss({roots[role.name]})]
            self.passes.write(dict(common, **{
                "role": role.name, "pass": ROLE_PASS[role.name], "requests_ok": ok, "cpu_s": ns / 1e9,
                "cpu_us_per_request": ns / 1e3 / ok if ok else None, "cpu_ticks_s": ticks / self.clk_tck,
                "rss_mean_bytes": statistics.fmean(samples), "rss_max_bytes": max(samples), "disturbed": disturbed}))
        per_pass = f"{proxy_ns / 1e3 / ok / passes:.1f} us/pass" if passes and ok else "-"
        p50 = result["p50_ms"]
        p99 = result["p99_ms"]
        print(f"  {pt.config} {pt.dimension} {pt.proto} {pt.conn_mode} {pt.payload_bytes}B c{pt.concurrency} "
              f"{pt.rps} rps run {run}: {result['requests_per_sec']:.0f} rps ok={ok} fail={failed} "
              f"p50={p50 * 1000 if p50 is not None else float('nan'):.0f}us "
              f"p99={p99 * 1000 if p99 is not None else float('nan'):.0f}us {per_pass} "
              f"other={other_mc:.0f}mC{' DISTURBED' if disturbed else ''}", flush=True)
        return disturbed

    # ---- memory tests

    def mem_row(self, config, role: Role, proc, test, concurrency, level, unit, run, other_mc=0.0, **extra) -> dict:
        stats = envoy_stats(role.admin_port, r"server\.memory|cx_active")
        row = {"config": config, "role": role.name, "pass": ROLE_PASS[role.name], "test": test,
               "concurrency": concurrency, "level": level, "level_unit": unit, "run": run,
               "rss_bytes": tree_rss({proc.pid}), "rss_anon_bytes": tree_rss_anon({proc.pid}),
               "envoy_allocated_bytes": stats.get("server.memory_allocated"),
               "envoy_heap_bytes": stats.get("server.memory_heap_size"),
               # Listener counters only (the HTTP ones count the same connections again), not admin's.
               "downstream_cx_active": sum_stats({k: v for k, v in stats.items() if k.startswith("listener.")
                                                  and not k.startswith("listener.admin.")}, "downstream_cx_active"),
               "upstream_cx_active": sum_stats(stats, "upstream_cx_active"),
               "other_procs_mc": other_mc, "disturbed": other_mc > self.args.disturbed_mc}
        row.update(extra)
        return row

    def quiet_window(self, seconds: float) -> tuple[float, float]:
        """Sleep `seconds` and return (other processes' mC, length) over that time."""
        before = take_snapshot({"harness": os.getpid()})
        time.sleep(seconds)
        after = take_snapshot({"harness": os.getpid()})
        # Everything the bench started descends from it: proxies, backends, load.
        user, _ = other_cpu_ticks(before, after, before.trees["harness"] | after.trees["harness"])
        return user / self.clk_tck / (after.t_s - before.t_s) * 1000, after.t_s - before.t_s

    def memory_base_and_connections(self, config: str, concurrency: int, levels: list[int]) -> None:
        self.lock.ensure(30 + 3 * len(levels) + sum(levels) / 300 + self.args.wait_quiet)
        self.wait_for_quiet()
        started, front = self.start_proxies(config, "h1", concurrency)
        socks: list[socket.socket] = []
        try:
            time.sleep(2)
            # Idle CPU and base RSS: no traffic except the probe done at start.
            roots = {role.name: proc.pid for role, proc in started}
            before = take_snapshot(roots)
            other_mc, window = self.quiet_window(self.args.idle_seconds)
            after = take_snapshot(roots)
            for role, proc in started:
                idle_mc = (after.run_ns[role.name] - before.run_ns[role.name]) / 1e6 / window
                self.memory.write(self.mem_row(config, role, proc, "base", concurrency, 0, "connections", 1,
                                               other_mc, idle_cpu_mc=idle_mc))
            for level in levels:
                opened = open_idle_connections(front, level - len(socks), socks)
                if opened != level - (len(socks) - opened):
                    print(f"  opened only {len(socks)} of {level} connections", flush=True)
                time.sleep(2)
                other_mc, _ = self.quiet_window(1.0)
                for role, proc in started:
                    self.memory.write(self.mem_row(config, role, proc, "connections", concurrency, len(socks),
                                                   "idle connections", 1, other_mc))
                print(f"  {config} c{concurrency}: {len(socks)} idle connections: " + ", ".join(
                    f"{role.name} {tree_rss({proc.pid}) / 1048576:.1f} MiB" for role, proc in started), flush=True)
        finally:
            for s in socks:
                s.close()
            self.stop_proxies(started)

    def memory_endpoints(self, config: str, concurrency: int, levels: list[int]) -> None:
        for level in levels:
            self.lock.ensure(20 + self.args.wait_quiet)
            self.wait_for_quiet()
            started, _ = self.start_proxies(config, "h1", concurrency, extra_endpoints=level)
            try:
                time.sleep(2)
                other_mc, _ = self.quiet_window(1.0)
                role, proc = started[0]
                self.memory.write(self.mem_row(config, role, proc, "endpoints", concurrency, level,
                                               "endpoints in an idle cluster", 1, other_mc))
                print(f"  {role.name} c{concurrency} with {level} endpoints: {tree_rss({proc.pid}) / 1048576:.1f} MiB",
                      flush=True)
            finally:
                self.stop_proxies(started)

    def memory_in_flight(self, config: str, concurrency: int, rates: list[int]) -> None:
        started, front = self.start_proxies(config, "h1", concurrency, backend_port=self.slow_port)
        delay_s = self.args.slow_delay_ms / 1000
        try:
            for rps in rates:
                duration = self.args.in_flight_seconds
                self.lock.ensure(duration + 10 + self.args.wait_quiet)
                self.wait_for_quiet()
                pt = Point(config, "h1", "pooled", 1024, concurrency, rps, "in-flight")
                argv = oha_argv(self.args.oha, front, pt, duration, self.args.in_flight_connections)
                argv[1] = f"http://{front[0]}:{front[1]}/"
                load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
                self.children.procs.append(("load", load))
                try:
                    time.sleep(duration * 0.6)
                    other_mc, _ = self.quiet_window(1.0)
                    rows = [self.mem_row(config, role, proc, "in-flight", concurrency, rps, "rps at a "
                                         f"{self.args.slow_delay_ms:g} ms backend", 1, other_mc,
                                         in_flight_expected=rps * delay_s) for role, proc in started]
                    stdout, stderr = load.communicate(timeout=duration + 60)
                finally:
                    self.children.stop(load)
                    self.children.procs = [(n, p) for n, p in self.children.procs if p is not load]
                if load.returncode != 0:
                    raise RuntimeError(f"oha failed: {stderr.decode(errors='replace')[-1500:]}")
                res = parse_oha_json(json.loads(stdout))
                for row in rows:
                    row["achieved_rps"] = res["requests_per_sec"]
                    self.memory.write(row)
                print(f"  {config} c{concurrency} {rps} rps x {delay_s:g} s in flight: "
                      + ", ".join(f"{r['role']} {r['rss_bytes'] / 1048576:.1f} MiB" for r in rows)
                      + f" ({res['requests_per_sec']:.0f} rps achieved)", flush=True)
        finally:
            self.stop_proxies(started)


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
