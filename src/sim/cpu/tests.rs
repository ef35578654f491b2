//! Tests of the node CPU model: sharing, weights, bandwidth control, the switch between
//! modes and the float helpers.

use super::*;

#[test]
fn ceil_ns_agrees_with_ceil() {
    let reference = |t: f64| {
        let c = t.ceil();
        if c >= u64::MAX as f64 {
            u64::MAX
        } else if c > 0.0 {
            c as u64
        } else {
            0
        }
    };
    let mut x = 12345u64;
    let mut cases = vec![
        0.0,
        -0.0,
        -0.5,
        0.5,
        1.0,
        1.0 + f64::EPSILON,
        2f64.powi(52) + 0.5,
        2f64.powi(53),
        2f64.powi(64),
        f64::MAX,
        f64::INFINITY,
        f64::NAN,
        -f64::INFINITY,
    ];
    cases.push(2f64.powi(64) - 2048.0);
    // Halves round to even on the way to whole numbers, and 2^52 is where the reading-off
    // of the nearest whole number stops.
    cases.extend([1.5, 2.5, 1e-300, 2f64.powi(52) - 0.5, 2f64.powi(52) - 1.0, 2f64.powi(52) - 1.5, 2f64.powi(52) + 1.0]);
    for _ in 0..100_000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        cases.push(f64::from_bits(x >> 2));
        cases.push((x >> 11) as f64 / 1024.0);
    }
    for t in cases {
        assert_eq!(ceil_ns(t, 0), reference(t), "{t}");
    }
}

const MS: u64 = 1_000_000;

/// A tiny event loop over the CPU alone: start tasks at given times, return each token's
/// completion time.
struct Harness {
    cpu: Cpu,
    queue: BinaryHeap<Reverse<(u64, u64, CpuWake)>>,
    seq: u64,
    done: Vec<(u32, u64)>,
}

impl Harness {
    fn new(nodes: &[CpuNodeSpec], containers: &[CpuContainerSpec]) -> Harness {
        Harness { cpu: Cpu::new(nodes, containers), queue: BinaryHeap::new(), seq: 0, done: Vec::new() }
    }

    fn pump(&mut self) {
        let wakes: Vec<CpuWake> = self.cpu.drain_wakes().collect();
        for w in wakes {
            let at = match w {
                CpuWake::Task { at_ns, .. } | CpuWake::Node { at_ns, .. } => at_ns,
            };
            self.seq += 1;
            self.queue.push(Reverse((at, self.seq, w)));
        }
    }

    fn start(&mut self, now: u64, container: u32, work_ns: f64, token: u32) {
        if let Some(w) = self.cpu.start(now, container, work_ns, token) {
            self.seq += 1;
            let at = match w {
                CpuWake::Task { at_ns, .. } | CpuWake::Node { at_ns, .. } => at_ns,
            };
            self.queue.push(Reverse((at, self.seq, w)));
        }
        self.pump();
    }

    /// Run events up to `until` (inclusive).
    fn run_until(&mut self, until: u64) {
        while let Some(&Reverse((t, _, w))) = self.queue.peek() {
            if t > until {
                break;
            }
            self.queue.pop();
            match w {
                CpuWake::Task { task, gen, .. } => {
                    if let Some(tok) = self.cpu.on_task_event(task, gen) {
                        self.done.push((tok, t));
                    }
                }
                CpuWake::Node { node, .. } => {
                    let mut d = Vec::new();
                    self.cpu.on_node_event(t, node, &mut d);
                    self.done.extend(d.into_iter().map(|k| (k, t)));
                }
            }
            self.pump();
        }
    }

    fn finish_of(&self, token: u32) -> u64 {
        self.done.iter().find(|d| d.0 == token).map(|d| d.1).unwrap_or_else(|| panic!("token {token} never finished"))
    }
}

fn node(cores: f64) -> CpuNodeSpec {
    CpuNodeSpec { cores, period_ns: 100 * MS }
}

fn container(shares: u64) -> CpuContainerSpec {
    CpuContainerSpec { node: 0, shares, limit_cores: None, max_parallel: 64 }
}

fn near(a: u64, b: u64) {
    assert!(a.abs_diff(b) <= 2, "{a} is not {b}");
}

#[test]
fn a_task_alone_runs_at_full_speed() {
    let mut h = Harness::new(&[node(2.0)], &[container(1024)]);
    h.start(5, 0, 3.0 * MS as f64, 1);
    h.run_until(u64::MAX);
    assert_eq!(h.finish_of(1), 5 + 3 * MS);
}

#[test]
fn n_equal_tasks_on_c_cores_get_c_over_n_of_a_core_each() {
    // 3 tasks of 300 ms on 2 cores: each gets 2/3 of a core, all done at 450 ms.
    let mut h = Harness::new(&[node(2.0)], &[container(1024), container(1024), container(1024)]);
    for k in 0..3 {
        h.start(0, k, 300.0 * MS as f64, k);
    }
    h.run_until(u64::MAX);
    for k in 0..3 {
        near(h.finish_of(k), 450 * MS);
    }
    let w: f64 = (0..3).map(|k| h.cpu.counters(450 * MS, k).work_ns).sum();
    assert!((w - 900.0 * MS as f64).abs() < 10.0, "{w}");
}

#[test]
fn weights_split_a_core_in_proportion_to_requests() {
    // One core, requests 2:1, 300 ms each: A at 2/3 is done at 450 ms; B then has 150 ms
    // left alone, done at 600 ms.
    let mut h = Harness::new(&[node(1.0)], &[container(2048), container(1024)]);
    h.start(0, 0, 300.0 * MS as f64, 0);
    h.start(0, 1, 300.0 * MS as f64, 1);
    h.run_until(u64::MAX);
    near(h.finish_of(0), 450 * MS);
    near(h.finish_of(1), 600 * MS);
}

#[test]
fn a_container_shares_its_part_between_its_tasks() {
    // One core, equal requests: A's two tasks get 1/4 each, B's one task 1/2. B (100 ms)
    // is done at 200 ms; A's tasks (100 ms each) had 50 ms each by then and finish their
    // last 50 ms at half a core each: 300 ms.
    let mut h = Harness::new(&[node(1.0)], &[container(1024), container(1024)]);
    h.start(0, 0, 100.0 * MS as f64, 0);
    h.start(0, 0, 100.0 * MS as f64, 1);
    h.start(0, 1, 100.0 * MS as f64, 2);
    h.run_until(u64::MAX);
    near(h.finish_of(2), 200 * MS);
    near(h.finish_of(0), 300 * MS);
    near(h.finish_of(1), 300 * MS);
}

#[test]
fn no_task_gets_more_than_one_core() {
    // Two cores; A (huge request, one task) would get almost both by weight, but a task
    // uses at most one core: A runs at 1, B's two tasks share the other core.
    let mut h = Harness::new(&[node(2.0)], &[container(100_000), container(100)]);
    h.start(0, 0, 100.0 * MS as f64, 0);
    h.start(0, 1, 100.0 * MS as f64, 1);
    h.start(0, 1, 100.0 * MS as f64, 2);
    h.run_until(u64::MAX);
    near(h.finish_of(0), 100 * MS);
    // B's tasks: 50 ms each by 100 ms, then a core each: 150 ms.
    near(h.finish_of(1), 150 * MS);
    near(h.finish_of(2), 150 * MS);
}

#[test]
fn cfs_quota_throttles_until_the_next_period() {
    // W = 50 ms of CPU, quota 20 ms per 100 ms, alone from a period's start: runs 0–20,
    // throttled to 100, runs 100–120, throttled to 200, runs 200–210.
    let c = CpuContainerSpec { node: 0, shares: 1024, limit_cores: Some(0.2), max_parallel: 1 };
    let mut h = Harness::new(&[node(4.0)], &[c]);
    h.start(0, 0, 50.0 * MS as f64, 7);
    h.run_until(u64::MAX);
    near(h.finish_of(7), 210 * MS);
    let k = h.cpu.counters(210 * MS, 0);
    assert!((k.throttled_ns - 160.0 * MS as f64).abs() < 10.0, "throttled {}", k.throttled_ns);
    assert!((k.work_ns - 50.0 * MS as f64).abs() < 10.0, "work {}", k.work_ns);
    assert_eq!(k.throttled_periods, 2);
}

#[test]
fn a_limit_above_the_parallelism_never_binds() {
    let c = CpuContainerSpec { node: 0, shares: 1024, limit_cores: Some(2.0), max_parallel: 2 };
    let mut h = Harness::new(&[node(4.0)], &[c]);
    h.start(0, 0, 250.0 * MS as f64, 1);
    h.start(0, 0, 250.0 * MS as f64, 2);
    h.run_until(u64::MAX);
    assert_eq!(h.finish_of(1), 250 * MS);
    assert_eq!(h.finish_of(2), 250 * MS);
}

#[test]
fn progress_survives_switching_between_direct_and_shared_bookkeeping() {
    // One core. A starts at 0 (100 ms), B joins at 40 ms: from 40 they share, A has 60 left
    // at 1/2 → done at 160; B had 60 by then, 40 left alone → done at 200.
    let mut h = Harness::new(&[node(1.0)], &[container(1024), container(1024)]);
    h.start(0, 0, 100.0 * MS as f64, 0);
    h.run_until(40 * MS);
    h.start(40 * MS, 1, 100.0 * MS as f64, 1);
    h.run_until(u64::MAX);
    near(h.finish_of(0), 160 * MS);
    near(h.finish_of(1), 200 * MS);
    // Then a third task alone runs in direct mode again, at full speed.
    h.start(300 * MS, 0, 10.0 * MS as f64, 2);
    h.run_until(u64::MAX);
    assert_eq!(h.finish_of(2), 310 * MS);
}

#[test]
fn clearing_a_container_returns_its_tokens_and_frees_the_core() {
    let mut h = Harness::new(&[node(1.0)], &[container(1024), container(1024)]);
    h.start(0, 0, 100.0 * MS as f64, 0);
    h.start(0, 1, 100.0 * MS as f64, 1);
    h.run_until(50 * MS);
    let gone = h.cpu.clear(50 * MS, 0);
    h.pump();
    assert_eq!(gone, vec![0]);
    h.run_until(u64::MAX);
    // B had 25 ms by 50 ms, then 75 ms alone.
    near(h.finish_of(1), 125 * MS);
    assert!(h.done.iter().all(|d| d.0 != 0));
}

/// At `fault_ms`, `fault` changes the CPU (a limit lifted, a container cleared); the task
/// `token` still finishes at `done_ms`. Later `k` tasks of `work_ms` each start in
/// container 0 at `at_ms` and must all finish at `later_done_ms`: the node, contended
/// again, must still schedule its own events.
fn fault_then_contend(
    h: &mut Harness,
    fault_ms: u64,
    fault: impl FnOnce(&mut Cpu, u64),
    (token, done_ms): (u32, u64),
    k: u32,
    (at_ms, work_ms): (u64, u64),
    later_done_ms: u64,
) {
    h.run_until(fault_ms * MS);
    fault(&mut h.cpu, fault_ms * MS);
    h.pump();
    h.run_until(at_ms * MS - 1);
    near(h.finish_of(token), done_ms * MS);
    for j in 0..k {
        h.start(at_ms * MS, 0, (work_ms * MS) as f64, 1000 + j);
    }
    h.run_until(u64::MAX);
    for j in 0..k {
        near(h.finish_of(1000 + j), later_done_ms * MS);
    }
}

#[test]
fn contention_after_a_lifted_limit_still_completes() {
    // A 0.2-core limit on 4 cores: the node event for the quota's end is due at 20 ms. The
    // limit is lifted at 10 ms (the node goes back to direct bookkeeping before that
    // event), the task finishes at 50 ms. Later, 5 tasks of 8 ms on 4 cores share them:
    // 4/5 of a core each, all done 10 ms after they start.
    let c = CpuContainerSpec { node: 0, shares: 1024, limit_cores: Some(0.2), max_parallel: 8 };
    let mut h = Harness::new(&[node(4.0)], &[c]);
    h.start(0, 0, 50.0 * MS as f64, 7);
    fault_then_contend(&mut h, 10, |cpu, now| cpu.set_limit(now, 0, None, 8), (7, 50), 5, (100, 8), 110);
}

#[test]
fn contention_after_a_cleared_container_still_completes() {
    // Two cores: B's one task runs on a core of its own (node event due at 100 ms), A's two
    // share the other. A is cleared at 50 ms (a crash): B alone goes back to direct
    // bookkeeping before that event and finishes at 100 ms. Later, 3 tasks of 10 ms on the
    // 2 cores get 2/3 of a core each: all done 15 ms after they start.
    let mut h = Harness::new(&[node(2.0)], &[container(1024), container(1024)]);
    for (container, token) in [(0, 0), (0, 1), (1, 2)] {
        h.start(0, container, 100.0 * MS as f64, token);
    }
    let crash = |cpu: &mut Cpu, now| assert_eq!(cpu.clear(now, 0), vec![0, 1]);
    fault_then_contend(&mut h, 50, crash, (2, 100), 3, (400, 10), 415);
}

#[test]
fn a_hog_takes_its_share_until_cleared() {
    // Two cores; a hog of two endless tasks with the same request as the app: by weight
    // the containers split the cores 1:1, so the app's one task runs on a core of its own
    // and the hog's two tasks share the other.
    let mut h = Harness::new(&[node(2.0)], &[container(1024), container(1024)]);
    h.start(0, 1, f64::INFINITY, 100);
    h.start(0, 1, f64::INFINITY, 101);
    h.start(0, 0, 30.0 * MS as f64, 0);
    h.run_until(u64::MAX);
    near(h.finish_of(0), 30 * MS);
    assert_eq!(h.cpu.clear(40 * MS, 1), vec![100, 101]);
}

#[test]
fn cpu_used_never_exceeds_cores_times_time() {
    let mut h = Harness::new(&[node(2.0)], &[container(1024), container(300), container(5000)]);
    let mut x = 12345u64;
    let mut starts: Vec<(u64, f64)> = (0..300)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) % (200 * MS), ((x >> 20) % (5 * MS)) as f64)
        })
        .collect();
    starts.sort_by_key(|s| s.0);
    for (i, (at, work)) in starts.into_iter().enumerate() {
        h.run_until(at);
        h.start(at, i as u32 % 3, work, i as u32);
    }
    h.run_until(u64::MAX);
    let end = h.done.iter().map(|d| d.1).max().unwrap();
    let used: f64 = (0..3).map(|k| h.cpu.counters(end, k).work_ns).sum();
    assert!(used <= 2.0 * end as f64 + 1.0, "{used} > {}", 2 * end);
    assert_eq!(h.done.len(), 300);
}
