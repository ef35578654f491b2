"""Tests of calibration/istio_telemetry.py: the pairing and the median on a small file, and,
where Istio's benchmark lies (shared/data/istio-benchmark), that the committed derivation is
what the script makes of it.

Run from the repository's root: python3 -m unittest calibration/test_istio_telemetry.py
"""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import istio_telemetry  # noqa: E402

HEADER = "StartTime,ActualDuration,Labels,NumThreads,ActualQPS,p50,p90,p99,cpu_mili_avg_istio_proxy_fortioclient,cpu_mili_avg_istio_proxy_fortioserver\n"


def row(label, qps, client_mc, server_mc):
    return f"t,240,{label},16,{qps},1,1,1,{client_mc},{server_mc}\n"


class Derive(unittest.TestCase):
    def test_pairs_match_rate_and_connections_and_the_median_skips_low_rates(self):
        text = HEADER + "".join([
            row("a_qps_1000_c_16_1024_none_mtls_both", 1000, 200, 200),      # 200 us a pass
            row("b_qps_1000_c_16_1024_v2-stats-nullvm_both", 1000, 260, 280),  # 270: +70
            row("c_qps_2000_c_16_1024_none_mtls_both", 2000, 300, 300),      # 150
            row("d_qps_2000_c_16_1024_v2-stats-nullvm_both", 2000, 400, 400),  # 200: +50
            row("e_qps_2000_c_64_1024_v2-stats-nullvm_both", 2000, 400, 400),  # no partner
            row("f_qps_100_c_16_1024_none_mtls_both", 100, 30, 30),          # 300
            row("g_qps_100_c_16_1024_v2-stats-nullvm_both", 100, 50, 50),    # 500: +200, below 500 rps
            row("h_qps_1000_c_16_1024_none_mtls_baseline", 1000, 0, 0),      # no sidecars: ignored
        ])
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write(text)
        try:
            pairs, median, n = istio_telemetry.derive(istio_telemetry.per_pass_us(f.name))
        finally:
            os.unlink(f.name)
        self.assertEqual([(p[0], p[1]) for p in pairs], [(100, 16), (1000, 16), (2000, 16)])
        self.assertEqual(n, 2)
        self.assertAlmostEqual(median, 60.0)


class Committed(unittest.TestCase):
    def test_the_committed_figure_is_what_the_script_derives(self):
        source = istio_telemetry.default_csv()
        if not os.path.exists(source):
            print(f"skipped: {source} is absent (Istio's benchmark results)")
            return
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        r = subprocess.run([sys.executable, "calibration/istio_telemetry.py", "--check"], cwd=root, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
