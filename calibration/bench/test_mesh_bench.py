"""Tests of mesh_bench.py and its modules (mesh_grid, mesh_setup, mesh_load, mesh_sampling,
mesh_output) with stand-ins (no Envoy, oha or nginx needed):
python3 -m unittest discover -s calibration/bench"""

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mesh_bench  # noqa: E402
import mesh_grid as grid  # noqa: E402
import mesh_load as load  # noqa: E402
import mesh_output as output  # noqa: E402
import mesh_sampling as sampling  # noqa: E402
import mesh_setup as setup  # noqa: E402

CERTDIR = Path("/nonexistent/certs")


class Grid(unittest.TestCase):
    def setUp(self):
        self.configs = list(grid.CONFIGS)
        self.points = grid.grid_points("full", self.configs)

    def test_every_dimension_is_covered_for_each_l7_and_l4_config(self):
        for cfg in ("sidecar", "l4", "waypoint"):
            pts = [p for p in self.points if p.config == cfg]
            self.assertEqual({p.proto for p in pts}, {"h1", "h2"}, cfg)
            self.assertEqual({p.conn_mode for p in pts}, {"pooled", "new"}, cfg)
            self.assertEqual({p.payload_bytes for p in pts}, set(grid.PAYLOAD_SIZES), cfg)
            self.assertEqual({p.concurrency for p in pts}, {1, 2}, cfg)
            self.assertEqual(min(p.rps for p in pts), 100)
            self.assertGreaterEqual(max(p.rps for p in pts if p.concurrency == 1), 8000)

    def test_every_proxy_point_has_a_baseline_at_equal_load(self):
        base = {(p.proto, p.conn_mode, p.payload_bytes, p.rps) for p in self.points if p.config == "baseline"}
        for p in self.points:
            self.assertIn((p.proto, p.conn_mode, p.payload_bytes, p.rps), base, p)
        self.assertTrue(all(p.concurrency == 0 for p in self.points if p.config == "baseline"))

    def test_no_duplicate_points_and_grid_fits_the_time_budget(self):
        self.assertEqual(len(self.points), len(set(self.points)))
        minutes = grid.estimate_seconds(self.points, 3, 6.0) / 60
        self.assertLess(minutes, 75)
        self.assertGreater(minutes, 20)

    def test_low_rates_run_longer(self):
        self.assertEqual(grid.run_duration_s(100, 6.0), 10.0)
        self.assertEqual(grid.run_duration_s(4000, 6.0), 6.0)

    def test_rates_grid_is_the_rate_and_connection_sweeps(self):
        pts = grid.grid_points("rates", ["baseline", "ztunnel"])
        self.assertEqual({p.dimension for p in pts}, {"rate", "new-connection"})
        self.assertEqual(len(pts), 2 * (len(grid.H1_RATES) + len(grid.NEW_CONN_RATES)))

    def test_smoke_and_bad_names(self):
        smoke = grid.grid_points("smoke", ["baseline", "sidecar"])
        self.assertEqual(len(smoke), 2)
        with self.assertRaises(ValueError):
            grid.grid_points("huge", ["sidecar"])
        with self.assertRaises(ValueError):
            grid.grid_points("full", ["istio"])


class Certificates(unittest.TestCase):
    def test_commands_make_a_ca_and_one_leaf_per_identity(self):
        cmds = setup.cert_commands("openssl", Path("/c"), "rsa2048", ["client", "server"])
        self.assertEqual(len(cmds), 2 + 3 * 2)
        self.assertIn("rsa_keygen_bits:2048", cmds[0])
        self.assertIn("CA:TRUE", " ".join(cmds[1]))
        signs = [c for c in cmds if c[1] == "x509"]
        self.assertEqual([c[c.index("-out") + 1] for c in signs], ["/c/client.crt", "/c/server.crt"])
        self.assertTrue(all("/c/ca.key" in c for c in signs))
        ec = setup.cert_commands("openssl", Path("/c"), "ec-p256", ["client"])
        self.assertIn("ec_paramgen_curve:P-256", ec[0])
        with self.assertRaises(ValueError):
            setup.cert_commands("openssl", Path("/c"), "dsa", ["client"])

    def test_leaf_has_spiffe_san_and_both_uses(self):
        ext = setup.leaf_extensions("server")
        self.assertIn("subjectAltName=URI:spiffe://cluster.local/ns/bench/sa/server", ext)
        self.assertIn("serverAuth,clientAuth", ext)
        self.assertIn("CA:FALSE", ext)

    def test_failing_openssl_is_reported(self):
        with tempfile.TemporaryDirectory() as d:
            fake = Path(d) / "openssl"
            fake.write_text("#!/bin/sh\necho 'no entropy' >&2\nexit 3\n")
            fake.chmod(0o755)
            with self.assertRaisesRegex(RuntimeError, "no entropy"):
                setup.make_certs(str(fake), Path(d) / "certs", "ec-p256", ["client"])

    @unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
    def test_real_openssl_makes_verifiable_leaves(self):
        with tempfile.TemporaryDirectory() as d:
            certs = Path(d)
            setup.make_certs(shutil.which("openssl"), certs, "ec-p256", ["client", "server"])
            for ident in ("client", "server"):
                v = subprocess.run(["openssl", "verify", "-CAfile", str(certs / "ca.crt"), str(certs / f"{ident}.crt")],
                                   capture_output=True, text=True)
                self.assertEqual(v.returncode, 0, v.stderr)
                text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(certs / f"{ident}.crt")],
                                      capture_output=True, text=True).stdout
                self.assertIn(f"URI:{setup.spiffe_id(ident)}", text)


def clusters_of(b):
    return {c["name"]: c for c in b["static_resources"]["clusters"]}


def listeners_of(b):
    return {x["name"]: x for x in b["static_resources"]["listeners"]}


def referenced_clusters(b):
    out = []
    for lst in b["static_resources"]["listeners"]:
        for f in lst["filter_chains"][0]["filters"]:
            tc = f["typed_config"]
            if "cluster" in tc:
                out.append(tc["cluster"])
            for vh in tc.get("route_config", {}).get("virtual_hosts", []):
                out += [r["route"]["cluster"] for r in vh["routes"]]
    return out


def tls_of(obj):
    ts = obj.get("transport_socket") or (obj.get("filter_chains", [{}])[0].get("transport_socket"))
    return None if ts is None else ts["typed_config"]


def san(tc):
    return tc["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0]["matcher"]["exact"]


def own_cert(tc):
    return Path(tc["common_tls_context"]["tls_certificates"][0]["certificate_chain"]["filename"]).stem


class EnvoyConfigs(unittest.TestCase):
    PORTS = list(range(20001, 20009))

    def topo(self, cfg, proto="h1", **kw):
        return setup.topology(cfg, proto, CERTDIR, 9001, 9002, self.PORTS, **kw)

    def test_every_reference_resolves(self):
        for cfg in ("sidecar", "l4", "hbone", "waypoint"):
            for proto in ("h1", "h2"):
                roles, front = self.topo(cfg, proto)
                self.assertEqual([r.name for r in roles], grid.CONFIGS[cfg][1])
                self.assertEqual(front, roles[0].listen_port)
                for r in roles:
                    json.dumps(r.config)  # Envoy reads the JSON form as YAML
                    cl, ls = clusters_of(r.config), listeners_of(r.config)
                    for name in referenced_clusters(r.config):
                        self.assertIn(name, cl, (cfg, r.name))
                    for c in cl.values():
                        for ep in c["load_assignment"]["endpoints"][0]["lb_endpoints"]:
                            internal = ep["endpoint"]["address"].get("envoy_internal_address")
                            if internal:
                                self.assertIn(internal["server_listener_name"], ls)
                                self.assertIn("bootstrap_extensions", r.config)

    def test_each_hop_points_at_the_next_and_mtls_identities_pair_up(self):
        for cfg in ("sidecar", "l4", "hbone", "waypoint"):
            roles, _ = self.topo(cfg)
            for a, b in zip(roles, roles[1:]):
                up = [c for c in clusters_of(a.config).values() if "transport_socket" in c]
                self.assertEqual(len(up), 1, (cfg, a.name))
                port = up[0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
                    "socket_address"]["port_value"]
                self.assertEqual(port, b.listen_port)
                client, server = tls_of(up[0]), tls_of(listeners_of(b.config)[next(
                    n for n, x in listeners_of(b.config).items() if "address" in x)])
                self.assertTrue(server["require_client_certificate"])
                # The client checks the server's identity and the server the client's.
                self.assertEqual(san(client), setup.spiffe_id(own_cert(server)))
                self.assertEqual(san(server), setup.spiffe_id(own_cert(client)))
            last = clusters_of(roles[-1].config)["app"]
            self.assertNotIn("transport_socket", last)

    def test_backend_port_follows_protocol_for_l4_pairs_only(self):
        def app_port(cfg, proto):
            roles, _ = self.topo(cfg, proto)
            c = clusters_of(roles[-1].config)["app"]
            return c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"][
                "port_value"]
        self.assertEqual(app_port("l4", "h2"), 9002)
        self.assertEqual(app_port("hbone", "h2"), 9002)
        self.assertEqual(app_port("sidecar", "h2"), 9001)
        self.assertEqual(app_port("waypoint", "h2"), 9001)
        self.assertEqual(app_port("l4", "h1"), 9001)
        self.assertEqual(self.topo("baseline", "h2"), ([], 9002))

    def test_hbone_tunnels_with_http2_connect(self):
        roles, _ = self.topo("waypoint")
        out = roles[0].config
        tp = listeners_of(out)["hbone_out"]["filter_chains"][0]["filters"][0]["typed_config"]
        self.assertEqual(tp["tunneling_config"]["hostname"], setup.TUNNEL_HOST)
        opts = clusters_of(out)[tp["cluster"]]["typed_extension_protocol_options"]
        self.assertIn("http2_protocol_options", json.dumps(opts))
        for r in roles[1:]:
            front = next(x for x in listeners_of(r.config).values() if "address" in x)
            h = front["filter_chains"][0]["filters"][0]["typed_config"]
            self.assertTrue(h["http2_protocol_options"]["allow_connect"])
            route = h["route_config"]["virtual_hosts"][0]["routes"][0]
            self.assertIn("connect_matcher", route["match"])
            self.assertIn("connect_config", route["route"]["upgrade_configs"][0])
        wp = listeners_of(roles[1].config)
        self.assertEqual(set(wp), {"waypoint_hbone", "waypoint_l7", "waypoint_originate"})
        l7 = wp["waypoint_l7"]["filter_chains"][0]["filters"][0]
        self.assertEqual(l7["name"], "envoy.filters.network.http_connection_manager")

    def test_sidecar_protocol_between_proxies(self):
        for proto, key, alpn in (("h1", "http_protocol_options", "http/1.1"), ("h2", "http2_protocol_options", "h2")):
            roles, _ = self.topo("sidecar", proto)
            c = clusters_of(roles[0].config)["to_inbound"]
            self.assertIn(key, json.dumps(c["typed_extension_protocol_options"]))
            self.assertEqual(tls_of(c)["common_tls_context"]["alpn_protocols"], [alpn])

    def test_extra_endpoints(self):
        roles, _ = self.topo("sidecar", extra_endpoints=1000)
        c = clusters_of(roles[0].config)["idle_endpoints"]
        eps = c["load_assignment"]["endpoints"][0]["lb_endpoints"]
        self.assertEqual(len(eps), 1000)
        addrs = {e["endpoint"]["address"]["socket_address"]["address"] for e in eps}
        self.assertEqual(len(addrs), 1000)
        self.assertTrue(all(a.startswith("127.1.") for a in addrs))
        with self.assertRaises(ValueError):
            setup.endpoint_addresses(grid.MAX_ENDPOINTS + 1, 1)

    def test_envoy_argv(self):
        argv = setup.envoy_argv("envoy", Path("/w/a.yaml"), 2, Path("/w/a.log"))
        self.assertEqual(argv[argv.index("--concurrency") + 1], "2")
        self.assertIn("--disable-hot-restart", argv)


class LoadArgs(unittest.TestCase):
    def test_oha_argv(self):
        p = grid.Point("sidecar", "h1", "new", 16384, 2, 500, "new-connection")
        a = load.oha_argv("oha", ("127.0.0.1", 7000), p, 6, 32)
        self.assertEqual(a[1], "http://127.0.0.1:7000/16384")
        self.assertIn("--disable-keepalive", a)
        self.assertEqual(a[a.index("-q") + 1], "500")
        self.assertEqual(a[a.index("-c") + 1], "32")
        self.assertIn("--latency-correction", a)
        h2 = load.oha_argv("oha", ("127.0.0.1", 7000), grid.Point("l4", "h2", "pooled", 1024, 1, 100, "http2"), 6, 32)
        self.assertIn("--http2", h2)
        self.assertEqual((h2[h2.index("-c") + 1], h2[h2.index("-p") + 1]), ("8", "4"))
        self.assertNotIn("--disable-keepalive", h2)


class ProcReading(unittest.TestCase):
    def test_schedstat_and_irq(self):
        self.assertEqual(sampling.parse_schedstat("173964292 860617021 60\n"), 173964292)
        self.assertEqual(sampling.parse_host_irq("cpu  100 5 50 1000 20 3 2 7 0 0\n"), 5)
        with self.assertRaises(ValueError):
            sampling.parse_host_irq("intr 1\n")

    def test_own_run_time_and_rss(self):
        x = 0
        for i in range(200000):
            x += i
        self.assertGreater(sampling.tree_run_ns({os.getpid()}), 0)
        self.assertGreater(sampling.tree_rss({os.getpid()}), 1_000_000)
        self.assertEqual(sampling.tree_run_ns({2 ** 30}), 0)

    def test_other_cpu_ticks(self):
        def st(ppid, ticks):
            return {"ppid": ppid, "utime": ticks, "stime": 0}
        before = sampling.Snapshot(0, {10: st(1, 100), 11: st(1, 50), 20: st(2, 5), 30: st(1, 7)}, 0, 0, {}, {})
        after = sampling.Snapshot(1, {10: st(1, 180), 11: st(1, 50), 20: st(2, 9), 30: st(1, 20), 40: st(1, 3)},
                            0, 0, {}, {})
        # pid 30 is ours; 10 ran 80 ticks; 40 started in the window (3); 20 is a kernel thread.
        self.assertEqual(sampling.other_cpu_ticks(before, after, {30}), (83, 4))

    def test_status_fields(self):
        text = "Name:\tenvoy\nVmRSS:\t  70000 kB\nRssAnon:\t  9000 kB\nRssFile:\t 61000 kB\n"
        self.assertEqual(sampling.parse_status_kb(text, "RssAnon"), 9000 * 1024)
        self.assertEqual(sampling.parse_status_kb(text, "RssShmem"), 0)
        self.assertGreater(sampling.tree_rss_anon({os.getpid()}), 0)

    def test_envoy_stats(self):
        text = ("server.memory_allocated: 5242880\nhttp.outbound.downstream_cx_active: 3\n"
                "cluster.app.upstream_cx_active: 2\nlistener.x.histo: P0(nan,0)\n")
        s = sampling.parse_envoy_stats(text)
        self.assertEqual(s["server.memory_allocated"], 5242880)
        self.assertEqual(sampling.sum_stats(s, "cx_active"), 5)
        self.assertNotIn("listener.x.histo", s)


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


class Lock(unittest.TestCase):
    def test_chunks_and_gaps(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "quiet"
            clock = FakeClock()
            held = []  # (start, end) of each chunk
            lock = sampling.QuietLock(path, 480, 120, clock=clock, sleep=clock.sleep, log=lambda *a, **k: None)
            start = None
            for _ in range(100):
                lock.ensure(12)
                if start is None or lock.held_since != start:
                    if start is not None:
                        held.append((start, last_end))
                    start = lock.held_since
                self.assertTrue(path.exists())
                clock.sleep(12)
                last_end = clock.t
            held.append((start, last_end))
            lock.release()
            self.assertFalse(path.exists())
            self.assertGreaterEqual(len(held), 3)
            for (s, e) in held:
                self.assertLessEqual(e - s, 480)
            for (_, e), (s, _) in zip(held, held[1:]):
                self.assertGreaterEqual(s - e, 120)
            with self.assertRaises(ValueError):
                lock.ensure(481)

    def test_no_path_is_a_no_op(self):
        lock = sampling.QuietLock(None)
        lock.ensure(10)
        lock.release()
        self.assertEqual(lock.chunks, 0)

    def test_lock_removed_when_interrupted_by_sigterm(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "quiet"
            code = (f"import sys, os, signal, time; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r});"
                    "import mesh_sampling as sampling; from pathlib import Path;"
                    "signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()));"
                    f"lock = sampling.QuietLock(Path({str(path)!r}));\n"
                    "try:\n lock.ensure(5); print('held', flush=True); time.sleep(30)\n"
                    "except KeyboardInterrupt:\n pass\nfinally:\n lock.release()\n")
            proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
            self.assertEqual(proc.stdout.readline().strip(), "held")
            self.assertTrue(path.exists())
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            self.assertFalse(path.exists())


def run_row(run_id, cfg, rps, p50, cpu_per_req=None, disturbed=0, passes=2, proto="h1", conc=2):
    return {"run_id": str(run_id), "config": cfg, "dimension": "rate", "proto": proto, "conn_mode": "pooled",
            "payload_bytes": "1024", "concurrency": str(0 if cfg == "baseline" else conc), "target_rps": str(rps),
            "passes": str(0 if cfg == "baseline" else passes), "window_s": "10", "achieved_rps": str(rps),
            "requests_ok": str(rps * 10), "p50_us": str(p50), "p90_us": str(p50 * 2), "p99_us": str(p50 * 4),
            "p999_us": str(p50 * 8), "proxies_cpu_s": "" if cpu_per_req is None else str(cpu_per_req * rps * 10 / 1e6),
            "proxies_cpu_us_per_request": "" if cpu_per_req is None else str(cpu_per_req),
            "cpu_us_per_pass": "" if cpu_per_req is None else str(cpu_per_req / passes),
            "proxies_rss_mean_bytes": "", "host_busy_cpu_s": "1", "disturbed": str(disturbed)}


class Aggregation(unittest.TestCase):
    def test_added_latency_and_per_pass_cpu(self):
        runs = [run_row(1, "baseline", 1000, 100), run_row(2, "baseline", 1000, 120),
                run_row(3, "sidecar", 1000, 400, 200), run_row(4, "sidecar", 1000, 420, 220),
                run_row(5, "sidecar", 1000, 9000, 900, disturbed=1)]
        passes = [{"run_id": str(i), "role": role, "pass": grid.ROLE_PASS[role], "cpu_us_per_request": str(v),
                   "cpu_s": str(v * 10000 / 1e6), "rss_mean_bytes": "1000"}
                  for i, vals in ((3, (120, 80)), (4, (130, 90)), (5, (500, 400)))
                  for role, v in zip(("sidecar-out", "sidecar-in"), vals)]
        rows = output.aggregate(runs, passes)
        total = next(r for r in rows if r["config"] == "sidecar" and r["role"] == "all")
        self.assertEqual(total["runs_used"], 2)
        self.assertEqual(total["runs_disturbed"], 1)
        self.assertAlmostEqual(total["added_p50_us"], 410 - 110)
        self.assertAlmostEqual(total["added_p99_us"], 4 * 410 - 4 * 110)
        self.assertAlmostEqual(total["cpu_us_per_request"], 210)
        self.assertAlmostEqual(total["cpu_us_per_pass"], 105)
        out = next(r for r in rows if r["role"] == "sidecar-out")
        self.assertAlmostEqual(out["cpu_us_per_request"], 125)
        self.assertAlmostEqual(out["cpu_mc"], 125 * 1000 * 10 / 1e6 / 10 * 1000)
        base = next(r for r in rows if r["config"] == "baseline")
        self.assertIsNone(base["added_p50_us"])

    def test_headline_tables(self):
        runs = [run_row(1, "baseline", 1000, 100), run_row(2, "sidecar", 1000, 400, 200)]
        passes = [{"run_id": "2", "role": role, "pass": grid.ROLE_PASS[role], "cpu_us_per_request": str(v),
                   "cpu_s": "1", "rss_mean_bytes": "1"} for role, v in (("sidecar-out", 120), ("sidecar-in", 80))]
        summary = [{k: output.fmt_cell(v) for k, v in r.items()} for r in output.aggregate(runs, passes)]
        mem = [{"test": "base", "config": "sidecar", "role": "sidecar-out", "concurrency": "2", "rss_bytes": str(70 * 1048576),
                "rss_anon_bytes": str(10 * 1048576), "idle_cpu_mc": "1.5"}]
        slopes = [{"test": "connections", "config": "sidecar", "role": "sidecar-out", "concurrency": "2", "rss_bytes_per_unit": "20480"}]
        text = output.headline(summary, mem, slopes)
        self.assertRegex(text, r"\| sidecar \(client side, L7\) \(sidecar: sidecar-out\) \| 120 \| - \|")
        self.assertRegex(text, r"\| sidecar \| 2 \| 1000 \| 300 \| 600 \| 1200 \| 2400 \|")
        self.assertIn("| sidecar (client side, L7) (sidecar: sidecar-out) | 70.0 | 10.0 | 1.5 | 20.0 | - | - |", text)
        self.assertNotIn("| baseline |", text)

    def test_all_disturbed_runs_are_used_but_counted(self):
        rows = output.usable([{"disturbed": "1"}, {"disturbed": "1"}])
        self.assertEqual(len(rows), 2)

    def test_memory_slopes(self):
        mem = [{"test": "connections", "config": "l4", "role": "l4-in", "concurrency": "2", "level": str(n),
                "level_unit": "idle connections", "rss_bytes": str(10_000_000 + 30_000 * n),
                "envoy_allocated_bytes": str(5_000_000 + 20_000 * n), "in_flight_expected": "", "disturbed": "0"}
               for n in (0, 100, 1000, 4000)]
        mem.append(dict(mem[-1], level="8000", rss_bytes="1", disturbed="1"))
        s = output.memory_slopes(mem)[0]
        self.assertEqual(s["points"], 4)
        self.assertAlmostEqual(s["rss_bytes_per_unit"], 30_000)
        self.assertAlmostEqual(s["rss_intercept_bytes"], 10_000_000)
        self.assertAlmostEqual(s["allocated_bytes_per_unit"], 20_000)
        self.assertIsNone(output.linear_fit([1, 1], [2, 3]))
        # A group whose every point was disturbed is still fitted, and says so.
        noisy = [dict(r, disturbed="1") for r in mem[:4]]
        s = output.memory_slopes(noisy)[0]
        self.assertEqual((s["points"], s["points_disturbed"]), (4, 4))

    def test_csv_sink_and_summaries_round_trip(self):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d)
            runs = output.CsvSink(out / "runs.csv", output.RUNS_HEADER)
            output.CsvSink(out / "passes.csv", output.PASSES_HEADER)
            r = run_row(1, "baseline", 100, 150)
            runs.write(r)
            runs.write(dict(run_row(2, "l4", 100, 250, 50), disturbed=False))
            with self.assertRaises(ValueError):
                runs.write({"no_such_column": 1})
            output.write_summaries(out)
            with open(out / "summary-cpu-latency.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            self.assertEqual(list(rows[0].keys()), output.SUMMARY_HEADER)
            l4 = next(x for x in rows if x["config"] == "l4")
            self.assertEqual(float(l4["added_p50_us"]), 100.0)
            self.assertEqual(output.fmt_cell(True), "1")
            self.assertEqual(output.fmt_cell(0.5), "0.500")


class Resume(unittest.TestCase):
    def test_finished_runs_are_clean_ones_or_repeats(self):
        rows = [dict(run_row(1, "l4", 100, 200, 50), run="1", attempt="1", disturbed="0"),
                dict(run_row(2, "l4", 100, 200, 50), run="2", attempt="1", disturbed="1"),
                dict(run_row(3, "l4", 100, 200, 50), run="3", attempt="1", disturbed="1"),
                dict(run_row(4, "l4", 100, 200, 50), run="3", attempt="2", disturbed="1")]
        done = output.runs_done(rows)
        key = output.point_key(grid.Point("l4", "h1", "pooled", 1024, 2, 100, "rate"))
        self.assertEqual(done, {(key, 1), (key, 3)})

    def test_sink_resumes_only_its_own_format(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "runs.csv"
            output.CsvSink(path, output.RUNS_HEADER).write({"run_id": 1})
            output.CsvSink(path, output.RUNS_HEADER, resume=True).write({"run_id": 2})
            self.assertEqual([r["run_id"] for r in output.read_csv(path)], ["1", "2"])
            with self.assertRaises(ValueError):
                output.CsvSink(path, output.PASSES_HEADER, resume=True)


class Payloads(unittest.TestCase):
    def test_sizes(self):
        for size in grid.PAYLOAD_SIZES:
            self.assertEqual(len(setup.payload(size)), size)
        with tempfile.TemporaryDirectory() as d:
            setup.write_www(Path(d))
            self.assertEqual((Path(d) / "www" / "65536").stat().st_size, 65536)


class EntryPoint(unittest.TestCase):
    def test_dry_run_prints_the_grid(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = mesh_bench.main(["--dry-run", "--grid", "smoke", "--configs", "baseline,sidecar", "--runs", "1"])
        self.assertEqual(code, 0)
        self.assertIn("2 points x 1 runs", out.getvalue())
        self.assertIn("  sidecar smoke h1 pooled 1024B c2 200 rps", out.getvalue())


if __name__ == "__main__":
    unittest.main()
