"""Tests of calibration/fit_loopback.py: the wake-up fit recovers known parameters, and the
committed models are what the script writes from the committed results.

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


class CommittedModels(unittest.TestCase):
    def test_committed_models_match_the_fit(self):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        done = subprocess.run([sys.executable, "calibration/fit_loopback.py", "--check"], cwd=root, capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)


if __name__ == "__main__":
    unittest.main()
