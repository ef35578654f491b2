#!/usr/bin/env python3
"""The CPU of Istio's telemetry per sidecar pass, from Istio's own sidecar benchmark.

The Envoy of the `envoy-1.40-loopback` bench runs no Istio filter. Istio's sidecars and
waypoints run its telemetry v2 stats filter (istio.stats) on every request, which stock
Envoy cannot load, so this takes the filter's cost from Istio's measurement of it: its
benchmark (istio/tools perf/benchmark, `benchmark.csv`; see shared/data/istio-benchmark)
ran the same fortio client and server with two sidecars in telemetry mode `none_mtls` (mTLS,
no telemetry) and `v2-stats-nullvm` (Istio's default stats, native) at the same rate and
connection count. For each such pair: CPU per request of one sidecar (the mean of the
client's and the server's, in millicores over the achieved rate) with stats less without.
The figure is the median over the pairs at 500 rps or more, where a proxy's workers stay
awake (below it, the difference also carries the idle event loop's wake-ups, which the
profile models apart).

Usage, from the repository's root:
    python3 calibration/istio_telemetry.py [BENCHMARK_CSV]          # write calibration/derived/istio-telemetry/
    python3 calibration/istio_telemetry.py --check [BENCHMARK_CSV]  # exit 1 if the committed files differ
BENCHMARK_CSV defaults to $MESHSIM_SHARED/data/istio-benchmark/benchmark.csv, else
../shared/data/istio-benchmark/benchmark.csv. Standard library only; same input, same bytes.
"""

import csv
import io
import json
import os
import re
import statistics
import sys

OUT = "calibration/derived/istio-telemetry"
WITHOUT, WITH = "none_mtls", "v2-stats-nullvm"
MIN_RPS = 500
LABEL = re.compile(r"^\w+_qps_(\d+)_c_(\d+)_(\d+)_(.+)_(both|baseline)$")


def default_csv():
    shared = os.environ.get("MESHSIM_SHARED") or os.path.join("..", "shared")
    return os.path.join(shared, "data", "istio-benchmark", "benchmark.csv")


def per_pass_us(path):
    """{(mode, target qps, connections): [us of CPU per request of one sidecar, per row]}."""
    out = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            m = LABEL.match(r.get("Labels", ""))
            if not m or m.group(5) != "both":
                continue
            try:
                qps = float(r["ActualQPS"])
                mc = (float(r["cpu_mili_avg_istio_proxy_fortioclient"]) + float(r["cpu_mili_avg_istio_proxy_fortioserver"])) / 2
            except (KeyError, ValueError) as e:
                sys.exit(f"{path}:{line}: {e}")
            if qps > 0:
                out.setdefault((m.group(4), int(m.group(1)), int(m.group(2))), []).append(mc / qps * 1000)
    return out


def derive(rows):
    """Pairs (target qps, connections, without, with, difference) and the median figure."""
    pairs = []
    for (mode, qps, conns), v in sorted(rows.items()):
        base = rows.get((WITHOUT, qps, conns))
        if mode == WITH and base:
            a, b = statistics.fmean(base), statistics.fmean(v)
            pairs.append((qps, conns, a, b, b - a))
    used = [p[4] for p in pairs if p[0] >= MIN_RPS]
    if not used:
        sys.exit(f"no {WITHOUT}/{WITH} pair at {MIN_RPS} rps or more")
    return pairs, statistics.median(used), len(used)


def render(pairs, median, n, source):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["target_qps", "connections", f"{WITHOUT}_us_per_pass", f"{WITH}_us_per_pass", "stats_us_per_pass", "used"])
    for qps, conns, a, b, d in pairs:
        w.writerow([qps, conns, f"{a:.1f}", f"{b:.1f}", f"{d:.1f}", "yes" if qps >= MIN_RPS else "no"])
    result = {
        "stats_us_per_pass": round(median, 1),
        "pairs_used": n,
        "what": f"CPU per request of one Istio sidecar, telemetry mode {WITH} less {WITHOUT}, same rate and connections; median over pairs at {MIN_RPS} rps or more",
        "source": "Istio's sidecar benchmark, istio/tools perf/benchmark/graph_plotter/example_plot/benchmark.csv (Istio 1.7/1.8 era), as in shared/data/istio-benchmark",
        "input": os.path.basename(source),
    }
    return buf.getvalue(), json.dumps(result, indent=2) + "\n"


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    check = "--check" in sys.argv[1:]
    source = args[0] if args else default_csv()
    if not os.path.exists(source):
        sys.exit(f"{source}: not found (Istio's benchmark results; set MESHSIM_SHARED or give the path)")
    pairs, median, n = derive(per_pass_us(source))
    files = dict(zip(("pairs.csv", "result.json"), render(pairs, median, n, source)))
    differ = []
    for name, text in files.items():
        path = os.path.join(OUT, name)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        differ.append(path)
            except FileNotFoundError:
                differ.append(path)
        else:
            os.makedirs(OUT, exist_ok=True)
            with open(path + ".tmp", "w") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
            print(f"wrote {path}")
    if differ:
        sys.exit("differ from the derivation: " + ", ".join(differ))
    print(f"Istio telemetry v2 stats: {median:.1f} us per sidecar pass (median of {n} pairs)")


if __name__ == "__main__":
    main()
