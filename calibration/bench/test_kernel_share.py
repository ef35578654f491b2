"""Tests of kernel_share.py's per-hop derivation (no processes are started)."""

import unittest

import kernel_share


def row(hops, mode, resp, node, softirq=0.0, relays=0.0, outside=0.0):
    return {"hops": hops, "mode": mode, "response_bytes": resp, "node_cpu_us": node,
            "node_softirq_us": softirq, "relays_us": relays, "outside_us": outside}


class Derive(unittest.TestCase):
    def test_slopes_recover_a_linear_cost_per_hop_connection_and_kib(self):
        # node CPU = 20 + hops * (30 + 40 [new] + 0.5 * KiB)
        rows = []
        for hops in (0, 1, 2):
            rows.append(row(hops, "new", 1024, 20 + hops * (30 + 40 + 0.5)))
            for resp in (1024, 16384, 65536):
                rows.append(row(hops, "pooled", resp, 20 + hops * (30 + 0.5 * resp / 1024)))
        d = kernel_share.derive(rows)["node_cpu_us"]
        self.assertAlmostEqual(d["per_request_pooled_1kib"], 30.5, places=6)
        self.assertAlmostEqual(d["per_new_connection"], 40.0, places=6)
        self.assertAlmostEqual(d["per_kib"], 0.5, places=6)

    def test_noise_without_a_trend_gives_no_cost_per_hop(self):
        rows = [row(h, m, r, 50 + (3 if h == 1 else 0)) for h in (0, 1, 2)
                for m, r in (("new", 1024), ("pooled", 1024), ("pooled", 16384), ("pooled", 65536))]
        d = kernel_share.derive(rows)["node_cpu_us"]
        self.assertEqual(d["per_request_pooled_1kib"], 0.0)
        self.assertEqual(d["per_kib"], 0.0)


if __name__ == "__main__":
    unittest.main()
