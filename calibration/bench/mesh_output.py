"""Output of mesh_bench.py: the CSV files written as runs finish (runs.csv, passes.csv,
memory.csv) and what resumption reads back from them, and their aggregation into
summary-cpu-latency.csv, summary-memory.csv and the tables of headline.md."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from mesh_grid import CONFIGS, ROLE_PASS, ROLE_PASSES, Point

# ------------------------------------------------------------------------ output files

RUNS_HEADER = [
    "run_id", "config", "dimension", "proto", "conn_mode", "payload_bytes", "concurrency", "target_rps", "run",
    "attempt", "passes", "duration_s", "window_s", "achieved_rps", "requests_ok", "requests_failed",
    "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us", "p25_us", "p75_us", "p95_us", "p9999_us",
    "proxies_cpu_s", "proxies_cpu_us_per_request", "cpu_us_per_pass", "proxies_cpu_ticks_s",
    "proxies_rss_mean_bytes", "backend_cpu_s", "load_cpu_s", "harness_cpu_s",
    "host_busy_cpu_s", "host_irq_cpu_s", "other_procs_cpu_s", "kernel_threads_cpu_s", "other_procs_mc",
    "disturbed", "started_utc",
]
PASSES_HEADER = [
    "run_id", "config", "dimension", "proto", "conn_mode", "payload_bytes", "concurrency", "target_rps", "run",
    "attempt", "role", "pass", "requests_ok", "cpu_s", "cpu_us_per_request", "cpu_ticks_s",
    "rss_mean_bytes", "rss_max_bytes", "disturbed",
]
MEMORY_HEADER = [
    "config", "role", "pass", "test", "concurrency", "level", "level_unit", "run", "rss_bytes", "rss_anon_bytes",
    "envoy_allocated_bytes", "envoy_heap_bytes", "downstream_cx_active", "upstream_cx_active",
    "in_flight_expected", "achieved_rps", "idle_cpu_mc", "other_procs_mc", "disturbed",
]


class CsvSink:
    """Appends rows as runs finish, so an interrupted bench keeps what it measured."""

    def __init__(self, path: Path, header: list[str], resume: bool = False):
        self.path = path
        self.header = header
        if resume and path.exists():
            with open(path, newline="") as f:
                if next(csv.reader(f), None) != header:
                    raise ValueError(f"{path}: not a file of this bench's format, cannot resume")
            return
        with open(path, "w", newline="") as f:
            csv.writer(f).writerow(header)

    def write(self, row: dict) -> None:
        unknown = set(row) - set(self.header)
        if unknown:
            raise ValueError(f"{self.path.name}: unknown columns {sorted(unknown)}")
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([fmt_cell(row.get(k)) for k in self.header])


def point_key(pt: Point) -> tuple:
    return (pt.config, pt.dimension, pt.proto, pt.conn_mode, str(pt.payload_bytes), str(pt.concurrency), str(pt.rps))


def runs_done(rows: list[dict]) -> set[tuple]:
    """(point, run) pairs an earlier, interrupted bench already finished: with an
    undisturbed attempt, or with its repeat."""
    done = set()
    for r in rows:
        if str(r.get("disturbed")) == "0" or str(r.get("attempt")) == "2":
            done.add(((r["config"], r["dimension"], r["proto"], r["conn_mode"], r["payload_bytes"],
                       r["concurrency"], r["target_rps"]), int(r["run"])))
    return done


def fmt_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"
    return str(v)


# ------------------------------------------------------------------------ aggregation


def _f(row: dict, key: str) -> float | None:
    v = row.get(key)
    return None if v in (None, "") else float(v)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _stdev(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.stdev(vals) if len(vals) >= 2 else None


def _mc(row: dict, key: str, window_row: dict) -> float | None:
    """CPU seconds in `row[key]` as millicores over the run window of `window_row`."""
    cpu, window = _f(row, key), _f(window_row, "window_s")
    return None if cpu is None or not window else cpu / window * 1000


def usable(rows: list[dict]) -> list[dict]:
    """Undisturbed runs; if every run of a point was disturbed, all of them (flagged)."""
    clean = [r for r in rows if str(r.get("disturbed")) in ("0", "False", "")]
    return clean or rows


PERCENTILES = ("p50", "p90", "p99", "p999")


def aggregate(runs: list[dict], passes: list[dict]) -> list[dict]:
    """One row per (point, role): mean CPU per request and per pass over the usable runs,
    and added latency against the baseline at equal protocol, connection mode, payload
    and rate (the baseline runs no proxy, so its worker count does not matter)."""
    key_fields = ("config", "dimension", "proto", "conn_mode", "payload_bytes", "concurrency", "target_rps")
    by_point: dict[tuple, list[dict]] = {}
    for r in runs:
        by_point.setdefault(tuple(str(r[k]) for k in key_fields), []).append(r)
    base: dict[tuple, list[dict]] = {}
    for r in runs:
        if r["config"] == "baseline":
            base.setdefault((r["proto"], r["conn_mode"], str(r["payload_bytes"]), str(r["target_rps"])), []).append(r)
    passes_by_run: dict[str, list[dict]] = {}
    for p in passes:
        passes_by_run.setdefault(str(p["run_id"]), []).append(p)
    out = []
    for key, rows in sorted(by_point.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3],
                                                              int(kv[0][4]), int(kv[0][5]), int(kv[0][6]))):
        use = usable(rows)
        cfg = key[0]
        brows = usable(base.get((key[2], key[3], key[4], key[6]), []))
        common = dict(zip(key_fields, key))
        common.update({
            "runs_used": len(use), "runs_disturbed": sum(1 for r in rows if str(r.get("disturbed")) == "1"),
            "achieved_rps": _mean([_f(r, "achieved_rps") for r in use]),
            "requests_ok": sum(int(float(r["requests_ok"] or 0)) for r in use),
        })
        for pc in PERCENTILES:
            v = _mean([_f(r, f"{pc}_us") for r in use])
            common[f"{pc}_us"] = v
            b = _mean([_f(r, f"{pc}_us") for r in brows]) if brows else None
            common[f"added_{pc}_us"] = None if (cfg == "baseline" or v is None or b is None) else v - b
        common["host_busy_mc"] = _mean([_mc(r, "host_busy_cpu_s", r) for r in use])
        bh = _mean([_mc(r, "host_busy_cpu_s", r) for r in brows])
        common["added_host_busy_mc"] = (None if cfg == "baseline" or bh is None or common["host_busy_mc"] is None
                                        else common["host_busy_mc"] - bh)
        # All proxies of the path together, then each role (pass).
        total = dict(common, role="all", **{"pass": f"{int(_f(use[0], 'passes') or 0)} passes"})
        total["cpu_us_per_request"] = _mean([_f(r, "proxies_cpu_us_per_request") for r in use])
        total["cpu_us_per_request_sd"] = _stdev([_f(r, "proxies_cpu_us_per_request") for r in use])
        total["cpu_us_per_pass"] = _mean([_f(r, "cpu_us_per_pass") for r in use])
        total["cpu_mc"] = _mean([_mc(r, "proxies_cpu_s", r) for r in use])
        total["rss_mean_bytes"] = _mean([_f(r, "proxies_rss_mean_bytes") for r in use])
        out.append(total)
        roles: dict[str, list[dict]] = {}
        for r in use:
            for p in passes_by_run.get(str(r["run_id"]), []):
                roles.setdefault(p["role"], []).append((r, p))
        for role, pairs in roles.items():
            row = dict(common, role=role, **{"pass": pairs[0][1]["pass"]})
            row["cpu_us_per_request"] = _mean([_f(p, "cpu_us_per_request") for _, p in pairs])
            row["cpu_us_per_request_sd"] = _stdev([_f(p, "cpu_us_per_request") for _, p in pairs])
            row["cpu_us_per_pass"] = row["cpu_us_per_request"]
            row["cpu_mc"] = _mean([_mc(p, "cpu_s", r) for r, p in pairs])
            row["rss_mean_bytes"] = _mean([_f(p, "rss_mean_bytes") for _, p in pairs])
            out.append(row)
    return out


SUMMARY_HEADER = [
    "config", "dimension", "proto", "conn_mode", "payload_bytes", "concurrency", "target_rps", "role", "pass",
    "runs_used", "runs_disturbed", "achieved_rps", "requests_ok", "cpu_us_per_request", "cpu_us_per_request_sd",
    "cpu_us_per_pass", "cpu_mc", "rss_mean_bytes", "p50_us", "p90_us", "p99_us", "p999_us",
    "added_p50_us", "added_p90_us", "added_p99_us", "added_p999_us", "host_busy_mc", "added_host_busy_mc",
]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([fmt_cell(r.get(k)) for k in header])
    tmp.replace(path)


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares (intercept, slope), or None with fewer than two distinct x."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - slope * mx, slope


def memory_slopes(mem: list[dict]) -> list[dict]:
    """Per (test, config, role, concurrency): RSS intercept and bytes per unit of level."""
    groups: dict[tuple, list[dict]] = {}
    for r in mem:
        if r["test"] in ("connections", "endpoints", "in-flight"):
            groups.setdefault((r["test"], r["config"], r["role"], r["concurrency"]), []).append(r)
    out = []
    for (test, cfg, role, conc), all_rows in sorted(groups.items()):
        rows = usable(all_rows)
        xkey = "in_flight_expected" if test == "in-flight" else "level"
        pts = [(_f(r, xkey), _f(r, "rss_bytes")) for r in rows if _f(r, xkey) is not None and _f(r, "rss_bytes")]
        fit = linear_fit([p[0] for p in pts], [p[1] for p in pts])
        anon = [(_f(r, xkey), _f(r, "rss_anon_bytes")) for r in rows if _f(r, xkey) is not None and _f(r, "rss_anon_bytes")]
        nfit = linear_fit([p[0] for p in anon], [p[1] for p in anon])
        alloc = [(_f(r, xkey), _f(r, "envoy_allocated_bytes")) for r in rows
                 if _f(r, xkey) is not None and _f(r, "envoy_allocated_bytes")]
        afit = linear_fit([p[0] for p in alloc], [p[1] for p in alloc])
        out.append({"test": test, "config": cfg, "role": role, "pass": ROLE_PASS.get(role, role),
                    "concurrency": conc, "points": len(pts),
                    "points_disturbed": sum(1 for r in rows if str(r.get("disturbed")) == "1"),
                    "level_unit": rows[0]["level_unit"] if test != "in-flight" else "requests in flight",
                    "rss_intercept_bytes": None if fit is None else fit[0],
                    "rss_bytes_per_unit": None if fit is None else fit[1],
                    "rss_anon_intercept_bytes": None if nfit is None else nfit[0],
                    "rss_anon_bytes_per_unit": None if nfit is None else nfit[1],
                    "allocated_bytes_per_unit": None if afit is None else afit[1]})
    return out


MEMORY_SUMMARY_HEADER = ["test", "config", "role", "pass", "concurrency", "level_unit", "points", "points_disturbed",
                         "rss_intercept_bytes", "rss_bytes_per_unit", "rss_anon_intercept_bytes",
                         "rss_anon_bytes_per_unit", "allocated_bytes_per_unit"]


def _cell(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def headline(summary: list[dict], mem: list[dict], slopes: list[dict]) -> str:
    """Markdown tables of the figures a cost model needs, from the summaries."""
    def pick(**want):
        return [r for r in summary if all(str(r[k]) == str(v) for k, v in want.items())]
    rates = sorted({int(r["target_rps"]) for r in pick(dimension="rate")})
    # (config, role): the HBONE hops are measured both as a bare pair and around the waypoint.
    roles = [(cfg, role) for cfg in CONFIGS for role in CONFIGS[cfg][1] if pick(config=cfg, role=role)]
    lines = ["CPU per pass, us of CPU per request (mean of usable runs; 1 KiB, HTTP/1.1 pooled, 2 workers "
             "unless the column says otherwise; achieved rps below target means saturation)", ""]
    extra = [("new conn 1000", dict(dimension="new-connection", target_rps=1000)),
             ("HTTP/2 1000", dict(dimension="http2", target_rps=1000)),
             ("1 worker 1000", dict(dimension="one-worker", target_rps=1000)),
             ("64 KiB 1000", dict(dimension="payload", target_rps=1000, payload_bytes=65536))]
    lines.append("| pass (role) | " + " | ".join(f"{r} rps" for r in rates) + " | "
                 + " | ".join(x for x, _ in extra) + " |")
    lines.append("| --- " * (1 + len(rates) + len(extra)) + "|")
    for cfg, role in roles:
        cells = []
        for rate in rates:
            rows = pick(config=cfg, role=role, dimension="rate", target_rps=rate)
            cells.append(_cell(_mean([_f(r, "cpu_us_per_pass") for r in rows])))
        for _, want in extra:
            rows = pick(config=cfg, role=role, **want)
            cells.append(_cell(_mean([_f(r, "cpu_us_per_pass") for r in rows])))
        lines.append(f"| {ROLE_PASS[role]} ({cfg}: {role}) | " + " | ".join(cells) + " |")
    lines += ["", "Achieved rps of the rate sweep (all passes of a configuration together)", "",
              "| config | " + " | ".join(f"{r}" for r in rates) + " |", "| --- " * (1 + len(rates)) + "|"]
    for cfg in CONFIGS:
        if cfg != "baseline" and pick(config=cfg, role="all", dimension="rate"):
            lines.append(f"| {cfg} | " + " | ".join(_cell(_mean([_f(r, "achieved_rps") for r in pick(
                config=cfg, role="all", dimension="rate", target_rps=rate)])) for rate in rates) + " |")
    lines += ["", "Added latency over the no-proxy baseline at equal load, us (whole path; HTTP/1.1 pooled, "
              "1 KiB, 2 workers)", "",
              "| config | passes | rps | added p50 | added p90 | added p99 | added p99.9 |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for cfg in CONFIGS:
        if cfg == "baseline":
            continue
        for rate in (100, 1000, 2000):
            for r in pick(config=cfg, role="all", dimension="rate", target_rps=rate):
                lines.append(f"| {cfg} | {ROLE_PASSES.get(cfg, 0) or len(CONFIGS[cfg][1])} | {rate} | "
                             + " | ".join(_cell(_f(r, f"added_{p}_us")) for p in PERCENTILES) + " |")
    base = [r for r in mem if r["test"] == "base"]
    if base:
        lines += ["", "Memory per proxy process (2 workers; RSS includes ~55 MiB of mapped binary, anonymous "
                  "RSS does not)", "",
                  "| pass (role) | idle RSS MiB | idle anon RSS MiB | idle CPU mC | per idle connection KiB (RSS) "
                  "| per endpoint bytes (RSS) | per in-flight request KiB (RSS) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for cfg, role in roles:
            b = [r for r in base if r["config"] == cfg and r["role"] == role and r["concurrency"] == "2"]

            def slope(test):
                return _mean([_f(x, "rss_bytes_per_unit") for x in slopes if x["test"] == test
                              and x["config"] == cfg and x["role"] == role and str(x["concurrency"]) == "2"])
            conn, ep, inf = slope("connections"), slope("endpoints"), slope("in-flight")
            lines.append(f"| {ROLE_PASS[role]} ({cfg}: {role}) | "
                         f"{_cell(_mean([_f(x, 'rss_bytes') / 1048576 for x in b]), 1)} | "
                         f"{_cell(_mean([_f(x, 'rss_anon_bytes') / 1048576 for x in b]), 1)} | "
                         f"{_cell(_mean([_f(x, 'idle_cpu_mc') for x in b]), 1)} | "
                         f"{_cell(None if conn is None else conn / 1024, 1)} | {_cell(ep)} | "
                         f"{_cell(None if inf is None else inf / 1024, 1)} |")
    return "\n".join(lines) + "\n"


def write_summaries(out: Path) -> None:
    runs, passes = read_csv(out / "runs.csv"), read_csv(out / "passes.csv")
    summary = aggregate(runs, passes)
    write_csv(out / "summary-cpu-latency.csv", SUMMARY_HEADER, summary)
    mem, slopes = [], []
    if (out / "memory.csv").exists():
        mem = read_csv(out / "memory.csv")
        slopes = memory_slopes(mem)
        write_csv(out / "summary-memory.csv", MEMORY_SUMMARY_HEADER, slopes)
    # Through a CSV round trip, so both come from the files as written.
    text = headline(read_csv(out / "summary-cpu-latency.csv"), mem,
                    read_csv(out / "summary-memory.csv") if slopes else [])
    (out / "headline.md").write_text(text)
