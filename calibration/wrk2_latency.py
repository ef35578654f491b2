#!/usr/bin/env python3
"""Latency as wrk2 recorded it in a gsd-v1 data set, per load level and per load-generator pod.

Reads the `{rps}-{run}-*.log` reports (wrk2 `--latency` output) where they lie, and prints per
level: the mean over pods of each pod's p50 and p99 (the figure the Faces comparison uses),
the lowest and highest run mean of the pod p50s, the p50 and p99 of all pods' requests pooled
(from each report's detailed percentile spectrum), and the lowest and highest pod p50. With
`--pods` it also prints every pod: its p50, p90, p99 and each thread's calibration mean (wrk2
prints one per thread after its first 10 s), which shows whether a pod's latency is that of
all its threads or of a few.

    python3 calibration/wrk2_latency.py ../shared/data/gsd-v1/linkerd [--pods]
"""

import glob
import os
import re
import statistics
import sys

PERCENTILE = re.compile(r"^\s*(\d+\.\d+)%\s+([\d.]+)(us|ms|s)\s*$")
CALIBRATION = re.compile(r"Thread calibration: mean lat\.: ([\d.]+)ms")


def to_ms(value, unit):
    return value / 1000.0 if unit == "us" else value * 1000.0 if unit == "s" else value


def percentiles(text):
    """The `Latency Distribution` lines: {percent: ms}."""
    out = {}
    for line in text.splitlines():
        m = PERCENTILE.match(line)
        if m:
            out.setdefault(float(m.group(1)), to_ms(float(m.group(2)), m.group(3)))
    return out


def spectrum(text):
    """The `Detailed Percentile spectrum` rows as (ms, requests at or below)."""
    rows, on = [], False
    for line in text.splitlines():
        if "Detailed Percentile spectrum" in line:
            on = True
            continue
        if on:
            cells = line.split()
            if len(cells) == 4:
                try:
                    rows.append((float(cells[0]), int(cells[2])))
                    continue
                except ValueError:
                    pass
            if rows:
                break
    return rows


def pooled(spectra, q):
    """Percentile q (0-1) of the requests of every pod together."""
    values = []
    for rows in spectra:
        below = 0
        for ms, count in rows:
            values.append((ms, count - below))
            below = count
    values.sort()
    total = sum(c for _, c in values)
    seen = 0
    for ms, c in values:
        seen += c
        if seen >= q * total:
            return ms
    return float("nan")


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip())
        return 2
    folder, show_pods = argv[1], "--pods" in argv[2:]
    logs = {}
    for path in glob.glob(os.path.join(folder, "*-*-*.log")):
        m = re.match(r"(\d+)-(\d+)-", os.path.basename(path))
        if m:
            logs.setdefault(int(m.group(1)), []).append((m.group(2), path))
    print(f"{os.path.basename(os.path.normpath(folder))}: wrk2 latency per load level, ms")
    print("  rps  pods  p50 mean of pods  p99 mean of pods  run means of p50  pooled p50  pooled p99  pod p50 range")
    pods_out = []
    for rps in sorted(logs):
        p50s, p99s, spectra, runs = [], [], [], {}
        for run, path in sorted(logs[rps]):
            text = open(path, encoding="utf-8").read()
            p = percentiles(text)
            if 50.0 not in p or 99.0 not in p:
                continue
            p50s.append(p[50.0])
            p99s.append(p[99.0])
            runs.setdefault(run, []).append(p[50.0])
            spectra.append(spectrum(text))
            threads = " ".join(f"{float(x):.0f}" for x in CALIBRATION.findall(text))
            pods_out.append(f"  {rps:>5} run {run} {os.path.basename(path):<28} p50 {p[50.0]:6.1f}  p90 {p.get(90.0, float('nan')):6.1f}  p99 {p[99.0]:6.1f}  threads {threads}")
        if not p50s:
            continue
        run_means = [statistics.mean(v) for v in runs.values()]
        print(
            f"{rps:>5} {len(p50s):>5} {statistics.mean(p50s):>17.2f} {statistics.mean(p99s):>17.2f}"
            f"  {min(run_means):>7.2f}-{max(run_means):<8.2f} {pooled(spectra, 0.5):>10.2f} {pooled(spectra, 0.99):>11.2f}"
            f"  {min(p50s):.1f}-{max(p50s):.1f}"
        )
    if show_pods:
        print("per pod (threads: each thread's calibration mean, ms):")
        print("\n".join(pods_out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
