//! The figures of a run's churn: what the control plane pushed and what it cost, how long
//! proxies took to converge, and what the requests saw meanwhile.

use crate::sim::churn::ChurnStats;
use crate::sim::RunOutput;

/// One placement's churn figures. CPU is reference CPU (the model's machine); `results.json`
/// carries them as they are named here.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ChurnSummary {
    /// Endpoint changes Kubernetes made (a pod joining or leaving its service's endpoints).
    pub changes: u64,
    /// Push rounds (one per debounce) and the pushes to single proxies they made.
    pub push_rounds: u64,
    pub proxy_pushes: u64,
    /// Of them, whole configurations pushed to new proxies (a new pod's sidecar).
    pub first_pushes: u64,
    /// CPU the control plane spent pushing, and its share of the pushing replicas' time over
    /// the run (one core each).
    pub push_cpu_ms: f64,
    pub push_busy_share: f64,
    /// CPU proxies spent applying pushes.
    pub apply_cpu_ms: f64,
    /// Time from a change until every proxy holding the service had it, over the changes.
    pub convergence_p50_ms: Option<f64>,
    pub convergence_p99_ms: Option<f64>,
    pub convergence_max_ms: Option<f64>,
    /// Changes some proxy had not yet applied when the run ended.
    pub unconverged: u64,
    /// Calls sent to a pod already out of its service's endpoints (a stale view).
    pub stale_calls: u64,
    /// Requests failed from the first change to the end of the run, and retries over the run.
    pub requests_failed_during: u64,
    pub retries: u64,
    /// Workload certificates the new pods needed signed.
    pub new_certificates: u64,
    /// After each control-plane outage, the time until every proxy had its configuration again.
    pub recovery_ms: Vec<f64>,
    /// Terms not modelled, as phrases.
    pub left_out: Vec<String>,
    /// The retries and connect timeouts that applied (the mesh's defaults where the topology says none).
    pub resilience: String,
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[u64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[k] as f64 / 1e6)
}

impl ChurnSummary {
    /// The figures of `stats`; `replicas` pushing replicas over `duration_ns`, the first change at `first_ns`.
    pub fn of(stats: &ChurnStats, out: &RunOutput, setup: &super::ChurnSetup, duration_ns: u64) -> ChurnSummary {
        let mut conv = stats.convergence_ns.clone();
        conv.sort_unstable();
        let replicas: usize = setup.run.pushers.iter().map(|p| p.containers.len()).sum();
        let first_ns = setup.run.changes.first().map_or(u64::MAX, |c| c.at_ns);
        let bucket = out.bucket_ns.max(1);
        let requests_failed_during =
            out.timeline.iter().enumerate().filter(|(b, _)| (*b as u64 + 1) * bucket > first_ns).map(|(_, x)| x.failed).sum();
        ChurnSummary {
            changes: stats.changes,
            push_rounds: stats.push_rounds,
            proxy_pushes: stats.proxy_pushes,
            first_pushes: stats.first_pushes,
            push_cpu_ms: stats.push_cpu_ns / 1e6,
            push_busy_share: if replicas > 0 && duration_ns > 0 { stats.push_cpu_ns / (replicas as f64 * duration_ns as f64) } else { 0.0 },
            apply_cpu_ms: stats.apply_cpu_ns / 1e6,
            convergence_p50_ms: quantile(&conv, 0.5),
            convergence_p99_ms: quantile(&conv, 0.99),
            convergence_max_ms: conv.last().map(|&x| x as f64 / 1e6),
            unconverged: stats.unconverged,
            stale_calls: stats.stale_calls,
            requests_failed_during,
            retries: out.retries,
            new_certificates: setup.new_certificates,
            recovery_ms: stats.recovery_ns.iter().map(|&x| x as f64 / 1e6).collect(),
            left_out: setup.left_out.clone(),
            resilience: String::new(),
        }
    }
}
