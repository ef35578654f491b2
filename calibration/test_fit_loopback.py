"""Tests of calibration/fit_loopback.py: the wake-up fit recovers known parameters, the pass
latency fit passes through the measured percentiles, and the committed models are what the
script writes from the committed results.

Run from the repository's root: python3 -m unittest calibration/test_fit_loopback.py
"""

import math
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fit_loopback  # noqa: E402


class FitWake(unittest.TestCase):
    def test_recovers_base_wake_and_tau_from_exact_points(self):
        base, wake, tau_ms = 200.0, 600.0, 1.5
        pts = [(r, base + wake * math.exp(-r * tau_ms / 1e3)) for r in (100, 300, 1000, 2000, 4000)]
        b, w, tau, err, flat = fit_loopback.fit_wake(pts)
        self.assertAlmostEqual(b, base, delta=5.0)
        self.assertAlmostEqual(w, wake, delta=15.0)
        self.assertAlmostEqual(tau, tau_ms, delta=0.05)
        self.assertLess(err, 0.01)
        self.assertGreater(flat, 0.3)

    def test_a_flat_series_gets_no_wake_up(self):
        b, w, _, err, _ = fit_loopback.fit_wake([(100, 50.0), (1000, 50.0), (4000, 50.0)])
        self.assertAlmostEqual(b, 50.0)
        self.assertLess(w, 1e-6)
        self.assertLess(err, 1e-9)


class PassLatency(unittest.TestCase):
    ROW = {"added_p50_us": "1367.4", "added_p90_us": "2333.0", "added_p99_us": "5034.3",
           "added_p999_us": "15492.4", "achieved_rps": "100.0"}

    def test_per_pass_percentiles_are_the_paths_over_its_passes(self):
        lat = fit_loopback.pass_latency(self.ROW, 2)
        self.assertEqual([round(x, 2) for x in lat["p"]], [683.7, 1166.5, 2517.15])
        self.assertAlmostEqual(lat["p999"], 7746.2)

    def test_the_fit_passes_through_every_percentile(self):
        p = [683.7, 1166.5, 2517.1]
        for z, want in zip([0.0, fit_loopback.Z_P90, fit_loopback.Z_P99], p):
            self.assertAlmostEqual(fit_loopback.latency_at_score(p, z), want, places=6)
        # Tails heavier than a lognormal's: the least-squares lognormal misses (by 13% here).
        self.assertGreater(fit_loopback.fit_lognormal(p)[2], 0.1)

    def test_lognormal_points_give_that_lognormal(self):
        mu, sigma = math.log(300.0), 0.6
        p = [math.exp(mu + sigma * z) for z in (0.0, fit_loopback.Z_P90, fit_loopback.Z_P99)]
        m, s, err = fit_loopback.fit_lognormal(p)
        self.assertAlmostEqual(m, mu, places=9)
        self.assertAlmostEqual(s, sigma, places=9)
        self.assertLess(err, 1e-9)
        self.assertAlmostEqual(fit_loopback.latency_at_score(p, fit_loopback.Z_P999), math.exp(mu + sigma * fit_loopback.Z_P999), places=6)

    def test_rendered_latency_is_the_percentile_form(self):
        wake = {"base": 210.7, "wake": 581.7}
        lines = fit_loopback.render_latency(fit_loopback.pass_latency(self.ROW, 2), "sidecar", wake)
        self.assertIn('p90 = "1166.5us"', lines)
        self.assertTrue(any(l.startswith('includes_cpu = "792.4us"') for l in lines), lines)
        self.assertFalse(any(l.startswith("fixed") for l in lines))


class ZtunnelFit(unittest.TestCase):
    """The ztunnel fit on results written here: one process, two passes per request."""

    def write_results(self, folder, base_us, wake_us, tau_ms):
        cpu_header = "config,dimension,target_rps,role,runs_used,achieved_rps,cpu_us_per_request,added_p50_us\n"
        rows = []
        for rps in (100, 500, 1000, 2000, 4000, 8000):
            per_request = 2 * base_us + wake_us * math.exp(-rps * tau_ms / 1e3)
            rows.append(f"ztunnel,rate,{rps},ztunnel,2,{rps},{per_request},\n")
            rows.append(f"ztunnel,rate,{rps},all,2,{rps},{per_request},{per_request + 40}\n")
        rows.append("ztunnel,rate,100,ztunnel,0,100,99999,\n")  # no usable run: ignored
        new = 2 * base_us + wake_us * math.exp(-1000 * tau_ms / 1e3) + 600
        rows.append(f"ztunnel,new-connection,1000,ztunnel,2,1000,{new},\n")
        with open(os.path.join(folder, "summary-cpu-latency.csv"), "w") as f:
            f.write(cpu_header + "".join(rows))
        with open(os.path.join(folder, "summary-memory.csv"), "w") as f:
            f.write("test,concurrency,rss_bytes_per_unit\nconnections,2,12000\nendpoints,2,3000\nin-flight,2,16000\n"
                    "connections,1,99999\n")
        with open(os.path.join(folder, "memory.csv"), "w") as f:
            f.write("test,concurrency,rss_bytes,idle_cpu_mc\nbase,1,1,9.9\nbase,2,17000000,4.5\n")

    def test_recovers_per_pass_base_whole_wake_up_and_halved_memory_slopes(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            self.write_results(d, base_us=50.0, wake_us=300.0, tau_ms=0.6)
            f = fit_loopback.ztunnel_fit(d)
        self.assertAlmostEqual(f["base"], 50.0, delta=2.0)
        self.assertAlmostEqual(f["wake"], 300.0, delta=10.0)
        self.assertAlmostEqual(f["tau"], 0.6, delta=0.03)
        self.assertLess(f["err"], 0.01)
        self.assertAlmostEqual(f["new_conn"], 300.0, delta=1e-6)
        self.assertEqual((f["conn"], f["inflight"], f["endpoint"]), (6000.0, 8000.0, 3000.0))
        self.assertEqual((f["rss"], f["idle"]), (17000000.0, 4.5))
        self.assertAlmostEqual(fit_loopback.fitted_us(f, 1e9), f["base"])
        text = fit_loopback.render_ztunnel(f)
        self.assertIn('profile = "loopback-2026"', text)
        self.assertIn('kind = "ztunnel"', text)


class CommittedModels(unittest.TestCase):
    def test_committed_models_match_the_fit(self):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        done = subprocess.run([sys.executable, "calibration/fit_loopback.py", "--check"], cwd=root, capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)


if __name__ == "__main__":
    unittest.main()
