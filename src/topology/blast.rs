//! `[blast]`: when and how long `meshsim blast` fails or squeezes a component, the latency
//! target requests are held to, and the size of each squeeze. Every field is optional; the
//! defaults below are what `meshsim blast` uses when neither the file nor a flag sets one.
//!
//! ```toml
//! [blast]
//! slo_p99 = "50ms"          # latency target: slower requests count as SLO misses
//! fail_at = "10s"           # when the failure or squeeze starts (simulated time)
//! outage = "10s"            # restart time: how long a crashed component stays down
//! node_reschedule = "30s"   # a failed node's pods come back after this (default: `outage`)
//! cpu_limit = "1000m"       # the CPU limit of the squeeze and noisy-tenant scenarios
//! memory_limit = "16Mi"     # the memory limit of the OOM scenario (default: the model's)
//! noisy_tenant = "200Mbps"  # a bulk TCP transfer (iperf3-like) through shared proxies
//! upgrade_restart = "2s"    # a data-plane upgrade: how long each instance is down
//! connect_timeout = "5s"    # every client's connect timeout (default: the mesh's, else the kernel's)
//! not_ready_after = "50s"   # a silent node is NotReady after this: its pods leave the endpoints
//! reschedule_after = "350s" # its pods are evicted and replaced on surviving nodes after this
//! pod_startup = "10s"       # a replacement pod serves this long after it is scheduled
//! retry_budget = 3          # retries in flight per client proxy and destination service
//! ```
//!
//! The Kubernetes defaults: `not_ready_after` is the kube-controller-manager's
//! `--node-monitor-grace-period` (50 s since Kubernetes 1.32, 40 s before); a NotReady or
//! unreachable node is tainted `NoExecute`, and its pods are evicted after the
//! `tolerationSeconds` the `DefaultTolerationSeconds` admission plugin gives them (300 s), so
//! `reschedule_after` defaults to `not_ready_after` + 300 s. `pod_startup` (10 s, one readiness
//! probe period at its default `periodSeconds`) is an assumption, not a Kubernetes default.

use super::input::BlastInput;
use super::quantity::duration_in;
use crate::input_error::ErrorSink;
use crate::{limits, units};

/// Validated `[blast]` settings; units are in the names.
#[derive(Clone, Debug, PartialEq)]
pub struct BlastConfig {
    /// Requests slower than this miss the SLO (the p99 target). Default 50 ms.
    pub slo_p99_ns: u64,
    /// Start of the failure or squeeze. Default 10 s.
    pub fail_at_ns: u64,
    /// How long a failed component stays down (its restart time), and how long a squeeze
    /// lasts. Default 10 s.
    pub outage_ns: u64,
    /// Delay after which a failed node's pods run again elsewhere; `None`: when the node
    /// itself is back, after `outage_ns`.
    pub node_reschedule_ns: Option<u64>,
    /// CPU limit put on a proxy in the CPU-limit and noisy-tenant scenarios. Default 1000 m.
    pub cpu_limit_millicores: f64,
    /// Memory limit of the OOM scenario; `None`: the cost model's own limit, if any.
    pub memory_limit_bytes: Option<u64>,
    /// Bandwidth of the noisy tenant's bulk transfer. Default 200 Mbit/s.
    pub noisy_tenant_bits_per_s: f64,
    /// How long each instance is down in a rolling upgrade of the data plane (the next one
    /// restarts when it is back). Default 2 s.
    pub upgrade_restart_ns: u64,
    /// The connect timeout of every client in every placement: how long an attempt to a
    /// component gone with its node waits for an answer. `None`: the client-side proxy's
    /// `[resilience]` default, else [`KERNEL_CONNECT_TIMEOUT_NS`].
    pub connect_timeout_ns: Option<u64>,
    /// A node that stops reporting is marked NotReady after this, and its pods are taken out
    /// of the endpoints. Default 50 s (`--node-monitor-grace-period`).
    pub not_ready_after_ns: u64,
    /// Pods of a failed node are evicted and replaced on surviving nodes this long after the
    /// failure; `None`: `not_ready_after_ns` + 300 s (the default `tolerationSeconds`).
    pub reschedule_after_ns: Option<u64>,
    /// A replacement pod serves this long after it is scheduled. Default 10 s (an assumption).
    pub pod_startup_ns: u64,
    /// Retries in flight at once per client proxy and destination service (Envoy's cluster
    /// circuit breaker `max_retries`); `None`: the mesh's default.
    pub retry_budget: Option<u32>,
}

/// Kubernetes' default `tolerationSeconds` for the not-ready and unreachable taints.
pub const DEFAULT_TOLERATION_NS: u64 = 300_000_000_000;

impl BlastConfig {
    /// When a failed node's pods are evicted and replaced, after the failure.
    pub fn reschedule_after_ns(&self) -> u64 {
        self.reschedule_after_ns.unwrap_or(self.not_ready_after_ns.saturating_add(DEFAULT_TOLERATION_NS))
    }
}

/// How long Linux keeps retrying a connection nobody answers with its default
/// `net.ipv4.tcp_syn_retries = 6`: about 127 s (man 7 tcp), the connect timeout of a client
/// that sets none of its own.
pub const KERNEL_CONNECT_TIMEOUT_NS: u64 = 127_000_000_000;

impl Default for BlastConfig {
    fn default() -> Self {
        BlastConfig {
            slo_p99_ns: 50_000_000,
            fail_at_ns: 10_000_000_000,
            outage_ns: 10_000_000_000,
            node_reschedule_ns: None,
            cpu_limit_millicores: 1000.0,
            memory_limit_bytes: None,
            noisy_tenant_bits_per_s: 200e6,
            upgrade_restart_ns: 2_000_000_000,
            connect_timeout_ns: None,
            not_ready_after_ns: 50_000_000_000,
            reschedule_after_ns: None,
            pod_startup_ns: 10_000_000_000,
            retry_budget: None,
        }
    }
}

/// Check `[blast]`; problems go to `sink`, and the field keeps its default.
pub(super) fn validate(sink: &mut ErrorSink, input: Option<&BlastInput>, duration_ns: u64) -> BlastConfig {
    let mut c = BlastConfig::default();
    let Some(b) = input else {
        return c;
    };
    let max = limits::MAX_DURATION_NS;
    if let Some(ns) = b.slo_p99.as_ref().and_then(|v| duration_in(sink, v, 1, max)) {
        c.slo_p99_ns = ns;
    }
    if let Some(ns) = b.outage.as_ref().and_then(|v| duration_in(sink, v, 1, max)) {
        c.outage_ns = ns;
    }
    if let Some(ns) = b.upgrade_restart.as_ref().and_then(|v| duration_in(sink, v, 1, max)) {
        c.upgrade_restart_ns = ns;
    }
    c.connect_timeout_ns = b.connect_timeout.as_ref().and_then(|v| duration_in(sink, v, 1, max));
    if let Some(ns) = b.not_ready_after.as_ref().and_then(|v| duration_in(sink, v, 0, max)) {
        c.not_ready_after_ns = ns;
    }
    c.reschedule_after_ns = b.reschedule_after.as_ref().and_then(|v| duration_in(sink, v, 0, max));
    if let Some(ns) = b.pod_startup.as_ref().and_then(|v| duration_in(sink, v, 0, max)) {
        c.pod_startup_ns = ns;
    }
    if let Some(v) = &b.retry_budget {
        match u32::try_from(*v.get_ref()) {
            Ok(n) if i64::from(n) <= limits::MAX_RETRY_BUDGET => c.retry_budget = Some(n),
            _ => sink.at(v.span(), format!("{}: must be between 0 and {}", v.path(), limits::MAX_RETRY_BUDGET)),
        }
    }
    c.node_reschedule_ns = b.node_reschedule.as_ref().and_then(|v| duration_in(sink, v, 1, max));
    if let Some(v) = &b.fail_at {
        match duration_in(sink, v, 0, max) {
            Some(ns) if duration_ns > 0 && ns >= duration_ns => {
                sink.at(v.span(), format!("{}: must be earlier than simulation.duration", v.path()))
            }
            Some(ns) => c.fail_at_ns = ns,
            None => {}
        }
    }
    if let Some(v) = &b.cpu_limit {
        match units::parse_millicores(v.get_ref()) {
            Ok(m) if (limits::MIN_CPU_LIMIT_MILLICORES..=limits::MAX_MILLICORES).contains(&m) => c.cpu_limit_millicores = m,
            Ok(_) => sink.at(
                v.span(),
                format!(
                    "{}: must be between {}m and {} cores",
                    v.path(),
                    limits::MIN_CPU_LIMIT_MILLICORES,
                    limits::MAX_MILLICORES / 1000.0
                ),
            ),
            Err(e) => sink.at(v.span(), format!("{}: {e}", v.path())),
        }
    }
    if let Some(v) = &b.memory_limit {
        match units::parse_bytes(v.get_ref()) {
            Ok(0) => sink.at(v.span(), format!("{}: must be more than zero", v.path())),
            Ok(x) if x > limits::MAX_MEMORY_BYTES => {
                sink.at(v.span(), format!("{}: more than the limit of {}", v.path(), units::format_bytes(limits::MAX_MEMORY_BYTES)))
            }
            Ok(x) => c.memory_limit_bytes = Some(x),
            Err(e) => sink.at(v.span(), format!("{}: {e}", v.path())),
        }
    }
    if let Some(v) = &b.noisy_tenant {
        match units::parse_bits_per_s(v.get_ref()) {
            Ok(x) if (0.0..=limits::MAX_BITS_PER_S).contains(&x) => c.noisy_tenant_bits_per_s = x,
            Ok(_) => sink.at(v.span(), format!("{}: must be between 0 and 1000Gbps", v.path())),
            Err(e) => sink.at(v.span(), format!("{}: {e}", v.path())),
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn with_blast(table: &str) -> Result<super::BlastConfig, String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/faces.toml");
        let text = std::fs::read_to_string(&path).expect("faces.toml");
        let text = format!("{text}\n[blast]\n{table}\n");
        crate::topology::parse(&path, &text).map(|t| t.blast).map_err(|e| e.to_string())
    }

    #[test]
    fn blast_table_is_read_with_units() {
        let b = with_blast("slo_p99 = \"20ms\"\nfail_at = \"5s\"\noutage = \"3s\"\nnode_reschedule = \"7s\"\ncpu_limit = \"500m\"\nmemory_limit = \"16Mi\"\nnoisy_tenant = \"1Gbps\"\nupgrade_restart = \"4s\"\nnot_ready_after = \"40s\"\nreschedule_after = \"60s\"\npod_startup = \"3s\"\nretry_budget = 5\nconnect_timeout = \"3s\"").unwrap();
        assert_eq!((b.not_ready_after_ns, b.reschedule_after_ns(), b.pod_startup_ns), (40_000_000_000, 60_000_000_000, 3_000_000_000));
        assert_eq!(b.retry_budget, Some(5));
        assert_eq!(b.connect_timeout_ns, Some(3_000_000_000));
        assert_eq!(b.upgrade_restart_ns, 4_000_000_000);
        assert_eq!(b.slo_p99_ns, 20_000_000);
        assert_eq!(b.fail_at_ns, 5_000_000_000);
        assert_eq!(b.outage_ns, 3_000_000_000);
        assert_eq!(b.node_reschedule_ns, Some(7_000_000_000));
        assert_eq!(b.cpu_limit_millicores, 500.0);
        assert_eq!(b.memory_limit_bytes, Some(16 << 20));
        assert_eq!(b.noisy_tenant_bits_per_s, 1e9);
    }

    #[test]
    fn bad_blast_fields_name_their_line() {
        let e = with_blast("outage = \"10\"\nfail_at = \"40s\"").unwrap_err();
        assert!(e.contains("blast.outage"), "{e}");
        assert!(e.contains("blast.fail_at: must be earlier"), "{e}");
        assert!(e.contains("faces.toml:"), "{e}");
        let e = with_blast("retry_budget = -1").unwrap_err();
        assert!(e.contains("blast.retry_budget: must be between 0 and"), "{e}");
        let e = with_blast("restart = \"1s\"").unwrap_err();
        assert!(e.contains("restart"), "{e}");
    }
}
