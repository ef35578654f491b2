#!/usr/bin/env python3
"""Loopback microbenchmark of a real L7 proxy, written in the gsd-v1 format.

A fixed-body HTTP backend (nginx, or a built-in Python server) and the proxy under
test are started on 127.0.0.1; an open-loop, rate-limited load generator (oha) drives
the proxy at several request rates. While the load runs, the CPU and RSS of the proxy
(its whole process tree) are sampled once a second from /proc, and each run is written
as `{rps}-{run}-metrics.csv` and `{rps}-{run}-load.log`, the files the fitter reads.

Python 3 standard library only. Traffic only ever goes to 127.0.0.1.
See README.md beside this file.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import http.client
import http.server
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
BODY_SIZE = 1024
BODY = (b"meshsim-bench-backend-body-" * 64)[:BODY_SIZE]

METRICS_HEADER = [
    "timestamp",
    "proxy mesh CPU",
    "proxy mesh mem",
    "data-plane CPU",
    "data-plane mem",
    "backend app CPU",
    "backend app mem",
    "load app CPU",
    "load app mem",
    "host CPU",
]
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

# Hard upper bounds, whatever the command line says: every loop here is bounded.
MAX_LEVELS = 32
MAX_RUNS = 20
MAX_DURATION_S = 600
MAX_RPS = 100_000
STARTUP_TIMEOUT_S = 15.0


# --------------------------------------------------------------------------- pure parts


def metrics_filename(rps: int, run: int) -> str:
    return f"{rps}-{run}-metrics.csv"


def load_filename(rps: int, run: int) -> str:
    return f"{rps}-{run}-load.log"


def parse_proc_stat(line: str) -> dict:
    """Parse one /proc/<pid>/stat line.

    The command name (field 2) is in parentheses and may itself contain spaces or
    parentheses, so the fields are split after the LAST ')'.
    Returns pid, comm, state, ppid, utime, stime (clock ticks), num_threads.
    """
    line = line.strip()
    lpar = line.index("(")
    rpar = line.rindex(")")
    pid = int(line[:lpar].strip())
    comm = line[lpar + 1 : rpar]
    rest = line[rpar + 1 :].split()
    # rest[0] is field 3 (state); field n is rest[n - 3].
    return {
        "pid": pid,
        "comm": comm,
        "state": rest[0],
        "ppid": int(rest[1]),
        "utime": int(rest[11]),
        "stime": int(rest[12]),
        "num_threads": int(rest[17]),
    }


def parse_vmrss(status_text: str) -> int:
    """VmRSS from /proc/<pid>/status, in bytes (0 if absent, e.g. a zombie)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            value = int(parts[1])
            unit = parts[2].lower() if len(parts) > 2 else "kb"
            scale = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}[unit]
            return value * scale
    return 0


def nanocores(delta_ticks: float, clk_tck: int, dt_s: float) -> int:
    """CPU-seconds per second, times 1e9 (the unit of the Kubernetes metrics API)."""
    if dt_s <= 0:
        raise ValueError("dt_s must be positive")
    return int(round(delta_ticks / clk_tck / dt_s * 1e9))


def parse_host_cpu(proc_stat_text: str) -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs from the first line of /proc/stat.
    Busy is user+nice+system+irq+softirq (guest time is already in user/nice);
    total adds idle, iowait and steal."""
    for line in proc_stat_text.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]]
            v += [0] * (8 - len(v))
            total = sum(v[:8])
            return total - v[3] - v[4] - v[7], total
    raise ValueError("no cpu line in /proc/stat")


def descendants(root: int, parent_of: dict[int, int]) -> set[int]:
    """root and every process whose chain of parents leads to it."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        children.setdefault(ppid, []).append(pid)
    out = {root} if root in parent_of else set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def render_template(text: str, values: dict[str, object]) -> str:
    """Replace only the known `{name}` placeholders; other braces (nginx, Envoy YAML
    flow maps) are left alone."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def rendered_config_name(template_name: str) -> str:
    """haproxy.cfg.in -> haproxy.cfg; envoy.yaml -> envoy.yaml (proxies look at suffixes)."""
    return template_name[:-3] if template_name.endswith(".in") and len(template_name) > 3 else template_name


def parse_levels(spec: str) -> list[int]:
    levels = [int(x) for x in spec.replace(" ", "").split(",") if x]
    if not levels:
        raise ValueError("no request rates given")
    if len(levels) > MAX_LEVELS:
        raise ValueError(f"at most {MAX_LEVELS} levels")
    for rps in levels:
        if not 1 <= rps <= MAX_RPS:
            raise ValueError(f"rate {rps} outside 1..{MAX_RPS}")
    return levels


def parse_oha_json(data: dict) -> dict:
    """Achieved rate, success rate and latency percentiles (ms) from oha's JSON."""
    summary = data.get("summary", {})
    pct = data.get("latencyPercentiles", {})

    def ms(key: str):
        value = pct.get(key)
        return None if value is None else float(value) * 1000.0

    codes = data.get("statusCodeDistribution", {}) or {}
    errors = data.get("errorDistribution", {}) or {}
    return {
        "requests_per_sec": float(summary.get("requestsPerSec") or 0.0),
        "success_rate": summary.get("successRate"),
        "total_s": summary.get("total"),
        "mean_ms": None if summary.get("average") is None else summary["average"] * 1000.0,
        "p50_ms": ms("p50"),
        "p90_ms": ms("p90"),
        "p99_ms": ms("p99"),
        "p999_ms": ms("p99.9"),
        "max_ms": None if summary.get("slowest") is None else summary["slowest"] * 1000.0,
        "status_codes": {str(k): int(v) for k, v in codes.items()},
        "errors": {str(k): int(v) for k, v in errors.items()},
        "requests": sum(int(v) for v in codes.values()) + sum(int(v) for v in errors.values()),
    }


def _fmt(value, digits: int = 3) -> str:
    return "nan" if value is None else f"{value:.{digits}f}"


def format_load_log(target_rps: int, duration_s: float, result: dict, header: str = "") -> str:
    """A short wrk2-like report: `Requests/sec:` plus `pXX_ms:` lines."""
    lines = []
    if header:
        lines.append(header)
    lines.append(f"target_rps: {target_rps}")
    lines.append(f"duration_s: {duration_s:g}")
    lines.append(f"requests: {result.get('requests', 0)}")
    lines.append(f"success_rate: {_fmt(result.get('success_rate'), 4)}")
    codes = " ".join(f"{k}={v}" for k, v in sorted(result.get("status_codes", {}).items()))
    lines.append(f"status_codes: {codes}")
    errs = "; ".join(f"{k}={v}" for k, v in sorted(result.get("errors", {}).items()))
    lines.append(f"errors: {errs}")
    lines.append(f"mean_ms: {_fmt(result.get('mean_ms'))}")
    for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"):
        lines.append(f"{key}: {_fmt(result.get(key))}")
    lines.append(f"Requests/sec: {result['requests_per_sec']:>10.2f}")
    return "\n".join(lines) + "\n"


def parse_load_log(text: str) -> dict:
    """Inverse of format_load_log for the numbers (used by the summary and tests)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        value = value.strip()
        if key == "Requests/sec":
            out["requests_per_sec"] = float(value)
        elif key.endswith("_ms"):
            out[key] = float(value)
    return out


def read_metrics_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def steady_state(values: list[float]) -> list[float]:
    """The publisher's per-run filter (see the gsd-v1 README): samples strictly above
    the run's mean (all of them if that keeps fewer than half), then those within one
    population standard deviation of their own mean."""
    if not values:
        return []
    mean = statistics.fmean(values)
    above = [v for v in values if v > mean]
    kept = above if len(above) * 2 >= len(values) else list(values)
    if len(kept) < 2:
        return kept
    m = statistics.fmean(kept)
    sd = statistics.pstdev(kept)
    return [v for v in kept if abs(v - m) <= sd]


# ------------------------------------------------------------------------ /proc sampling


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def proc_table() -> dict[int, dict]:
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        text = _read(f"/proc/{name}/stat")
        if text is None:
            continue
        try:
            table[int(name)] = parse_proc_stat(text)
        except (ValueError, IndexError):
            continue
    return table


class TreeSampler:
    """Cumulative CPU ticks and current RSS of a process tree.

    Ticks of processes of the tree that have exited are kept, so short-lived children
    do not make the CPU counter go backwards. Threads are included: a process's
    utime/stime counts all of its threads."""

    def __init__(self, root: int | None):
        self.root = root
        self.last_ticks: dict[int, int] = {}

    def sample(self, table: dict[int, dict]) -> tuple[int, int] | None:
        if self.root is None:
            return None
        pids = descendants(self.root, {p: s["ppid"] for p, s in table.items()})
        rss = 0
        for pid in pids:
            st = table[pid]
            self.last_ticks[pid] = st["utime"] + st["stime"]
            status = _read(f"/proc/{pid}/status")
            if status:
                rss += parse_vmrss(status)
        return sum(self.last_ticks.values()), rss


class Sampler(threading.Thread):
    """Writes one row a second for the groups proxy/backend/load until stopped."""

    def __init__(self, path: Path, roots: dict[str, int | None], clk_tck: int,
                 interval_s: float = 1.0, max_samples: int = 4 * MAX_DURATION_S):
        super().__init__(daemon=True)
        self.path = path
        self.interval_s = interval_s
        self.clk_tck = clk_tck
        self.max_samples = max_samples
        self.trees = {name: TreeSampler(pid) for name, pid in roots.items()}
        self.stop_event = threading.Event()
        self.rows: list[dict] = []
        self.error: BaseException | None = None

    def set_root(self, name: str, pid: int | None) -> None:
        # The load generator starts after the sampler; its first sample is a baseline.
        self.trees[name] = TreeSampler(pid)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # reported by the main thread
            self.error = e

    def _run(self) -> None:
        prev: dict[str, tuple[int, int] | None] = {}
        t_prev = time.monotonic()
        host_prev = parse_host_cpu(_read("/proc/stat") or "")
        table = proc_table()
        for name, tree in self.trees.items():
            prev[name] = tree.sample(table)
        with open(self.path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(METRICS_HEADER)
            for _ in range(self.max_samples):
                if self.stop_event.wait(self.interval_s):
                    break
                now = time.monotonic()
                dt = now - t_prev
                t_prev = now
                table = proc_table()
                host = parse_host_cpu(_read("/proc/stat") or "")
                host_busy = nanocores(host[0] - host_prev[0], self.clk_tck, dt)
                host_prev = host
                row = {"timestamp": _dt.datetime.now().strftime(TIMESTAMP_FORMAT)}
                for name, tree in list(self.trees.items()):
                    cur = tree.sample(table)
                    before = prev.get(name)
                    prev[name] = cur
                    if cur is None or before is None:
                        row[name] = (None, None)
                        continue
                    row[name] = (nanocores(cur[0] - before[0], self.clk_tck, dt), cur[1])
                proxy = row.get("proxy", (None, None))
                record = {
                    "timestamp": row["timestamp"],
                    "proxy mesh CPU": proxy[0], "proxy mesh mem": proxy[1],
                    "data-plane CPU": proxy[0], "data-plane mem": proxy[1],
                    "backend app CPU": row.get("backend", (None, None))[0],
                    "backend app mem": row.get("backend", (None, None))[1],
                    "load app CPU": row.get("load", (None, None))[0],
                    "load app mem": row.get("load", (None, None))[1],
                    "host CPU": host_busy,
                }
                self.rows.append(record)
                writer.writerow(["" if record[k] is None else record[k] for k in METRICS_HEADER])
                f.flush()


# --------------------------------------------------------------------- child processes


class Children:
    """Every process started here, each in its own session so its whole group can be
    stopped; all of them are stopped on exit, error, Ctrl-C or SIGTERM."""

    def __init__(self):
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], log: Path, **kw) -> subprocess.Popen:
        out = open(log, "ab")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        out.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, grace_s: float = 5.0) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        # The group may outlive its leader (workers of a master process).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass

    def stop_all(self) -> None:
        while self.procs:
            _, proc = self.procs.pop()
            self.stop(proc)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_http_ok(port: int, proc: subprocess.Popen | None, timeout_s: float = STARTUP_TIMEOUT_S,
                 path: str = "/", expect: bytes = BODY) -> None:
    """Until GET `path` on 127.0.0.1:port answers 200 with the body `expect` (bounded)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} while starting")
        try:
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status == 200 and body == expect:
                return
            last = f"status {resp.status}, {len(body)}-byte body"
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    raise RuntimeError(f"127.0.0.1:{port} not ready after {timeout_s:g}s: {last}")


# The head of an nginx backend config: one worker in the foreground, every file under {workdir}.
NGINX_HEAD = """\
worker_processes 1;
daemon off;
master_process on;
pid {workdir}/backend-nginx.pid;
error_log {workdir}/backend-nginx-error.log warn;
"""
NGINX_TEMP_PATHS = """\
    client_body_temp_path {workdir}/nginx-body;
    proxy_temp_path {workdir}/nginx-proxy;
    fastcgi_temp_path {workdir}/nginx-fastcgi;
    uwsgi_temp_path {workdir}/nginx-uwsgi;
    scgi_temp_path {workdir}/nginx-scgi;
"""
NGINX_BACKEND_CONF = NGINX_HEAD + """\
events {{ worker_connections 4096; }}
http {{
    access_log off;
""" + NGINX_TEMP_PATHS + """\
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type application/octet-stream;
            return 200 "{body}";
        }}
    }}
}}
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def serve_builtin_backend(port: int) -> None:
    with _Server((LOOPBACK, port), _Handler) as srv:
        srv.serve_forever()


def start_backend(kind: str, port: int, workdir: Path, children: Children) -> tuple[subprocess.Popen, str]:
    if kind == "nginx":
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = workdir / "backend-nginx.conf"
        conf.write_text(NGINX_BACKEND_CONF.format(workdir=workdir, port=port, body=BODY.decode()))
        proc = children.start("backend", [nginx, "-p", str(workdir), "-e", str(workdir / "backend-nginx-error.log"),
                                          "-c", str(conf)], workdir / "backend.log")
        version = command_version([nginx, "-v"])
    else:
        proc = children.start("backend", [sys.executable, os.path.abspath(__file__), "--serve-backend", str(port)],
                              workdir / "backend.log")
        version = f"built-in Python {platform.python_version()} ThreadingHTTPServer"
    wait_http_ok(port, proc)
    return proc, version


# ---------------------------------------------------------------------- environment


def command_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or "") + (out.stderr or "")
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def guess_version(program: str) -> str:
    for flag in ("--version", "-v", "-V", "version"):
        v = command_version([program, flag])
        if v and "unknown" not in v.lower() and "usage" not in v.lower() and "invalid" not in v.lower():
            return v
    return ""


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------ load driver


def run_oha(children: Children, oha: str, port: int, rps: int, duration_s: float, connections: int,
            out_json: Path) -> dict:
    argv = [oha, f"http://{LOOPBACK}:{port}/", "-z", f"{duration_s:g}s", "-q", str(rps),
            "-c", str(connections), "--latency-correction", "--no-tui", "--output-format", "json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    children.procs.append(("load", proc))
    return {"proc": proc, "argv": argv, "out_json": out_json}


def finish_oha(children: Children, handle: dict, timeout_s: float) -> dict:
    proc: subprocess.Popen = handle["proc"]
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError("load generator did not finish in time")  # stopped by Children
    children.procs = [(n, p) for n, p in children.procs if p is not proc]
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {stderr.decode(errors='replace')[-2000:]}")
    data = json.loads(stdout)
    handle["out_json"].write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return parse_oha_json(data)


def mean_or_none(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarize_run(rows: list[dict], load_rows_slice: slice) -> dict:
    """Plain mean over the samples taken while the load ran, and the publisher's
    steady-state mean over the whole run."""
    def col(name: str, rs: list[dict]) -> list[float]:
        return [float(r[name]) for r in rs if r.get(name) not in (None, "")]

    window = rows[load_rows_slice]
    out = {}
    for group, cpu, mem in (("proxy", "proxy mesh CPU", "proxy mesh mem"),
                            ("backend", "backend app CPU", "backend app mem"),
                            ("load", "load app CPU", "load app mem")):
        c, m = col(cpu, window), col(mem, window)
        out[f"{group}_cpu_mc"] = None if not c else statistics.fmean(c) / 1e6
        out[f"{group}_mem_mib"] = None if not m else statistics.fmean(m) / 1048576
        ss = steady_state(col(cpu, rows))
        out[f"{group}_cpu_mc_steady"] = None if not ss else statistics.fmean(ss) / 1e6
    h = col("host CPU", window)
    out["host_cpu_mc"] = None if not h else statistics.fmean(h) / 1e6
    return out


SUMMARY_HEADER = ["target_rps", "run", "achieved_rps", "p50_ms", "p90_ms", "p99_ms",
                  "proxy_cpu_mc", "proxy_mem_mib", "proxy_cpu_mc_steady",
                  "backend_cpu_mc", "load_cpu_mc", "host_cpu_mc", "samples"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proxy-cmd", help="command that runs the proxy in the foreground; placeholders "
                   "{config} {listen_port} {backend_port} {workdir}, e.g. 'haproxy -db -f {config}'")
    p.add_argument("--config-template", type=Path,
                   help="proxy config file with {listen_port} {backend_port} {workdir}; rendered to {config}")
    p.add_argument("--proxy-version", help="version string to record (default: ask the program)")
    p.add_argument("--no-proxy", action="store_true", help="baseline: load generator straight to the backend")
    p.add_argument("--out", type=Path, required=False, help="output folder (created)")
    p.add_argument("--rates", default="200,400,800,1600,3200", help="request rates (rps), comma-separated")
    p.add_argument("--runs", type=int, default=3, help="runs per rate")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per run")
    p.add_argument("--settle", type=float, default=2.0, help="idle seconds sampled before and after each run")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of unrecorded load before the first run")
    p.add_argument("--connections", type=int, default=32, help="load generator connections")
    p.add_argument("--backend", choices=["nginx", "builtin"], default="nginx")
    p.add_argument("--oha", default="oha", help="path of the oha load generator")
    p.add_argument("--listen-port", type=int, default=0, help="proxy port (default: a free one)")
    p.add_argument("--backend-port", type=int, default=0, help="backend port (default: a free one)")
    p.add_argument("--serve-backend", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.serve_backend:
        serve_builtin_backend(args.serve_backend)
        return 0
    if args.out is None:
        raise SystemExit("--out is required")
    if not args.no_proxy and not args.proxy_cmd:
        raise SystemExit("give --proxy-cmd, or --no-proxy for the baseline")
    levels = parse_levels(args.rates)
    if not 1 <= args.runs <= MAX_RUNS:
        raise SystemExit(f"--runs must be in 1..{MAX_RUNS}")
    if not 1 <= args.duration <= MAX_DURATION_S:
        raise SystemExit(f"--duration must be in 1..{MAX_DURATION_S}")
    oha = shutil.which(args.oha) or shutil.which(os.path.expanduser("~/.cargo/bin/oha"))
    if not oha:
        raise SystemExit("oha not found: cargo install oha --locked (or pass --oha PATH)")

    # SIGTERM stops like Ctrl-C, so the finally below always runs.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    args.out.mkdir(parents=True, exist_ok=True)
    clk_tck = os.sysconf("SC_CLK_TCK")
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="meshsim-bench-"))
    try:
        backend_port = args.backend_port or free_port()
        backend_proc, backend_version = start_backend(args.backend, backend_port, workdir, children)
        print(f"backend ({backend_version}) on 127.0.0.1:{backend_port}", flush=True)

        proxy_proc = None
        proxy_version = ""
        rendered_config = None
        proxy_argv: list[str] = []
        target_port = backend_port
        if not args.no_proxy:
            listen_port = args.listen_port or free_port()
            values = {"listen_port": listen_port, "backend_port": backend_port, "workdir": workdir}
            if args.config_template:
                rendered_config = render_template(args.config_template.read_text(), values)
                config_path = workdir / rendered_config_name(args.config_template.name)
                config_path.write_text(rendered_config)
                values["config"] = config_path
            proxy_argv = shlex.split(render_template(args.proxy_cmd, values))
            proxy_version = args.proxy_version or guess_version(proxy_argv[0])
            proxy_proc = children.start("proxy", proxy_argv, workdir / "proxy.log")
            try:
                wait_http_ok(listen_port, proxy_proc)
            except RuntimeError as e:
                log = (workdir / "proxy.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"proxy did not come up: {e}\n{log}") from e
            target_port = listen_port
            print(f"proxy ({proxy_version}) pid {proxy_proc.pid} on 127.0.0.1:{listen_port}", flush=True)

        oha_version = command_version([oha, "--version"])
        meta = {
            "format": "gsd-v1 (loopback microbenchmark)",
            "mode": "no-proxy baseline" if args.no_proxy else "proxy",
            "proxy_cmd": args.proxy_cmd if not args.no_proxy else None,
            "proxy_argv": proxy_argv or None,
            "proxy_version": proxy_version or None,
            "config_template": str(args.config_template) if args.config_template else None,
            "config_rendered": rendered_config,
            "backend": args.backend, "backend_version": backend_version, "body_bytes": BODY_SIZE,
            "load_generator": oha_version, "connections": args.connections,
            "levels_rps": levels, "runs": args.runs, "duration_s": args.duration,
            "settle_s": args.settle, "warmup_s": args.warmup, "sample_interval_s": 1.0,
            "cpu_model": cpu_model(), "cpus": os.cpu_count(),
            "kernel": " ".join(platform.uname()[i] for i in (0, 2, 3, 4)),
            "python": platform.python_version(),
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        (args.out / "bench.json").write_text(json.dumps(meta, indent=2) + "\n")

        if args.warmup > 0:
            h = run_oha(children, oha, target_port, levels[0], args.warmup, args.connections, workdir / "warmup.json")
            finish_oha(children, h, args.warmup + 60)

        summary_rows = []
        roots = {"proxy": proxy_proc.pid if proxy_proc else None, "backend": backend_proc.pid, "load": None}
        for rps in levels:
            for run in range(1, args.runs + 1):
                for name, proc in (("proxy", proxy_proc), ("backend", backend_proc)):
                    if proc is not None and proc.poll() is not None:
                        raise RuntimeError(f"{name} exited with code {proc.returncode}")
                sampler = Sampler(args.out / metrics_filename(rps, run), dict(roots), clk_tck)
                sampler.start()
                time.sleep(args.settle)
                n_before = len(sampler.rows)
                handle = run_oha(children, oha, target_port, rps, args.duration, args.connections,
                                 args.out / f"{rps}-{run}-load.json")
                sampler.set_root("load", handle["proc"].pid)
                try:
                    result = finish_oha(children, handle, args.duration + 60)
                finally:
                    n_after = len(sampler.rows)
                    time.sleep(args.settle)
                    sampler.stop_event.set()
                    sampler.join(timeout=10)
                if sampler.error:
                    raise RuntimeError(f"sampler failed: {sampler.error}")
                header = (f"# oha to 127.0.0.1:{target_port} "
                          f"({'no proxy' if args.no_proxy else 'through the proxy'}), "
                          f"{args.connections} connections, open loop at {rps} rps")
                (args.out / load_filename(rps, run)).write_text(
                    format_load_log(rps, args.duration, result, header))
                # The first sample after the load starts covers a partial second.
                s = summarize_run(sampler.rows, slice(n_before + 1, n_after))
                row = {"target_rps": rps, "run": run, "achieved_rps": round(result["requests_per_sec"], 2),
                       "p50_ms": result["p50_ms"], "p90_ms": result["p90_ms"], "p99_ms": result["p99_ms"],
                       "proxy_cpu_mc": s["proxy_cpu_mc"], "proxy_mem_mib": s["proxy_mem_mib"],
                       "proxy_cpu_mc_steady": s["proxy_cpu_mc_steady"],
                       "backend_cpu_mc": s["backend_cpu_mc"], "load_cpu_mc": s["load_cpu_mc"],
                       "host_cpu_mc": s["host_cpu_mc"],
                       "samples": len(sampler.rows)}
                summary_rows.append(row)
                print(" ".join(f"{k}={_fmt(v, 2) if isinstance(v, float) else v}" for k, v in row.items()),
                      flush=True)
        with open(args.out / "summary.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SUMMARY_HEADER)
            w.writeheader()
            for row in summary_rows:
                w.writerow({k: (f"{v:.3f}" if isinstance(v, float) else ("" if v is None else v))
                            for k, v in row.items()})
        return 0
    except KeyboardInterrupt:
        print("interrupted; stopping", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
