//! The topology file as written: serde structs that mirror the TOML one to one. Unknown keys
//! are errors; every field that later checks may reject keeps its byte span so the message
//! can name its line. Nothing outside `topology` sees these types.

use serde::Deserialize;
use toml::Spanned;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyFile {
    pub version: S<u32>,
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub simulation: SimulationInput,
    pub mesh: MeshInput,
    #[serde(default)]
    pub network: NetworkInput,
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeInput>,
    #[serde(default, rename = "namespace")]
    pub namespaces: Vec<NamespaceInput>,
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceInput>,
    #[serde(default, rename = "load")]
    pub loads: Vec<LoadInput>,
    #[serde(default)]
    pub blast: Option<BlastInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationInput {
    pub duration: S<String>,
    #[serde(default)]
    pub warmup: Option<S<String>>,
    #[serde(default)]
    pub seed: Option<S<i64>>,
    #[serde(default)]
    pub max_events: Option<S<i64>>,
    #[serde(default)]
    pub queue_limit: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshInput {
    #[serde(default)]
    pub sidecar_model: Option<S<String>>,
    #[serde(default)]
    pub ztunnel_model: Option<S<String>>,
    #[serde(default)]
    pub waypoint_model: Option<S<String>>,
    #[serde(default)]
    pub node_proxy_model: Option<S<String>>,
    /// Where a per-node proxy does L7 work: "source", "destination", "both" or "none".
    #[serde(default)]
    pub per_node_l7: Option<S<String>>,
    /// What configuration a sidecar holds: "mesh" (every endpoint) or "namespace" (scoped).
    #[serde(default)]
    pub sidecar_scope: Option<S<String>>,
    /// Callers stop sending to a replica after consecutive errors, for a while.
    #[serde(default)]
    pub outlier_detection: Option<OutlierInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierInput {
    #[serde(default)]
    pub consecutive_errors: Option<S<i64>>,
    #[serde(default)]
    pub ejection: Option<S<String>>,
    #[serde(default)]
    pub max_ejection_percent: Option<S<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkInput {
    #[serde(default)]
    pub same_node: Option<S<String>>,
    #[serde(default)]
    pub same_zone: Option<S<String>>,
    #[serde(default)]
    pub cross_zone: Option<S<String>>,
    #[serde(default)]
    pub cross_cluster: Option<S<String>>,
    #[serde(default, rename = "between")]
    pub overrides: Vec<LatencyOverrideInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyOverrideInput {
    /// A cluster, zone or node name.
    pub a: S<String>,
    pub b: S<String>,
    pub latency: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInput {
    pub name: S<String>,
    #[serde(default)]
    pub count: Option<S<i64>>,
    #[serde(default)]
    pub cluster: Option<S<String>>,
    #[serde(default)]
    pub zone: Option<S<String>>,
    pub vcpu: S<f64>,
    pub memory: S<String>,
    #[serde(default)]
    pub speed: Option<S<f64>>,
    #[serde(default)]
    pub max_pods: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceInput {
    pub name: S<String>,
    /// "inherit" (the run's placement), "none", "sidecar", "per-node" or "ambient".
    #[serde(default)]
    pub placement: Option<S<String>>,
    #[serde(default)]
    pub waypoint: Option<WaypointInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaypointInput {
    /// "namespace" (one waypoint for the namespace) or "service" (one per service).
    #[serde(default)]
    pub scope: Option<S<String>>,
    pub replicas: S<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    pub name: S<String>,
    pub namespace: S<String>,
    pub replicas: S<i64>,
    #[serde(default)]
    pub nodes: Vec<S<String>>,
    #[serde(default)]
    pub zones: Vec<S<String>>,
    #[serde(default)]
    pub clusters: Vec<S<String>>,
    #[serde(default)]
    pub service_time: Option<ServiceTimeInput>,
    #[serde(default)]
    pub concurrency: Option<S<i64>>,
    #[serde(default)]
    pub protocol: Option<S<String>>,
    #[serde(default)]
    pub request_size: Option<S<String>>,
    #[serde(default)]
    pub response_size: Option<S<String>>,
    #[serde(default)]
    pub cpu_request: Option<S<String>>,
    #[serde(default)]
    pub memory_request: Option<S<String>>,
    #[serde(default, rename = "call")]
    pub calls: Vec<CallInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTimeInput {
    /// "constant", "exponential" or "lognormal".
    pub dist: S<String>,
    pub mean: S<String>,
    /// Coefficient of variation, for lognormal.
    #[serde(default)]
    pub cv: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallInput {
    pub to: S<String>,
    #[serde(default)]
    pub count: Option<S<i64>>,
    #[serde(default)]
    pub probability: Option<S<f64>>,
    /// "parallel" or "sequential".
    #[serde(default)]
    pub mode: Option<S<String>>,
    /// "pooled" or "per-request".
    #[serde(default)]
    pub connection: Option<S<String>>,
    #[serde(default)]
    pub timeout: Option<S<String>>,
    #[serde(default)]
    pub retries: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadInput {
    pub to: S<String>,
    pub rate: S<String>,
    /// A service acting as the load generator (its pods send the requests, through its proxy).
    #[serde(default)]
    pub from: Option<S<String>>,
    /// "poisson" (default) or "constant".
    #[serde(default)]
    pub arrival: Option<S<String>>,
    /// Connections the load generator sends over, with aligned phases (default 1).
    #[serde(default)]
    pub connections: Option<S<i64>>,
    #[serde(default)]
    pub connection: Option<S<String>>,
    #[serde(default)]
    pub timeout: Option<S<String>>,
    #[serde(default)]
    pub retries: Option<S<i64>>,
}

/// `[blast]`: settings of `meshsim blast` (see `topology::blast` for units and defaults).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlastInput {
    #[serde(default)]
    pub slo_p99: Option<S<String>>,
    #[serde(default)]
    pub fail_at: Option<S<String>>,
    #[serde(default)]
    pub outage: Option<S<String>>,
    #[serde(default)]
    pub node_reschedule: Option<S<String>>,
    #[serde(default)]
    pub cpu_limit: Option<S<String>>,
    #[serde(default)]
    pub memory_limit: Option<S<String>>,
    #[serde(default)]
    pub noisy_tenant: Option<S<String>>,
}
