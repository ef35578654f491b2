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

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

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

#[derive(Clone, Copy, Debug)]
struct OrdF64(f64);
impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A binary heap of (key, member) pairs that can update or remove any member: members are a
/// node's containers by their local index. Ties on the key go to the lower index, so the
/// order is total and runs are repeatable. `MAX_FIRST`: largest key first (else smallest).
/// Keys are held as integers that order as [`f64::total_cmp`] orders the keys (reversed
/// when largest first), so a comparison is two integer compares; [`IndexedHeap::top`] gives
/// back the very same `f64`.
#[derive(Debug)]
struct IndexedHeap<const MAX_FIRST: bool> {
    items: Vec<(i64, u32)>,
    pos: Vec<u32>,
}

impl<const MAX_FIRST: bool> IndexedHeap<MAX_FIRST> {
    fn new(members: usize) -> Self {
        IndexedHeap { items: Vec::new(), pos: vec![NIL; members] }
    }

    /// The integer that orders as the key does (the transform of `f64::total_cmp`), reversed
    /// when largest first. The transform is its own inverse, and so is the reversal.
    #[inline(always)]
    fn encode(key: f64) -> i64 {
        let bits = key.to_bits() as i64;
        let k = bits ^ ((((bits >> 63) as u64) >> 1) as i64);
        if MAX_FIRST {
            !k
        } else {
            k
        }
    }

    #[inline(always)]
    fn decode(k: i64) -> f64 {
        let k = if MAX_FIRST { !k } else { k };
        f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
    }

    #[inline]
    fn top(&self) -> Option<(f64, u32)> {
        self.items.first().map(|&(k, m)| (Self::decode(k), m))
    }

    #[inline(always)]
    fn before(a: (i64, u32), b: (i64, u32)) -> bool {
        a < b
    }

    #[inline(always)]
    fn set(&mut self, m: u32, key: f64) {
        let key = Self::encode(key);
        match self.pos[m as usize] {
            NIL => {
                self.items.push((key, m));
                self.up(self.items.len() - 1);
            }
            p => {
                // A key moves one way only: towards the top if it now comes before its old
                // value, else towards the leaves (the same heap as sifting both ways).
                let i = p as usize;
                let old = self.items[i];
                if key == old.0 {
                    // Re-keyed to the value it has: nothing moves.
                    return;
                }
                self.items[i].0 = key;
                if Self::before((key, m), old) {
                    self.up(i);
                } else {
                    self.down(i);
                }
            }
        }
    }

    #[inline(always)]
    fn remove(&mut self, m: u32) {
        let p = self.pos[m as usize];
        if p == NIL {
            return;
        }
        self.pos[m as usize] = NIL;
        let last = self.items.pop().expect("a member with a position is in the heap");
        let i = p as usize;
        if i < self.items.len() {
            let gone = self.items[i];
            self.items[i] = last;
            if Self::before(last, gone) {
                self.up(i);
            } else {
                self.down(i);
            }
        }
    }

    /// Remove every member at once.
    fn clear(&mut self) {
        for &(_, m) in &self.items {
            self.pos[m as usize] = NIL;
        }
        self.items.clear();
    }

    /// Sift the item at `i` towards the top, moving a hole rather than swapping.
    #[inline(always)]
    fn up(&mut self, mut i: usize) {
        let x = self.items[i];
        while i > 0 {
            let p = (i - 1) / 2;
            let y = self.items[p];
            if !Self::before(x, y) {
                break;
            }
            self.items[i] = y;
            self.pos[y.1 as usize] = i as u32;
            i = p;
        }
        self.items[i] = x;
        self.pos[x.1 as usize] = i as u32;
    }

    #[inline(always)]
    fn down(&mut self, mut i: usize) {
        let len = self.items.len();
        let x = self.items[i];
        loop {
            let l = 2 * i + 1;
            if l >= len {
                break;
            }
            let mut c = l;
            if l + 1 < len && Self::before(self.items[l + 1], self.items[l]) {
                c = l + 1;
            }
            let y = self.items[c];
            if !Self::before(y, x) {
                break;
            }
            self.items[i] = y;
            self.pos[y.1 as usize] = i as u32;
            i = c;
        }
        self.items[i] = x;
        self.pos[x.1 as usize] = i as u32;
    }
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

    /// Direct mode: count what a container's tasks ran (at one core each) up to `t`.
    fn settle_direct(&mut self, ci: usize, t: f64) {
        let mut ran = 0.0;
        for k in 0..self.containers[ci].list.len() {
            let tk = &mut self.tasks[self.containers[ci].list[k] as usize];
            ran += (t.min(tk.finish_v) - tk.acct_from).max(0.0);
            tk.acct_from = t.min(tk.finish_v).max(tk.acct_from);
        }
        let c = &mut self.containers[ci];
        c.counters.work_ns += ran;
        c.counters.present_ns += ran;
        c.t_acc = t;
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

    /// Start a task of `work_ns` core-ns in `container` at `now`; `token` comes back when it is
    /// done. Infinite work never finishes (a CPU hog, removed with [`Cpu::clear`]). On an
    /// uncontended node the task's own completion event is returned for the caller to
    /// schedule; anything else to schedule waits in [`Cpu::drain_wakes`].
    #[inline]
    pub fn start(&mut self, now: u64, container: u32, work_ns: f64, token: u32) -> Option<CpuWake> {
        let ci = container as usize;
        let c = &self.containers[ci];
        let ni = c.node as usize;
        let node = &self.nodes[ni];
        let work = if work_ns.is_nan() { 0.0 } else { work_ns.max(0.0) };
        if node.direct && c.quota_ns.is_none() && f64::from(node.runnable + 1) <= node.cores {
            // Direct mode: every task has a core, its finish is real time, and its container's
            // counters are settled when it ends.
            let finish_v = whole_f64(now) + work;
            let id = self.alloc_task(container);
            let c = &mut self.containers[ci];
            c.state = State::Capped;
            c.n += 1;
            let slot = c.list.len() as u32;
            c.list.push(id);
            let tk = &mut self.tasks[id as usize];
            let gen = tk.gen.wrapping_add(1);
            *tk = Task { container, token, finish_v, gen, slot, live: true, acct_from: whole_f64(now) };
            self.nodes[ni].runnable += 1;
            return finish_v.is_finite().then(|| CpuWake::Task { task: id, gen: gen & 0xff_ffff, at_ns: ceil_ns(finish_v, now) });
        }
        self.start_shared(now, container, work, token);
        None
    }

    /// A free task slot (its contents are overwritten by the caller, its generation kept).
    #[inline]
    fn alloc_task(&mut self, container: u32) -> u32 {
        match self.free_tasks.pop() {
            Some(id) => id,
            None => self.new_task(container),
        }
    }

    #[cold]
    #[inline(never)]
    fn new_task(&mut self, container: u32) -> u32 {
        self.tasks.push(Task { container, token: 0, finish_v: 0.0, gen: 0, slot: NIL, live: false, acct_from: 0.0 });
        (self.tasks.len() - 1) as u32
    }

    /// [`Cpu::start`] on a node that is, or becomes, contended (or in a container whose limit
    /// can bind); kept out of line so the direct path stays short.
    #[inline(never)]
    fn start_shared(&mut self, now: u64, container: u32, work: f64, token: u32) {
        let t = whole_f64(now);
        let ci = container as usize;
        let ni = self.containers[ci].node as usize;
        let id = self.alloc_task(container);
        let gen = self.tasks[id as usize].gen.wrapping_add(1);
        // A node that just became contended gets its containers placed in one pass below.
        let fresh = self.nodes[ni].direct;
        if fresh {
            self.enter_shared_mode(ni, t);
        }
        self.node_sync(ni, t);
        self.sync(ci, t);
        if self.containers[ci].state == State::Idle {
            let period = now / self.nodes[ni].period_ns;
            let c = &mut self.containers[ci];
            c.v_a = 0.0;
            if c.usage_period != period {
                // Quota used in an earlier period does not count in this one.
                c.usage = 0.0;
                c.usage_period = period;
            }
            let limited = c.quota_ns.is_some();
            let v = c.v_a;
            c.n = 1;
            c.heap.push(Reverse((OrdF64(v + work), id)));
            self.tasks[id as usize] = Task { container, token, finish_v: v + work, gen, slot: NIL, live: true, acct_from: t };
            if limited {
                self.nodes[ni].limited_active += 1;
            }
            self.nodes[ni].runnable += 1;
            if fresh {
                self.containers[ci].state = State::Capped;
                self.partition_scratch.push((0.0, container));
            } else {
                self.enter_capped(ni, ci, t);
            }
        } else {
            let c = &mut self.containers[ci];
            let v = c.v_a;
            c.heap.push(Reverse((OrdF64(v + work), id)));
            self.tasks[id as usize] = Task { container, token, finish_v: v + work, gen, slot: NIL, live: true, acct_from: t };
            if fresh {
                self.containers[ci].n += 1;
                self.nodes[ni].runnable += 1;
            } else {
                self.resize(ni, ci, 1);
            }
        }
        if fresh {
            self.partition(ni, t);
        } else {
            self.rebalance(ni, t);
        }
        self.wake_node(ni, now);
    }

    /// A task's own completion event (direct mode). Returns its token if it is still the task
    /// the event was for.
    #[inline]
    pub fn on_task_event(&mut self, task: u32, gen: u32) -> Option<u32> {
        let tk = self.tasks.get(task as usize)?;
        if !tk.live || tk.gen & 0xff_ffff != gen {
            return None;
        }
        let (ci, token, slot) = (tk.container as usize, tk.token, tk.slot);
        let ran = (tk.finish_v - tk.acct_from).max(0.0);
        let c = &mut self.containers[ci];
        let ni = c.node as usize;
        if !self.nodes[ni].direct {
            return None;
        }
        c.counters.work_ns += ran;
        c.counters.present_ns += ran;
        let last = c.list.pop().expect("a live task is in its container's list");
        if last != task {
            c.list[slot as usize] = last;
            self.tasks[last as usize].slot = slot;
        }
        c.n -= 1;
        if c.n == 0 {
            c.state = State::Idle;
        }
        self.nodes[ni].runnable -= 1;
        self.retire(task);
        Some(token)
    }

    /// A node's event (shared mode): complete what is due at `now`, throttle and refill
    /// quotas; the tokens of finished tasks are appended to `done`, in a fixed order.
    pub fn on_node_event(&mut self, now: u64, node: u32, done: &mut Vec<u32>) {
        let ni = node as usize;
        if self.nodes[ni].direct || self.nodes[ni].scheduled_ns != now {
            return;
        }
        self.nodes[ni].scheduled_ns = u64::MAX;
        let t = whole_f64(now);
        self.node_sync(ni, t);
        if !self.nodes[ni].limited.is_empty() && now % self.nodes[ni].period_ns == 0 {
            self.refill(ni, t);
        }
        // Whatever is due by now, in (time, container) order; each completion may change θ,
        // which never makes another container's due event later than now.
        for _ in 0..=self.containers.len() + self.tasks.len() {
            let Some(ci) = self.due(ni, t) else { break };
            self.fire(ni, ci, t, done);
            self.rebalance(ni, t);
        }
        self.settle(ni, t, now);
    }

    /// After a change in shared mode: back to direct mode as soon as a core is free and no
    /// limit can bind, otherwise make sure the node's next event is scheduled.
    #[inline]
    fn settle(&mut self, ni: usize, t: f64, now: u64) {
        let n = &self.nodes[ni];
        if f64::from(n.runnable) <= n.cores - 1.0 && n.limited_active == 0 {
            self.enter_direct_mode(ni, t, now);
        } else {
            self.wake_node(ni, now);
        }
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

    /// Set or lift a container's CPU limit (a squeeze that starts or ends).
    pub fn set_limit(&mut self, now: u64, container: u32, limit_cores: Option<f64>, max_parallel: u32) {
        let t = whole_f64(now);
        let ci = container as usize;
        let ni = self.containers[ci].node as usize;
        if self.nodes[ni].direct {
            self.enter_shared_mode(ni, t);
            self.partition(ni, t);
        }
        self.node_sync(ni, t);
        self.sync(ci, t);
        let period = self.nodes[ni].period_ns as f64;
        let quota = limit_cores.and_then(|l| (l < f64::from(max_parallel)).then_some(l * period));
        let had = self.containers[ci].quota_ns.is_some();
        let active = self.containers[ci].n > 0;
        match (had, quota.is_some()) {
            (false, true) => {
                self.nodes[ni].limited.push(container);
                if active {
                    self.nodes[ni].limited_active += 1;
                }
            }
            (true, false) => {
                self.nodes[ni].limited.retain(|&c| c != container);
                if active {
                    self.nodes[ni].limited_active -= 1;
                }
            }
            _ => {}
        }
        self.containers[ci].quota_ns = quota;
        let c = &self.containers[ci];
        if c.state == State::Throttled && quota.is_none_or(|q| c.usage < q) {
            self.unthrottle(ni, ci, t);
        } else if matches!(c.state, State::Capped | State::Sharing) {
            self.update_key(ni, ci);
        }
        self.rebalance(ni, t);
        self.settle(ni, t, now);
    }

    // ----------------------------------------------------------------- clocks and accounting

    /// Advance the node clock `V` to real time `t`.
    #[inline]
    fn node_sync(&mut self, ni: usize, t: f64) {
        let n = &mut self.nodes[ni];
        if t > n.t {
            if n.w_sharing > 0 {
                n.v += n.theta * (t - n.t);
            }
            n.t = t;
        }
    }

    /// The clock at real time `t` of a container in `state` (for a sharing container, the node
    /// clock must be at `t`). Callers that know the state pass it as a constant, so no branch
    /// on it is left.
    #[inline(always)]
    fn v_at(&self, ci: usize, t: f64, state: State) -> f64 {
        let c = &self.containers[ci];
        match state {
            State::Capped => c.v_a + (t - c.t_a),
            State::Sharing => c.v_a + c.x() * (self.nodes[c.node as usize].v - c.t_a),
            State::Idle | State::Throttled => c.v_a,
        }
    }

    /// Bring a container's clock and counters to real time `t` (the node clock must be at `t`)
    /// and re-anchor it there. Re-anchoring leaves the container's heap keys unchanged.
    #[inline(always)]
    fn sync(&mut self, ci: usize, t: f64) {
        self.sync_in(ci, t, self.containers[ci].state);
    }

    /// [`Cpu::sync`] for a container known to be in `state`.
    #[inline(always)]
    fn sync_in(&mut self, ci: usize, t: f64, state: State) {
        if self.containers[ci].t_acc == t {
            // Already synced at `t`: its clock has not moved since (neither real time nor the
            // node clock has), so syncing again would add nothing. Only an idle or throttled
            // container keeps a stale anchor, and it is re-anchored before it runs again.
            return;
        }
        let v = self.v_at(ci, t, state);
        let node_v = self.nodes[self.containers[ci].node as usize].v;
        let c = &mut self.containers[ci];
        let dt = (t - c.t_acc).max(0.0);
        let dv = (v - c.v_a).max(0.0);
        let n = f64::from(c.n);
        c.counters.work_ns += n * dv;
        c.counters.present_ns += n * dt;
        if state == State::Throttled {
            c.counters.throttled_ns += dt;
        }
        c.usage += n * dv;
        c.t_acc = t;
        c.v_a = v;
        c.t_a = if state == State::Sharing { node_v } else { t };
    }

    /// The next event of a container, in its own clock: its first task done, or its quota used.
    #[inline(always)]
    fn next_v(&self, ci: usize) -> f64 {
        let c = &self.containers[ci];
        let first = c.heap.peek().map(|Reverse((f, _))| f.0).unwrap_or(f64::INFINITY);
        match c.quota_ns {
            Some(q) if c.n > 0 => first.min(c.v_a + (q - c.usage).max(0.0) / f64::from(c.n)),
            _ => first,
        }
    }

    #[inline]
    fn retire(&mut self, id: u32) {
        let tk = &mut self.tasks[id as usize];
        tk.live = false;
        tk.gen = tk.gen.wrapping_add(1);
        tk.slot = NIL;
        self.free_tasks.push(id);
    }

    // ------------------------------------------------------------------------ mode changes

    /// Direct → shared: every running container gets its tasks in a heap and its clock
    /// anchored at `t`, and is listed for [`Cpu::partition`], which then places them.
    fn enter_shared_mode(&mut self, ni: usize, t: f64) {
        let node = &mut self.nodes[ni];
        node.direct = false;
        node.t = t;
        node.v = 0.0;
        // Taken out for the loop, so it is read as a slice rather than indexed again each time.
        let members = std::mem::take(&mut node.members);
        let mut running = std::mem::take(&mut self.partition_scratch);
        running.clear();
        for &c in &members {
            let ci = c as usize;
            if self.containers[ci].n == 0 {
                continue;
            }
            running.push((0.0, c));
            // What the tasks ran at one core each up to `t` (as `settle_direct` counts it), in
            // the same pass that moves them to the heap.
            let list = std::mem::take(&mut self.containers[ci].list);
            let mut ran = 0.0;
            for &id in &list {
                let tk = &mut self.tasks[id as usize];
                ran += (t.min(tk.finish_v) - tk.acct_from).max(0.0);
                tk.gen = tk.gen.wrapping_add(1);
                tk.slot = NIL;
                self.containers[ci].heap.push(Reverse((OrdF64(tk.finish_v), id)));
            }
            let c = &mut self.containers[ci];
            c.counters.work_ns += ran;
            c.counters.present_ns += ran;
            c.t_acc = t;
            // The clock of a container in direct mode is real time.
            c.v_a = t;
            c.t_a = t;
            c.list = list;
            c.list.clear();
            c.state = State::Capped;
            if c.quota_ns.is_some() {
                self.nodes[ni].limited_active += 1;
            }
        }
        self.nodes[ni].members = members;
        self.partition_scratch = running;
    }

    /// Place the runnable containers of a node that has none placed (it just left direct
    /// mode; [`Cpu::enter_shared_mode`] listed them) in their final sets at once: sorted by
    /// weight per task, the capped ones are the largest prefix whose smallest still gets a
    /// core per task at the resulting θ.
    fn partition(&mut self, ni: usize, t: f64) {
        let mut items = std::mem::take(&mut self.partition_scratch);
        for item in &mut items {
            item.0 = self.containers[item.1 as usize].x();
        }
        // A total order (containers are distinct), so an unstable sort gives the same order.
        items.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let cores = self.nodes[ni].cores;
        let w_total: u64 = items.iter().map(|&(_, c)| self.containers[c as usize].shares).sum();
        let (mut n_cap, mut w_cap) = (0u64, 0u64);
        let mut capped = items.len();
        for (j, &(x, c)) in items.iter().enumerate() {
            // Would the first j capped and the rest sharing be consistent? The largest
            // sharing one (j) must get less than a core per task.
            let w_sh = w_total - w_cap;
            if x * (cores - whole_f64(n_cap)) < whole_f64(w_sh) {
                capped = j;
                break;
            }
            n_cap += u64::from(self.containers[c as usize].n);
            w_cap += self.containers[c as usize].shares;
        }
        for (j, &(_, c)) in items.iter().enumerate() {
            if j < capped {
                self.enter_capped(ni, c as usize, t);
            } else {
                self.enter_sharing(ni, c as usize);
            }
        }
        self.partition_scratch = items;
        self.rebalance(ni, t);
    }

    /// Shared → direct: every task gets its own completion event again.
    #[inline(never)]
    fn enter_direct_mode(&mut self, ni: usize, t: f64, now: u64) {
        let members = std::mem::take(&mut self.nodes[ni].members);
        for &c in &members {
            let ci = c as usize;
            if self.containers[ci].n == 0 {
                continue;
            }
            self.sync(ci, t);
            let v = self.containers[ci].v_a;
            // Tasks in finish order (their keys are distinct), so their events are scheduled
            // in a fixed order; sorting the few at once costs less than popping them one by one.
            let mut by_finish = std::mem::take(&mut self.containers[ci].heap).into_vec();
            by_finish.sort_unstable();
            let c = &mut self.containers[ci];
            c.v_a = t;
            c.t_a = t;
            c.state = State::Capped;
            for &Reverse((f, id)) in by_finish.iter().rev() {
                let finish = t + (f.0 - v).max(0.0);
                let slot = self.containers[ci].list.len() as u32;
                self.containers[ci].list.push(id);
                let tk = &mut self.tasks[id as usize];
                tk.finish_v = finish;
                tk.acct_from = t;
                tk.gen = tk.gen.wrapping_add(1);
                tk.slot = slot;
                if finish.is_finite() {
                    self.wakes.push(CpuWake::Task { task: id, gen: tk.gen & 0xff_ffff, at_ns: ceil_ns(finish, now) });
                }
            }
            by_finish.clear();
            self.containers[ci].heap = BinaryHeap::from(by_finish);
        }
        self.nodes[ni].members = members;
        // Every runnable container was in the sets (none is throttled: no limit can bind).
        let n = &mut self.nodes[ni];
        n.cap_x.clear();
        n.cap_t.clear();
        n.shr_x.clear();
        n.shr_v.clear();
        n.n_capped = 0;
        n.w_sharing = 0;
        n.direct = true;
        n.v = 0.0;
        n.theta = 0.0;
        // A node event still pending (a fault ended contention before it) is void: a direct
        // node ignores it, and the next shared spell must schedule its own, even a later one.
        n.scheduled_ns = u64::MAX;
    }

    // ------------------------------------------------------------------ water filling

    #[inline(always)]
    fn enter_capped(&mut self, ni: usize, ci: usize, t: f64) {
        let c = &mut self.containers[ci];
        c.state = State::Capped;
        c.t_a = t;
        let (local, x, n) = (c.local, c.x(), c.n);
        let key = self.key_of_in(ci, State::Capped);
        let node = &mut self.nodes[ni];
        node.cap_x.set(local, x);
        node.cap_t.set(local, key);
        node.n_capped += u64::from(n);
    }

    #[inline(always)]
    fn enter_sharing(&mut self, ni: usize, ci: usize) {
        let v = self.nodes[ni].v;
        let c = &mut self.containers[ci];
        c.state = State::Sharing;
        c.t_a = v;
        let (local, x, w) = (c.local, c.x(), c.shares);
        let key = self.key_of_in(ci, State::Sharing);
        let node = &mut self.nodes[ni];
        node.shr_x.set(local, x);
        node.shr_v.set(local, key);
        node.w_sharing += w;
    }

    /// Take a runnable container out of its heaps (its clock must be synced).
    #[inline(always)]
    fn leave_sets(&mut self, ni: usize, ci: usize) {
        self.leave_sets_in(ni, ci, self.containers[ci].state);
    }

    /// [`Cpu::leave_sets`] for a container known to be in `state`.
    #[inline(always)]
    fn leave_sets_in(&mut self, ni: usize, ci: usize, state: State) {
        let c = &self.containers[ci];
        let (local, n, w) = (c.local, u64::from(c.n), c.shares);
        let node = &mut self.nodes[ni];
        match state {
            State::Capped => {
                node.cap_x.remove(local);
                node.cap_t.remove(local);
                node.n_capped -= n;
            }
            State::Sharing => {
                node.shr_x.remove(local);
                node.shr_v.remove(local);
                node.w_sharing -= w;
            }
            State::Idle | State::Throttled => {}
        }
    }

    /// A runnable container gains (or loses) `delta` tasks: its weight per task and next
    /// event change (its clock must be synced).
    fn resize(&mut self, ni: usize, ci: usize, delta: i32) {
        let c = &mut self.containers[ci];
        let old = c.n;
        c.n = (i64::from(old) + i64::from(delta)) as u32;
        let (state, local, x) = (c.state, c.local, c.x());
        match state {
            State::Capped => {
                let key = self.key_of_in(ci, State::Capped);
                let node = &mut self.nodes[ni];
                node.n_capped = node.n_capped + u64::from(self.containers[ci].n) - u64::from(old);
                node.cap_x.set(local, x);
                node.cap_t.set(local, key);
                node.runnable = (i64::from(node.runnable) + i64::from(delta)) as u32;
            }
            State::Sharing => {
                // Re-anchor in V with the new x (the clock was synced by the caller).
                self.containers[ci].t_a = self.nodes[ni].v;
                let key = self.key_of_in(ci, State::Sharing);
                let node = &mut self.nodes[ni];
                node.shr_x.set(local, x);
                node.shr_v.set(local, key);
                node.runnable = (i64::from(node.runnable) + i64::from(delta)) as u32;
            }
            State::Idle | State::Throttled => {}
        }
    }

    #[inline]
    fn theta(&self, ni: usize) -> f64 {
        let n = &self.nodes[ni];
        if n.w_sharing == 0 {
            0.0
        } else {
            ((n.cores - whole_f64(n.n_capped)) / whole_f64(n.w_sharing)).max(0.0)
        }
    }

    /// Move containers between capped and sharing until each task of a capped container
    /// would get at least one core and each of a sharing one less (water filling). Every move
    /// raises θ, and a container moves at most twice, so this ends.
    fn rebalance(&mut self, ni: usize, t: f64) {
        let mut settled = None;
        for _ in 0..=2 * self.nodes[ni].members.len() + 2 {
            let theta = self.theta(ni);
            let node = &self.nodes[ni];
            if let Some((x, local)) = node.shr_x.top() {
                if x * theta >= 1.0 {
                    let ci = node.members[local as usize] as usize;
                    self.sync_in(ci, t, State::Sharing);
                    self.leave_sets_in(ni, ci, State::Sharing);
                    self.enter_capped(ni, ci, t);
                    continue;
                }
            }
            let node = &self.nodes[ni];
            if let Some((x, local)) = node.cap_x.top() {
                // Capped only if its tasks would get a core each were it sharing:
                // x·(cores − N_capped) ≥ W_sharing (with no sharing: N_capped ≤ cores).
                if x * (node.cores - whole_f64(node.n_capped)) < whole_f64(node.w_sharing) {
                    let ci = node.members[local as usize] as usize;
                    self.sync_in(ci, t, State::Capped);
                    self.leave_sets_in(ni, ci, State::Capped);
                    self.enter_sharing(ni, ci);
                    continue;
                }
            }
            settled = Some(theta);
            break;
        }
        // θ changed: sharing containers' keys are in V, so none needs an update.
        self.nodes[ni].theta = settled.unwrap_or_else(|| self.theta(ni));
    }

    // ------------------------------------------------------------------------- events

    /// Key of a container in its node heap: the real time (capped) or node clock (sharing)
    /// of its next event.
    #[inline(always)]
    fn key_of(&self, ci: usize) -> f64 {
        self.key_of_in(ci, self.containers[ci].state)
    }

    /// [`Cpu::key_of`] for a container known to be in `state`.
    #[inline(always)]
    fn key_of_in(&self, ci: usize, state: State) -> f64 {
        let c = &self.containers[ci];
        let e = self.next_v(ci);
        match state {
            State::Capped => c.t_a + (e - c.v_a),
            State::Sharing => c.t_a + (e - c.v_a) / c.x(),
            State::Idle | State::Throttled => f64::INFINITY,
        }
    }

    #[inline]
    fn update_key(&mut self, ni: usize, ci: usize) {
        let key = self.key_of(ci);
        let c = &self.containers[ci];
        let local = c.local;
        match c.state {
            State::Capped => self.nodes[ni].cap_t.set(local, key),
            State::Sharing => self.nodes[ni].shr_v.set(local, key),
            State::Idle | State::Throttled => {}
        }
    }

    /// Real time of the next event of a node (shared mode).
    fn next_time(&self, ni: usize) -> f64 {
        let n = &self.nodes[ni];
        let mut next = f64::INFINITY;
        if let Some((k, _)) = n.cap_t.top() {
            next = next.min(k);
        }
        if let Some((k, _)) = n.shr_v.top() {
            if n.theta > 0.0 {
                next = next.min(n.t + (k - n.v).max(0.0) / n.theta);
            }
        }
        if n.limited_active > 0 {
            let p = whole_f64(n.period_ns);
            next = next.min(((n.t / p).floor() + 1.0) * p);
        }
        next
    }

    #[inline]
    fn wake_node(&mut self, ni: usize, now: u64) {
        let next = self.next_time(ni);
        if !next.is_finite() {
            return;
        }
        let at = ceil_ns(next, now);
        if at < self.nodes[ni].scheduled_ns {
            self.nodes[ni].scheduled_ns = at;
            self.wakes.push(CpuWake::Node { node: ni as u32, at_ns: at });
        }
    }

    /// The container whose event is due by `t`, earliest first (ties by container).
    fn due(&self, ni: usize, t: f64) -> Option<usize> {
        let n = &self.nodes[ni];
        let tol = 1e-6 * (1.0 + t.abs() * 1e-9);
        let cap = n.cap_t.top().filter(|(k, _)| *k <= t + tol);
        let shr = n.shr_v.top().filter(|_| n.theta > 0.0).and_then(|(k, m)| {
            let at = n.t + (k - n.v) / n.theta;
            (at <= t + tol).then_some((at, m))
        });
        let local = match (cap, shr) {
            (Some(a), Some(b)) => {
                if a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).is_le() {
                    a.1
                } else {
                    b.1
                }
            }
            (a, b) => a.or(b)?.1,
        };
        Some(n.members[local as usize] as usize)
    }

    /// A container's due event: its first task is done (with any other task due at the same
    /// clock), or its quota ran out (then it is throttled until the next period).
    fn fire(&mut self, ni: usize, ci: usize, t: f64, done: &mut Vec<u32>) {
        self.sync(ci, t);
        let c = &self.containers[ci];
        let v = c.v_a;
        let first = c.heap.peek().map(|Reverse((f, _))| f.0).unwrap_or(f64::INFINITY);
        let quota_v = match c.quota_ns {
            Some(q) if c.n > 0 => v + (q - c.usage).max(0.0) / f64::from(c.n),
            _ => f64::INFINITY,
        };
        let mut finished = 0u32;
        if first <= quota_v {
            // Its first task's event fired: finish it, and every task due at the same clock.
            let upto = first.max(v) + 1e-9 * (1.0 + v.abs());
            while let Some(&Reverse((f, id))) = self.containers[ci].heap.peek() {
                if finished > 0 && f.0 > upto {
                    break;
                }
                self.containers[ci].heap.pop();
                done.push(self.tasks[id as usize].token);
                self.retire(id);
                finished += 1;
            }
        }
        let c = &self.containers[ci];
        let out_of_quota = c.quota_ns.is_some_and(|q| c.usage >= q - 1e-9 * q.max(1.0));
        if c.n == finished {
            self.leave_sets(ni, ci);
            self.nodes[ni].runnable -= finished;
            let c = &mut self.containers[ci];
            c.n = 0;
            c.state = State::Idle;
            c.v_a = 0.0;
            if c.quota_ns.is_some() {
                self.nodes[ni].limited_active -= 1;
            }
        } else if finished == 0 || out_of_quota {
            self.leave_sets(ni, ci);
            self.nodes[ni].runnable -= finished;
            let c = &mut self.containers[ci];
            c.n -= finished;
            c.state = State::Throttled;
            c.counters.throttled_periods += 1;
            self.nodes[ni].runnable -= c.n;
        } else {
            self.resize(ni, ci, -(finished as i32));
        }
    }

    /// A new period: limited containers get their quota back.
    fn refill(&mut self, ni: usize, t: f64) {
        let period = t as u64 / self.nodes[ni].period_ns;
        for k in 0..self.nodes[ni].limited.len() {
            let ci = self.nodes[ni].limited[k] as usize;
            self.sync(ci, t);
            self.containers[ci].usage = 0.0;
            self.containers[ci].usage_period = period;
            match self.containers[ci].state {
                State::Throttled => self.unthrottle(ni, ci, t),
                State::Capped | State::Sharing => self.update_key(ni, ci),
                State::Idle => {}
            }
        }
    }

    fn unthrottle(&mut self, ni: usize, ci: usize, t: f64) {
        self.sync(ci, t);
        let n = self.containers[ci].n;
        self.nodes[ni].runnable += n;
        self.enter_capped(ni, ci, t);
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

#[cfg(test)]
mod tests {
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
}
