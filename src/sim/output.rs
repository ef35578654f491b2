//! What a run is asked to do besides its plan ([`SimOptions`]: seed, faults, background work)
//! and what it produces ([`RunOutput`]: raw counters; summaries are computed by `metrics`).

use hdrhistogram::Histogram;

/// Highest latency a histogram records (1 hour, in ns); longer ones are clamped.
pub const HIST_MAX_NS: u64 = 3_600_000_000_000;

/// Most timeline buckets a run keeps: a longer run gets wider buckets, so the timeline's
/// memory does not grow with the simulated duration.
pub const MAX_TIMELINE_BUCKETS: u64 = 2_000;

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
    /// Crashed on a live node: calls in service or queued are reset now, new connections
    /// are refused (the node's kernel answers with a reset, about one round trip).
    Down,
    /// Gone with its node (a node, zone or cluster failure): calls in service or queued fail
    /// now, and nothing answers a new connection, so it fails at the client's connect
    /// timeout ([`SimOptions::connect_timeout_ns`]).
    Unreachable,
    /// Squeezed: the stations' containers get a CPU limit of this many cores (CFS quota),
    /// until the fault ends and their own limit (if any) applies again.
    CpuLimit { cores: f64 },
    /// Taken out of its service's endpoints, as a pod or waypoint replica replaced in a rolling
    /// update is (a new one surged in first, the old one drained): new calls choose the other
    /// replicas, calls already there finish.
    Drained,
}

/// Extra work pushed through some stations by traffic outside the topology (a noisy tenant's
/// bulk transfer through a shared proxy): jobs of `job_ns` reference CPU ns arrive at each
/// station every `1 / jobs_per_s` seconds from `start_ns` until `end_ns`, take a worker like a
/// pass does, wait in the same queue, run on the node's cores in the station's container, and
/// are dropped when the queue is full or the station down.
#[derive(Clone, Debug, PartialEq)]
pub struct BackgroundLoad {
    pub stations: Vec<u32>,
    pub start_ns: u64,
    /// When the tenant stops; `None`: at the end of the run's duration.
    pub end_ns: Option<u64>,
    pub job_ns: u64,
    pub jobs_per_s: f64,
}

/// A CPU hog on a node (a noisy neighbour's batch job): `threads` always-runnable tasks in a
/// container of its own with the given CPU request, from `start_ns` until `end_ns`.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeHog {
    pub node: u32,
    pub threads: u32,
    pub request_millicores: f64,
    pub limit_millicores: Option<f64>,
    pub start_ns: u64,
    /// `None`: until the end of the run.
    pub end_ns: Option<u64>,
}

/// Steady work in a container of its own on a node (a control-plane replica): a job of
/// `job_ns` CPU ns on that node starts every `every_ns` from time 0 until the run's duration, so the
/// container asks for `job_ns / every_ns` cores on average and contends for the node's cores
/// with its CPU request as weight, like any pod. It holds `memory_bytes` of the node's memory
/// for the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodicWork {
    pub name: String,
    pub node: u32,
    pub request_millicores: f64,
    pub job_ns: u64,
    pub every_ns: u64,
    pub memory_bytes: f64,
}

/// Options of one run.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    pub faults: Vec<Fault>,
    pub background: Vec<BackgroundLoad>,
    pub hogs: Vec<NodeHog>,
    /// Steady periodic work in containers of its own (control-plane replicas).
    pub periodic: Vec<PeriodicWork>,
    /// Width of a timeline bucket (widened so that a run has at most
    /// [`MAX_TIMELINE_BUCKETS`]).
    pub bucket_ns: u64,
    /// A latency target: requests slower than this count as SLO misses in the timeline.
    pub slo_ns: Option<u64>,
    /// Per plan edge (loads first, then calls), the client's connect timeout: how long an
    /// attempt to an [`FaultEffect::Unreachable`] station waits before it fails. Missing
    /// edges fail at once.
    pub connect_timeout_ns: Vec<u64>,
    /// Endpoint changes and the control plane's pushes (`[[churn]]`).
    pub churn: Option<super::churn_run::ChurnRun>,
}

impl SimOptions {
    pub fn new(seed: u64) -> Self {
        SimOptions {
            seed,
            faults: Vec::new(),
            background: Vec::new(),
            hogs: Vec::new(),
            periodic: Vec::new(),
            bucket_ns: 1_000_000_000,
            slo_ns: None,
            connect_timeout_ns: Vec::new(),
            churn: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("the run reached its event limit ({0} events) at t={1} ns: raise simulation.max_events or shorten the duration")]
    EventLimit(u64, u64),
    #[error(
        "the run had more than {0} events pending at t={1} ns (requests, retries and timers piling up faster than they finish): \
         lower the load, the retries or raise simulation.max_pending"
    )]
    PendingLimit(u64, u64),
    #[error(
        "simulated time stopped at t={t_ns} ns: {events} events in a row without the clock moving; {cause}. \
         So far {sent} requests were sent, {succeeded} succeeded and {failed} failed"
    )]
    Stalled { t_ns: u64, events: u64, cause: String, sent: u64, succeeded: u64, failed: u64 },
    #[error(
        "node `{0}`: what its pods request and its proxies hold before any traffic ({1:.0} MiB) leaves less than the kubelet's \
         eviction threshold of its {2:.0} MiB: give it more memory, fewer pods, or scope the proxies' configuration"
    )]
    NodeMemoryOvercommitted(String, f64, f64),
    #[error("node `{0}`: the idle CPU of its proxies ({1:.0}m) takes all of its {2} vCPUs: give it more vCPUs or fewer proxies")]
    NodeOvercommitted(String, f64, f64),
}

/// Counters of one station over the measurement window (requests started after warm-up).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StationStats {
    /// CPU consumed in the window, core-ns of its node.
    pub cpu_ns: f64,
    /// Passes (or requests) admitted.
    pub passes: u64,
    /// Time integral over the window of the calls a proxy held (from their admission until
    /// their response came back past it), ns: its mean is the proxy's calls in flight.
    pub inflight_ns: f64,
    /// The same, of held calls that opened a new connection.
    pub new_conn_ns: f64,
    pub queue_max: u32,
    pub rejected: u64,
    /// Most memory it held at any instant of the run, bytes.
    pub mem_peak_bytes: f64,
    /// Times its container was OOM-killed at its memory limit, over the run.
    pub oom_kills: u32,
    /// Times the kubelet evicted its pod under node memory pressure, over the run.
    pub evictions: u32,
    /// Time integral of the calls present (in service or queued), ns: its mean over the
    /// window is the station's L in Little's law.
    pub occupancy_ns: f64,
    /// `idle_starts[i]`: passes that found every worker idle for longer than
    /// `IDLE_THRESHOLDS_NS[i]` (no pass started or ended meanwhile): the wake-ups a
    /// `cpu.wake_up_after_idle` of that length charges, counted for each candidate at once so
    /// that calibration can fit the idle time against the simulated traffic.
    pub idle_starts: [u64; IDLE_THRESHOLDS_NS.len()],
}

/// Idle times for which [`StationStats::idle_starts`] counts passes, ns (50 µs to 10 ms).
pub const IDLE_THRESHOLDS_NS: [u64; 14] = [
    50_000, 100_000, 200_000, 300_000, 500_000, 700_000, 1_000_000, 1_500_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000, 7_000_000,
    10_000_000,
];

/// CPU counters of one container over the measurement window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ContainerStats {
    /// CPU received, core-ns.
    pub cpu_ns: f64,
    /// Time its tasks waited for a core or were throttled (ready time), task-ns.
    pub ready_ns: f64,
    /// Time it was throttled by its CPU limit with tasks waiting, ns.
    pub throttled_ns: f64,
    pub throttled_periods: u64,
}

/// Counts and latency of one edge (measured calls).
#[derive(Clone, Debug)]
pub struct EdgeStats {
    pub calls: u64,
    pub failed: u64,
    pub retried: u64,
    /// Sum of successful call latencies, for an exact mean.
    pub latency_sum_ns: f64,
    /// Latencies of successful calls, kept compactly (see [`EdgeLatencies`]).
    pub latency_ns: EdgeLatencies,
}

/// Most latencies an edge keeps as raw values before it moves them into a histogram.
const EDGE_RAW_MAX: usize = 64;

/// The latencies of one edge, stored as what is recorded needs: nothing until the first call,
/// raw values while there are few (most edges of a large graph see a handful of calls), then a
/// histogram that grows with the range recorded. Percentiles are read from
/// [`EdgeLatencies::histogram`], the same HdrHistogram (2 significant digits) either way: a
/// graph has thousands of edges, and a 3-digit histogram of each would take hundreds of KiB.
#[derive(Clone, Debug, Default)]
pub struct EdgeLatencies {
    raw: Vec<u64>,
    hist: Option<Box<Histogram<u64>>>,
}

impl EdgeLatencies {
    /// Record one latency (clamped to 1 ns ..= [`HIST_MAX_NS`], as every histogram is).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let v = ns.clamp(1, HIST_MAX_NS);
        match &mut self.hist {
            Some(h) => record(h, v),
            None if self.raw.len() < EDGE_RAW_MAX => self.raw.push(v),
            None => {
                let mut h = small_histogram(2);
                for &x in self.raw.iter().chain(std::iter::once(&v)) {
                    record(&mut h, x);
                }
                self.raw = Vec::new();
                self.hist = Some(Box::new(h));
            }
        }
    }

    /// Latencies recorded.
    pub fn len(&self) -> u64 {
        self.hist.as_ref().map_or(self.raw.len() as u64, |h| h.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latencies as an HdrHistogram (built at summary time from the raw values).
    pub fn histogram(&self) -> std::borrow::Cow<'_, Histogram<u64>> {
        match &self.hist {
            Some(h) => std::borrow::Cow::Borrowed(h),
            None => {
                let mut h = small_histogram(2);
                for &x in &self.raw {
                    record(&mut h, x);
                }
                std::borrow::Cow::Owned(h)
            }
        }
    }
}

/// One slice of the timeline, by request start time.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub sent: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub slo_missed: u64,
    /// Latency of the requests that succeeded.
    pub latency_ns: Histogram<u64>,
    /// Time to fail of the requests that failed (start to the error's arrival).
    pub failed_latency_ns: Histogram<u64>,
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
    /// Every CPU container of the plan, then one per node hog, then one per periodic work.
    pub containers: Vec<ContainerStats>,
    /// The node of each hog.
    pub hog_nodes: Vec<u32>,
    /// The name, node and memory (bytes) of each periodic work.
    pub periodic: Vec<(String, u32, f64)>,
    pub edges: Vec<EdgeStats>,
    pub timeline: Vec<Bucket>,
    pub bucket_ns: u64,
    /// What churn cost and did (`None` without churn).
    pub churn: Option<super::churn_run::ChurnStats>,
    /// Retries sent over the whole run, and retries not sent because their retrier's retry
    /// budget was spent (the attempt's failure stood).
    pub retries: u64,
    pub retries_over_budget: u64,
    /// Most retries in flight at once at any one retrier and service, over the run.
    pub retries_in_flight_max: u32,
    /// Most memory each node's pods and proxies held at any instant of the run, bytes.
    pub node_mem_peak_bytes: Vec<f64>,
}

/// Record a latency, growing the histogram as needed (`saturating_record` would clamp to
/// the current range instead of growing it).
#[inline]
pub(super) fn record(h: &mut Histogram<u64>, ns: u64) {
    let v = ns.clamp(1, HIST_MAX_NS);
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// An auto-resizing histogram sized for 1 s at the start: growing one bucket at a time from
/// the smallest size reallocates the counts over and over, which dominated large runs.
pub(super) fn histogram(significant_digits: u8) -> Histogram<u64> {
    let mut h = small_histogram(significant_digits);
    let _ = h.record(1_000_000_000);
    h.reset();
    h
}

/// An auto-resizing histogram that starts small (for timeline buckets, most of which see few
/// requests).
pub(crate) fn small_histogram(significant_digits: u8) -> Histogram<u64> {
    let mut h = Histogram::new(significant_digits).expect("2 or 3 significant digits are valid");
    h.auto(true);
    h
}
