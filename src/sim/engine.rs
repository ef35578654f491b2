//! The event loop: the engine's state and the dispatch of events to the parts that handle
//! them (`load`: end-user requests; `station`: admission and service at pods and proxies;
//! `calls`: paths, responses, retries and timeouts; `faults`: crashes, squeezes, background
//! work; `cpu`: the nodes' shared cores).
//!
//! Ordering contract: events are processed by (time, insertion sequence) (see `event`); with
//! one seeded RNG drawn in event order, the same plan and seed give the same run. The engine
//! does no I/O and never reads the wall clock. Every loop is bounded: `max_events` stops a
//! run that would not end, `max_pending` one whose queue grows without bound (a retry storm),
//! and simulated time saturates instead of wrapping.

use std::collections::VecDeque;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::cpu::{shares_of_request, Cpu, CpuContainerSpec, CpuCounters};
use super::event::{Event, EventKind, EventQueue, PackedEvent};
use super::output::{
    histogram, small_histogram, Bucket, ContainerStats, EdgeStats, RunOutput, SimError, SimOptions, StationStats, MAX_TIMELINE_BUCKETS,
};
use super::plan::{Plan, PlanStep, StationKind, MAX_PATH_STEPS};
use super::sampler::Sampler;

pub(super) const NONE: u32 = u32::MAX;
/// CPU task tokens: a call's id, or a background job at a station, or a hog thread, or a
/// call being refused (the CPU its refuser's kernel spends on the reset before the error
/// goes back).
pub(super) const BG_JOB: u32 = 1 << 31;
pub(super) const HOG: u32 = 1 << 30;
pub(super) const REFUSAL: u32 = 1 << 29;
/// Calls in flight at once beyond this would collide with the token tags above.
const MAX_CALLS: usize = (REFUSAL - 1) as usize;

/// Call slots whose path steps have room from the start. A large plan holds millions of whole
/// paths' steps ahead of the slots: growing past the room copies them all, so the room is
/// made for more calls in flight than most runs reach.
const CALL_SLOTS_RESERVED: usize = 16_384;

/// `held` copied into a vector with room for `more` after it.
fn with_room<T: Clone>(held: &[T], more: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(held.len() + more);
    v.extend_from_slice(held);
    v
}

/// Events in a row at one instant that stop a run as stalled, at the least. Every request
/// makes a bounded number of events per instant (a send, a reach, a start, a response, and as
/// many again per call it makes at no distance), so a legitimate instant stays far below
/// this; a loop that answers in zero time reaches it in well under a second of wall time.
pub const STALL_EVENTS_MIN: u64 = 1_000_000;
/// More events in a row at one instant allowed per closed-loop connection and per station
/// (all of them may act at one instant, at the start of a run or when a node wakes).
pub const STALL_EVENTS_PER_ACTOR: u64 = 64;

/// Why a call was answered with an error where it was (the cause a stalled run names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The station's queue was full (`simulation.queue_limit`).
    QueueFull,
    /// The station was down: its node's kernel refused the connection.
    Down,
}

#[derive(Clone, Copy, Default)]
pub(super) struct CallState {
    pub gen: u32,
    pub edge: u32,
    /// Its path in [`Engine::paths`].
    pub path: u32,
    /// Index in [`Engine::path_steps`] of its current step (from its path's first step to its last).
    pub at: u32,
    pub src_i: u32,
    pub dst_j: u32,
    /// The callee pod's station (the path's last step).
    pub callee: u32,
    pub parent: u32,
    pub request: u32,
    pub attempt: u32,
    pub cursor: u32,
    pub outstanding: u32,
    pub epoch: u32,
    pub start_ns: u64,
    pub failed: bool,
    pub abandoned: bool,
    pub measured: bool,
    /// The proxy (or pod) whose retry budget this attempt, a retry, holds (`NONE`: none).
    pub retrier: u32,
}

#[derive(Clone, Copy)]
pub(super) struct RequestState {
    pub start_ns: u64,
    pub measured: bool,
    /// The closed-loop connection that sent it (`NONE` for open-loop load).
    pub conn: u32,
}

/// A closed-loop connection of a load generator.
#[derive(Clone, Copy)]
pub(super) struct Connection {
    pub load: u32,
    pub src_i: u32,
    pub last_send_ns: u64,
}

pub(super) struct Station {
    pub busy: u32,
    pub servers: u32,
    pub up: bool,
    /// Down with its node: nothing answers, a new connection waits for the connect timeout.
    pub silent: bool,
    /// Out of its service's endpoints (a rolling update): new calls go elsewhere.
    pub drained: bool,
    pub epoch: u32,
    pub queue: VecDeque<u32>,
    /// Calls present and when that count last changed, for the occupancy integral.
    pub present: u32,
    pub since_ns: u64,
    /// When a pass last started or ended here (a proxy's wake-up cost).
    pub last_active_ns: u64,
}

/// A station's memory as the run goes.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct MemoryState {
    /// Calls held, and of them those on edges with a connection per request.
    pub calls: u32,
    pub new_connection_calls: u32,
    /// When it last died (`None`: never); calls started before then are not released.
    pub died_at_ns: Option<u64>,
    /// OOM kills so far (the restart back-off grows with them).
    pub kills: u32,
    /// Down because memory ran out (a restart event brings it back).
    pub down: bool,
    /// When `calls` last changed, for the time integral of calls held.
    pub since_ns: u64,
}

pub(super) struct Engine<'a> {
    pub plan: &'a Plan,
    pub opts: &'a SimOptions,
    pub now: u64,
    pub queue: EventQueue,
    pub rng: ChaCha8Rng,
    pub stations: Vec<Station>,
    pub cpu: Cpu,
    pub calls: Vec<CallState>,
    pub free_calls: Vec<u32>,
    /// The plan's whole paths' steps, then `MAX_PATH_STEPS` per call slot for a call whose
    /// edge joins its path's sides when it starts (see `plan::WHOLE_PATHS_PER_EDGE`).
    pub path_steps: Vec<PlanStep>,
    /// (first step in `path_steps`, number of steps, return delay): the plan's whole paths,
    /// then one per call slot.
    pub paths: Vec<(u32, u32, u64)>,
    pub requests: Vec<RequestState>,
    pub free_requests: Vec<u32>,
    pub rr_source: Vec<u32>,
    /// The schedule of each wrk2-paced load (built at the start: its pods' phases are drawn).
    pub wrk2: Vec<Option<super::wrk2::Wrk2Schedule>>,
    /// Outlier detection per client proxy and edge (see `calls`): consecutive errors and
    /// ejection end of each destination replica, as that client has seen them.
    pub outliers: std::collections::BTreeMap<(u32, u32), (Vec<u32>, Vec<u64>)>,
    /// Retries in flight per (retrying proxy, first replica of the destination service).
    pub retries_in_flight: std::collections::BTreeMap<(u32, u32), u32>,
    pub conns: Vec<Connection>,
    pub window_end: u64,
    pub out: RunOutput,
    pub cpu_samplers: Vec<Option<Sampler>>,
    pub wait_samplers: Vec<Option<Sampler>>,
    pub think_samplers: Vec<Option<Sampler>>,
    /// CPU counters of every container when the window opened.
    window_start: Vec<CpuCounters>,
    /// Scratch for tasks a node finished at once.
    done_scratch: Vec<u32>,
    /// Set when more calls are in flight than tokens can name.
    pub overflow: bool,
    /// Stations drained now (calls look for drained replicas only while some are).
    pub drained: u32,
    /// The last refusal: when, by which station, and why (for naming a stalled run's cause).
    pub last_refusal: Option<(u64, u32, Refusal)>,
    /// Closed-loop connections waiting for their source pod to come back up, per station.
    pub parked: Vec<Vec<u32>>,
    /// Each station's memory as the run goes, and each node's total, bytes.
    pub mem: Vec<MemoryState>,
    pub node_mem: Vec<f64>,
    /// Endpoint views and pushes, when the run has churn.
    pub churn: Option<super::churn_run::ChurnState>,
}

/// Run a plan to the end of its duration, then drain what is in flight (for at most one
/// more duration, and at least 60 s of simulated time).
pub fn simulate(plan: &Plan, opts: &SimOptions) -> Result<RunOutput, SimError> {
    if let Some((_, n)) = plan.overcommitted_nodes().next() {
        return Err(SimError::NodeOvercommitted(n.name.clone(), n.idle_cores * 1000.0, n.vcpu));
    }
    let mut e = Engine::new(plan, opts);
    if let Some(n) =
        (0..plan.nodes.len()).find(|&n| e.node_mem[n] > plan.node_memory_bytes[n] - crate::kubernetes::EVICTION_HARD_MEMORY_AVAILABLE_BYTES)
    {
        let mib = 1024.0 * 1024.0;
        return Err(SimError::NodeMemoryOvercommitted(plan.nodes[n].name.clone(), e.node_mem[n] / mib, plan.node_memory_bytes[n] / mib));
    }
    for s in 0..plan.stations.len() {
        e.out.stations[s].mem_peak_bytes = plan.memory[s].static_bytes;
    }
    e.start();
    // Attempts that wait out a connect timeout (each retry may wait again) still end in the drain.
    let waits = opts.connect_timeout_ns.iter().zip(&plan.edges).map(|(&t, e)| t.saturating_mul(u64::from(e.retries) + 1)).max();
    let horizon = plan.duration_ns.saturating_add(plan.duration_ns.max(60_000_000_000)).saturating_add(waits.unwrap_or(0));
    let actors = (e.conns.len() + plan.stations.len()) as u64;
    let stall_limit = STALL_EVENTS_MIN.saturating_add(STALL_EVENTS_PER_ACTOR.saturating_mul(actors));
    // Events in a row at the instant `e.now`: a loop answering in zero time is caught here,
    // named for its cause, long before the event limit.
    let mut still = 0u64;
    while let Some((t, ev)) = e.queue.pop() {
        if t > horizon {
            break;
        }
        if t == e.now {
            still += 1;
            if still >= stall_limit {
                return Err(e.stalled(still));
            }
        } else {
            still = 0;
        }
        e.now = t;
        e.out.events += 1;
        if e.out.events > plan.max_events {
            return Err(SimError::EventLimit(plan.max_events, t));
        }
        e.dispatch(ev);
        if e.queue.len() as u64 > plan.max_pending || e.overflow {
            return Err(SimError::PendingLimit(plan.max_pending, t));
        }
    }
    e.finish_churn();
    e.out.churn = e.churn.take().map(|c| c.stats);
    e.out.end_ns = e.now;
    e.out.in_flight = e.out.sent - e.out.succeeded - e.out.failed;
    Ok(e.out)
}

impl<'a> Engine<'a> {
    fn new(plan: &'a Plan, opts: &'a SimOptions) -> Engine<'a> {
        let stations = plan
            .stations
            .iter()
            .map(|s| Station {
                busy: 0,
                servers: s.servers,
                up: true,
                silent: false,
                drained: false,
                epoch: 0,
                queue: VecDeque::new(),
                present: 0,
                since_ns: 0,
                last_active_ns: 0,
            })
            .collect();
        let mut containers: Vec<CpuContainerSpec> = plan.containers.iter().map(|c| c.cpu.clone()).collect();
        for h in &opts.hogs {
            containers.push(CpuContainerSpec {
                node: h.node,
                shares: shares_of_request(h.request_millicores),
                limit_cores: h.limit_millicores.map(|m| m / 1000.0),
                max_parallel: h.threads.max(1),
            });
        }
        for w in &opts.periodic {
            containers.push(CpuContainerSpec {
                node: w.node,
                shares: shares_of_request(w.request_millicores),
                limit_cores: None,
                max_parallel: u32::MAX,
            });
        }
        let nodes: Vec<_> = plan.nodes.iter().map(|n| n.cpu.clone()).collect();
        let bucket_ns = opts.bucket_ns.max(1).max(plan.duration_ns.div_ceil(MAX_TIMELINE_BUCKETS));
        let buckets = plan.duration_ns.div_ceil(bucket_ns) as usize;
        let container_count = containers.len();
        let mut node_mem = vec![0.0; plan.nodes.len()];
        for m in &plan.memory {
            node_mem[m.node as usize] += m.static_bytes;
        }
        for w in &opts.periodic {
            if let Some(held) = node_mem.get_mut(w.node as usize) {
                *held += w.memory_bytes;
            }
        }
        let node_mem_peak = node_mem.clone();
        let mut conns = Vec::new();
        for (l, closed) in plan.load_closed.iter().enumerate() {
            if let Some(c) = closed {
                let n_src = plan.edges[l].src_pods.len().max(1) as u32;
                for k in 0..c.connections {
                    conns.push(Connection { load: l as u32, src_i: k % n_src, last_send_ns: 0 });
                }
            }
        }
        Engine {
            plan,
            opts,
            now: 0,
            queue: EventQueue::with_capacity(1024),
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            stations,
            cpu: Cpu::new(&nodes, &containers),
            calls: Vec::with_capacity(1024),
            free_calls: Vec::new(),
            path_steps: with_room(&plan.steps, CALL_SLOTS_RESERVED * MAX_PATH_STEPS),
            paths: with_room(&plan.paths, CALL_SLOTS_RESERVED),
            requests: Vec::with_capacity(1024),
            free_requests: Vec::new(),
            rr_source: vec![0; plan.load_count],
            wrk2: vec![None; plan.load_count],
            outliers: std::collections::BTreeMap::new(),
            retries_in_flight: std::collections::BTreeMap::new(),
            conns,
            window_end: plan.duration_ns,
            cpu_samplers: plan.stations.iter().map(|s| s.service_time.map(Sampler::new).filter(|s| !s.is_zero())).collect(),
            wait_samplers: plan.stations.iter().map(|s| s.wait.map(Sampler::new).filter(|s| !s.is_zero())).collect(),
            think_samplers: plan.load_closed.iter().map(|c| c.and_then(|c| c.think).map(Sampler::new).filter(|s| !s.is_zero())).collect(),
            window_start: vec![CpuCounters::default(); container_count],
            done_scratch: Vec::new(),
            overflow: false,
            drained: 0,
            last_refusal: None,
            parked: vec![Vec::new(); plan.stations.len()],
            mem: vec![Default::default(); plan.stations.len()],
            node_mem,
            churn: opts
                .churn
                .as_ref()
                .map(|r| super::churn_run::ChurnState::new(r, plan.stations.len(), (opts.hogs.len() + opts.periodic.len()) as u32)),
            out: RunOutput {
                seed: opts.seed,
                events: 0,
                end_ns: 0,
                sent: 0,
                succeeded: 0,
                failed: 0,
                in_flight: 0,
                measured_sent: 0,
                measured_succeeded: 0,
                measured_failed: 0,
                latency_ns: histogram(3),
                stations: vec![StationStats::default(); plan.stations.len()],
                containers: vec![ContainerStats::default(); container_count],
                hog_nodes: opts.hogs.iter().map(|h| h.node).collect(),
                periodic: opts.periodic.iter().map(|w| (w.name.clone(), w.node, w.memory_bytes)).collect(),
                retries: 0,
                retries_over_budget: 0,
                retries_in_flight_max: 0,
                node_mem_peak_bytes: node_mem_peak,
                edges: plan
                    .edges
                    .iter()
                    .map(|_| EdgeStats { calls: 0, failed: 0, retried: 0, latency_sum_ns: 0.0, latency_ns: Default::default() })
                    .collect(),
                timeline: (0..buckets)
                    .map(|_| Bucket {
                        sent: 0,
                        succeeded: 0,
                        failed: 0,
                        slo_missed: 0,
                        latency_ns: small_histogram(2),
                        failed_latency_ns: small_histogram(2),
                    })
                    .collect(),
                bucket_ns,
                churn: None,
            },
        }
    }

    /// The first events: window marks, load, faults, background work.
    fn start(&mut self) {
        let plan = self.plan;
        self.schedule(plan.warmup_ns, Event::WindowMark { mark: 0 });
        self.schedule(plan.duration_ns, Event::WindowMark { mark: 1 });
        for l in 0..plan.load_count {
            if plan.load_closed[l].is_some() {
                continue;
            }
            if let (Some(threads), true) = (plan.load_wrk2_threads[l], plan.load_rates_rps[l] > 0.0) {
                self.start_wrk2(l, threads);
                continue;
            }
            if plan.load_rates_rps[l] > 0.0 {
                // Arrivals stop at the duration: a load slow enough that its first gap passes
                // the end sends nothing (its first arrival would otherwise land in the drain).
                let first = self.interarrival(l);
                if first < plan.duration_ns {
                    self.schedule(first, Event::Arrival { load: l as u32 });
                }
            }
        }
        for k in 0..self.conns.len() {
            self.schedule(0, Event::ConnectionSend { conn: k as u32 });
        }
        for (i, f) in self.opts.faults.iter().enumerate() {
            self.schedule(f.start_ns, Event::FaultStart { fault: i as u32 });
            if let Some(end) = f.end_ns {
                self.schedule(end.max(f.start_ns), Event::FaultEnd { fault: i as u32 });
            }
        }
        for (i, h) in self.opts.hogs.iter().enumerate() {
            self.schedule(h.start_ns, Event::HogStart { hog: i as u32 });
            if let Some(end) = h.end_ns {
                self.schedule(end.max(h.start_ns), Event::HogEnd { hog: i as u32 });
            }
        }
        for i in 0..self.opts.periodic.len() {
            self.schedule(0, Event::Periodic { work: i as u32 });
        }
        self.start_churn();
        for (i, b) in self.opts.background.iter().enumerate() {
            if b.jobs_per_s > 0.0 && b.start_ns < self.background_end(i) {
                self.schedule(b.start_ns, Event::BackgroundArrival { load: i as u32 });
            }
        }
    }

    /// Run one event. It is matched in its packed form, by kind: unpacking it into an
    /// [`Event`] first was a second indirect jump per event, mispredicted about as often as
    /// the dispatch itself (Faces ambient at 1200 rps under callgrind: 460,634 indirect
    /// mispredictions, 246,573 without it, and 3.5% fewer instructions).
    fn dispatch(&mut self, ev: PackedEvent) {
        let id = ev.id();
        match ev.kind() {
            EventKind::Arrival => self.on_arrival(id as usize),
            EventKind::ConnectionSend => self.on_connection_send(id as usize),
            EventKind::Reach => self.on_reach(id),
            EventKind::TaskDone => {
                if let Some(token) = self.cpu.on_task_event(id, ev.gen()) {
                    self.on_cpu_done(token);
                }
            }
            EventKind::NodeCpu => {
                let mut done = std::mem::take(&mut self.done_scratch);
                self.cpu.on_node_event(self.now, id, &mut done);
                self.flush_cpu();
                for &token in &done {
                    self.on_cpu_done(token);
                }
                done.clear();
                self.done_scratch = done;
            }
            EventKind::WaitDone => self.on_wait_done(id),
            EventKind::Response => self.on_response(id),
            EventKind::Timeout => self.on_timeout(id, ev.gen()),
            EventKind::FaultStart => self.on_fault(id as usize, true),
            EventKind::FaultEnd => self.on_fault(id as usize, false),
            EventKind::HogStart => self.on_hog(id as usize, true),
            EventKind::HogEnd => self.on_hog(id as usize, false),
            EventKind::BackgroundArrival => self.on_background_arrival(id as usize),
            EventKind::WindowMark => self.on_window_mark(id),
            EventKind::Restart => self.on_restart(id as usize),
            EventKind::Periodic => self.on_periodic(id as usize),
            EventKind::Churn => self.on_churn(id),
        }
    }

    // Always inlined: a call's start outgrew the compiler's inlining of it.
    #[inline(always)]
    pub(super) fn schedule(&mut self, at: u64, e: Event) {
        self.queue.push(at, e);
    }

    /// `now + delay`, saturating: an event past the end of time is past the horizon too.
    #[inline]
    pub(super) fn after(&self, delay_ns: u64) -> u64 {
        self.now.saturating_add(delay_ns)
    }

    /// Schedule what the CPU asked for.
    #[inline(always)]
    pub(super) fn flush_cpu(&mut self) {
        if self.cpu.has_wakes() {
            for w in self.cpu.drain_wakes() {
                self.queue.push_wake(w);
            }
        }
    }

    /// Start CPU work and schedule what it needs.
    #[inline]
    pub(super) fn start_task(&mut self, container: u32, work_ns: f64, token: u32) {
        match self.cpu.start(self.now, container, work_ns, token) {
            // A task with its own completion event asked for nothing else.
            Some(w) => self.queue.push_wake(w),
            None => self.flush_cpu(),
        }
    }

    /// The error of a run whose clock stopped: at which instant, after how many events, the
    /// refusal at that instant that most likely loops (a closed-loop client answered in zero
    /// time sends again at once), and what the run had done so far.
    fn stalled(&self, events: u64) -> SimError {
        let cause = match self.last_refusal {
            Some((t, s, why)) if t == self.now => {
                let name = &self.plan.stations[s as usize].name;
                match why {
                    Refusal::QueueFull => format!(
                        "`{name}` refuses calls because its queue is full (simulation.queue_limit = {}), and its clients \
                         send again at once: raise simulation.queue_limit or lower the load",
                        self.plan.queue_limit
                    ),
                    Refusal::Down => format!("`{name}` is down and its refusals cost no time, so its clients send again at once"),
                }
            }
            _ => "no component refused a call at that instant: requests are answered in zero time, \
                  so check for zero latencies, service times and think times"
                .to_string(),
        };
        SimError::Stalled { t_ns: self.now, events, cause, sent: self.out.sent, succeeded: self.out.succeeded, failed: self.out.failed }
    }

    /// Whether `t` lies in the measurement window.
    #[inline]
    pub(super) fn in_window(&self, t: u64) -> bool {
        t >= self.plan.warmup_ns && t < self.window_end
    }

    /// A fresh call slot (its contents are overwritten by the caller).
    pub(super) fn alloc_call(&mut self) -> u32 {
        match self.free_calls.pop() {
            Some(c) => c,
            None => {
                if self.calls.len() >= MAX_CALLS {
                    self.overflow = true;
                }
                self.calls.push(CallState::default());
                self.path_steps.extend([PlanStep::default(); MAX_PATH_STEPS]);
                self.paths.push((0, 0, 0));
                (self.calls.len() - 1) as u32
            }
        }
    }

    /// The window opens (mark 0) or closes (mark 1): read every container's CPU counters.
    fn on_window_mark(&mut self, mark: u32) {
        let now = self.now;
        for k in 0..self.out.containers.len() {
            let c = self.cpu.counters(now, k as u32);
            if mark == 0 {
                self.window_start[k] = c;
            } else {
                let s = self.window_start[k];
                self.out.containers[k] = ContainerStats {
                    cpu_ns: c.work_ns - s.work_ns,
                    ready_ns: ((c.present_ns - s.present_ns) - (c.work_ns - s.work_ns)).max(0.0),
                    throttled_ns: c.throttled_ns - s.throttled_ns,
                    throttled_periods: c.throttled_periods - s.throttled_periods,
                };
            }
        }
        if mark == 1 {
            for s in self.plan.proxy_station_offset..self.plan.stations.len() {
                self.integrate_held(s);
            }
            for (s, spec) in self.plan.stations.iter().enumerate() {
                self.out.stations[s].cpu_ns = self.out.containers[spec.container as usize].cpu_ns;
            }
        }
    }
}

/// Station kind helper for reports.
pub fn is_proxy(plan: &Plan, station: usize) -> bool {
    matches!(plan.stations[station].kind, StationKind::Proxy(_))
}
