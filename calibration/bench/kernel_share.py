#!/usr/bin/env python3
"""The kernel's share of one proxy hop, measured on loopback at the node's level.

A proxy in a request's path adds a TCP hop: the kernel carries each request and response
over one more connection (and, with a new connection per request, sets one more up and
tears it down). Part of that work runs in softirq, receiving each segment; on a kernel with
IRQ time accounting (`CONFIG_IRQ_TIME_ACCOUNTING`) that time is charged to no process and
so to no container, and a cost model fitted to container CPU does not carry it.

This script measures it with `kernel_hop.c` (built here with gcc): a client, a server and
0, 1 or 2 relays between them, one request at a time, for each connection mode and
response size. For each run it reads the whole machine's CPU from `/proc/stat` (user,
system, irq, softirq; every core) and each process's own run time (`/proc/<pid>/schedstat`
for the server and relays, `wait4`'s rusage for the client), and reports per request:

- node CPU: the machine's busy time, cores x wall time less idle and iowait (idle is
  measured exactly under NO_HZ; the busy tick counts are not: a tick that finds a core idle
  between two short bursts misses them, so they undercount a ping-pong load);
- softirq: time spent in softirq on every core, from the kernel's `softirq_entry` and
  `softirq_exit` trace events (tracefs; needs root), summed over the run; where tracefs
  cannot be used, the ticks that land in softirq instead (`softirq_source` says which);
- relays: the relays' own run time;
- outside: node CPU less every measured process (what no process was charged).

Per hop, each quantity's least-squares slope over 0, 1 and 2 relays: per request on a
pooled connection with 1 KiB down, per new connection (new less pooled), and per KiB down.

Usage: python3 calibration/bench/kernel_share.py [--runs 5] [--out DIR]
Writes `runs.csv` and `result.json` in DIR (temp file, then rename). Standard library
only; needs gcc. Every process it starts is stopped at the end and on error.
"""

import argparse
import csv
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REQUEST_BYTES = 100
# (mode, response bytes, requests per run): about 2-4 s of load each on a 2-vCPU machine.
POINTS = [
    ("pooled", 1024, 40000),
    ("new", 1024, 15000),
    ("pooled", 16384, 30000),
    ("pooled", 65536, 12000),
]
HOPS = [0, 1, 2]
BASE_PORT = 19100
FIELDS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]


def proc_stat():
    """Machine-wide CPU ticks by kind, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        v = list(map(int, f.readline().split()[1:9]))
    return dict(zip(FIELDS, v))


TRACEFS = "/sys/kernel/tracing"


class SoftirqTrace:
    """Exact softirq time from the kernel's trace events, or None where tracefs is unusable."""

    def __init__(self):
        self.ok, self.mounted, self.saved = False, False, {}
        try:
            if not os.path.exists(os.path.join(TRACEFS, "events")):
                subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True, capture_output=True)
                self.mounted = True
            # What was set before, put back by restore(): the bench leaves tracing as it found it.
            size = self._read("buffer_size_kb")  # "1408", or "7 (expanded: 1408)" before first use
            self.saved["buffer_size_kb"] = size.split("expanded:")[-1].strip(" )\n")
            clock = self._read("trace_clock")
            self.saved["trace_clock"] = clock[clock.index("[") + 1 : clock.index("]")]
            self._write("buffer_size_kb", "32768")
            self._write("trace_clock", "mono")
            self.ok = True
        except (OSError, ValueError, subprocess.CalledProcessError):
            self.restore()

    def restore(self):
        for name, value in self.saved.items():
            try:
                self._write(name, value)
            except OSError:
                pass
        self._write_quietly("trace", "")
        if self.mounted:
            subprocess.run(["umount", TRACEFS], capture_output=True)
        self.ok = False

    def _read(self, name):
        with open(os.path.join(TRACEFS, name)) as f:
            return f.read()

    def _write_quietly(self, name, value):
        try:
            self._write(name, value)
        except OSError:
            pass

    def _write(self, name, value):
        with open(os.path.join(TRACEFS, name), "w") as f:
            f.write(value)

    def start(self):
        self._write("trace", "")
        for e in ("softirq_entry", "softirq_exit"):
            self._write(f"events/irq/{e}/enable", "1")

    def stop_seconds(self):
        """Stops tracing; returns (softirq seconds, events lost) since start()."""
        for e in ("softirq_entry", "softirq_exit"):
            self._write(f"events/irq/{e}/enable", "0")
        entered, total, lost = {}, 0.0, 0
        with open(os.path.join(TRACEFS, "trace")) as f:
            for line in f:
                if line.startswith("#"):
                    if "LOST" in line:
                        lost += 1
                    continue
                parts = line.split()
                try:
                    i = next(k for k, w in enumerate(parts) if w.startswith("softirq_"))
                except StopIteration:
                    continue
                cpu = next(w for w in parts if w.startswith("[") and w.endswith("]"))
                t = float(parts[i - 1].rstrip(":"))
                if parts[i] == "softirq_entry:":
                    entered[cpu] = t
                elif cpu in entered:
                    total += t - entered.pop(cpu)
        with open(os.path.join(TRACEFS, "per_cpu/cpu0/stats")) as f:
            lost += sum(int(l.split()[-1]) for l in f if l.startswith("overrun"))
        return total, lost


def run_time_ns(pid):
    """A process's run time in ns: its threads' sum_exec_runtime, from schedstat."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def kernel_config(option):
    try:
        import gzip

        with gzip.open("/proc/config.gz", "rt") as f:
            for line in f:
                if line.startswith(option + "=") or line.startswith(f"# {option} is not set"):
                    return line.strip()
    except OSError:
        pass
    return "unknown (no /proc/config.gz)"


def build(tmp):
    exe = os.path.join(tmp, "kernel_hop")
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        sys.exit("kernel_share: needs gcc (or cc) to build kernel_hop.c")
    subprocess.run([cc, "-O2", "-Wall", "-o", exe, os.path.join(HERE, "kernel_hop.c")], check=True)
    return exe


def start_path(exe, hops, resp, procs):
    """Starts the server and `hops` relays in a chain; returns the port the client uses."""
    port = BASE_PORT
    procs.append(subprocess.Popen([exe, "server", str(port), str(REQUEST_BYTES), str(resp)]))
    for _ in range(hops):
        up, port = port, port + 1
        procs.append(
            subprocess.Popen([exe, "relay", str(port), str(up), str(REQUEST_BYTES), str(resp)])
        )
    time.sleep(0.3)
    return port


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    procs.clear()


def one_run(exe, hops, mode, resp, requests, hz, trace):
    procs = []
    try:
        port = start_path(exe, hops, resp, procs)
        # Warm-up: the route, the socket slab, the relays' first connections.
        subprocess.run([exe, "client", str(port), "500", str(REQUEST_BYTES), str(resp), mode], check=True)
        servers = [p.pid for p in procs]
        t0 = {pid: run_time_ns(pid) for pid in servers}
        if trace.ok:
            trace.start()
        s0 = proc_stat()
        w0 = time.monotonic()
        client = subprocess.Popen([exe, "client", str(port), str(requests), str(REQUEST_BYTES), str(resp), mode])
        _, status, ru = os.wait4(client.pid, 0)
        wall = time.monotonic() - w0
        s1 = proc_stat()
        t1 = {pid: run_time_ns(pid) for pid in servers}
        softirq_s, lost = trace.stop_seconds() if trace.ok else (None, 0)
        client.returncode = os.waitstatus_to_exitcode(status)
        if client.returncode != 0:
            raise RuntimeError(f"client exited with {client.returncode} ({hops} hops, {mode}, {resp} B)")
    finally:
        stop(procs)
    d = {k: (s1[k] - s0[k]) / hz for k in FIELDS}  # seconds of CPU
    busy = os.cpu_count() * wall - d["idle"] - d["iowait"] - d["steal"]
    if softirq_s is None:
        softirq_s = d["softirq"]
    server_s = (t1[servers[0]] - t0[servers[0]]) / 1e9
    relays_s = sum(t1[p] - t0[p] for p in servers[1:]) / 1e9
    client_s = ru.ru_utime + ru.ru_stime
    us = 1e6 / requests
    return {
        "hops": hops,
        "mode": mode,
        "response_bytes": resp,
        "requests": requests,
        "wall_s": round(wall, 4),
        "node_cpu_us": round(busy * us, 3),
        "node_softirq_us": round(softirq_s * us, 3),
        "trace_events_lost": lost,
        "client_us": round(client_s * us, 3),
        "server_us": round(server_s * us, 3),
        "relays_us": round(relays_s * us, 3),
        "outside_us": round((busy - client_s - server_s - relays_s) * us, 3),
    }


QUANTITIES = ["node_cpu_us", "node_softirq_us", "relays_us", "outside_us"]


def slope(xs, ys):
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def per_hop(rows, mode, resp, q):
    pts = [(r["hops"], r[q]) for r in rows if r["mode"] == mode and r["response_bytes"] == resp]
    return slope([p[0] for p in pts], [p[1] for p in pts])


def derive(rows):
    """Per-hop figures: the slope over 0, 1, 2 relays of each quantity."""
    out = {}
    for q in QUANTITIES:
        pooled = per_hop(rows, "pooled", 1024, q)
        new = per_hop(rows, "new", 1024, q)
        kib = slope([1, 16, 64], [per_hop(rows, "pooled", b, q) for b in (1024, 16384, 65536)])
        out[q] = {
            "per_request_pooled_1kib": round(pooled, 3),
            "per_new_connection": round(new - pooled, 3),
            "per_kib": round(kib, 3),
        }
    return out


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="rounds over every point (default 5)")
    ap.add_argument("--out", help="folder for runs.csv and result.json")
    a = ap.parse_args()
    if not 1 <= a.runs <= 50:
        sys.exit("kernel_share: --runs must be from 1 to 50")
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    trace = SoftirqTrace()
    source = "softirq_entry/softirq_exit trace events" if trace.ok else "ticks in /proc/stat (sampled)"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            exe = build(tmp)
            for run in range(1, a.runs + 1):
                for mode, resp, requests in POINTS:
                    for hops in HOPS:
                        r = one_run(exe, hops, mode, resp, requests, hz, trace)
                        r["run"] = run
                        rows.append(r)
                        print(json.dumps(r), flush=True)
    finally:
        trace.restore()
    result = {
        "what": "kernel_hop.c on 127.0.0.1: client, 0-2 relays, server; one request at a time; "
        f"{REQUEST_BYTES} B up; per-hop slopes of CPU per request, in us",
        "kernel": platform.release(),
        "irq_time_accounting": kernel_config("CONFIG_IRQ_TIME_ACCOUNTING"),
        "clock_ticks_per_s": hz,
        "softirq_source": source,
        "cores": os.cpu_count(),
        "runs": a.runs,
        "per_hop": derive(rows),
        "per_hop_by_run": [derive([r for r in rows if r["run"] == k]) for k in range(1, a.runs + 1)],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    text = json.dumps(result, indent=2) + "\n"
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["run"] + [k for k in rows[0] if k != "run"])
        w.writeheader()
        w.writerows(rows)
        write_atomic(os.path.join(a.out, "runs.csv"), buf.getvalue())
        write_atomic(os.path.join(a.out, "result.json"), text)
    print(json.dumps(result["per_hop"], indent=2))


if __name__ == "__main__":
    main()
