"""Tests of xds_apply.py's pure parts (no Envoy needed); the end-to-end check at the bottom
runs only where an Envoy is found (XDS_APPLY_ENVOY, or `envoy` on PATH):
python3 -m unittest discover -s calibration/bench"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xds_apply as xa  # noqa: E402


def decode(buf: bytes) -> list[tuple[int, object]]:
    """Protobuf wire format to (field, value) pairs: varints as ints, the rest as bytes."""
    out, i = [], 0

    def varint():
        nonlocal i
        shift = v = 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while i < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out.append((field, varint()))
        elif wire == 2:
            n = varint()
            out.append((field, buf[i:i + n]))
            i += n
        else:
            raise ValueError(f"wire type {wire}")
    return out


def field(msg: bytes, number: int) -> list:
    return [v for f, v in decode(msg) if f == number]


class Updates(unittest.TestCase):
    def test_varint(self):
        self.assertEqual(xa._varint(0), b"\x00")
        self.assertEqual(xa._varint(1), b"\x01")
        self.assertEqual(xa._varint(300), b"\xac\x02")
        with self.assertRaises(ValueError):
            xa._varint(-1)

    def test_endpoint_sets(self):
        a, b = xa.endpoint_set(1000, 0, "full"), xa.endpoint_set(1000, 1, "full")
        self.assertEqual(len(set(a)), 1000)
        self.assertFalse(set(a) & set(b))
        a1, b1 = xa.endpoint_set(1000, 0, "one"), xa.endpoint_set(1000, 1, "one")
        self.assertEqual(len(set(a1) & set(b1)), 999)
        self.assertEqual(xa.endpoint_ip(65536 + 257, 1), "10.65.1.1")
        with self.assertRaises(ValueError):
            xa.endpoint_set(3, 0, "some")

    def test_eds_pb_holds_every_endpoint(self):
        eps = xa.endpoint_set(300, 1, "full")
        body = xa.update_bytes("eds", "pb", 300, 1, "full", "v")
        self.assertEqual(field(body, 1), [b"v"])
        self.assertEqual(field(body, 4), [xa.EDS_TYPE.encode()])
        (any_msg,) = field(body, 2)
        self.assertEqual(field(any_msg, 1), [xa.EDS_TYPE.encode()])
        (cla,) = field(any_msg, 2)
        self.assertEqual(field(cla, 1), [xa.CLUSTER.encode()])
        (locality,) = field(cla, 2)
        got = []
        for lb in field(locality, 2):
            (sock,) = field(field(field(lb, 1)[0], 1)[0], 1)
            got.append((field(sock, 2)[0].decode(), field(sock, 3)[0]))
        self.assertEqual(got, eps)

    def test_cds_pb_clusters(self):
        body = xa.update_bytes("cds", "pb", 3, 0, "", "v")
        clusters = [field(a, 2)[0] for a in field(body, 2)]
        self.assertEqual([field(c, 1)[0].decode() for c in clusters], xa.cluster_names(3, 0))
        self.assertEqual(field(field(clusters[0], 4)[0], 1), [1])   # connect_timeout 1 s
        self.assertEqual(len(field(clusters[0], 33)), 1)             # load_assignment

    def test_json_matches_pb(self):
        data = json.loads(xa.update_bytes("eds", "json", 5, 0, "one", "v"))
        lbs = data["resources"][0]["endpoints"][0]["lb_endpoints"]
        got = [(e["endpoint"]["address"]["socket_address"]["address"],
                e["endpoint"]["address"]["socket_address"]["port_value"]) for e in lbs]
        self.assertEqual(got, xa.endpoint_set(5, 0, "one"))
        cds = json.loads(xa.update_bytes("cds", "json", 2, 1, "", "v"))
        self.assertEqual([r["name"] for r in cds["resources"]], xa.cluster_names(2, 1))

    def test_with_version(self):
        for fmt in ("pb", "json"):
            body = xa.update_bytes("eds", fmt, 4, 0, "full", "v")
            again = xa.update_bytes("eds", fmt, 4, 0, "full", "v123")
            self.assertEqual(xa.with_version(body, fmt, "v123"), again)
        with self.assertRaises(ValueError):
            xa.with_version(b"\x0a\x01x", "pb", "v2")

    def test_bootstrap(self):
        b = xa.bootstrap("eds", 1234, Path("/x/eds.pb"))
        (c,) = b["static_resources"]["clusters"]
        self.assertEqual(c["eds_cluster_config"]["eds_config"]["path_config_source"]["path"], "/x/eds.pb")
        self.assertEqual(b["admin"]["address"]["socket_address"]["port_value"], 1234)
        self.assertIn("cds_config", xa.bootstrap("cds", 1, Path("/x/cds.pb"))["dynamic_resources"])


class Stats(unittest.TestCase):
    def test_counts(self):
        eds = {"cluster.svc.update_success": 4, "cluster.svc.update_rejected": 1, "cluster.svc.membership_total": 9}
        self.assertEqual(xa.applied_count("eds", eds), 4)
        self.assertEqual(xa.rejected_count("eds", eds), 1)
        self.assertEqual(xa.config_size("eds", eds), 9)
        cds = {"cluster_manager.cds.update_success": 2, "cluster_manager.active_clusters": 7}
        self.assertEqual(xa.applied_count("cds", cds), 2)
        self.assertEqual(xa.rejected_count("cds", cds), 0)
        self.assertEqual(xa.config_size("cds", cds), 7)
        self.assertTrue(re.search(xa.stats_pattern("eds"), "cluster.svc.update_success"))
        self.assertFalse(re.search(xa.stats_pattern("eds"), "cluster.svc.update_success_x"))
        self.assertTrue(re.search(xa.stats_pattern("cds"), "cluster_manager.cds.update_success"))


class Arithmetic(unittest.TestCase):
    def test_poll_and_idle_recovered(self):
        per_poll, idle = 800.0, 3.0   # per poll, per second (any unit)
        cp = 50 * per_poll + 0.6 * idle
        cc = 100 * per_poll + 5.2 * idle
        pp, ir = xa.poll_and_idle_cost(cp, 50, 0.6, cc, 100, 5.2)
        self.assertAlmostEqual(pp, per_poll)
        self.assertAlmostEqual(ir, idle)
        with self.assertRaises(ValueError):
            xa.poll_and_idle_cost(1, 10, 1.0, 2, 20, 2.0)

    def test_apply_cost_removes_polls_and_idle(self):
        cu = 100 * 500 + 110 * 800 + 5.5 * 3.0     # 100 updates, 10 extra polls, 0.3 s longer
        cc = 100 * 800 + 5.2 * 3.0
        self.assertAlmostEqual(xa.apply_cost(cu, 110, 5.5, 100, cc, 100, 5.2, 800.0, 3.0), 500)

    def test_fit(self):
        xs = [10, 100, 1000, 10, 100, 1000]
        f = xa.fit_with_errors(xs, [0.5 + 0.01 * x for x in xs])
        self.assertAlmostEqual(f["base"], 0.5)
        self.assertAlmostEqual(f["slope"], 0.01)
        self.assertAlmostEqual(f["slope_se"], 0.0)
        self.assertAlmostEqual(f["r2"], 1.0)
        noisy = xa.fit_with_errors([1, 2, 3, 4], [1.0, 2.2, 2.8, 4.1])
        self.assertGreater(noisy["slope_se"], 0)
        self.assertGreater(noisy["base_se"], noisy["slope_se"])
        self.assertIsNone(xa.fit_with_errors([1, 1], [2, 3]))
        self.assertIsNone(xa.fit_with_errors([1, 2], [2, 3])["slope_se"])
        # Weighted: a wild point at large x moves the base less.
        xs, ys = [10, 10, 100, 100, 10000], [0.6, 0.6, 1.5, 1.5, 130.0]
        plain, rel = xa.fit_with_errors(xs, ys), xa.fit_with_errors(xs, ys, [1 / x ** 2 for x in xs])
        self.assertLess(abs(rel["base"] - 0.5), abs(plain["base"] - 0.5))
        self.assertAlmostEqual(xa.fit_with_errors([1, 2, 3], [1, 2, 3], [1, 5, 9])["slope"], 1.0)

    def test_wait_and_count(self):
        self.assertEqual(xa.wait_and_count([0.01, 0.02], 0.05, 5, 6, 200, None), (0.05, 100))
        self.assertEqual(xa.wait_and_count([1.0], 0.05, 5, 6, 200, None), (2.0, 6))
        self.assertEqual(xa.wait_and_count([0.001], 0.05, 5, 6, 50, None), (0.05, 50))
        self.assertEqual(xa.wait_and_count([0.001], 0.05, 5, 6, 50, 8), (0.05, 8))

    def test_quartiles(self):
        self.assertEqual(xa.quartiles([3.0]), (3.0, 3.0, 3.0))
        self.assertEqual(xa.quartiles([1.0, 2.0, 3.0, 4.0, 5.0]), (2.0, 3.0, 4.0))

    def test_parsing(self):
        self.assertEqual(xa.parse_sizes("1000, 10,10_000,10"), [10, 1000, 10000])
        for bad in ("0", "", "100001"):
            with self.assertRaises(argparse.ArgumentTypeError):
                xa.parse_sizes(bad)
        self.assertEqual(xa.parse_series("eds,eds:one:json,cds::pb"),
                         [("eds", "full", "pb"), ("eds", "one", "json"), ("cds", "", "pb")])
        for bad in ("lds", "eds:half", "cds:full", "eds:full:yaml"):
            with self.assertRaises(argparse.ArgumentTypeError):
                xa.parse_series(bad)

    def test_summarize(self):
        rows = [{"kind": "eds", "change": "full", "format": "pb", "size": n, "run": r,
                 "apply_cpu_ms": 0.4 + 0.008 * n + 0.01 * r, "apply_cpu_ms_ticks": 0.4 + 0.008 * n,
                 "updates": 20, "file_bytes": 22 * n, "poll_cpu_us": 800, "idle_cpu_mc": 2}
                for n in (10, 100, 1000) for r in (1, 2, 3)]
        summary, fits = xa.summarize(rows)
        self.assertEqual([s["size"] for s in summary], [10, 100, 1000])
        self.assertAlmostEqual(summary[1]["apply_cpu_ms_median"], 0.4 + 0.8 + 0.02)
        (f, ft) = fits
        self.assertEqual(f["cpu"], "apply_cpu_ms")
        self.assertAlmostEqual(f["fit_all_runs"]["slope"], 0.008)
        self.assertAlmostEqual(f["fit_all_runs"]["base"], 0.42)
        self.assertAlmostEqual(ft["fit_medians"]["base"], 0.4)
        self.assertAlmostEqual(f["per_run_base_range"][0], 0.41)
        self.assertAlmostEqual(f["per_run_base_range"][1], 0.43)
        self.assertAlmostEqual(f["per_run_slope_range"][1], 0.008)


class Outputs(unittest.TestCase):
    def test_aggregate_rewrites_summaries(self):
        rows = [{k: "" for k in xa.RUN_FIELDS} | {"kind": "eds", "change": "one", "format": "pb", "size": n, "run": r,
                                                  "apply_cpu_ms": 0.5 + 0.002 * n, "apply_cpu_ms_ticks": 0.5,
                                                  "updates": 10, "file_bytes": 20 * n, "poll_cpu_us": 800,
                                                  "idle_cpu_mc": 1}
                for n in (10, 1000) for r in (1, 2, 3)]
        env = {"command": "python3 x", "envoy": "envoy 1.40.0", "cpu_model": "cpu", "cpus": 2, "kernel": "k",
               "date_utc": "today", "concurrency": 2}
        with tempfile.TemporaryDirectory() as d:
            xa.write_csv(Path(d) / "runs.csv", xa.RUN_FIELDS, rows)
            (Path(d) / "environment.json").write_text(json.dumps(env))
            self.assertEqual(xa.main(["--aggregate", d]), 0)
            page = (Path(d) / "summary.md").read_text()
            self.assertIn("| eds:one:pb | endpoint | 0.500 ± 0.000 | 2.000 ± 0.000 | 1.0000 | 0.500 ± 0.000 | "
                          "2.000 ± 0.000 | 2.000 to 2.000 |", page)
            self.assertIn("envoy 1.40.0", page)
            self.assertEqual(len(xa.read_csv(Path(d) / "summary.csv")), 2)


class EnvoyBinary(unittest.TestCase):
    def test_script_resolves_to_packaged_binary(self):
        with tempfile.TemporaryDirectory() as d:
            venv = Path(d)
            (venv / "bin").mkdir()
            script = venv / "bin" / "envoy"
            script.write_text("#!/usr/bin/python3\n")
            binary = venv / "lib" / "python3.11" / "site-packages" / "envoy" / "_bin" / "envoy"
            binary.parent.mkdir(parents=True)
            binary.write_bytes(b"\x7fELF")
            self.assertEqual(xa.envoy_binary(str(script)), str(binary))
            self.assertEqual(xa.envoy_binary(str(binary)), str(binary))
            self.assertEqual(xa.envoy_binary("/nonexistent/envoy"), "/nonexistent/envoy")


def found_envoy() -> str | None:
    return os.environ.get("XDS_APPLY_ENVOY") or shutil.which("envoy")


@unittest.skipUnless(found_envoy(), "no Envoy (set XDS_APPLY_ENVOY)")
class EndToEnd(unittest.TestCase):
    def test_small_run(self):
        with tempfile.TemporaryDirectory() as d:
            cmd = [sys.executable, xa.__file__, "--envoy", found_envoy(), "--sizes", "10,100", "--runs", "1",
                   "--series", "eds:full:pb", "--phase-seconds", "0.5", "--settle", "0.2", "--out", d]
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
            fits = json.loads((Path(d) / "fit.json").read_text())
            self.assertGreater(fits[0]["fit_all_runs"]["slope"], 0)


if __name__ == "__main__":
    unittest.main()
