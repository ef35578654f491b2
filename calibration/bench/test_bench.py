"""Tests of bench.py's pure parts: python3 -m unittest discover calibration/bench"""

import csv
import io
import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

STAT = ("1234 (haproxy) S 1 1234 1234 0 -1 4194560 3120 0 0 0 250 75 0 0 20 0 2 0 "
        "1000 123456789 2000 18446744073709551615 1 1 0 0 0 0 0 4096 1 0 0 0 17 1 0 0 0 0 0")


class ProcParsing(unittest.TestCase):
    def test_stat_fields(self):
        st = bench.parse_proc_stat(STAT)
        self.assertEqual(st["pid"], 1234)
        self.assertEqual(st["comm"], "haproxy")
        self.assertEqual(st["state"], "S")
        self.assertEqual(st["ppid"], 1)
        self.assertEqual(st["utime"], 250)
        self.assertEqual(st["stime"], 75)
        self.assertEqual(st["num_threads"], 2)

    def test_stat_comm_with_spaces_and_parens(self):
        line = STAT.replace("(haproxy)", "(we (ird) name)")
        st = bench.parse_proc_stat(line)
        self.assertEqual(st["comm"], "we (ird) name")
        self.assertEqual((st["utime"], st["stime"], st["ppid"]), (250, 75, 1))

    def test_stat_of_this_process(self):
        st = bench.parse_proc_stat(Path("/proc/self/stat").read_text())
        self.assertEqual(st["pid"], os.getpid())
        self.assertGreaterEqual(st["utime"] + st["stime"], 0)

    def test_vmrss(self):
        text = "Name:\thaproxy\nVmPeak:\t  20000 kB\nVmRSS:\t    8192 kB\nThreads:\t2\n"
        self.assertEqual(bench.parse_vmrss(text), 8192 * 1024)
        self.assertEqual(bench.parse_vmrss("Name:\tzombie\nState:\tZ (zombie)\n"), 0)

    def test_host_cpu(self):
        text = "cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n"
        self.assertEqual(bench.parse_host_cpu(text), (160, 1187))
        busy, total = bench.parse_host_cpu(Path("/proc/stat").read_text())
        self.assertLessEqual(busy, total)
        with self.assertRaises(ValueError):
            bench.parse_host_cpu("intr 1\n")

    def test_descendants(self):
        parent_of = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
        self.assertEqual(bench.descendants(10, parent_of), {10, 11, 12, 13})
        self.assertEqual(bench.descendants(21, parent_of), {21})
        self.assertEqual(bench.descendants(99, parent_of), set())


class Units(unittest.TestCase):
    def test_nanocores(self):
        # 50 ticks at 100 Hz over 1 s = 0.5 CPU-s/s = 500 mC = 5e8 nanocores
        self.assertEqual(bench.nanocores(50, 100, 1.0), 500_000_000)
        self.assertEqual(bench.nanocores(50, 100, 2.0), 250_000_000)
        self.assertEqual(bench.nanocores(0, 100, 1.0), 0)
        with self.assertRaises(ValueError):
            bench.nanocores(1, 100, 0)

    def test_steady_state_drops_ramp(self):
        vals = [0, 0, 100, 101, 99, 100, 140, 0]
        kept = bench.steady_state(vals)
        self.assertTrue(all(v >= 99 for v in kept))
        self.assertNotIn(140, kept)


class Formats(unittest.TestCase):
    def test_file_names(self):
        self.assertEqual(bench.metrics_filename(800, 2), "800-2-metrics.csv")
        self.assertEqual(bench.load_filename(800, 2), "800-2-load.log")

    def test_metrics_header(self):
        h = bench.METRICS_HEADER
        self.assertEqual(h[0], "timestamp")
        for col in ("proxy mesh CPU", "proxy mesh mem", "data-plane CPU", "data-plane mem"):
            self.assertIn(col, h)

    def test_levels(self):
        self.assertEqual(bench.parse_levels("200, 400,800"), [200, 400, 800])
        for bad in ("", "0", "200,-1", ",".join(["1"] * 100)):
            with self.assertRaises(ValueError):
                bench.parse_levels(bad)

    def test_render_template_keeps_other_braces(self):
        t = "events { x; }\nlisten 127.0.0.1:{listen_port}; server 127.0.0.1:{backend_port}; {other}"
        out = bench.render_template(t, {"listen_port": 1, "backend_port": 2})
        self.assertEqual(out, "events { x; }\nlisten 127.0.0.1:1; server 127.0.0.1:2; {other}")

    def test_rendered_config_name(self):
        self.assertEqual(bench.rendered_config_name("haproxy.cfg.in"), "haproxy.cfg")
        self.assertEqual(bench.rendered_config_name("envoy.yaml"), "envoy.yaml")

    def test_oha_json_and_load_log_round_trip(self):
        data = {
            "summary": {"successRate": 1.0, "total": 20.0, "slowest": 0.004, "fastest": 0.0001,
                        "average": 0.0005, "requestsPerSec": 399.95},
            "latencyPercentiles": {"p50": 0.0004, "p90": 0.0007, "p99": 0.0015, "p99.9": 0.003},
            "statusCodeDistribution": {"200": 7999},
            "errorDistribution": {},
        }
        r = bench.parse_oha_json(data)
        self.assertAlmostEqual(r["p50_ms"], 0.4)
        self.assertAlmostEqual(r["p99_ms"], 1.5)
        self.assertEqual(r["requests"], 7999)
        log = bench.format_load_log(400, 20, r, "# header")
        self.assertRegex(log, r"(?m)^Requests/sec:\s+399\.95$")
        self.assertRegex(log, r"(?m)^p50_ms: 0\.400$")
        back = bench.parse_load_log(log)
        self.assertAlmostEqual(back["requests_per_sec"], 399.95)
        self.assertAlmostEqual(back["p90_ms"], 0.7)
        self.assertAlmostEqual(back["p99_ms"], 1.5)


class SamplerFile(unittest.TestCase):
    def test_sampler_writes_gsd_rows_for_this_process(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / bench.metrics_filename(100, 1)
            s = bench.Sampler(path, {"proxy": os.getpid(), "backend": None, "load": None},
                              os.sysconf("SC_CLK_TCK"), interval_s=0.2)
            s.start()
            # Burn CPU (so the samples are not all zero) until two samples are written, at
            # least 0.7 s, at most 10 s: on a loaded machine the sampler thread runs late.
            start = time.monotonic()
            while time.monotonic() - start < 10:
                if time.monotonic() - start >= 0.7 and path.exists() and path.read_text().count("\n") >= 3:
                    break
            s.stop_event.set()
            s.join(timeout=5)
            self.assertIsNone(s.error)
            rows = list(csv.DictReader(io.StringIO(path.read_text())))
            self.assertGreaterEqual(len(rows), 2)
            self.assertEqual(list(rows[0].keys()), bench.METRICS_HEADER)
            self.assertEqual(rows[0]["proxy mesh CPU"], rows[0]["data-plane CPU"])
            self.assertGreater(int(rows[-1]["proxy mesh mem"]), 1_000_000)
            self.assertEqual(rows[0]["backend app CPU"], "")
            self.assertGreater(int(rows[-1]["host CPU"]), 0)
            self.assertRegex(rows[0]["timestamp"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
            self.assertGreater(max(int(r["proxy mesh CPU"]) for r in rows), 100_000_000)


if __name__ == "__main__":
    unittest.main()
