"""The runs of mesh_bench.py: the Bench that starts and stops the backends and proxies,
measures each point's load runs (repeating a disturbed one once) and the memory tests,
and appends their rows to the output files."""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import LOOPBACK, Children, free_port, parse_oha_json, wait_http_ok
from mesh_grid import ROLE_PASS, ROLE_PASSES, STARTUP_TIMEOUT_S, Point, run_duration_s
from mesh_load import Front, oha_argv, oha_extra_percentiles, open_idle_connections
from mesh_output import MEMORY_HEADER, PASSES_HEADER, RUNS_HEADER, CsvSink, point_key, read_csv, runs_done
from mesh_sampling import (
    QuietLock,
    RssSampler,
    envoy_stats,
    http_get,
    other_cpu_ticks,
    sum_stats,
    take_snapshot,
    tree_ticks,
    tree_rss,
    tree_rss_anon,
    tree_run_ns,
)
from mesh_setup import (
    NGINX_CONF,
    ZTUNNEL_ADMIN_PORT,
    ZTUNNEL_OUTBOUND_PORT,
    ZTUNNEL_READINESS_PORT,
    ZTUNNEL_SERVICE_PORT,
    ZTUNNEL_VIP,
    Role,
    envoy_argv,
    payload,
    topology,
    write_www,
    yaml_flow,
    ztunnel_env,
    ztunnel_local_config,
)

# The command-line entry point, which the slow backend is started through.
MESH_BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mesh_bench.py")

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
            "slow-backend", [sys.executable, MESH_BENCH, "--serve-slow-backend", str(self.slow_port),
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
