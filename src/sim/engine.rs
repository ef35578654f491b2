//! The event engine: a time-ordered queue of events driving calls through stations.
//!
//! Ordering contract: events are processed by (time, insertion sequence), so two events at
//! the same nanosecond run in the order they were scheduled; with one seeded RNG drawn in
//! event order, the same plan and seed give the same run. A load tick over N aligned
//! connections is one event that sends its N requests in connection order. The engine does
//! no I/O and never reads the wall clock. Every loop is bounded: `max_events` stops a run that would not end.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};

use super::plan::{Plan, StationKind};
use crate::topology::{CallMode, ServiceTime};

const NONE: u32 = u32::MAX;
/// Highest latency a histogram records (1 hour, in ns); longer ones are clamped.
pub const HIST_MAX_NS: u64 = 3_600_000_000_000;

/// A scheduled change to some stations.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub stations: Vec<u32>,
    pub start_ns: u64,
    /// When the stations come back (restart done); `None`: never within the run.
    pub end_ns: Option<u64>,
    pub effect: FaultEffect,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultEffect {
    /// Crashed: calls in service or queued fail, new ones are refused.
    Down,
    /// Squeezed: at most `servers` workers, each pass `time_mult` times slower (a CPU limit).
    Slow { servers: u32, time_mult: f64 },
}

/// Extra work pushed through some stations by traffic outside the topology (a noisy tenant's
/// bulk transfer through a shared proxy): jobs of `job_ns` reference CPU ns arrive at each
/// station every `1 / jobs_per_s` seconds from `start_ns` until `end_ns`, take a worker like a
/// pass does, wait in the same queue, and are dropped when the queue is full or the station down.
#[derive(Clone, Debug, PartialEq)]
pub struct BackgroundLoad {
    pub stations: Vec<u32>,
    pub start_ns: u64,
    /// When the tenant stops; `None`: at the end of the run's duration.
    pub end_ns: Option<u64>,
    pub job_ns: u64,
    pub jobs_per_s: f64,
}

/// Options of one run.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    pub faults: Vec<Fault>,
    pub background: Vec<BackgroundLoad>,
    /// Width of a timeline bucket.
    pub bucket_ns: u64,
    /// A latency target: requests slower than this count as SLO misses in the timeline.
    pub slo_ns: Option<u64>,
}

impl SimOptions {
    pub fn new(seed: u64) -> Self {
        SimOptions { seed, faults: Vec::new(), background: Vec::new(), bucket_ns: 1_000_000_000, slo_ns: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("the run reached its event limit ({0} events) at t={1} ns: raise simulation.max_events or shorten the duration")]
    EventLimit(u64, u64),
}

/// Counters of one station over the measurement window (requests started after warm-up).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StationStats {
    /// CPU consumed, ns.
    pub cpu_ns: f64,
    /// Passes served.
    pub passes: u64,
    /// Sum over measured calls of the time they were held open through this station, ns.
    pub inflight_ns: f64,
    /// The same, over calls that opened a new connection.
    pub new_conn_ns: f64,
    pub queue_max: u32,
    pub rejected: u64,
    /// Time integral of the calls present (in service or queued), ns: its mean over the
    /// window is the station's L in Little's law.
    pub occupancy_ns: f64,
}

/// Counts and latency of one edge (measured calls).
#[derive(Clone, Debug)]
pub struct EdgeStats {
    pub calls: u64,
    pub failed: u64,
    pub retried: u64,
    /// Sum of successful call latencies, for an exact mean.
    pub latency_sum_ns: f64,
    /// Percentiles to 2 significant digits: a graph has thousands of edges, and a 3-digit
    /// histogram of each would take hundreds of KiB.
    pub latency_ns: Histogram<u64>,
}

/// One slice of the timeline, by request start time.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub sent: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub slo_missed: u64,
    pub latency_ns: Histogram<u64>,
}

/// Everything one run produced; summaries are computed by `metrics`.
#[derive(Clone, Debug)]
pub struct RunOutput {
    pub seed: u64,
    pub events: u64,
    pub end_ns: u64,
    /// End-user requests sent, over the whole run.
    pub sent: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub in_flight: u64,
    /// The same, for requests started in the measurement window.
    pub measured_sent: u64,
    pub measured_succeeded: u64,
    pub measured_failed: u64,
    /// End-to-end latency of measured successful requests.
    pub latency_ns: Histogram<u64>,
    pub stations: Vec<StationStats>,
    pub edges: Vec<EdgeStats>,
    pub timeline: Vec<Bucket>,
    pub bucket_ns: u64,
}

/// Record a latency, growing the histogram as needed (`saturating_record` would clamp to
/// the current range instead of growing it).
#[inline]
fn record(h: &mut Histogram<u64>, ns: u64) {
    let v = ns.clamp(1, HIST_MAX_NS);
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// An auto-resizing histogram: it grows to the largest value recorded, so small runs and
/// large graphs do not pay for an hour-wide range up front.
fn histogram(significant_digits: u8) -> Histogram<u64> {
    let mut h = Histogram::new(significant_digits).expect("2 or 3 significant digits are valid");
    // Start sized for 1 s: growing one bucket at a time from the smallest size reallocates
    // the counts over and over, which dominated large runs.
    h.auto(true);
    let _ = h.record(1_000_000_000);
    h.reset();
    h
}

#[derive(Clone, Copy, Default)]
struct CallState {
    gen: u32,
    edge: u32,
    path: u32,
    step: u32,
    src_i: u32,
    dst_j: u32,
    parent: u32,
    request: u32,
    attempt: u32,
    cursor: u32,
    outstanding: u32,
    epoch: u32,
    start_ns: u64,
    failed: bool,
    abandoned: bool,
    measured: bool,
}

#[derive(Clone, Copy)]
struct RequestState {
    start_ns: u64,
    measured: bool,
}

struct Station {
    busy: u32,
    servers: u32,
    time_mult: f64,
    up: bool,
    epoch: u32,
    queue: VecDeque<u32>,
    /// Calls present and when that count last changed, for the occupancy integral.
    present: u32,
    since_ns: u64,
}

const EV_ARRIVAL: u64 = 0;
const EV_REACH: u64 = 1;
const EV_DONE: u64 = 2;
const EV_RESPONSE: u64 = 3;
const EV_TIMEOUT: u64 = 4;
const EV_FAULT_START: u64 = 5;
const EV_FAULT_END: u64 = 6;
const EV_BG_ARRIVAL: u64 = 7;
const EV_BG_DONE: u64 = 8;
/// Marks a queue entry as a background job (the low bits are its load index), not a call.
const BG_JOB: u32 = 1 << 31;

#[inline]
fn pack(kind: u64, id: u32, gen: u32) -> u64 {
    (kind << 56) | ((gen as u64 & 0xff_ffff) << 32) | id as u64
}

struct Engine<'a> {
    plan: &'a Plan,
    opts: &'a SimOptions,
    now: u64,
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    rng: ChaCha8Rng,
    stations: Vec<Station>,
    calls: Vec<CallState>,
    free_calls: Vec<u32>,
    requests: Vec<RequestState>,
    free_requests: Vec<u32>,
    rr_source: Vec<u32>,
    /// Outlier detection per edge: consecutive errors and ejection end of each destination
    /// replica (empty when the topology does not enable it).
    outliers: Vec<(Vec<u32>, Vec<u64>)>,
    window_end: u64,
    out: RunOutput,
    samplers: Vec<Option<Sampler>>,
}

#[derive(Clone, Copy)]
enum Sampler {
    Constant(f64),
    Exp(Exp<f64>),
    LogNormal(LogNormal<f64>),
}

impl Sampler {
    fn new(st: ServiceTime) -> Sampler {
        match st {
            ServiceTime::Constant { mean_ns } => Sampler::Constant(mean_ns as f64),
            ServiceTime::Exponential { mean_ns } if mean_ns > 0 => Sampler::Exp(Exp::new(1.0 / mean_ns as f64).expect("positive rate")),
            ServiceTime::Exponential { .. } => Sampler::Constant(0.0),
            ServiceTime::LogNormal { mean_ns, cv } if mean_ns > 0 => {
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = (mean_ns as f64).ln() - sigma2 / 2.0;
                Sampler::LogNormal(LogNormal::new(mu, sigma2.sqrt()).expect("finite lognormal parameters"))
            }
            ServiceTime::LogNormal { .. } => Sampler::Constant(0.0),
        }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Sampler::Constant(x) => *x,
            Sampler::Exp(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
        }
    }
}

/// Run a plan to the end of its duration, then drain what is in flight (for at most one
/// more duration, and at least 60 s of simulated time).
pub fn simulate(plan: &Plan, opts: &SimOptions) -> Result<RunOutput, SimError> {
    let stations = plan
        .stations
        .iter()
        .map(|s| Station {
            busy: 0,
            servers: s.servers,
            time_mult: s.time_mult,
            up: true,
            epoch: 0,
            queue: VecDeque::new(),
            present: 0,
            since_ns: 0,
        })
        .collect();
    let buckets = (plan.duration_ns.div_ceil(opts.bucket_ns.max(1))) as usize;
    let mut e = Engine {
        plan,
        opts,
        now: 0,
        seq: 0,
        heap: BinaryHeap::with_capacity(1024),
        rng: ChaCha8Rng::seed_from_u64(opts.seed),
        stations,
        calls: Vec::with_capacity(1024),
        free_calls: Vec::new(),
        requests: Vec::with_capacity(1024),
        free_requests: Vec::new(),
        rr_source: vec![0; plan.load_count],
        outliers: if plan.outlier_detection.is_some() {
            plan.edges.iter().map(|e| (vec![0; e.dst_pods.len()], vec![0; e.dst_pods.len()])).collect()
        } else {
            Vec::new()
        },
        window_end: plan.duration_ns,
        samplers: plan.stations.iter().map(|s| s.service_time.map(Sampler::new)).collect(),
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
            edges: plan
                .edges
                .iter()
                .map(|_| EdgeStats { calls: 0, failed: 0, retried: 0, latency_sum_ns: 0.0, latency_ns: histogram(2) })
                .collect(),
            timeline: (0..buckets).map(|_| Bucket { sent: 0, succeeded: 0, failed: 0, slo_missed: 0, latency_ns: histogram(2) }).collect(),
            bucket_ns: opts.bucket_ns.max(1),
        },
    };
    for l in 0..plan.load_count {
        if plan.load_rates_rps[l] > 0.0 {
            let first = e.interarrival(l);
            e.schedule(first, pack(EV_ARRIVAL, l as u32, 0));
        }
    }
    for (i, f) in opts.faults.iter().enumerate() {
        e.schedule(f.start_ns, pack(EV_FAULT_START, i as u32, 0));
        if let Some(end) = f.end_ns {
            e.schedule(end.max(f.start_ns), pack(EV_FAULT_END, i as u32, 0));
        }
    }
    for (i, b) in opts.background.iter().enumerate() {
        if b.jobs_per_s > 0.0 && b.start_ns < e.background_end(i) {
            e.schedule(b.start_ns, pack(EV_BG_ARRIVAL, i as u32, 0));
        }
    }
    let horizon = plan.duration_ns.saturating_add(plan.duration_ns.max(60_000_000_000));
    while let Some(Reverse((t, _, payload))) = e.heap.pop() {
        if t > horizon {
            break;
        }
        e.now = t;
        e.out.events += 1;
        if e.out.events > plan.max_events {
            return Err(SimError::EventLimit(plan.max_events, t));
        }
        let kind = payload >> 56;
        let id = (payload & 0xffff_ffff) as u32;
        let gen = ((payload >> 32) & 0xff_ffff) as u32;
        match kind {
            EV_ARRIVAL => e.on_arrival(id as usize),
            EV_REACH => e.on_reach(id),
            EV_DONE => e.on_done(id),
            EV_RESPONSE => e.on_response(id),
            EV_TIMEOUT => e.on_timeout(id, gen),
            EV_FAULT_START => e.on_fault(id as usize, true),
            EV_FAULT_END => e.on_fault(id as usize, false),
            EV_BG_ARRIVAL => e.on_background_arrival(id as usize),
            EV_BG_DONE => e.on_background_done(id as usize, gen),
            _ => unreachable!("event kinds are the constants above"),
        }
    }
    e.out.end_ns = e.now;
    e.out.in_flight = e.out.sent - e.out.succeeded - e.out.failed;
    Ok(e.out)
}

impl Engine<'_> {
    #[inline]
    fn schedule(&mut self, at: u64, payload: u64) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, payload)));
    }

    /// Change the count of calls present at a station, integrating the old count over the
    /// part of the elapsed time that lies in the measurement window.
    #[inline]
    fn occupancy(&mut self, s: usize, delta: i32) {
        let st = &mut self.stations[s];
        let from = st.since_ns.max(self.plan.warmup_ns);
        let to = self.now.min(self.window_end);
        if to > from && st.present > 0 {
            self.out.stations[s].occupancy_ns += st.present as f64 * (to - from) as f64;
        }
        st.since_ns = self.now;
        st.present = (st.present as i64 + delta as i64).max(0) as u32;
    }

    /// Gap to the next tick of load `l`: its rate is split over its aligned connections, so
    /// ticks come at `rate / connections`, each sending one request per connection.
    fn interarrival(&mut self, l: usize) -> u64 {
        let connections = f64::from(self.plan.load_connections[l].max(1));
        let mean_ns = 1e9 * connections / self.plan.load_rates_rps[l];
        let x = if self.plan.load_poisson[l] { -mean_ns * (1.0 - self.rng.gen::<f64>()).ln() } else { mean_ns };
        (x.round() as u64).max(1)
    }

    /// A tick of load `l`: schedule the next, then send one request on each connection, in
    /// connection order (so the RNG is drawn in a fixed order within the tick).
    fn on_arrival(&mut self, l: usize) {
        let next = self.now + self.interarrival(l);
        if next < self.plan.duration_ns {
            self.schedule(next, pack(EV_ARRIVAL, l as u32, 0));
        }
        for _ in 0..self.plan.load_connections[l].max(1) {
            self.send_request(l);
        }
    }

    /// One end-user request of load `l`, starting now.
    fn send_request(&mut self, l: usize) {
        let measured = self.now >= self.plan.warmup_ns;
        let req = RequestState { start_ns: self.now, measured };
        let rid = match self.free_requests.pop() {
            Some(r) => {
                self.requests[r as usize] = req;
                r
            }
            None => {
                self.requests.push(req);
                (self.requests.len() - 1) as u32
            }
        };
        self.out.sent += 1;
        if measured {
            self.out.measured_sent += 1;
        }
        let b = self.bucket(self.now);
        if let Some(b) = b {
            self.out.timeline[b].sent += 1;
        }
        let edge = &self.plan.edges[l];
        let src_i = self.rr_source[l] % edge.src_pods.len() as u32;
        self.rr_source[l] = self.rr_source[l].wrapping_add(1);
        self.start_call(l as u32, src_i, NONE, rid, 0, None);
    }

    fn bucket(&self, t: u64) -> Option<usize> {
        let b = (t / self.out.bucket_ns) as usize;
        (b < self.out.timeline.len()).then_some(b)
    }

    fn start_call(&mut self, edge: u32, src_i: u32, parent: u32, request: u32, attempt: u32, dst_j: Option<u32>) {
        let ep = &self.plan.edges[edge as usize];
        let n_dst = ep.dst_pods.len() as u32;
        let dst_j = dst_j.unwrap_or_else(|| if n_dst == 1 { 0 } else { self.pick_replica(edge as usize, n_dst) });
        let w = if ep.waypoints == 1 { 0 } else { self.rng.gen_range(0..ep.waypoints) };
        let path = self.plan.path_index(edge as usize, src_i as usize, dst_j as usize, w as usize) as u32;
        let timeout = ep.timeout_ns;
        let id = match self.free_calls.pop() {
            Some(c) => c,
            None => {
                self.calls.push(CallState::default());
                (self.calls.len() - 1) as u32
            }
        };
        let gen = self.calls[id as usize].gen.wrapping_add(1);
        self.calls[id as usize] = CallState {
            gen,
            edge,
            path,
            step: 0,
            src_i,
            dst_j,
            parent,
            request,
            attempt,
            cursor: 0,
            outstanding: 0,
            epoch: 0,
            start_ns: self.now,
            failed: false,
            abandoned: false,
            measured: self.now >= self.plan.warmup_ns && self.now < self.window_end,
        };
        if let Some(t) = timeout {
            self.schedule(self.now + t, pack(EV_TIMEOUT, id, gen));
        }
        let (first, _, _) = self.plan.paths[path as usize];
        let delay = self.plan.steps[first as usize].delay_ns;
        self.schedule(self.now + delay, pack(EV_REACH, id, 0));
    }

    fn on_reach(&mut self, c: u32) {
        let call = self.calls[c as usize];
        let step = self.plan.steps[(self.plan.paths[call.path as usize].0 + call.step) as usize];
        let s = step.station as usize;
        if !self.stations[s].up {
            self.fail_call(c);
            return;
        }
        if self.stations[s].busy < self.stations[s].servers {
            self.occupancy(s, 1);
            self.start_service(c, s);
        } else if self.stations[s].queue.len() >= self.plan.queue_limit as usize {
            if call.measured {
                self.out.stations[s].rejected += 1;
            }
            self.fail_call(c);
        } else {
            self.occupancy(s, 1);
            self.stations[s].queue.push_back(c);
            let q = self.stations[s].queue.len() as u32;
            let st = &mut self.out.stations[s];
            st.queue_max = st.queue_max.max(q);
        }
    }

    fn start_service(&mut self, c: u32, s: usize) {
        self.stations[s].busy += 1;
        if c & BG_JOB != 0 {
            let work = self.opts.background[(c & !BG_JOB) as usize].job_ns as f64;
            let wall = (work * self.stations[s].time_mult).round() as u64;
            if self.now >= self.plan.warmup_ns && self.now < self.window_end {
                self.out.stations[s].cpu_ns += work * self.plan.stations[s].cpu_mult;
            }
            let epoch = self.stations[s].epoch & 0xff_ffff;
            self.schedule(self.now + wall, pack(EV_BG_DONE, s as u32, epoch));
            return;
        }
        let call = self.calls[c as usize];
        let step = self.plan.steps[(self.plan.paths[call.path as usize].0 + call.step) as usize];
        let work = match &self.samplers[s] {
            Some(sampler) => sampler.sample(&mut self.rng),
            None => step.work_ns as f64,
        };
        let wall = (work * self.stations[s].time_mult).round() as u64;
        if self.now >= self.plan.warmup_ns && self.now < self.window_end {
            let st = &mut self.out.stations[s];
            st.cpu_ns += work * self.plan.stations[s].cpu_mult;
            st.passes += 1;
        }
        self.calls[c as usize].epoch = self.stations[s].epoch;
        self.schedule(self.now + wall, pack(EV_DONE, c, 0));
    }

    fn on_done(&mut self, c: u32) {
        let call = self.calls[c as usize];
        let (first, len, _) = self.plan.paths[call.path as usize];
        let step = self.plan.steps[(first + call.step) as usize];
        let s = step.station as usize;
        if self.stations[s].epoch != call.epoch {
            // The station crashed while serving this call; its worker is already gone.
            self.fail_call(c);
            return;
        }
        self.stations[s].busy -= 1;
        self.occupancy(s, -1);
        self.start_queued(s);
        if call.step + 1 == len {
            self.next_group(c);
        } else {
            let next = self.plan.steps[(first + call.step + 1) as usize];
            self.calls[c as usize].step += 1;
            self.schedule(self.now + step.fixed_ns + next.delay_ns, pack(EV_REACH, c, 0));
        }
    }

    fn start_queued(&mut self, s: usize) {
        while self.stations[s].up && self.stations[s].busy < self.stations[s].servers {
            match self.stations[s].queue.pop_front() {
                Some(next) => self.start_service(next, s),
                None => break,
            }
        }
    }

    /// Issue the next group of downstream calls of a call being served at its pod (parallel
    /// neighbours together, a sequential call alone), or respond when none are left.
    fn next_group(&mut self, c: u32) {
        let call = self.calls[c as usize];
        let (first, len, _) = self.plan.paths[call.path as usize];
        let pod = self.plan.steps[(first + len - 1) as usize].station as usize;
        let out = &self.plan.pod_calls[pod];
        let src_i = self.plan.pod_index[pod];
        let mut cursor = call.cursor as usize;
        while cursor < out.len() {
            let start = cursor;
            if self.plan.edges[out[cursor] as usize].mode == CallMode::Sequential {
                cursor += 1;
            } else {
                while cursor < out.len() && self.plan.edges[out[cursor] as usize].mode == CallMode::Parallel {
                    cursor += 1;
                }
            }
            let mut issued = 0;
            for &edge in &out[start..cursor] {
                let ep = &self.plan.edges[edge as usize];
                for _ in 0..ep.count {
                    if ep.probability >= 1.0 || self.rng.gen::<f64>() < ep.probability {
                        issued += 1;
                        self.calls[c as usize].outstanding += 1;
                        self.start_call(edge, src_i, c, call.request, 0, None);
                    }
                }
            }
            if issued > 0 {
                self.calls[c as usize].cursor = cursor as u32;
                return;
            }
        }
        self.calls[c as usize].cursor = cursor as u32;
        let ret = self.plan.paths[call.path as usize].2;
        self.schedule(self.now + ret, pack(EV_RESPONSE, c, 0));
    }

    /// The call failed where it is now: the error travels back over the links crossed so far.
    fn fail_call(&mut self, c: u32) {
        let call = &mut self.calls[c as usize];
        call.failed = true;
        let (first, _, _) = self.plan.paths[call.path as usize];
        let back: u64 = (0..=call.step).map(|i| self.plan.steps[(first + i) as usize].delay_ns).sum();
        self.schedule(self.now + back, pack(EV_RESPONSE, c, 0));
    }

    fn on_response(&mut self, c: u32) {
        let call = self.calls[c as usize];
        let ep = &self.plan.edges[call.edge as usize];
        if call.measured {
            let held = (self.now - call.start_ns) as f64;
            let (first, len, _) = self.plan.paths[call.path as usize];
            for i in first..first + len.min(call.step + 1) {
                let s = self.plan.steps[i as usize].station as usize;
                if s >= self.plan.proxy_station_offset {
                    let st = &mut self.out.stations[s];
                    st.inflight_ns += held;
                    if ep.per_request_connection {
                        st.new_conn_ns += held;
                    }
                }
            }
        }
        if call.abandoned {
            self.free_call(c);
            return;
        }
        if call.measured {
            let es = &mut self.out.edges[call.edge as usize];
            es.calls += 1;
            if call.failed {
                es.failed += 1;
            } else {
                let latency = (self.now - call.start_ns).max(1);
                es.latency_sum_ns += latency as f64;
                record(&mut es.latency_ns, latency);
            }
        }
        self.free_call(c);
        self.finish_attempt(call, call.failed);
    }

    fn on_timeout(&mut self, c: u32, gen: u32) {
        let call = self.calls[c as usize];
        if call.gen & 0xff_ffff != gen || call.abandoned {
            return;
        }
        self.calls[c as usize].abandoned = true;
        if call.measured {
            let es = &mut self.out.edges[call.edge as usize];
            es.calls += 1;
            es.failed += 1;
        }
        self.finish_attempt(call, true);
    }

    /// An attempt ended (its state may already be freed): retry it elsewhere or report up.
    /// A destination replica for a new call: uniform over the replicas outlier detection has
    /// not ejected (over all of them when none or all are ejected, or it is off).
    fn pick_replica(&mut self, edge: usize, n: u32) -> u32 {
        if let Some((_, until)) = self.outliers.get(edge) {
            let now = self.now;
            let eligible = until.iter().filter(|&&u| u <= now).count() as u32;
            if eligible > 0 && eligible < n {
                let k = self.rng.gen_range(0..eligible) as usize;
                return until.iter().enumerate().filter(|(_, &u)| u <= now).nth(k).map(|(j, _)| j as u32).unwrap_or(0);
            }
        }
        self.rng.gen_range(0..n)
    }

    /// Outlier detection sees the outcome of an attempt to replica `j` of `edge`.
    fn observe_outcome(&mut self, edge: usize, j: usize, failed: bool) {
        let (Some(od), Some((consecutive, until))) = (self.plan.outlier_detection, self.outliers.get_mut(edge)) else { return };
        if !failed {
            consecutive[j] = 0;
            return;
        }
        consecutive[j] += 1;
        let now = self.now;
        if consecutive[j] >= od.consecutive_errors && until[j] <= now {
            let ejected = until.iter().filter(|&&u| u > now).count();
            let allowed = (until.len() * od.max_ejection_percent as usize / 100).max(1);
            if ejected < allowed {
                until[j] = now + od.ejection_ns;
                consecutive[j] = 0;
            }
        }
    }

    fn finish_attempt(&mut self, call: CallState, failed: bool) {
        self.observe_outcome(call.edge as usize, call.dst_j as usize, failed);
        let ep = &self.plan.edges[call.edge as usize];
        if failed && call.attempt < ep.retries {
            let n = ep.dst_pods.len() as u32;
            if call.measured {
                self.out.edges[call.edge as usize].retried += 1;
            }
            self.start_call(call.edge, call.src_i, call.parent, call.request, call.attempt + 1, Some((call.dst_j + 1) % n));
            return;
        }
        if call.parent == NONE {
            self.finish_request(call.request, failed);
            return;
        }
        let p = call.parent as usize;
        self.calls[p].outstanding -= 1;
        self.calls[p].failed |= failed;
        if self.calls[p].outstanding == 0 {
            if self.calls[p].failed {
                let ret = self.plan.paths[self.calls[p].path as usize].2;
                self.schedule(self.now + ret, pack(EV_RESPONSE, p as u32, 0));
            } else {
                self.next_group(p as u32);
            }
        }
    }

    fn free_call(&mut self, c: u32) {
        // A new generation makes pending timeouts of the old call stale.
        let g = self.calls[c as usize].gen.wrapping_add(1);
        self.calls[c as usize].gen = g;
        self.free_calls.push(c);
    }

    fn finish_request(&mut self, r: u32, failed: bool) {
        let req = self.requests[r as usize];
        self.free_requests.push(r);
        let latency = (self.now - req.start_ns).max(1);
        if failed {
            self.out.failed += 1;
        } else {
            self.out.succeeded += 1;
        }
        if req.measured {
            if failed {
                self.out.measured_failed += 1;
            } else {
                self.out.measured_succeeded += 1;
                record(&mut self.out.latency_ns, latency);
            }
        }
        if let Some(b) = self.bucket(req.start_ns) {
            let slo = self.opts.slo_ns;
            let bucket = &mut self.out.timeline[b];
            if failed {
                bucket.failed += 1;
                bucket.slo_missed += 1;
            } else {
                bucket.succeeded += 1;
                record(&mut bucket.latency_ns, latency);
                if slo.is_some_and(|s| latency > s) {
                    bucket.slo_missed += 1;
                }
            }
        }
    }

    fn on_fault(&mut self, f: usize, start: bool) {
        let fault = &self.opts.faults[f];
        for &s in &fault.stations {
            let s = s as usize;
            match (fault.effect, start) {
                (FaultEffect::Down, true) => {
                    let present = self.stations[s].present as i32;
                    self.occupancy(s, -present);
                    let st = &mut self.stations[s];
                    st.up = false;
                    st.epoch = st.epoch.wrapping_add(1);
                    st.busy = 0;
                    let queued: Vec<u32> = st.queue.drain(..).collect();
                    for c in queued.into_iter().filter(|c| c & BG_JOB == 0) {
                        self.fail_call(c);
                    }
                }
                (FaultEffect::Down, false) => {
                    self.stations[s].up = true;
                }
                (FaultEffect::Slow { servers, time_mult }, true) => {
                    let st = &mut self.stations[s];
                    st.servers = servers.max(1);
                    st.time_mult = self.plan.stations[s].time_mult * time_mult;
                }
                (FaultEffect::Slow { .. }, false) => {
                    let st = &mut self.stations[s];
                    st.servers = self.plan.stations[s].servers;
                    st.time_mult = self.plan.stations[s].time_mult;
                    self.start_queued(s);
                }
            }
        }
    }
}

impl Engine<'_> {
    fn background_end(&self, i: usize) -> u64 {
        let b = &self.opts.background[i];
        b.end_ns.unwrap_or(self.plan.duration_ns).min(self.plan.duration_ns)
    }

    /// A background job arrives at every station of load `i`; the next one is scheduled.
    fn on_background_arrival(&mut self, i: usize) {
        let b = &self.opts.background[i];
        let gap = ((1e9 / b.jobs_per_s).round() as u64).max(1);
        if self.now + gap < self.background_end(i) {
            self.schedule(self.now + gap, pack(EV_BG_ARRIVAL, i as u32, 0));
        }
        for k in 0..self.opts.background[i].stations.len() {
            let s = self.opts.background[i].stations[k] as usize;
            let job = BG_JOB | i as u32;
            let st = &self.stations[s];
            if !st.up {
                continue;
            }
            if st.busy < st.servers {
                self.start_service(job, s);
            } else if st.queue.len() < self.plan.queue_limit as usize {
                self.stations[s].queue.push_back(job);
            }
        }
    }

    /// A background job finished at station `s`, unless the station crashed meanwhile.
    fn on_background_done(&mut self, s: usize, epoch: u32) {
        if self.stations[s].epoch & 0xff_ffff != epoch {
            return;
        }
        self.stations[s].busy -= 1;
        self.start_queued(s);
    }
}

/// Station kind helper for reports.
pub fn is_proxy(plan: &Plan, station: usize) -> bool {
    matches!(plan.stations[station].kind, StationKind::Proxy(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CostModels;
    use crate::placement::{Deployment, Placement};
    use std::path::Path;

    /// One pod serving one request at a time for exactly 1 ms; `connections` on the load.
    fn run_with_connections(connections: u32) -> RunOutput {
        let text = format!(
            r#"
version = 1
name = "burst"
[simulation]
duration = "1s"
warmup = "100ms"
[mesh]
[[node]]
name = "n"
vcpu = 4
memory = "8Gi"
[[namespace]]
name = "ns"
[[service]]
name = "srv"
namespace = "ns"
replicas = 1
concurrency = 1
service_time = {{ dist = "constant", mean = "1ms" }}
[[load]]
to = "srv"
rate = "400rps"
arrival = "constant"
connections = {connections}
"#
        );
        let t = crate::topology::parse(Path::new("burst.toml"), &text).unwrap();
        let d = Deployment::new(&t, Placement::None);
        let plan = Plan::new(&t, &d, &CostModels::default());
        simulate(&plan, &SimOptions::new(7)).unwrap()
    }

    #[test]
    fn aligned_connections_send_bursts_that_queue() {
        // 400 rps over 4 connections: a tick every 10 ms sends 4 requests at once; the pod
        // serves them one after another, so they take 1, 2, 3 and 4 ms.
        let out = run_with_connections(4);
        assert_eq!(out.measured_sent % 4, 0);
        assert_eq!(out.measured_sent, 360);
        let h = &out.latency_ns;
        assert_eq!(h.len(), 360);
        assert!(h.equivalent(h.min(), 1_000_000), "min {}", h.min());
        assert!(h.equivalent(h.max(), 4_000_000), "max {}", h.max());
        assert!((h.mean() - 2_500_000.0).abs() < 5_000.0, "mean {}", h.mean());
    }

    #[test]
    fn one_connection_keeps_constant_arrivals_spread() {
        // The same rate on one connection: a request every 2.5 ms, none waits.
        let out = run_with_connections(1);
        assert_eq!(out.measured_sent, 360);
        let h = &out.latency_ns;
        assert!(h.equivalent(h.max(), 1_000_000), "max {}", h.max());
    }

    use crate::topology::ProxyKind;

    fn faces_plan(placement: Placement) -> (Plan, Deployment) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/faces.toml");
        let text = std::fs::read_to_string(&path).expect("faces.toml is in the repository");
        let mut t = crate::topology::parse(&path, &text).expect("faces.toml is valid");
        t.simulation.duration_ns = 4_000_000_000;
        t.simulation.warmup_ns = 1_000_000_000;
        let models = CostModels::load(&t.mesh.models).expect("models load");
        let d = Deployment::new(&t, placement);
        (Plan::new(&t, &d, &models), d)
    }

    #[test]
    fn background_load_queues_calls_behind_it_and_conserves_requests() {
        let (plan, d) = faces_plan(Placement::Ambient);
        let ztunnel = d.proxies.iter().position(|p| p.kind == ProxyKind::Ztunnel).expect("ambient has ztunnels");
        let station = (plan.proxy_station_offset + ztunnel) as u32;
        let quiet = simulate(&plan, &SimOptions::new(7)).expect("run");
        let mut opts = SimOptions::new(7);
        // 1.5 cores of extra work on one ztunnel: more than its two workers have spare.
        opts.background.push(BackgroundLoad {
            stations: vec![station],
            start_ns: 1_000_000_000,
            end_ns: None,
            job_ns: 300_000,
            jobs_per_s: 5_000.0,
        });
        let noisy = simulate(&plan, &opts).expect("run");
        let p99 = |o: &RunOutput| o.latency_ns.value_at_quantile(0.99);
        assert!(p99(&noisy) > p99(&quiet), "{} <= {}", p99(&noisy), p99(&quiet));
        let s = station as usize;
        assert!(noisy.stations[s].cpu_ns > quiet.stations[s].cpu_ns * 1.5);
        assert_eq!(noisy.sent, noisy.succeeded + noisy.failed + noisy.in_flight);
        // Same seed, same background: the same run.
        let again = simulate(&plan, &opts).expect("run");
        assert_eq!(again.events, noisy.events);
        assert_eq!(p99(&again), p99(&noisy));
    }

    #[test]
    fn background_jobs_on_a_crashed_station_are_dropped_not_failed_as_calls() {
        let (plan, d) = faces_plan(Placement::Ambient);
        let ztunnel = d.proxies.iter().position(|p| p.kind == ProxyKind::Ztunnel).expect("ambient has ztunnels");
        let station = (plan.proxy_station_offset + ztunnel) as u32;
        let mut opts = SimOptions::new(3);
        opts.background.push(BackgroundLoad { stations: vec![station], start_ns: 0, end_ns: None, job_ns: 400_000, jobs_per_s: 10_000.0 });
        opts.faults.push(Fault {
            stations: vec![station],
            start_ns: 2_000_000_000,
            end_ns: Some(3_000_000_000),
            effect: FaultEffect::Down,
        });
        let out = simulate(&plan, &opts).expect("run");
        assert!(out.failed > 0);
        assert_eq!(out.sent, out.succeeded + out.failed + out.in_flight);
        let timeline_sent: u64 = out.timeline.iter().map(|b| b.sent).sum();
        assert_eq!(timeline_sent, out.sent);
    }
}
