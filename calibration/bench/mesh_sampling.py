"""Sampling for mesh_bench.py: CPU run time, clock ticks and RSS of process trees from
/proc, host busy and irq time, snapshots and the CPU other processes used between two of
them, RSS sampled during a run, Envoy's admin counters, and the quiet lock held while
measuring."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench import LOOPBACK, descendants, parse_host_cpu, parse_proc_stat, parse_vmrss

# ------------------------------------------------------------------------ /proc reading


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None


def parse_schedstat(text: str) -> int:
    """Run time in ns: the first field of /proc/<pid>/task/<tid>/schedstat."""
    return int(text.split()[0])


def proc_table() -> dict[int, dict]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            text = _read(f"/proc/{name}/stat")
            if text:
                try:
                    table[int(name)] = parse_proc_stat(text)
                except (ValueError, IndexError):
                    pass
    return table


def tree_run_ns(pids: set[int]) -> int:
    """Run time (ns) of every thread of the given processes, from schedstat."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            text = _read(f"/proc/{pid}/task/{tid}/schedstat")
            if text:
                total += parse_schedstat(text)
    return total


def tree_rss(pids: set[int]) -> int:
    return sum(parse_vmrss(_read(f"/proc/{pid}/status") or "") for pid in pids)


def parse_status_kb(status_text: str, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (RssAnon, RssFile, ...) in bytes, 0 if absent."""
    for line in status_text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def tree_rss_anon(pids: set[int]) -> int:
    """Anonymous resident memory: RSS less the mapped binary and libraries (shared pages)."""
    return sum(parse_status_kb(_read(f"/proc/{pid}/status") or "", "RssAnon") for pid in pids)


def parse_host_irq(proc_stat_text: str) -> int:
    """irq + softirq ticks of all CPUs (loopback networking is mostly softirq time)."""
    for line in proc_stat_text.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]]
            return v[5] + v[6]
    raise ValueError("no cpu line in /proc/stat")


KTHREADD = 2


@dataclasses.dataclass
class Snapshot:
    t_s: float
    table: dict[int, dict]
    host_busy: int
    host_irq: int
    run_ns: dict[str, int]     # per measured group (role names, backend, load, harness)
    trees: dict[str, set[int]]


def take_snapshot(roots: dict[str, int]) -> Snapshot:
    table = proc_table()
    stat = _read("/proc/stat") or ""
    busy, _ = parse_host_cpu(stat)
    parent_of = {p: s["ppid"] for p, s in table.items()}
    trees = {name: descendants(pid, parent_of) for name, pid in roots.items()}
    return Snapshot(time.monotonic(), table, busy, parse_host_irq(stat),
                    {name: tree_run_ns(pids) for name, pids in trees.items()}, trees)


def other_cpu_ticks(before: Snapshot, after: Snapshot, ours: set[int]) -> tuple[int, int]:
    """CPU ticks of processes outside the bench during the window: (user processes,
    kernel threads). A process that started in the window counts all its ticks; one that
    exited in it is missed (short compiler jobs show up as host busy time instead)."""
    user = kernel = 0
    for pid, st in after.table.items():
        if pid in ours:
            continue
        ticks = st["utime"] + st["stime"]
        prev = before.table.get(pid)
        if prev is not None:
            ticks -= prev["utime"] + prev["stime"]
        if ticks <= 0:
            continue
        if pid == KTHREADD or st["ppid"] == KTHREADD:
            kernel += ticks
        else:
            user += ticks
    return user, kernel


def tree_ticks(snap: Snapshot, pids: set[int]) -> int:
    return sum(snap.table[p]["utime"] + snap.table[p]["stime"] for p in pids if p in snap.table)


class RssSampler(threading.Thread):
    """RSS of each role's process tree once every `interval_s` until stopped (bounded)."""

    def __init__(self, roots: dict[str, int], interval_s: float = 0.5, max_samples: int = 1000):
        super().__init__(daemon=True)
        self.roots = roots
        self.interval_s = interval_s
        self.max_samples = max_samples
        self.samples: dict[str, list[int]] = {k: [] for k in roots}
        self.stop_event = threading.Event()

    def run(self):
        for _ in range(self.max_samples):
            if self.stop_event.wait(self.interval_s):
                return
            for name, pid in self.roots.items():
                self.samples[name].append(tree_rss({pid}))


# ------------------------------------------------------------------------ Envoy's admin page


def http_get(port: int, path: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=timeout_s) as r:
        return r.status, r.read()


def envoy_stats(admin_port: int, pattern: str) -> dict[str, int]:
    """Counters and gauges matching `pattern` from Envoy's admin page (text format)."""
    try:
        _, body = http_get(admin_port, "/stats?filter=" + urllib.parse.quote(pattern), 5)
    except OSError:
        return {}
    return parse_envoy_stats(body.decode(errors="replace"))


def parse_envoy_stats(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and value.strip().lstrip("-").isdigit():
            out[name.strip()] = int(value)
    return out


def sum_stats(stats: dict[str, int], suffix: str) -> int:
    return sum(v for k, v in stats.items() if k.endswith(suffix))


# ------------------------------------------------------------------------ quiet lock


class QuietLock:
    """Holds `path` while measuring, in chunks of at most `max_hold_s`, with at least
    `min_gap_s` unlocked between chunks; always removed at exit (see release)."""

    def __init__(self, path: Path | None, max_hold_s: float = 480.0, min_gap_s: float = 120.0,
                 clock=time.monotonic, sleep=time.sleep, log=print):
        self.path = path
        self.max_hold_s = max_hold_s
        self.min_gap_s = min_gap_s
        self.clock = clock
        self.sleep = sleep
        self.log = log
        self.held_since: float | None = None
        self.released_at: float | None = None
        self.chunks = 0

    def ensure(self, need_s: float) -> None:
        """Be holding the lock for the next `need_s` seconds of measurement."""
        if self.path is None:
            return
        if need_s > self.max_hold_s:
            raise ValueError(f"a measurement of {need_s:.0f} s does not fit in a {self.max_hold_s:.0f} s chunk")
        now = self.clock()
        if self.held_since is not None and now - self.held_since + need_s > self.max_hold_s:
            self.release()
            now = self.clock()
        if self.held_since is None:
            if self.released_at is not None and now - self.released_at < self.min_gap_s:
                wait = self.min_gap_s - (now - self.released_at)
                self.log(f"quiet lock: released, waiting {wait:.0f} s before the next chunk", flush=True)
                self.sleep(wait)
            self.path.touch()
            self.held_since = self.clock()
            self.chunks += 1

    def release(self) -> None:
        if self.path is None or self.held_since is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self.held_since = None
        self.released_at = self.clock()
