//! Node CPU: every node's cores are one resource shared by all the CPU work placed on the
//! node (application requests, proxy passes, background hogs), as the Linux scheduler shares
//! them between a Kubernetes node's containers.
//!
//! The model, per node of `cores` cores:
//! - **Processor sharing with CFS weights.** A task uses at most one core. Each container gets
//!   a share of the cores in proportion to its weight (its CPU request as `cpu.shares`),
//!   divided equally between its runnable tasks; a container whose tasks would get more than
//!   one core each keeps one core per task and the rest is shared by the others (water
//!   filling). With no more runnable tasks than cores, every task runs at full speed.
//! - **CFS bandwidth control.** A container with a CPU limit may use `quota` core-ns per
//!   period (periods aligned at multiples of the node's period from t = 0). When it has used
//!   its quota, all its tasks stop until the next period starts (throttled).
//!
//! Bookkeeping is by virtual time, so a change in the runnable set never reschedules every
//! task. Each container keeps a clock `v` of the CPU-ns one of its tasks has received; a task
//! of `w` CPU-ns that starts at `v0` is done when `v` reaches `v0 + w`. A container whose tasks
//! run at one core each (*capped*) advances `v` with real time; the others (*sharing*) advance
//! `v` at `x · θ` where `x` is the container's weight per task and `θ` the node's rate per unit
//! of weight, so their clocks are kept against a node clock `V` (dV/dt = θ) and a change of θ
//! touches none of them. Per node, indexed heaps hold each container's next event (in real
//! time when capped, in `V` when sharing) and its weight per task (for the water filling);
//! each change costs O(log n).
//!
//! A node that is not contended (no more runnable tasks than cores and no limit that can
//! bind) runs in *direct* mode: every task runs at one core, so its completion is scheduled as
//! its own event and no heap of the node is touched. The node switches to the shared
//! bookkeeping when it becomes contended and back as soon as a core is free again.

mod bandwidth;
mod direct;
mod heap;
mod mode;
mod shared;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use heap::{IndexedHeap, OrdF64};

/// Absent index.
const NIL: u32 = u32::MAX;

/// A node's cores and its CFS period.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuNodeSpec {
    /// Cores available to tasks (the node's vCPUs less what is reserved, e.g. idle proxy CPU).
    pub cores: f64,
    /// CFS bandwidth period, ns.
    pub period_ns: u64,
}

/// A container (cgroup) on a node.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuContainerSpec {
    pub node: u32,
    /// CFS weight (`cpu.shares`: 1024 per core of CPU request, at least 2).
    pub shares: u64,
    /// CPU limit, in cores; `None`: unlimited.
    pub limit_cores: Option<f64>,
    /// Most tasks it can run at once (workers, concurrency); a limit at or above this many
    /// cores can never bind, so it costs nothing to track.
    pub max_parallel: u32,
}

/// `cpu.shares` of a CPU request, as the kubelet sets them: 1024 per core, at least 2.
pub fn shares_of_request(millicores: f64) -> u64 {
    ((millicores.max(0.0) * 1024.0 / 1000.0) as u64).max(2)
}

/// What the caller must schedule for the CPU: a task's own completion (direct mode) or a
/// node's next event (shared mode). Events of a stale generation are ignored on arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CpuWake {
    Task { task: u32, gen: u32, at_ns: u64 },
    Node { node: u32, at_ns: u64 },
}

/// CPU counters of one container since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuCounters {
    /// CPU consumed, core-ns.
    pub work_ns: f64,
    /// Integral of the tasks present (runnable, running or throttled), task-ns: minus
    /// `work_ns`, the time tasks waited for a core (ready time), throttling included.
    pub present_ns: f64,
    /// Time the container spent throttled with tasks waiting, ns.
    pub throttled_ns: f64,
    /// Periods in which it was throttled.
    pub throttled_periods: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No tasks.
    Idle,
    /// Each task runs on a core of its own: `v` follows real time.
    Capped,
    /// Tasks share cores by weight: `v` follows the node clock `V`.
    Sharing,
    /// Out of quota until the next period.
    Throttled,
}

#[derive(Clone, Copy, Debug)]
struct Task {
    container: u32,
    token: u32,
    /// The container clock `v` at which the task is done.
    finish_v: f64,
    gen: u32,
    /// Index in its container's direct-mode list.
    slot: u32,
    live: bool,
    /// Direct mode: the time from which the task's run at one core is not yet counted in its
    /// container's counters (they are settled at completion, mode changes and readings).
    acct_from: f64,
}

#[derive(Debug)]
struct Container {
    node: u32,
    /// Index among its node's containers.
    local: u32,
    shares: u64,
    /// `shares` as a float, converted once: the weight per task divides it often.
    shares_f64: f64,
    /// Quota per period in core-ns, when the limit can bind.
    quota_ns: Option<f64>,
    n: u32,
    state: State,
    /// Anchor of the clock: `v = v_a + (t − t_a)` when capped, `v = v_a + x·(V − t_a)` when
    /// sharing (then `t_a` holds the node clock `V` at the anchor).
    v_a: f64,
    t_a: f64,
    /// Real time of the last accounting.
    t_acc: f64,
    /// Quota used in period `usage_period`, core-ns.
    usage: f64,
    usage_period: u64,
    /// Tasks (direct mode), in no order.
    list: Vec<u32>,
    /// Tasks by finish (shared mode).
    heap: BinaryHeap<Reverse<(OrdF64, u32)>>,
    counters: CpuCounters,
}

impl Container {
    /// Weight per task, `x`.
    #[inline]
    fn x(&self) -> f64 {
        self.shares_f64 / f64::from(self.n.max(1))
    }
}

#[derive(Debug)]
struct Node {
    cores: f64,
    period_ns: u64,
    direct: bool,
    /// Runnable tasks (throttled containers' tasks excluded).
    runnable: u32,
    /// Containers with a binding limit that have tasks.
    limited_active: u32,
    limited: Vec<u32>,
    /// Every container on the node, by local index.
    members: Vec<u32>,
    /// Node clock and its rate: `V` advances at θ while anything shares.
    t: f64,
    v: f64,
    theta: f64,
    /// Capped containers by weight per task (smallest first) and by the real time of their
    /// next event; sharing ones by weight per task (largest first) and by the `V` of theirs.
    cap_x: IndexedHeap<false>,
    cap_t: IndexedHeap<false>,
    shr_x: IndexedHeap<true>,
    shr_v: IndexedHeap<false>,
    n_capped: u64,
    w_sharing: u64,
    /// The node event already scheduled (u64::MAX: none); a later request keeps it.
    scheduled_ns: u64,
}

/// The CPU of every node of a run.
#[derive(Debug)]
pub struct Cpu {
    nodes: Vec<Node>,
    containers: Vec<Container>,
    tasks: Vec<Task>,
    free_tasks: Vec<u32>,
    /// Events for the caller to schedule, drained with [`Cpu::drain_wakes`].
    wakes: Vec<CpuWake>,
    /// Scratch for [`Cpu::partition`].
    partition_scratch: Vec<(f64, u32)>,
}

impl Cpu {
    pub fn new(nodes: &[CpuNodeSpec], containers: &[CpuContainerSpec]) -> Cpu {
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); nodes.len()];
        let mut limited: Vec<Vec<u32>> = vec![Vec::new(); nodes.len()];
        let cs: Vec<Container> = containers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let node = c.node as usize;
                let period = nodes[node].period_ns.max(1) as f64;
                let quota_ns = c.limit_cores.and_then(|l| (l < f64::from(c.max_parallel)).then_some(l * period));
                if quota_ns.is_some() {
                    limited[node].push(i as u32);
                }
                members[node].push(i as u32);
                Container {
                    node: c.node,
                    local: (members[node].len() - 1) as u32,
                    shares: c.shares.max(2),
                    shares_f64: c.shares.max(2) as f64,
                    quota_ns,
                    n: 0,
                    state: State::Idle,
                    v_a: 0.0,
                    t_a: 0.0,
                    t_acc: 0.0,
                    usage: 0.0,
                    usage_period: 0,
                    list: Vec::new(),
                    heap: BinaryHeap::new(),
                    counters: CpuCounters::default(),
                }
            })
            .collect();
        let ns = nodes
            .iter()
            .zip(members)
            .zip(limited)
            .map(|((n, members), limited)| {
                let k = members.len();
                Node {
                    cores: n.cores,
                    period_ns: n.period_ns.max(1),
                    direct: true,
                    runnable: 0,
                    limited_active: 0,
                    limited,
                    members,
                    t: 0.0,
                    v: 0.0,
                    theta: 0.0,
                    cap_x: IndexedHeap::new(k),
                    cap_t: IndexedHeap::new(k),
                    shr_x: IndexedHeap::new(k),
                    shr_v: IndexedHeap::new(k),
                    n_capped: 0,
                    w_sharing: 0,
                    scheduled_ns: u64::MAX,
                }
            })
            .collect();
        Cpu { nodes: ns, containers: cs, tasks: Vec::new(), free_tasks: Vec::new(), wakes: Vec::new(), partition_scratch: Vec::new() }
    }

    /// Events to schedule since the last call.
    pub fn drain_wakes(&mut self) -> std::vec::Drain<'_, CpuWake> {
        self.wakes.drain(..)
    }

    /// Counters of a container up to `now` (its clock is brought up to date first).
    pub fn counters(&mut self, now: u64, container: u32) -> CpuCounters {
        let t = whole_f64(now);
        let ci = container as usize;
        let ni = self.containers[ci].node as usize;
        if self.nodes[ni].direct {
            self.settle_direct(ci, t);
        } else {
            self.node_sync(ni, t);
            self.sync(ci, t);
        }
        self.containers[ci].counters
    }

    /// Tasks present in a container (runnable, running or throttled).
    pub fn tasks_in(&self, container: u32) -> u32 {
        self.containers[container as usize].n
    }

    /// Whether events wait in [`Cpu::drain_wakes`].
    #[inline]
    pub fn has_wakes(&self) -> bool {
        !self.wakes.is_empty()
    }

    /// Remove every task of a container (it crashed, or a hog ended); returns their tokens in
    /// task order.
    pub fn clear(&mut self, now: u64, container: u32) -> Vec<u32> {
        let t = whole_f64(now);
        let ci = container as usize;
        let ni = self.containers[ci].node as usize;
        if self.nodes[ni].direct {
            self.settle_direct(ci, t);
        } else {
            self.node_sync(ni, t);
            self.sync(ci, t);
        }
        let mut ids: Vec<u32> = std::mem::take(&mut self.containers[ci].list);
        ids.extend(self.containers[ci].heap.drain().map(|Reverse((_, id))| id));
        ids.sort_unstable();
        let n = self.containers[ci].n;
        if n > 0 {
            if self.nodes[ni].direct {
                self.nodes[ni].runnable -= n;
            } else {
                if self.containers[ci].state != State::Throttled {
                    self.leave_sets(ni, ci);
                    self.nodes[ni].runnable -= n;
                }
                if self.containers[ci].quota_ns.is_some() {
                    self.nodes[ni].limited_active -= 1;
                }
            }
        }
        let c = &mut self.containers[ci];
        c.n = 0;
        c.state = State::Idle;
        let tokens = ids.iter().map(|&id| self.tasks[id as usize].token).collect();
        for id in ids {
            self.retire(id);
        }
        if !self.nodes[ni].direct {
            self.rebalance(ni, t);
            self.settle(ni, t, now);
        }
        tokens
    }
}

/// `x as f64`, the very same value: times in ns, task counts and the weights summed on a node
/// fit an `i64`, whose conversion is one instruction where the unsigned one takes several.
#[inline(always)]
fn whole_f64(x: u64) -> f64 {
    if x <= i64::MAX as u64 {
        x as i64 as f64
    } else {
        x as f64
    }
}

/// The first whole ns at or after `t`, and never before `now` (a due event fires at once,
/// not in the past); saturating at the end of representable time.
fn ceil_ns(t: f64, now: u64) -> u64 {
    // `f64::ceil` is a library call on the baseline x86-64 target; truncating and stepping up
    // when something was cut off gives the same integer for every t.
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let ns = if t.is_nan() || t <= 0.0 {
        0
    } else if t < TWO_52 {
        // From 2^52 to 2^53 floats are the whole numbers, so adding 2^52 rounds `t` to the
        // nearest one and leaves it in the low bits: read off, as a float-to-integer `as`
        // would also check for saturation. Rounded down, `t` had a fraction: step up.
        let shifted = t + TWO_52;
        let nearest = shifted.to_bits() - TWO_52.to_bits();
        if shifted - TWO_52 < t {
            nearest + 1
        } else {
            nearest
        }
    } else if t < 9_223_372_036_854_775_808.0 {
        // Below 2^63 the signed conversions are single instructions and give the same integers.
        let whole = t as i64;
        if (whole as f64) < t {
            whole as u64 + 1
        } else {
            whole as u64
        }
    } else if t >= u64::MAX as f64 {
        u64::MAX
    } else {
        let whole = t as u64;
        if (whole as f64) < t {
            whole + 1
        } else {
            whole
        }
    };
    ns.max(now)
}
