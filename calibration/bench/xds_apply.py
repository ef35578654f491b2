#!/usr/bin/env python3
"""CPU an Envoy proxy spends applying a configuration update, against the update's size.

For every size N and run, on 127.0.0.1 only: start Envoy with its configuration read from
files (filesystem xDS, `path_config_source`), so no control plane is needed; let it
settle; then replace the file K times (written aside and renamed into place, as Envoy
requires), alternating between two configurations of size N, waiting after each until
Envoy's admin counters say it was applied. The Envoy process's CPU time (run time of its
threads from /proc/<pid>/task/*/schedstat, and utime + stime from /proc/<pid>/stat as
a clock-tick check) over those K updates, minus a control phase of the same
length and the same admin polls with no update, divided by K, is the apply cost.

Kinds of update:
- `eds`: a ClusterLoadAssignment of one cluster with N endpoints; `--change full` swaps
  every endpoint (two disjoint sets), `--change one` swaps one endpoint of the N (a pod
  replaced), N - 1 staying;
- `cds`: N clusters (STATIC, one endpoint each), the two sets with different names, so
  each update removes N clusters and adds N.

Files are binary protobuf (`--format pb`, what a gRPC control plane sends) or JSON.
Writes `runs.csv` (one row per size and run), `summary.csv` (medians per size),
`fit.json` (CPU = base + per_item x N, least squares with standard errors) and
`environment.json`. Python 3 standard library only. See README.md here.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import LOOPBACK, Children, command_version, cpu_model, free_port, parse_proc_stat, parse_vmrss  # noqa: E402
from mesh_output import read_csv, write_csv  # noqa: E402
from mesh_sampling import _read, envoy_stats, tree_run_ns  # noqa: E402

CLUSTER = "svc"
EDS_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
CDS_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT_PORT = 8080
MAX_SIZE = 100_000
STARTUP_TIMEOUT_S = 30.0
APPLY_TIMEOUT_S = 60.0

# ------------------------------------------------------------------------ the updates


def endpoint_ip(index: int, endpoint_set: int) -> str:
    """Distinct IPv4 addresses per set (10.0/10 for set 0, 10.64/10 for set 1, ...): the
    endpoints are never connected to, only configured."""
    if not 0 <= index < 1 << 22:
        raise ValueError(f"endpoint index {index} out of range")
    return f"10.{endpoint_set * 64 + (index >> 16)}.{(index >> 8) & 255}.{index & 255}"


def endpoint_set(n: int, which: int, change: str) -> list[tuple[str, int]]:
    """The N endpoints of configuration `which` (0 or 1): `full` gives two disjoint sets,
    `one` the same set but for its last endpoint."""
    if change == "full":
        return [(endpoint_ip(i, which), ENDPOINT_PORT) for i in range(n)]
    if change == "one":
        eps = [(endpoint_ip(i, 0), ENDPOINT_PORT) for i in range(n)]
        eps[-1] = (endpoint_ip(n - 1, which), ENDPOINT_PORT)
        return eps
    raise ValueError(f"unknown change {change!r}")


def cluster_names(n: int, which: int) -> list[str]:
    return [f"c{which}-{i}" for i in range(n)]


# Protobuf wire format, just the fields used (field numbers from Envoy's v3 API).

def _varint(v: int) -> bytes:
    if v < 0:
        raise ValueError("negative varint")
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _str_field(field: int, s: str) -> bytes:
    return _len_field(field, s.encode())


def _uint_field(field: int, v: int) -> bytes:
    return _varint(field << 3) + _varint(v)


def pb_lb_endpoint(ip: str, port: int) -> bytes:
    # LbEndpoint.endpoint(1) > Endpoint.address(1) > Address.socket_address(1) >
    # SocketAddress.address(2), port_value(3)
    sock = _str_field(2, ip) + _uint_field(3, port)
    return _len_field(1, _len_field(1, _len_field(1, sock)))


def pb_load_assignment(cluster: str, endpoints: list[tuple[str, int]]) -> bytes:
    # ClusterLoadAssignment.cluster_name(1), endpoints(2) > LocalityLbEndpoints.lb_endpoints(2)
    locality = b"".join(_len_field(2, pb_lb_endpoint(ip, port)) for ip, port in endpoints)
    return _str_field(1, cluster) + _len_field(2, locality)


def pb_cluster(name: str, ip: str, port: int) -> bytes:
    # Cluster.name(1), connect_timeout(4) = Duration.seconds(1), load_assignment(33);
    # type(2) left at its default, STATIC.
    return (_str_field(1, name) + _len_field(4, _uint_field(1, 1))
            + _len_field(33, pb_load_assignment(name, [(ip, port)])))


def pb_discovery_response(version: str, type_url: str, resources: list[bytes]) -> bytes:
    # DiscoveryResponse.version_info(1), resources(2) as Any(type_url 1, value 2), type_url(4)
    body = _str_field(1, version)
    for r in resources:
        body += _len_field(2, _str_field(1, type_url) + _len_field(2, r))
    return body + _str_field(4, type_url)


def json_socket(ip: str, port: int) -> dict:
    return {"address": {"socket_address": {"address": ip, "port_value": port}}}


def json_load_assignment(cluster: str, endpoints: list[tuple[str, int]]) -> dict:
    return {"cluster_name": cluster,
            "endpoints": [{"lb_endpoints": [{"endpoint": json_socket(ip, p)} for ip, p in endpoints]}]}


def update_bytes(kind: str, fmt: str, n: int, which: int, change: str, version: str) -> bytes:
    """The file content of configuration `which` of size `n`."""
    if kind == "eds":
        eps = endpoint_set(n, which, change)
        if fmt == "pb":
            return pb_discovery_response(version, EDS_TYPE, [pb_load_assignment(CLUSTER, eps)])
        res = [dict({"@type": EDS_TYPE}, **json_load_assignment(CLUSTER, eps))]
        return json.dumps({"version_info": version, "resources": res}).encode()
    if kind == "cds":
        names = cluster_names(n, which)
        eps = [(endpoint_ip(i, which), ENDPOINT_PORT) for i in range(n)]
        if fmt == "pb":
            return pb_discovery_response(version, CDS_TYPE, [pb_cluster(c, ip, p) for c, (ip, p) in zip(names, eps)])
        res = [{"@type": CDS_TYPE, "name": c, "connect_timeout": "1s",
                "load_assignment": json_load_assignment(c, [e])} for c, e in zip(names, eps)]
        return json.dumps({"version_info": version, "resources": res}).encode()
    raise ValueError(f"unknown kind {kind!r}")


def with_version(body: bytes, fmt: str, version: str) -> bytes:
    """`body` (made with version "v") with another version string."""
    if fmt == "json":
        return body.replace(b'"version_info": "v"', f'"version_info": "{version}"'.encode(), 1)
    # version_info is the first field of the message: swap it in front of the rest.
    head = _str_field(1, "v")
    if not body.startswith(head):
        raise ValueError("not a response made with version 'v'")
    return _str_field(1, version) + body[len(head):]


def bootstrap(kind: str, admin_port: int, config_path: Path) -> dict:
    """Envoy's bootstrap: admin on loopback and the one dynamic resource read from `config_path`."""
    source = {"resource_api_version": "V3", "path_config_source": {"path": str(config_path)}}
    b = {"node": {"id": "xds-apply", "cluster": "bench"},
         "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": admin_port}}}}
    if kind == "eds":
        b["static_resources"] = {"clusters": [{"name": CLUSTER, "type": "EDS", "connect_timeout": "1s",
                                               "eds_cluster_config": {"eds_config": source}}]}
    else:
        b["dynamic_resources"] = {"cds_config": source}
    return b


def stats_pattern(kind: str) -> str:
    if kind == "eds":
        return rf"^cluster\.{CLUSTER}\.(update_(attempt|success|rejected|failure)|membership_(change|total))$"
    return r"^cluster_manager\.(cds\.update_(attempt|success|rejected|failure)|active_clusters)$"


def applied_count(kind: str, stats: dict[str, int]) -> int:
    return stats.get(f"cluster.{CLUSTER}.update_success" if kind == "eds" else "cluster_manager.cds.update_success", 0)


def rejected_count(kind: str, stats: dict[str, int]) -> int:
    pre = f"cluster.{CLUSTER}." if kind == "eds" else "cluster_manager.cds."
    return stats.get(pre + "update_rejected", 0) + stats.get(pre + "update_failure", 0)


def config_size(kind: str, stats: dict[str, int]) -> int | None:
    """Endpoints of the cluster (eds) or clusters (cds: there is no static one) Envoy holds."""
    if kind == "eds":
        return stats.get(f"cluster.{CLUSTER}.membership_total")
    return stats.get("cluster_manager.active_clusters")


# ------------------------------------------------------------------------ arithmetic


def wait_and_count(latencies_s: list[float], min_wait_s: float, target_s: float,
                   k_min: int, k_max: int, k_fixed: int | None) -> tuple[float, int]:
    """Wait between an update and its poll (twice the slowest warm-up apply, so that one poll
    nearly always finds it applied), and how many updates fill `target_s`."""
    wait = max(min_wait_s, 2.0 * max(latencies_s, default=0.0))
    wait = round(wait, 3)
    if k_fixed:
        return wait, k_fixed
    return wait, max(k_min, min(k_max, int(round(target_s / wait))))


def poll_and_idle_cost(cpu_p: float, polls_p: int, wall_p: float,
                       cpu_c: float, polls_c: int, wall_c: float) -> tuple[float, float]:
    """(CPU per admin poll, idle CPU per second) from two phases without updates, each
    cpu = polls x per_poll + wall x idle_rate: a rapid-poll phase and the control phase."""
    det = polls_p * wall_c - polls_c * wall_p
    if abs(det) < 1e-12:
        raise ValueError("poll and control phases are not independent")
    per_poll = (cpu_p * wall_c - cpu_c * wall_p) / det
    idle_rate = (polls_p * cpu_c - polls_c * cpu_p) / det
    return per_poll, idle_rate


def apply_cost(cpu_u: float, polls_u: int, wall_u: float, updates: int,
               cpu_c: float, polls_c: int, wall_c: float, per_poll: float, idle_rate: float) -> float:
    """CPU per update: the update phase less the control phase, less the extra polls and
    the extra wall time the update phase had (at the measured rates), over the updates."""
    extra = (polls_u - polls_c) * per_poll + (wall_u - wall_c) * idle_rate
    return (cpu_u - cpu_c - extra) / updates


def fit_with_errors(xs: list[float], ys: list[float], ws: list[float] | None = None) -> dict | None:
    """Least-squares y = base + slope x (weighted if `ws`), with the standard errors of both
    terms and R^2; None with fewer than two distinct x."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    ws = ws or [1.0] * len(xs)
    sw = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs)) / sw
    my = sum(w * y for w, y in zip(ws, ys)) / sw
    sxx = sum(w * (x - mx) ** 2 for w, x in zip(ws, xs))
    slope = sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys)) / sxx
    base = my - slope * mx
    ss_res = sum(w * (y - base - slope * x) ** 2 for w, x, y in zip(ws, xs, ys))
    ss_tot = sum(w * (y - my) ** 2 for w, y in zip(ws, ys))
    n = len(xs)
    out = {"base": base, "slope": slope, "points": n, "base_se": None, "slope_se": None,
           "r2": 1 - ss_res / ss_tot if ss_tot > 0 else None}
    if n > 2:
        s2 = ss_res / (n - 2)
        out["slope_se"] = (s2 / sxx) ** 0.5
        out["base_se"] = (s2 * (1 / sw + mx * mx / sxx)) ** 0.5
    return out


def fits_of(by_size: dict[int, list[dict]], col: str) -> dict:
    """The fits of one series and clock: over every run (the least squares the model takes),
    over every run weighted by 1/N^2 (relative residuals, so that the largest N's noise does
    not swamp the base), over the medians, and the range of per-run fits over all sizes."""
    xs = [float(n) for n, rs in by_size.items() for _ in rs]
    ys = [float(r[col]) for rs in by_size.values() for r in rs]
    per_run: dict[str, tuple[list[float], list[float]]] = {}
    for n, rs in by_size.items():
        for r in rs:
            px, py = per_run.setdefault(str(r["run"]), ([], []))
            px.append(float(n))
            py.append(float(r[col]))
    runs = [f for f in (fit_with_errors(*xy) for xy in per_run.values()) if f]
    return {"fit_all_runs": fit_with_errors(xs, ys),
            "fit_relative": fit_with_errors(xs, ys, [1.0 / (x * x) for x in xs]),
            "fit_medians": fit_with_errors([float(n) for n in by_size],
                                           [statistics.median(float(r[col]) for r in rs) for rs in by_size.values()]),
            "per_run_base_range": [min(f["base"] for f in runs), max(f["base"] for f in runs)] if runs else None,
            "per_run_slope_range": [min(f["slope"] for f in runs), max(f["slope"] for f in runs)] if runs else None}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile); the inclusive method, so 3 runs work."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def parse_sizes(spec: str) -> list[int]:
    sizes = []
    for part in spec.split(","):
        part = part.strip().replace("_", "")
        if not part:
            continue
        v = int(part)
        if not 1 <= v <= MAX_SIZE:
            raise argparse.ArgumentTypeError(f"size {v} outside 1..{MAX_SIZE}")
        sizes.append(v)
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes")
    return sorted(set(sizes))


# ------------------------------------------------------------------------ measuring


def envoy_binary(path: str) -> str:
    """The Envoy executable itself: the Python package's `envoy` command is a script that
    starts the binary it carries, and its interpreter must not be measured with it."""
    p = Path(path)
    try:
        head = p.read_bytes()[:2]
    except OSError:
        return path
    if head != b"#!":
        return path
    venv = p.resolve().parent.parent
    for cand in sorted(venv.glob("lib/python*/site-packages/envoy/_bin/envoy")):
        return str(cand)
    return path


def cpu_now(pid: int) -> tuple[int, int]:
    """(run time ns of every thread, utime + stime ticks) of one process."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        raise RuntimeError(f"process {pid} is gone")
    st = parse_proc_stat(text)
    return tree_run_ns({pid}), st["utime"] + st["stime"]


class Run:
    """One Envoy, one size: settle, warm up, the rapid-poll, control and update phases."""

    def __init__(self, args, kind: str, change: str, fmt: str, n: int, run: int, workdir: Path, children: Children):
        self.args, self.kind, self.change, self.fmt, self.n, self.run = args, kind, change, fmt, n, run
        self.workdir, self.children = workdir, children
        self.path = workdir / f"{kind}.{'pb' if fmt == 'pb' else 'json'}"
        self.port = free_port()
        self.version = 0
        self.contents = [update_bytes(kind, fmt, n, w, change, "v") for w in (0, 1)]
        self.which = 0
        self.polls = 0

    def stats(self) -> dict[str, int]:
        self.polls += 1
        return envoy_stats(self.port, stats_pattern(self.kind))

    def write(self, which: int) -> None:
        # A new version string each time, as a control plane sends. Written aside and
        # renamed: Envoy reacts to the rename only, so it never reads a half-written file.
        self.version += 1
        data = with_version(self.contents[which], self.fmt, f"v{self.version}")
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)

    def wait_applied(self, before: int, first_wait_s: float, step_s: float, timeout_s: float) -> dict[str, int]:
        time.sleep(first_wait_s)
        deadline = time.monotonic() + timeout_s
        while True:
            s = self.stats()
            if applied_count(self.kind, s) > before or rejected_count(self.kind, s) or time.monotonic() > deadline:
                return s
            time.sleep(step_s)

    def update(self, first_wait_s: float, step_s: float) -> tuple[dict[str, int], float]:
        before = self.last_applied
        self.which ^= 1
        t0 = time.monotonic()
        self.write(self.which)
        s = self.wait_applied(before, first_wait_s, step_s, APPLY_TIMEOUT_S)
        self.last_applied = applied_count(self.kind, s)
        if self.last_applied <= before or rejected_count(self.kind, s):
            raise RuntimeError(f"{self.kind} update of size {self.n} not applied: {s}")
        return s, time.monotonic() - t0

    def phase(self, iterations: int, wait_s: float, do_update: bool) -> dict:
        polls0 = self.polls
        ns0, ticks0 = cpu_now(self.proc.pid)
        t0 = time.monotonic()
        for _ in range(iterations):
            if do_update:
                self.update(wait_s, wait_s / 4)
            else:
                time.sleep(wait_s)
                self.stats()
        time.sleep(wait_s)  # the last update's tail (deferred deletions), in both phases
        t1 = time.monotonic()
        ns1, ticks1 = cpu_now(self.proc.pid)
        return {"cpu_ns": ns1 - ns0, "ticks": ticks1 - ticks0, "wall_s": t1 - t0, "polls": self.polls - polls0}

    def measure(self) -> dict:
        a = self.args
        boot = self.workdir / f"bootstrap-{self.kind}-{self.n}.json"
        boot.write_text(json.dumps(bootstrap(self.kind, self.port, self.path), indent=1))
        self.write(0)
        log = self.workdir / "envoy.log"
        self.proc = self.children.start("envoy", [a.envoy_bin, "-c", str(boot), "--concurrency", str(a.concurrency),
                                                  "--disable-hot-restart", "--log-level", "warn"], log)
        try:
            return self._measure()
        finally:
            self.children.stop(self.proc)
            # Stopped already: not again at exit.
            self.children.procs = [(nm, p) for nm, p in self.children.procs if p is not self.proc]

    def _measure(self) -> dict:
        a = self.args
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"envoy exited with code {self.proc.returncode}")
            s = self.stats()
            if applied_count(self.kind, s) >= 1:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"envoy did not apply its first {self.kind} file: {s}")
            time.sleep(0.1)
        self.last_applied = applied_count(self.kind, s)
        time.sleep(a.settle)
        lat = [self.update(0.0, 0.005)[1] for _ in range(a.warmup)]
        wait_s, k = wait_and_count(lat, a.min_wait, a.phase_seconds, a.min_updates, a.max_updates, a.updates)
        if k % 2:
            k += 1  # an even count ends on the set it started from
        s0 = self.stats()
        p = self.phase(a.rapid_polls, 0.01, False)
        c = self.phase(k, wait_s, False)
        u = self.phase(k, wait_s, True)
        s1 = self.stats()
        applied = applied_count(self.kind, s1) - applied_count(self.kind, s0)
        row = {"kind": self.kind, "change": self.change if self.kind == "eds" else "",
               "format": self.fmt, "size": self.n, "run": self.run, "file_bytes": len(self.contents[0]),
               "updates": k, "updates_applied": applied, "rejected": rejected_count(self.kind, s1),
               "config_size_seen": config_size(self.kind, s1), "wait_s": wait_s,
               "warmup_apply_s_max": round(max(lat), 4)}
        hz = os.sysconf("SC_CLK_TCK")
        for unit, key, scale in (("ns", "cpu_ns", 1e-6), ("ticks", "ticks", 1000.0 / hz)):
            pp, idle = poll_and_idle_cost(p[key], p["polls"], p["wall_s"], c[key], c["polls"], c["wall_s"])
            cost = apply_cost(u[key], u["polls"], u["wall_s"], k, c[key], c["polls"], c["wall_s"], pp, idle)
            suffix = "" if unit == "ns" else "_ticks"
            row[f"apply_cpu_ms{suffix}"] = round(cost * scale, 4)
            row[f"poll_cpu_us{suffix}"] = round(pp * scale * 1000, 2)
            row[f"idle_cpu_mc{suffix}"] = round(idle * scale, 3)
        row.update({"update_cpu_ms": round(u["cpu_ns"] * 1e-6, 3), "control_cpu_ms": round(c["cpu_ns"] * 1e-6, 3),
                    "update_ticks": u["ticks"], "control_ticks": c["ticks"],
                    "update_wall_s": round(u["wall_s"], 3), "control_wall_s": round(c["wall_s"], 3),
                    "update_polls": u["polls"], "control_polls": c["polls"],
                    "rss_mib": round(parse_vmrss(_read(f"/proc/{self.proc.pid}/status") or "") / 2**20, 1)})
        if applied != k:
            raise RuntimeError(f"{applied} updates applied of {k}: {row}")
        if row["config_size_seen"] != self.n:
            raise RuntimeError(f"Envoy holds {row['config_size_seen']} {self.kind} items, not {self.n}")
        return row


# ------------------------------------------------------------------------ output

RUN_FIELDS = ["kind", "change", "format", "size", "run", "apply_cpu_ms", "apply_cpu_ms_ticks", "updates",
              "updates_applied", "rejected", "config_size_seen", "file_bytes", "wait_s", "warmup_apply_s_max",
              "poll_cpu_us", "poll_cpu_us_ticks", "idle_cpu_mc", "idle_cpu_mc_ticks", "update_cpu_ms",
              "control_cpu_ms", "update_ticks", "control_ticks", "update_wall_s", "control_wall_s",
              "update_polls", "control_polls", "rss_mib"]


def series_key(row: dict) -> tuple[str, str, str]:
    return row["kind"], row["change"], row["format"]


def summarize(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per series and size: quartiles of the apply cost; per series: the fits over every run
    (standard errors) and over the medians."""
    groups: dict[tuple, dict[int, list[dict]]] = {}
    for r in rows:
        groups.setdefault(series_key(r), {}).setdefault(int(r["size"]), []).append(r)
    summary, fits = [], []
    for key, by_size in sorted(groups.items()):
        for n, rs in sorted(by_size.items()):
            q = quartiles([float(r["apply_cpu_ms"]) for r in rs])
            qt = quartiles([float(r["apply_cpu_ms_ticks"]) for r in rs])
            summary.append({"kind": key[0], "change": key[1], "format": key[2], "size": n, "runs": len(rs),
                            "apply_cpu_ms_median": round(q[1], 4), "apply_cpu_ms_q1": round(q[0], 4),
                            "apply_cpu_ms_q3": round(q[2], 4), "apply_cpu_ms_ticks_median": round(qt[1], 4),
                            "updates_per_run": statistics.median(int(r["updates"]) for r in rs),
                            "file_bytes": rs[0]["file_bytes"],
                            "poll_cpu_us_median": round(statistics.median(float(r["poll_cpu_us"]) for r in rs), 1),
                            "idle_cpu_mc_median": round(statistics.median(float(r["idle_cpu_mc"]) for r in rs), 2)})
        for col in ("apply_cpu_ms", "apply_cpu_ms_ticks"):
            fits.append({"kind": key[0], "change": key[1], "format": key[2], "cpu": col} | fits_of(by_size, col))
    return summary, fits


def environment(args, argv: list[str]) -> dict:
    return {"command": "python3 calibration/bench/xds_apply.py " + shlex.join(argv),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "cpu_model": cpu_model(), "cpus": os.cpu_count(),
            "kernel": " ".join(platform.uname()[i] for i in (0, 2, 3, 4)),
            "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"), "python": platform.python_version(),
            "envoy": command_version([args.envoy_bin, "--version"]), "envoy_binary": args.envoy_bin,
            "concurrency": args.concurrency, "sizes": args.sizes, "runs": args.runs, "series": args.series,
            "settle_s": args.settle, "warmup_updates": args.warmup, "phase_seconds": args.phase_seconds,
            "rapid_polls": args.rapid_polls}


def _pm(value: float | None, se: float | None, digits: int) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None else "")


def _us(fit: dict) -> tuple[float, float | None]:
    """A fit's per-item term and its error, ms to us."""
    return fit["slope"] * 1000, fit["slope_se"] * 1000 if fit["slope_se"] is not None else None


def summary_markdown(env: dict, summary: list[dict], fits: list[dict]) -> str:
    """The fits and medians as a page, with the machine, Envoy and the command."""
    unit = {"eds": "endpoint", "cds": "cluster"}
    lines = ["# Envoy CPU to apply a configuration update", "",
             f"- command: `{env['command']}`", f"- Envoy: {env['envoy']}",
             f"- machine: {env['cpu_model']}, {env['cpus']} CPUs, {env['kernel']}",
             f"- date (UTC): {env['date_utc']}; Envoy workers: {env['concurrency']}", "",
             "CPU per update = base + per_item x N, least squares over every run (± standard error),",
             "then weighted by 1/N^2 (relative residuals: the base is pinned by the small N), and the",
             "range of the per-item term fitted to each run alone. CPU is the Envoy process's thread",
             "run time (schedstat); `ticks` the same least squares from utime + stime.", "",
             "| series | item | base ms | per item us | R^2 | base ms, 1/N^2 | per item us, 1/N^2 | "
             "per item us, per run | base ms, ticks | per item us, ticks |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    by_series: dict[tuple, dict] = {}
    for f in fits:
        by_series.setdefault((f["kind"], f["change"], f["format"]), {})[f["cpu"]] = f
    for key, pair in by_series.items():
        a, t = pair.get("apply_cpu_ms"), pair.get("apply_cpu_ms_ticks")
        if not a or not t or not a["fit_all_runs"] or not t["fit_all_runs"]:
            continue
        o, w, ot = a["fit_all_runs"], a["fit_relative"], t["fit_all_runs"]
        lo, hi = a["per_run_slope_range"]
        lines.append(f"| {':'.join(key)} | {unit[key[0]]} | {_pm(o['base'], o['base_se'], 3)} | "
                     f"{_pm(*_us(o), 3)} | {o['r2']:.4f} | {_pm(w['base'], w['base_se'], 3)} | {_pm(*_us(w), 3)} | "
                     f"{lo * 1000:.3f} to {hi * 1000:.3f} | {_pm(ot['base'], ot['base_se'], 3)} | {_pm(*_us(ot), 3)} |")
    lines += ["", "Medians over runs (first and third quartile), ms of CPU per update:", "",
              "| series | N | runs | updates per run | file bytes | median | q1 | q3 | median (ticks) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in summary:
        lines.append(f"| {s['kind']}:{s['change']}:{s['format']} | {s['size']} | {s['runs']} | "
                     f"{s['updates_per_run']:g} | {s['file_bytes']} | {s['apply_cpu_ms_median']:.3f} | "
                     f"{s['apply_cpu_ms_q1']:.3f} | {s['apply_cpu_ms_q3']:.3f} | "
                     f"{s['apply_cpu_ms_ticks_median']:.3f} |")
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, rows: list[dict], env: dict) -> None:
    write_csv(out / "runs.csv", RUN_FIELDS, rows)
    summary, fits = summarize(rows)
    if summary:
        write_csv(out / "summary.csv", list(summary[0]), summary)
    (out / "fit.json").write_text(json.dumps(fits, indent=1) + "\n")
    (out / "summary.md").write_text(summary_markdown(env, summary, fits))


# ------------------------------------------------------------------------ main


def parse_series(spec: str) -> list[tuple[str, str, str]]:
    """`kind:change:format` items, comma-separated, e.g. `eds:full:pb,cds::pb`."""
    out = []
    for item in spec.split(","):
        parts = (item.strip().split(":") + ["", ""])[:3]
        kind, change, fmt = parts[0], parts[1] or ("full" if parts[0] == "eds" else ""), parts[2] or "pb"
        if kind not in ("eds", "cds") or fmt not in ("pb", "json") or \
                (kind == "eds" and change not in ("full", "one")) or (kind == "cds" and change):
            raise argparse.ArgumentTypeError(f"bad series {item!r}")
        out.append((kind, change, fmt))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--envoy", default="envoy", help="Envoy binary (or the Python package's envoy script)")
    p.add_argument("--sizes", type=parse_sizes, default="10,100,1000,3000,10000",
                   help="update sizes N: endpoints (eds) or clusters (cds)")
    p.add_argument("--series", type=parse_series, default="eds:full:pb",
                   help="kind:change:format items: eds:full|one:pb|json, cds::pb|json")
    p.add_argument("--cds-max", type=int, default=1000, help="largest N measured for cds series")
    p.add_argument("--runs", type=int, default=5, help="runs per size (a fresh Envoy each)")
    p.add_argument("--concurrency", type=int, default=2, help="Envoy worker threads")
    p.add_argument("--settle", type=float, default=1.0, help="idle seconds after Envoy applied its first file")
    p.add_argument("--warmup", type=int, default=3, help="updates before measuring (they set the wait)")
    p.add_argument("--phase-seconds", type=float, default=5.0, help="target length of each measured phase")
    p.add_argument("--min-wait", type=float, default=0.05, help="least wait between an update and its poll (s)")
    p.add_argument("--min-updates", type=int, default=6, help="fewest updates per phase")
    p.add_argument("--max-updates", type=int, default=200, help="most updates per phase")
    p.add_argument("--updates", type=int, default=None, help="fixed updates per phase (overrides the target)")
    p.add_argument("--rapid-polls", type=int, default=50, help="admin polls of the poll-cost phase")
    p.add_argument("--out", type=Path, help="output folder")
    p.add_argument("--aggregate", type=Path, metavar="DIR",
                   help="only rewrite the summaries of DIR from its runs.csv and environment.json")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.aggregate:
        env = json.loads((args.aggregate / "environment.json").read_text())
        write_outputs(args.aggregate, read_csv(args.aggregate / "runs.csv"), env)
        return 0
    if args.out is None:
        parser.error("--out is required")
    args.envoy_bin = envoy_binary(args.envoy)
    args.out.mkdir(parents=True, exist_ok=True)
    env = environment(args, argv)
    if not env["envoy"]:
        print(f"no Envoy at {args.envoy_bin}", file=sys.stderr)
        return 2
    env["series"] = [":".join(s) for s in args.series]
    (args.out / "environment.json").write_text(json.dumps(env, indent=1) + "\n")
    rows: list[dict] = []
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix="xds-apply-") as tmp:
            # Sizes interleaved within each run, so that drift of the machine is spread over all.
            for run in range(1, args.runs + 1):
                for kind, change, fmt in args.series:
                    for n in args.sizes:
                        if kind == "cds" and n > args.cds_max:
                            continue
                        row = Run(args, kind, change, fmt, n, run, Path(tmp), children).measure()
                        rows.append(row)
                        print(f"{kind}:{change}:{fmt} N={n} run {run}: {row['apply_cpu_ms']:.3f} ms "
                              f"(ticks {row['apply_cpu_ms_ticks']:.2f}), {row['updates']} updates, "
                              f"poll {row['poll_cpu_us']:.0f} us", flush=True)
                        write_outputs(args.out, rows, env)
    finally:
        children.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
