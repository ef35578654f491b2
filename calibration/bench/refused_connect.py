#!/usr/bin/env python3
"""The kernel's cost of refusing a TCP connection, measured on loopback.

A pod that refuses a request at its queue limit costs its node the kernel's work of a
connection attempt answered by a reset: the SYN in, the RST out, and the client's side of
both. This script times `connect()` to a closed port on 127.0.0.1 (the reset path, with no
process on the server side) and reads the system time it cost: from `getrusage` (the
calling process, in whose context loopback delivers both segments) and from the node's
`/proc/stat` (system, irq and softirq time of every core).

Usage: python3 calibration/bench/refused_connect.py [--runs 5] [--connects 20000] [--out FILE]
Writes one JSON object per run and their medians.
"""

import argparse
import json
import os
import platform
import resource
import socket
import statistics
import time


def node_kernel_ticks():
    """System + irq + softirq ticks of all cores (first line of /proc/stat)."""
    with open("/proc/stat") as f:
        v = list(map(int, f.readline().split()[1:9]))
    return v[2] + v[5] + v[6]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def refuse(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        pass
    finally:
        s.close()


def one_run(connects):
    port = closed_port()
    for _ in range(1000):  # warm-up: caches, the route, the socket slab
        refuse(port)
    walls = []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    k0 = node_kernel_ticks()
    for _ in range(connects):
        a = time.perf_counter_ns()
        refuse(port)
        walls.append(time.perf_counter_ns() - a)
    k1 = node_kernel_ticks()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    hz = os.sysconf("SC_CLK_TCK")
    walls.sort()
    return {
        "connects": connects,
        "connect_wall_p50_us": round(walls[len(walls) // 2] / 1e3, 3),
        "connect_wall_p90_us": round(walls[int(len(walls) * 0.9)] / 1e3, 3),
        "process_system_us_per_connect": round((r1.ru_stime - r0.ru_stime) / connects * 1e6, 3),
        "node_kernel_us_per_connect": round((k1 - k0) / hz / connects * 1e6, 3),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--connects", type=int, default=20000)
    ap.add_argument("--out")
    a = ap.parse_args()
    runs = [one_run(a.connects) for _ in range(a.runs)]
    keys = [k for k in runs[0] if k != "connects"]
    result = {
        "what": "connect() to a closed port on 127.0.0.1: the kernel answers the SYN with a reset",
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "runs": runs,
        "median": {k: statistics.median(r[k] for r in runs) for k in keys},
    }
    text = json.dumps(result, indent=2) + "\n"
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out)
    print(text, end="")


if __name__ == "__main__":
    main()
