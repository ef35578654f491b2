//! The churn of a run as the engine takes it ([`ChurnRun`]: changes, who holds what, the
//! control planes that push) and what it reports back ([`ChurnStats`]). `sim::churn` runs it.

/// An endpoint change: a pod joins or leaves its service's endpoints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EndpointChange {
    pub at_ns: u64,
    pub service: u32,
    pub station: u32,
    pub add: bool,
}

/// A control-plane component that pushes endpoints to proxies.
#[derive(Clone, Debug, PartialEq)]
pub struct Pusher {
    pub name: String,
    pub debounce_after_ns: u64,
    pub debounce_max_ns: u64,
    /// Container of each replica (a proxy is served by replica `holder.replica`).
    pub containers: Vec<u32>,
    /// Reference CPU ns of one push to one proxy, and per endpoint it carries.
    pub per_push_ns: f64,
    pub per_endpoint_ns: f64,
}

/// A proxy whose configuration holds a service (or, for a reconnect, its whole configuration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Holder {
    pub station: u32,
    pub pusher: u32,
    pub replica: u32,
    /// Reference CPU ns the proxy spends applying a push, and per endpoint in it.
    pub apply_ns: f64,
    pub apply_per_endpoint_ns: f64,
    /// Endpoints of its whole configuration (what a reconnect carries).
    pub endpoints: u32,
}

/// Churn of one run, compiled for the engine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChurnRun {
    /// In time order; change `k` makes version `k + 1`.
    pub changes: Vec<EndpointChange>,
    /// Per station, the versions `[from, until)` in which it is an endpoint (empty: always).
    pub membership: Vec<Vec<(u32, u32)>>,
    pub pushers: Vec<Pusher>,
    /// Per service, the proxies holding its endpoints.
    pub holders: Vec<Vec<Holder>>,
    /// Per pusher, every proxy it serves (reconnected after an outage).
    pub served: Vec<Vec<Holder>>,
    /// Per station, whether its view follows a control plane's pushes (else Kubernetes', at once).
    pub follows_pushes: Vec<bool>,
    /// Windows `[from, until)` in which every control plane is down.
    pub control_plane_down: Vec<(u64, u64)>,
    /// When each new proxy (a new pod's sidecar) connects and gets its whole configuration.
    pub first_pushes: Vec<(u64, Holder)>,
    /// Per service, its pods' stations.
    pub service_pods: Vec<Vec<u32>>,
    /// Per station, whether it is a ztunnel (which hands L7 balancing to a waypoint when one is on the path).
    pub ztunnel: Vec<bool>,
}

/// What churn cost and did in one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChurnStats {
    pub changes: u64,
    /// Push rounds (one per debounce), and pushes to single proxies.
    pub push_rounds: u64,
    pub proxy_pushes: u64,
    /// CPU the control plane spent pushing, and proxies spent applying, reference ns done.
    pub push_cpu_ns: f64,
    pub apply_cpu_ns: f64,
    /// Per change, from the change until every proxy holding it had applied it (ns); changes
    /// no proxy holds converge at once.
    pub convergence_ns: Vec<u64>,
    /// Calls sent to a pod already out of Kubernetes' endpoints (a stale view).
    pub stale_calls: u64,
    /// After each outage, from the control plane's return until every proxy had its configuration again.
    pub recovery_ns: Vec<u64>,
    /// Whole configurations pushed to new proxies (counted in `proxy_pushes` too).
    pub first_pushes: u64,
    /// Changes whose pushes were still under way when the run ended.
    pub unconverged: u64,
}

/// A push under way to one proxy: at the control plane, then at the proxy.
#[derive(Clone, Copy)]
pub(super) struct Task {
    pub(super) round: u32,
    pub(super) holder: Holder,
    pub(super) endpoints: f64,
    pub(super) at_proxy: bool,
}

pub(super) struct Round {
    pub(super) version: u32,
    /// Changes it carries: `from..version`.
    pub(super) from: u32,
    pub(super) outstanding: u32,
    /// A reconnect after outage `outage` (else `NONE`).
    pub(super) outage: u32,
    pub(super) started_ns: u64,
}

#[derive(Default)]
pub(super) struct PusherState {
    pub(super) pending: bool,
    pub(super) first_ns: u64,
    pub(super) last_ns: u64,
    pub(super) dirty: Vec<u32>,
    pub(super) pushed: u32,
}

/// The engine's churn state.
pub(super) struct ChurnState {
    pub(super) kube_version: u32,
    pub(super) version: Vec<u32>,
    pub(super) pushers: Vec<PusherState>,
    pub(super) down: bool,
    pub(super) tasks: Vec<Task>,
    pub(super) free: Vec<u32>,
    pub(super) rounds: Vec<Round>,
    /// First token index of config tasks (after hogs and periodic work).
    pub(super) token_base: u32,
    pub(super) stats: ChurnStats,
}

impl ChurnState {
    pub(super) fn new(run: &ChurnRun, stations: usize, token_base: u32) -> ChurnState {
        ChurnState {
            kube_version: 0,
            version: vec![0; stations],
            pushers: run.pushers.iter().map(|_| PusherState::default()).collect(),
            down: false,
            tasks: Vec::new(),
            free: Vec::new(),
            rounds: Vec::new(),
            token_base,
            stats: ChurnStats { convergence_ns: vec![u64::MAX; run.changes.len()], ..Default::default() },
        }
    }
}
