//! What Kubernetes does by default that the simulation follows when memory runs out: the
//! kubelet's restart back-off after a container is OOM-killed, its hard eviction threshold
//! and eviction order under node memory pressure, and how soon an evicted pod is replaced.

/// The kubelet restarts a container that exited (an OOM kill among them) after an
/// exponential back-off: 10 s, 20 s, 40 s, …, capped at 300 s. Source: Kubernetes docs,
/// "Pod Lifecycle", Container restarts (<https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts>).
pub const RESTART_BACKOFF_INITIAL_NS: u64 = 10_000_000_000;
pub const RESTART_BACKOFF_MAX_NS: u64 = 300_000_000_000;

/// The back-off before the `n`-th restart (`n` ≥ 1) of one container.
pub fn restart_backoff_ns(n: u32) -> u64 {
    let doublings = n.saturating_sub(1).min(16);
    RESTART_BACKOFF_INITIAL_NS.saturating_mul(1 << doublings).min(RESTART_BACKOFF_MAX_NS)
}

/// The kubelet's default hard eviction threshold on Linux nodes, `memory.available<100Mi`:
/// below this much free memory it evicts pods. Source: Kubernetes docs, "Node-pressure
/// Eviction", Hard eviction thresholds (<https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#hard-eviction-thresholds>).
/// The pods it evicts first are those whose usage exceeds their requests, by how far (the
/// same page, "Pod selection for kubelet eviction"; every pod here has the default priority).
pub const EVICTION_HARD_MEMORY_AVAILABLE_BYTES: f64 = 100.0 * 1024.0 * 1024.0;

/// An evicted pod's replacement serves this long after the eviction: its controller (a
/// ReplicaSet or DaemonSet) makes a new pod at once, and it passes its first readiness
/// probe at the default `periodSeconds` of 10 s. The same assumption as `[blast]`'s
/// `pod_startup` default, not a Kubernetes default.
pub const EVICTED_POD_REPLACEMENT_NS: u64 = 10_000_000_000;
