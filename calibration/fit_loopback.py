#!/usr/bin/env python3
"""Fit the cost models of the `envoy-1.40-loopback` profile from the committed bench results.

Reads calibration/bench/results/envoy-1.40-loopback/{summary-cpu-latency,summary-memory,memory}.csv
and writes models/envoy-1.40-loopback/{sidecar,node-proxy,waypoint,ztunnel}.toml; from
calibration/bench/results/ztunnel-loopback it fits the Rust ztunnel and writes the
models/loopback-2026 profile (that ztunnel with the same Envoy models). Standard
library only; the same inputs give the same bytes. Run from the repository's root:

    python3 calibration/fit_loopback.py            # write the models
    python3 calibration/fit_loopback.py --check    # exit 1 if the committed models differ

CPU per pass at per-proxy pass rate L (passes/s) is fitted as

    cpu(L) = base + wake_up * exp(-L * tau)

exp(-L*tau) is the chance that a Poisson arrival comes more than tau after the previous one.
meshsim charges the wake-up (`cpu.wake_up`) to a pass that finds the proxy idle for longer than
`cpu.wake_up_after_idle`, idle counted from the end of the previous pass, so that setting is
tau less the pass's own CPU time (`base`). tau is chosen on a log grid; for each tau, base and
wake_up are the least-squares fit in relative error (each rate weighs the same). Rows are the
rate sweep (HTTP/1.1, pooled, 1 KiB, 2 workers).

Pass latency ([latency] p50/p90/p99) is the path's added percentiles at 100 rps per pass
(pass_latency), with the CPU of a pass that wakes the proxy inside it (render_latency).
"""

import csv
import math
import json
import os
import sys

RESULTS = "calibration/bench/results/envoy-1.40-loopback"
OUT = "models/envoy-1.40-loopback"
PROFILE = "envoy-1.40-loopback"
TAU_GRID_MS = [0.05 * (1.02**i) for i in range(400)]  # 0.05 ms to about 137 ms


def rows(name):
    with open(os.path.join(RESULTS, name), newline="") as f:
        return list(csv.DictReader(f))


def fit_wake(points):
    """points: [(rate per s, us per pass)] -> (base_us, wake_us, tau_ms, max relative error)."""

    def solve(xs):
        # Weighted least squares of y = b + w x with weights 1/y^2.
        s = sx = sxx = sy = sxy = 0.0
        for (_, y), x in zip(points, xs):
            k = 1.0 / (y * y)
            s, sx, sxx, sy, sxy = s + k, sx + k * x, sxx + k * x * x, sy + k * y, sxy + k * x * y
        det = s * sxx - sx * sx
        if abs(det) < 1e-12:
            return sy / s, 0.0
        w = (s * sxy - sx * sy) / det
        b = (sy - w * sx) / s
        if w < 0.0 or b < 0.0:
            return sy / s, 0.0
        return b, w

    def err(b, w, tau_ms):
        return max(abs(b + w * math.exp(-r * tau_ms / 1e3) - y) / y for r, y in points)

    best = None
    for tau in TAU_GRID_MS:
        xs = [math.exp(-r * tau / 1e3) for r, _ in points]
        b, w = solve(xs)
        sse = sum(((b + w * x - y) / y) ** 2 for (_, y), x in zip(points, xs))
        if best is None or sse < best[0] - 1e-15:
            best = (sse, b, w, tau)
    _, b, w, tau = best
    flat_b, _ = solve([0.0] * len(points))
    return b, w, tau, err(b, w, tau), err(flat_b, 0.0, tau)


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


def main():
    cpu = rows("summary-cpu-latency.csv")
    mem = rows("summary-memory.csv")
    base_rows = [r for r in rows("memory.csv") if r["test"] == "base" and r["concurrency"] == "2"]

    def per_pass(config, roles, dimension="rate", **match):
        """{target rps: (achieved rps, mean us per pass over roles)} of usable rows."""
        out = {}
        for r in cpu:
            if r["config"] != config or r["dimension"] != dimension or r["role"] not in roles:
                continue
            if any(r[k] != v for k, v in match.items()) or not r["cpu_us_per_pass"] or int(r["runs_used"]) == 0:
                continue
            out.setdefault(int(r["target_rps"]), []).append((float(r["achieved_rps"]), float(r["cpu_us_per_pass"])))
        return {t: (mean(a for a, _ in v), mean(c for _, c in v)) for t, v in sorted(out.items()) if len(v) == len(roles)}

    def rate_fit(config, roles):
        pts = sorted(per_pass(config, roles).values())
        b, w, tau, e, flat = fit_wake(pts)
        return {"points": pts, "base": b, "wake": w, "tau": tau, "err": e, "flat_err": flat}

    def extra_new_connection(config, roles):
        pooled = per_pass(config, roles).get(1000)
        new = per_pass(config, roles, dimension="new-connection").get(1000)
        return max(0.0, new[1] - pooled[1]) if pooled and new else 0.0

    def per_kib(config, roles):
        pts = [(int(r["payload_bytes"]) / 1024, float(r["cpu_us_per_pass"])) for r in cpu
               if r["config"] == config and r["role"] in roles and r["cpu_us_per_pass"]
               and int(r["runs_used"]) > 0 and int(r["target_rps"]) == 1000
               and (r["dimension"] == "payload" or (r["dimension"] == "rate"))]
        n = len(pts)
        mx, my = mean(x for x, _ in pts), mean(y for _, y in pts)
        sxx = sum((x - mx) ** 2 for x, _ in pts)
        return max(0.0, sum((x - mx) * (y - my) for x, y in pts) / sxx) if n > 1 and sxx > 0 else 0.0

    def memory(test, config, roles, how=mean):
        vals = [float(r["rss_bytes_per_unit"]) for r in mem if r["test"] == test and r["config"] == config
                and r["role"] in roles and r["concurrency"] == "2"]
        return how(vals) if vals else None

    def base(config, roles):
        rs = [r for r in base_rows if r["config"] == config and r["role"] in roles]
        return mean(float(r["rss_bytes"]) for r in rs), mean(float(r["idle_cpu_mc"]) for r in rs)

    def added_fixed(config, passes, roles):
        """Added latency of one pass at 100 rps (least contended): see pass_latency."""
        r = next(r for r in cpu if r["config"] == config and r["dimension"] == "rate" and r["role"] == "all"
                 and r["target_rps"] == "100")
        return pass_latency(r, passes)

    endpoint = memory("endpoints", "sidecar", ["sidecar-out"])
    side = ["sidecar-out", "sidecar-in"]
    l4 = ["l4-out", "l4-in"]
    hb = ["hbone-out", "hbone-in"]
    kinds = {
        "sidecar": dict(
            kind="sidecar", what="an Envoy sidecar: HTTP in, mTLS to the peer sidecar (mean of the outbound and inbound proxies)",
            l7=rate_fit("sidecar", side), l4=rate_fit("l4", l4), config="sidecar", roles=side,
            new_conn=extra_new_connection("sidecar", side), tls=False, tls_us=extra_new_connection("l4", l4),
            kib=per_kib("sidecar", side), conn=memory("connections", "sidecar", side, max),
            inflight=memory("in-flight", "sidecar", side), base=base("sidecar", side), fixed=added_fixed("sidecar", 2, side)),
        "node-proxy": dict(
            kind="node-proxy", what="a per-node Envoy: L4 passes as the TLS TCP pair, L7 passes as the sidecar's HTTP pass",
            l7=rate_fit("sidecar", side), l4=rate_fit("l4", l4), config="l4", roles=l4, wake_from="l4",
            new_conn=0.0, tls=True, tls_us=extra_new_connection("l4", l4),
            kib=per_kib("l4", l4), conn=memory("connections", "l4", l4, max),
            inflight=memory("in-flight", "l4", l4), base=base("l4", l4), fixed=added_fixed("l4", 2, l4)),
        "waypoint": dict(
            kind="waypoint", what="an Envoy waypoint: HBONE in, HTTP routing, HBONE out",
            l7=rate_fit("waypoint", ["waypoint"]), l4=rate_fit("hbone", hb), config="waypoint", roles=["waypoint"],
            new_conn=extra_new_connection("waypoint", ["waypoint"]), tls=False, tls_us=extra_new_connection("l4", l4),
            kib=per_kib("waypoint", ["waypoint"]), conn=memory("connections", "waypoint", ["waypoint"], max),
            inflight=memory("in-flight", "waypoint", ["waypoint"]), base=base("waypoint", ["waypoint"]),
            fixed=added_fixed("waypoint", 3, ["hbone-out", "waypoint", "hbone-in"])),
        "ztunnel": dict(
            kind="ztunnel", what="Envoy as a ztunnel: TCP in, HTTP/2 CONNECT over pooled mTLS (HBONE), CONNECT terminated at the peer",
            l7=rate_fit("hbone", hb), l4=rate_fit("hbone", hb), config="hbone", roles=hb, wake_from="l4",
            new_conn=extra_new_connection("hbone", hb), tls=False, tls_us=extra_new_connection("l4", l4),
            kib=per_kib("waypoint", hb), conn=memory("connections", "hbone", hb, max),
            inflight=memory("in-flight", "waypoint", hb), base=base("hbone", hb), fixed=added_fixed("hbone", 2, hb)),
    }
    check = "--check" in sys.argv[1:]
    differ = []
    os.makedirs(OUT, exist_ok=True)
    for name, k in kinds.items():
        text = render(name, k, endpoint)
        path = os.path.join(OUT, f"{name}.toml")
        if write_or_check(path, text, check):
            differ.append(path)
    differ += write_loopback_2026(kinds, endpoint, check)
    if differ:
        print("differ from the fit: " + ", ".join(differ), file=sys.stderr)
        sys.exit(1)


# Normal scores of the percentiles the bench reports: the pass latency is fitted in them.
Z_P90 = 1.2815515655446004
Z_P99 = 2.3263478740408408
Z_P999 = 3.090232306167813


def pass_latency(row, passes):
    """Added latency of one pass from a path's summary row: its added p50/p90/p99 (p99.9
    held out) over the no-proxy baseline, divided by the passes.

    Percentiles of a sum are not sums of percentiles; dividing by the passes is the first
    approximation the bench README names, kept so that each pass of a path is alike."""
    pct = [float(row[f"added_{p}_us"]) / passes for p in ("p50", "p90", "p99", "p999")]
    return {"p": pct[:3], "p999": pct[3], "passes": passes,
            "rps": float(row["achieved_rps"]), "lognormal": fit_lognormal(pct[:3])}


def fit_lognormal(pct):
    """Least squares of ln(p) = mu + sigma z over (p50, p90, p99) -> (mu, sigma, max relative error)."""
    zs = [0.0, Z_P90, Z_P99]
    ys = [math.log(p) for p in pct]
    mz, my = mean(zs), mean(ys)
    sigma = sum((z - mz) * (y - my) for z, y in zip(zs, ys)) / sum((z - mz) ** 2 for z in zs)
    mu = my - sigma * mz
    return mu, sigma, max(abs(math.exp(mu + sigma * z) - p) / p for z, p in zip(zs, pct))


def latency_at_score(p, z):
    """The fitted added latency at normal score z: ln(latency) linear in z through (0, p50),
    (Z_P90, p90), (Z_P99, p99), each end segment extended (as meshsim's model.rs)."""
    l50, l90, l99 = (math.log(x) for x in p)
    if z < Z_P90:
        return math.exp(l50 + z * (l90 - l50) / Z_P90)
    return math.exp(l90 + (z - Z_P90) * (l99 - l90) / (Z_P99 - Z_P90))


def render_latency(lat, config, wake):
    """The [latency] table: measured percentiles of one pass, the CPU they include, and the fit.

    The CPU inside the measured latency is what the model charges a pass that wakes the proxy
    (base + wake_up), as nearly every pass does at 100 rps: meshsim simulates that CPU and
    holds the pass for the rest, so at low load a pass takes the measured latency."""
    p50, p90, p99 = lat["p"]
    woken = wake["base"] + wake["wake"]
    mu, sigma, ln_err = lat["lognormal"]
    return [
        "[latency]",
        f"# Added latency of one pass: the `{config}` path's added percentiles over the no-proxy baseline",
        f"# at 100 rps, divided by its {lat['passes']} passes. meshsim fits a piecewise lognormal through them.",
        f'p50 = "{us(p50)}"',
        f'p90 = "{us(p90)}"',
        f'p99 = "{us(p99)}"',
        f'includes_cpu = "{us(woken)}"   # CPU of a pass that wakes the proxy (wake_up + pass): simulated apart, the pass is held for the rest',
        f'measured_at = "{lat["rps"]:.0f} rps achieved, HTTP/1.1, pooled connections, 1 KiB, 2 workers; oha, latency-corrected"',
        f"# Fit: exact at p50/p90/p99; a least-squares lognormal (mu {mu:.3f}, sigma {sigma:.3f}) would miss",
        f"# one of them by {ln_err * 100:.1f}%. p99.9, held out: fitted {latency_at_score(lat['p'], Z_P999):.0f} us, measured {lat['p999']:.0f} us.",
        "",
    ]


# What the mesh sends the Rust ztunnel (`[config] scope`), with its source.
ZTUNNEL_CONFIG = [
    '[config]',
    '# What the mesh sends this proxy: istiod sends every ztunnel every workload and service of the',
    '# mesh over WDS. ztunnel subscribes to all addresses unless XDS_ON_DEMAND is set, which is off',
    '# by default (istio/ztunnel src/config.rs, src/xds/client.rs), and `istioctl ztunnel-config',
    '# workloads` lists the workloads of other nodes too',
    "# (istio.io/latest/docs/ambient/usage/troubleshoot-ztunnel/). Its certificates are its node's",
    "# workloads' only; that is identity, not configuration.",
    'scope = "mesh"',
]


# What the mesh sends a proxy in each role (`[config] scope`), with its source.
CONFIG = {
    "sidecar": [
        '[config]',
        '# What the mesh sends this proxy: Istio programs every sidecar "with the necessary',
        '# configuration required to reach every workload instance in the mesh" unless a Sidecar',
        '# resource or discovery selectors narrow it (istio.io/latest/docs/reference/config/networking/sidecar/;',
        "# istio.io/latest/blog/2021/discovery-selectors/). meshsim's [mesh] sidecar_scope,",
        '# egress_hosts and discovery_namespaces are those narrowings.',
        'scope = "mesh"',
    ],
    "node-proxy": [
        '[config]',
        '# What the mesh sends this proxy: an Envoy per node routes for every pod of its node and is',
        '# configured here as Istio configures its Envoys, with every endpoint of the mesh (no source',
        "# gives a per-node proxy's configuration scope: calibration-sources H has no per-node Envoy",
        '# figures). "called" (its node\'s pods\' callees) is the scoped alternative.',
        'scope = "mesh"',
    ],
    "waypoint": [
        '[config]',
        '# What the mesh sends this proxy: a waypoint is the gateway to the namespace or services',
        "# enrolled in it and holds those services' endpoints, the pods it sends calls to",
        '# (istio.io/latest/docs/ambient/usage/waypoint/).',
        'scope = "called"',
    ],
}
# Envoy in ztunnel's role gets what the mesh sends a ztunnel.
CONFIG["ztunnel"] = [ZTUNNEL_CONFIG[0], ZTUNNEL_CONFIG[1].replace("this proxy", "a proxy in ztunnel's role"), *ZTUNNEL_CONFIG[2:]]

# Envoy's CPU to apply a push, from the xDS apply bench (calibration/bench/xds_apply.py).
XDS_APPLY_FIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench", "results", "envoy-xds-apply", "fit.json")


def apply_lines():
    """`[config]` lines of the CPU of applying a push: the full EDS swap, binary protobuf,
    the fit weighted by 1/N^2 (its base pinned by the small sizes), and the unweighted slope beside it."""
    with open(XDS_APPLY_FIT, encoding="utf-8") as f:
        fits = json.load(f)
    eds = next(x for x in fits if (x["kind"], x["change"], x["format"], x["cpu"]) == ("eds", "full", "pb", "apply_cpu_ms"))
    base_us = round(eds["fit_relative"]["base"] * 1000)
    per_ns = round(eds["fit_relative"]["slope"] * 1e6, -1)
    return [
        "# Applying a push (an xDS update of one service's endpoints): Envoy 1.40.0 measured on this",
        "# machine by calibration/bench/xds_apply.py, a full EDS swap of N = 10 to 10,000 endpoints:",
        f"# {base_us / 1000:.3f} ms + {per_ns / 1000:.2f} us per endpoint of CPU (least squares weighted by 1/N^2; unweighted, {eds['fit_all_runs']['slope'] * 1000:.2f} us",
        "# per endpoint). Churn charges it to the proxy for every push it applies.",
        f'apply = "{base_us}us"',
        f'apply_per_endpoint = "{per_ns:.0f}ns"',
        "apply_source = \"calibration/bench/results/envoy-xds-apply (Envoy 1.40.0, filesystem EDS; the gRPC stream's TLS and framing are not in it)\"",
    ]


def us(x):
    return f"{x:.1f}us"


TELEMETRY = "calibration/derived/istio-telemetry/result.json"


def istio_telemetry_lines(name):
    """The sidecar's and waypoint's `after_response`: Istio's stats filter, which the bench's
    stock Envoy does not run, at Istio's own measured cost (calibration/istio_telemetry.py)."""
    if name not in ("sidecar", "waypoint"):
        return []
    with open(TELEMETRY) as f:
        t = json.load(f)
    return [
        f'after_response = "{t["stats_us_per_pass"]:.1f}us"   # Istio\'s telemetry v2 stats filter, run as the request completes: '
        f'Istio\'s benchmark, v2-stats-nullvm less none_mtls ({TELEMETRY}); the bench\'s Envoy runs no Istio filter',
    ]


def render(name, k, endpoint):
    wake = k[k.get("wake_from", "l7")]
    l7, l4 = k["l7"], k["l4"]
    rss, idle = k["base"]
    pts = lambda f: ", ".join(f"{r:.0f} rps {y:.0f} us" for r, y in f["points"])
    lines = [
        f"# {name}: {k['what']}.",
        "# Fitted by calibration/fit_loopback.py from calibration/bench/results/envoy-1.40-loopback",
        "# (Envoy 1.40.0 on this project's 2-core loopback bench). Do not edit by hand: rerun the script.",
        "version = 1",
        f'name = "envoy-1.40-{name}"',
        f'kind = "{k["kind"]}"',
        "workers = 2   # the bench ran Envoy with --concurrency 2",
        "",
        "[cpu]",
        f'l7_pass = "{us(l7["base"])}"   # CPU per pass once workers stay awake (rate sweep, fit below)',
        f'l4_pass = "{us(l4["base"])}"',
        f'per_kib = "{us(k["kib"])}"   # slope of CPU per pass over payloads of 100 B to 64 KiB at 1000 rps',
        f'new_connection = "{us(k["new_conn"])}"   # a new downstream connection per request less pooled, 1000 rps',
        f'tls_handshake = "{us(k["tls_us"])}"   # the TLS TCP pair: new connection per request less pooled, 1000 rps',
        f"tls_per_new_connection = {'true' if k['tls'] else 'false'}",
        *istio_telemetry_lines(name),
        f'wake_up = "{us(wake["wake"])}"',
        f'wake_up_after_idle = "{max(0.0, wake["tau"] * 1e3 - wake["base"]):.0f}us"   # tau {wake["tau"] * 1e3:.0f} us less the pass\'s {wake["base"]:.0f} us',
        f'idle = "{idle:.1f}m"   # measured idle Envoy (no traffic), mean of the roles',
        "",
        *render_latency(k["fixed"], k["config"], wake),
        "[memory]",
        f'base = "{rss / 1024:.0f}KiB"   # idle RSS, of which about 55 MiB is the mapped Envoy binary',
        f'per_endpoint = "{endpoint / 1024:.1f}KiB"   # a cluster of N endpoints on the outbound sidecar',
        f'per_connection = "{k["conn"] / 1024:.1f}KiB"   # N idle downstream connections held open',
        f'per_inflight = "{k["inflight"] / 1024:.1f}KiB"   # requests held by a slow (100 ms) backend',
        "",
        *CONFIG[name],
        *apply_lines(),
        "",
        "[provenance]",
        f'profile = "{PROFILE}"',
        'source = "calibration/bench/results/envoy-1.40-loopback (runs.csv, passes.csv, memory.csv; summaries)"',
        'version = "Envoy 1.40.0 (BoringSSL), rsa2048 certificates made by the bench"',
        'hardware = "2 vCPU AMD EPYC, Linux 6.18, loopback (calibration/bench/results/envoy-1.40-loopback/environment.json)"',
        'load_levels = "100, 500, 1000, 2000, 4000, 8000 rps target (HTTP/1.1, pooled, 1 KiB, 32 connections)"',
        f'method = "cpu per pass = base + wake_up x exp(-rate x tau), least squares in relative error, tau on a log grid (calibration/fit_loopback.py)"',
        f'fit_l7 = "{pts(l7)}: base {l7["base"]:.1f} us, wake_up {l7["wake"]:.1f} us, tau {l7["tau"]:.2f} ms; max error {l7["err"] * 100:.1f}% (a constant: {l7["flat_err"] * 100:.1f}%)"',
        f'fit_l4 = "{pts(l4)}: base {l4["base"]:.1f} us, wake_up {l4["wake"]:.1f} us, tau {l4["tau"]:.2f} ms; max error {l4["err"] * 100:.1f}% (a constant: {l4["flat_err"] * 100:.1f}%)"',
        "assumption = \"the bench's load generator paces requests; the fit takes Poisson arrivals, as meshsim simulates them\"",
        "",
    ]
    text = "\n".join(lines)
    # An Envoy sidecar or waypoint runs with the retry policy Istio gives it when nothing else
    # is configured (what `meshsim blast` applies); ztunnel and the per-node L4 proxy do not retry.
    if name in ("sidecar", "waypoint"):
        text += "\n" + ISTIO_RESILIENCE
    return text


ISTIO_RESILIENCE = """[resilience]
# What Istio's Envoy does on its own, with no VirtualService or DestinationRule written.
retries = 2
retry_budget = 4294967295  # retries in flight per proxy and destination: Istio's DestinationRule connectionPool.http.maxRetries "Defaults to 2^32-1" (https://istio.io/latest/docs/reference/config/networking/destination-rule/#ConnectionPoolSettings-HTTPSettings), over Envoy's own default of 3
retry_on = ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"]
retry_other_host = true
connect_timeout = "10s"
outlier_detection = false
source = "Istio docs: https://istio.io/latest/docs/concepts/traffic-management/#retries (by default HTTP requests are retried twice); retry_on and the previous_hosts predicate (retry on another host) as Istio sets its default route retry policy (istio/istio pilot/pkg/networking/core/route/retry/retry.go); connectTimeout default 10s: https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/; outlier detection only when a DestinationRule sets trafficPolicy.outlierDetection"
"""


# ---------------------------------------------------------------------------------------
# The `loopback-2026` profile: the Rust ztunnel and Envoy 1.40, both on this bench.

ZTUNNEL_RESULTS = "calibration/bench/results/ztunnel-loopback"
LOOPBACK_2026 = "models/loopback-2026"
LOOPBACK_2026_PROFILE = "loopback-2026"


def ztunnel_fit(results=ZTUNNEL_RESULTS):
    """The Rust ztunnel's figures from its bench results.

    One ztunnel process makes both passes of a request on the bench (outbound, then HBONE
    inbound), so its CPU per request is fitted as 2 * base + wake_up * exp(-rate * tau): the
    process sleeps between requests and wakes once per request, and the inbound pass finds it
    awake. In meshsim each pass is charged `base`, and a ztunnel that finds itself idle pays the
    whole wake-up, as this process did. Memory per connection and per in-flight request is the
    process's slope (both ends of each connection, both passes of each request) halved: in a
    mesh the two ends sit in two ztunnels. The workload table is held whole by every ztunnel.
    """

    def read(name):
        with open(os.path.join(results, name), newline="") as f:
            return list(csv.DictReader(f))

    cpu = [r for r in read("summary-cpu-latency.csv") if r["config"] == "ztunnel" and r["role"] == "ztunnel"
           and r["cpu_us_per_request"] and int(r["runs_used"]) > 0]
    sweep = sorted((float(r["achieved_rps"]), float(r["cpu_us_per_request"])) for r in cpu if r["dimension"] == "rate")
    per_request, wake, tau, err, flat_err = fit_wake(sweep)

    def at(dimension, rps):
        return next(float(r["cpu_us_per_request"]) for r in cpu if r["dimension"] == dimension and r["target_rps"] == str(rps))

    mem = {r["test"]: float(r["rss_bytes_per_unit"]) for r in read("summary-memory.csv") if r["concurrency"] == "2"}
    base = next(r for r in read("memory.csv") if r["test"] == "base" and r["concurrency"] == "2")
    lat = next(r for r in read("summary-cpu-latency.csv") if r["config"] == "ztunnel" and r["dimension"] == "rate"
               and r["role"] == "all" and r["target_rps"] == "100")
    return {
        "points": sweep, "per_request": per_request, "base": per_request / 2, "wake": wake, "tau": tau,
        "err": err, "flat_err": flat_err,
        "new_conn": max(0.0, at("new-connection", 1000) - at("rate", 1000)) / 2,
        "rss": float(base["rss_bytes"]), "idle": float(base["idle_cpu_mc"]),
        "conn": mem["connections"] / 2, "inflight": mem["in-flight"] / 2, "endpoint": mem["endpoints"],
        "added_p50": float(lat["added_p50_us"]), "at_100": at("rate", 100),
    }


def fitted_us(f, rate):
    """CPU per pass the fit gives at a request rate (rps), µs."""
    return f["base"] + f["wake"] / 2 * math.exp(-rate * f["tau"] / 1e3)


def render_ztunnel(f):
    pts = ", ".join(f"{r:.0f} rps {y / 2:.0f} us" for r, y in f["points"])
    fit = ", ".join(f"{r:.0f} rps {fitted_us(f, r):.0f} us" for r, _ in f["points"])
    fixed = max(0.0, (f["added_p50"] - f["at_100"]) / 2)
    lines = [
        "# ztunnel: the Rust ztunnel, TCP in, HTTP/2 CONNECT over pooled mTLS (HBONE) out, and the HBONE inbound side.",
        f"# Fitted by calibration/fit_loopback.py from {ZTUNNEL_RESULTS}",
        "# (ztunnel built from istio/ztunnel, on this project's 2-core loopback bench). Do not edit by hand: rerun the script.",
        "version = 1",
        'name = "ztunnel-loopback"',
        'kind = "ztunnel"',
        "workers = 2   # the bench ran ztunnel with 2 worker threads",
        "",
        "[cpu]",
        f'l7_pass = "{us(f["base"])}"   # ztunnel passes are L4; same figure',
        f'l4_pass = "{us(f["base"])}"   # CPU per pass once the process stays awake: half the fitted per-request base',
        'per_kib = "0us"   # not measured: the ztunnel run covered 1 KiB bodies only (profile.toml, not_covered)',
        f'new_connection = "{us(f["new_conn"])}"   # a new downstream connection per request less pooled, 1000 rps, per pass',
        'tls_handshake = "0us"   # not charged: a new downstream connection opens an HBONE stream over pooled mTLS',
        "tls_per_new_connection = false",
        f'wake_up = "{us(f["wake"])}"   # one wake-up per request of the process that made both passes',
        f'wake_up_after_idle = "{max(0.0, f["tau"] * 1e3 - f["per_request"]):.0f}us"   # tau {f["tau"] * 1e3:.0f} us less the process\'s {f["per_request"]:.0f} us per request',
        f'idle = "{f["idle"]:.1f}m"   # measured idle ztunnel (no traffic, 2 workers)',
        "",
        "[latency]",
        f'fixed = "{us(fixed)}"   # added p50 at 100 rps ({f["added_p50"]:.0f} us) less the passes\' CPU ({f["at_100"]:.0f} us), per pass, at least 0',
        "",
        "[memory]",
        f'base = "{f["rss"] / 1024:.0f}KiB"   # idle RSS of the process (2 workers)',
        f'per_endpoint = "{f["endpoint"] / 1024:.1f}KiB"   # an idle service of N workloads in the local config',
        f'per_connection = "{f["conn"] / 1024:.1f}KiB"   # half the process\'s slope over N idle connections: it held both ends',
        f'per_inflight = "{f["inflight"] / 1024:.1f}KiB"   # half the process\'s slope with requests held by a 100 ms backend',
        "",
        *ZTUNNEL_CONFIG,
        "",
        "[provenance]",
        f'profile = "{LOOPBACK_2026_PROFILE}"',
        f'source = "{ZTUNNEL_RESULTS} (runs.csv, passes.csv, memory.csv; summaries)"',
        'version = "ztunnel from istio/ztunnel commit 62d826530e5c, tls-aws-lc, local file-configured mode"',
        f'hardware = "2 vCPU AMD EPYC, Linux 6.18, loopback ({ZTUNNEL_RESULTS}/environment.json)"',
        'load_levels = "100, 500, 1000, 2000, 4000, 8000 rps target (HTTP/1.1, pooled, 1 KiB, 32 connections), 2 runs each"',
        'method = "cpu per request of the process = 2 x base + wake_up x exp(-rate x tau), least squares in relative error, tau on a log grid (calibration/fit_loopback.py)"',
        f'fit = "measured per pass {pts}; fitted {fit}: base {f["base"]:.1f} us per pass, wake_up {f["wake"]:.1f} us, tau {f["tau"]:.2f} ms; max error {f["err"] * 100:.1f}% (a constant: {f["flat_err"] * 100:.1f}%)"',
        "disturbed = \"the 100 and 500 rps points have only runs disturbed by other processes, 1000 rps one clean run of 4; 2000 rps up are clean\"",
        "",
    ]
    return "\n".join(lines)


def write_loopback_2026(kinds, endpoint, check):
    """Write (or check) models/loopback-2026: the Envoy models of this bench, as the
    envoy-1.40-loopback profile has them but naming this profile, and the Rust ztunnel.
    Returns the paths that differ (with check)."""
    own = f'profile = "{LOOPBACK_2026_PROFILE}"'
    files = {f"{n}.toml": render(n, kinds[n], endpoint).replace(f'profile = "{PROFILE}"', own)
             for n in ("sidecar", "node-proxy", "waypoint")}
    files["ztunnel.toml"] = render_ztunnel(ztunnel_fit())
    differ = []
    os.makedirs(LOOPBACK_2026, exist_ok=True)
    for name, text in files.items():
        path = os.path.join(LOOPBACK_2026, name)
        if write_or_check(path, text, check):
            differ.append(path)
    return differ


def write_or_check(path, text, check):
    """Write `text` to `path`, or with `check` only compare; True when the file differs."""
    if check:
        try:
            with open(path) as f:
                return f.read() != text
        except FileNotFoundError:
            return True
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")
    return False


if __name__ == "__main__":
    main()
