"""Tests of calibration/wrk2_latency.py on a wrk2 report written here: percentiles in every
unit wrk2 prints, the detailed spectrum, pooling two pods, and the per-level table.

Run from the repository's root: python3 -m unittest calibration/test_wrk2_latency.py
"""

import contextlib
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wrk2_latency  # noqa: E402


def report(p50, p99, spectrum):
    rows = "\n".join(f"{ms:>12.3f} {q:>12.6f} {n:>12d} {1.0:>12.2f}" for ms, q, n in spectrum)
    return (
        "  8 threads and 200 connections\n"
        "  Thread calibration: mean lat.: 9.500ms, rate sampling interval: 20ms\n"
        "  Thread calibration: mean lat.: 24.000ms, rate sampling interval: 50ms\n"
        "  Latency Distribution (HdrHistogram - Recorded Latency)\n"
        f" 50.000%    {p50}\n 90.000%    9.00ms\n 99.000%    {p99}\n\n"
        "  Detailed Percentile spectrum:\n       Value   Percentile   TotalCount 1/(1-Percentile)\n\n"
        f"{rows}\n#[Mean    =        8.000, StdDeviation   =        1.000]\n"
        "Requests/sec:     20.00\n"
    )


class Wrk2Latency(unittest.TestCase):
    def test_percentiles_read_every_unit(self):
        p = wrk2_latency.percentiles(report("812.00us", "1.20s", []))
        self.assertAlmostEqual(p[50.0], 0.812)
        self.assertAlmostEqual(p[90.0], 9.0)
        self.assertAlmostEqual(p[99.0], 1200.0)

    def test_two_pods_pool_their_requests(self):
        a = wrk2_latency.spectrum(report("5ms", "9ms", [(1.0, 0.5, 50), (2.0, 1.0, 100)]))
        b = wrk2_latency.spectrum(report("5ms", "9ms", [(10.0, 0.5, 150), (20.0, 1.0, 300)]))
        self.assertEqual(a, [(1.0, 50), (2.0, 100)])
        # 400 requests: 100 at 1-2 ms, 300 at 10-20 ms, so the pooled median is 10 ms.
        self.assertEqual(wrk2_latency.pooled([a, b], 0.5), 10.0)
        self.assertEqual(wrk2_latency.pooled([a, b], 0.99), 20.0)

    def test_the_table_averages_pod_percentiles_per_level(self):
        with tempfile.TemporaryDirectory() as d:
            for name, p50 in [("60-1-wrk2-a.log", "10.00ms"), ("60-1-wrk2-b.log", "30.00ms")]:
                with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                    f.write(report(p50, "100.00ms", [(1.0, 1.0, 10)]))
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                self.assertEqual(wrk2_latency.main(["wrk2_latency.py", d, "--pods"]), 0)
        row = next(line for line in out.getvalue().splitlines() if line.startswith("   60"))
        self.assertEqual(row.split()[:4], ["60", "2", "20.00", "100.00"])
        self.assertIn("threads 10 24", out.getvalue())


if __name__ == "__main__":
    unittest.main()
