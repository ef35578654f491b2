//! The results of one command as one structure ([`Results`]), the source of `results.json`
//! and `report.html`: every summary figure of the run with its unit in its name, the inputs'
//! identity (paths and SHA-256 of the topology and model files, seed, model provenance,
//! meshsim version) and the warnings a reader must see. Each command fills its own section
//! ([`Body`]); the rest is common. `docs/results.md` describes every field.
//!
//! Schema rule: adding a field or a section keeps [`SCHEMA_VERSION`]; renaming, removing or
//! changing the meaning or unit of a field raises it. Readers ignore fields they do not know.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::PlacementSummary;

/// Version of the `results.json` layout (see the module's schema rule).
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one command found, with what it was asked and what it read.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub schema_version: u32,
    pub meshsim_version: String,
    /// The command that ran: compare, run, blast, sweep, capacity or validate.
    pub command: String,
    /// A heading for the run, e.g. `faces: data-plane placements compared`.
    pub title: String,
    /// The question the run answers, in a sentence.
    pub question: String,
    /// What was read: one set per topology (two for a comparison of variants).
    pub inputs: Vec<InputSet>,
    pub warnings: Vec<Warning>,
    /// The command's own figures, under a key named after its kind.
    #[serde(flatten)]
    pub body: Body,
}

/// The command's section of [`Results`].
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// `compare` and `run`: a row per placement.
    Compare(CompareSection),
    /// `compare A B`: two variants side by side, with differences.
    Variants(VariantsSection),
    Blast(BlastSection),
    Sweep(SweepSection),
    Capacity(CapacitySection),
    Validate(ValidateSection),
}

/// A file read, by path and content hash.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FileIdentity {
    /// As given on the command line or in the file that names it.
    pub path: String,
    /// SHA-256 of the bytes, lowercase hex; `None` when the file could not be read again.
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
}

impl FileIdentity {
    /// Identity of bytes already read.
    pub fn of_bytes(path: &std::path::Path, bytes: &[u8]) -> FileIdentity {
        FileIdentity { path: path.display().to_string(), sha256: Some(sha256_hex(bytes)), bytes: Some(bytes.len() as u64) }
    }

    /// Identity of a file on disk.
    pub fn of_file(path: &std::path::Path) -> FileIdentity {
        match std::fs::read(path) {
            Ok(b) => FileIdentity::of_bytes(path, &b),
            Err(_) => FileIdentity { path: path.display().to_string(), sha256: None, bytes: None },
        }
    }
}

pub use super::digest::sha256_hex;

/// One topology and the cost models it named, with the run's settings.
#[derive(Clone, Debug, Serialize)]
pub struct InputSet {
    /// `a` or `b` for variants; otherwise the topology's name.
    pub label: String,
    pub topology: TopologyInfo,
    pub models: Vec<ModelInfo>,
    /// The model profile the topology names (`mesh.profile`), if any.
    pub profile: Option<String>,
    /// The question that profile's measurements answer (its `answers`), so a reader knows
    /// which question to take the figures for.
    pub profile_answers: Option<String>,
    /// Where the models come from, one entry per source (`profile <name>`, or the hardware
    /// named by models outside any profile); more than one is warned about.
    pub model_sources: Vec<String>,
    pub seed: u64,
    /// True when no seed was given and one was picked for this run.
    pub seed_picked: bool,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Total end-user request rate offered, over every load.
    pub total_rate_rps: f64,
}

/// What the topology file describes, in counts.
#[derive(Clone, Debug, Serialize)]
pub struct TopologyInfo {
    pub name: String,
    pub description: String,
    pub file: FileIdentity,
    pub services: usize,
    pub pods: usize,
    pub nodes: usize,
    pub clusters: usize,
    pub namespaces: usize,
    pub vcpu_total: f64,
    pub loads: usize,
}

/// One cost model and where its numbers came from.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// Proxy kind it models: sidecar, node-proxy, ztunnel or waypoint.
    pub kind: String,
    pub name: String,
    pub file: FileIdentity,
    /// The model file's `[provenance]` table as written (source, version, hardware, fit, …).
    pub provenance: BTreeMap<String, String>,
}

/// Something a reader must know before trusting a figure.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Warning {
    pub kind: WarningKind,
    /// The placement it concerns, if one.
    pub placement: Option<String>,
    pub message: String,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// Models in one comparison come from different sources or hardware.
    MixedModelSources,
    /// A model without a `[provenance] source`.
    UnknownModelSource,
    /// Requests failed, or fewer completed than were offered: queues overflowing, a resource
    /// at its limit.
    Saturation,
    /// A container was OOM-killed at its memory limit or a pod evicted under node memory
    /// pressure: the calls it held failed.
    MemoryRanOut,
    /// A control-plane component's memory rests on terms fitted far from this mesh's size.
    ControlPlaneExtrapolated,
    /// Small nodes run application and proxies busily side by side, where hyperthreads sharing
    /// a core cost more than the simulation charges.
    SharedCores,
    /// A latency target was missed.
    SloMiss,
    /// The seed was picked for this run: pass it to repeat the run.
    SeedPicked,
    /// Simulated figures outside their tolerance of the measured ones (`validate`).
    TargetMiss,
}

/// Figures of one placement over the measurement window. Latencies are of successful
/// requests and `None` when none succeeded; `added_*` is over `none` of the same run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlacementFigures {
    pub placement: String,
    pub proxies: usize,
    pub passes_per_request: f64,
    pub l7_passes_per_request: f64,
    pub dp_cpu_millicores: f64,
    pub dp_mem_mib: f64,
    /// The control plane's CPU (what its replicas received over the window) and memory (its
    /// model's steady figure); `None` where no control plane is modelled. `mesh_*`: data plane
    /// plus control plane.
    pub cp_cpu_millicores: Option<f64>,
    pub cp_mem_mib: Option<f64>,
    pub mesh_cpu_millicores: f64,
    pub mesh_mem_mib: f64,
    /// Each control-plane component, and the proxy kinds whose control plane is not modelled.
    pub control_plane: Vec<ComponentResult>,
    pub control_plane_not_modelled: Vec<String>,
    pub app_cpu_millicores: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p90_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_mean_ms: Option<f64>,
    pub added_p50_ms: Option<f64>,
    pub added_p90_ms: Option<f64>,
    pub added_p99_ms: Option<f64>,
    pub requests_sent: u64,
    pub requests_succeeded: u64,
    pub requests_failed: u64,
    /// Failed ÷ (succeeded + failed), 0–1.
    pub error_share: f64,
    pub offered_rps: f64,
    pub achieved_rps: f64,
    /// `None` when no load was offered (idle proxies' CPU per no request does not exist).
    pub dp_cpu_millicores_per_1000rps: Option<f64>,
    pub dp_mem_mib_per_proxy: f64,
    /// Busy share (0–1) of the busiest node's vCPUs.
    pub node_cpu_utilization_max_share: f64,
    /// Time containers were throttled by CPU limits, summed, ms per second of the window.
    pub throttled_ms_per_s: f64,
    /// The fullest node's memory at its peak, as a share (0–1) of its memory.
    pub node_mem_peak_max_share: f64,
    /// Containers OOM-killed at their memory limit, and pods evicted under node memory
    /// pressure, over the run.
    pub oom_kills: u64,
    pub evictions: u64,
    pub events: u64,
    pub seed: u64,
    /// What the topology's `[[churn]]` cost and did; absent without churn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<crate::churn::ChurnSummary>,
}

/// A placement's churn figures as `results.json` gives them: to the CSV files' precision.
fn churn_rounded(c: &crate::churn::ChurnSummary) -> crate::churn::ChurnSummary {
    crate::churn::ChurnSummary {
        push_cpu_ms: r4(c.push_cpu_ms),
        push_busy_share: r6(c.push_busy_share),
        apply_cpu_ms: r4(c.apply_cpu_ms),
        convergence_p50_ms: c.convergence_p50_ms.map(r4),
        convergence_p99_ms: c.convergence_p99_ms.map(r4),
        convergence_max_ms: c.convergence_max_ms.map(r4),
        recovery_ms: c.recovery_ms.iter().map(|&x| r4(x)).collect(),
        ..c.clone()
    }
}

/// A figure to 4 decimals: the precision of the CSV files, and short of the last bits where
/// floating-point results may differ between machines.
pub fn r4(x: f64) -> f64 {
    round_to(x, 1e4)
}

/// A share (0–1) to 6 decimals.
pub fn r6(x: f64) -> f64 {
    round_to(x, 1e6)
}

fn round_to(x: f64, k: f64) -> f64 {
    if x.is_finite() {
        (x * k).round() / k + 0.0
    } else {
        x
    }
}

/// Data-plane CPU per 1000 rps offered; `None` when nothing was offered.
pub fn cpu_per_1000rps(r: &PlacementSummary) -> Option<f64> {
    (r.offered_rps > 0.0).then(|| r.dp_cpu_millicores / r.offered_rps * 1000.0)
}

impl PlacementFigures {
    pub fn of(r: &PlacementSummary) -> PlacementFigures {
        let ok = r.requests_succeeded > 0;
        let lat = |x: Option<f64>| if ok { x.map(r4) } else { None };
        let added = |x: Option<f64>| if ok { x.map(r4) } else { None };
        PlacementFigures {
            placement: r.placement.to_string(),
            proxies: r.proxies,
            passes_per_request: r4(r.passes_per_request),
            l7_passes_per_request: r4(r.l7_passes_per_request),
            dp_cpu_millicores: r4(r.dp_cpu_millicores),
            dp_mem_mib: r4(r.dp_mem_mib),
            cp_cpu_millicores: r.cp_cpu_millicores.map(r4),
            cp_mem_mib: r.cp_mem_mib.map(r4),
            mesh_cpu_millicores: r4(r.dp_cpu_millicores + r.cp_cpu_millicores.unwrap_or(0.0)),
            mesh_mem_mib: r4(r.dp_mem_mib + r.cp_mem_mib.unwrap_or(0.0)),
            control_plane: r.control_plane.iter().map(ComponentResult::of).collect(),
            control_plane_not_modelled: r.cp_unmodelled.iter().map(|k| k.as_str().to_string()).collect(),
            app_cpu_millicores: r4(r.app_cpu_millicores),
            latency_p50_ms: lat(r.latency_p50_ms),
            latency_p90_ms: lat(r.latency_p90_ms),
            latency_p99_ms: lat(r.latency_p99_ms),
            latency_mean_ms: lat(r.latency_mean_ms),
            added_p50_ms: added(r.added_p50_ms),
            added_p90_ms: added(r.added_p90_ms),
            added_p99_ms: added(r.added_p99_ms),
            requests_sent: r.requests_sent,
            requests_succeeded: r.requests_succeeded,
            requests_failed: r.requests_failed,
            error_share: r6(r.error_rate),
            offered_rps: r4(r.offered_rps),
            achieved_rps: r4(r.achieved_rps),
            dp_cpu_millicores_per_1000rps: cpu_per_1000rps(r).map(r4),
            dp_mem_mib_per_proxy: r4(if r.proxies > 0 { r.dp_mem_mib / r.proxies as f64 } else { 0.0 }),
            node_cpu_utilization_max_share: r6(r.node_cpu_utilization_max),
            throttled_ms_per_s: r4(r.throttled_ms_per_s),
            node_mem_peak_max_share: r6(r.node_mem_peak_share_max),
            oom_kills: r.oom_kills,
            evictions: r.evictions,
            events: r.events,
            seed: r.seed,
            churn: r.churn.as_ref().map(churn_rounded),
        }
    }
}

/// One control-plane component of one placement.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ComponentResult {
    pub component: String,
    /// The model file it was computed from (its name in the profile's folder).
    pub model: String,
    pub replicas: u32,
    /// The node of each replica.
    pub nodes: Vec<String>,
    pub cpu_request_millicores: f64,
    pub memory_request_mib: f64,
    /// Proxies it serves, the Services and endpoints (pods) of the topology, and the services
    /// in the served proxies' configurations, summed.
    pub proxies: usize,
    pub services: usize,
    pub endpoints: usize,
    pub config_services: f64,
    /// Workload certificates it keeps valid, and signings per second (24 h certificates
    /// renewed at the share of their life the model gives).
    pub certificates: f64,
    pub signings_per_s: f64,
    /// Steady CPU and memory of all replicas together, from the model.
    pub cpu_millicores: f64,
    pub mem_mib: f64,
    /// Terms of the model that are not modelled (no published or measured figure).
    pub left_out: Vec<String>,
    pub source: String,
}

impl ComponentResult {
    pub fn of(c: &crate::control_plane::ComponentFigures) -> ComponentResult {
        let mib = 1024.0 * 1024.0;
        ComponentResult {
            component: c.name.clone(),
            model: c.model.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string(),
            replicas: c.replicas,
            nodes: c.node_names.clone(),
            cpu_request_millicores: r4(c.cpu_request_millicores),
            memory_request_mib: r4(c.memory_request_bytes as f64 / mib),
            proxies: c.proxies,
            services: c.services,
            endpoints: c.endpoints,
            config_services: r4(c.config_services),
            certificates: r4(c.certificates),
            signings_per_s: r4(c.signings_per_s * 1e4) / 1e4,
            cpu_millicores: r4(c.cpu_millicores),
            mem_mib: r4(c.mem_bytes / mib),
            left_out: c.left_out.iter().map(|s| s.to_string()).collect(),
            source: c.source.clone(),
        }
    }
}

/// `compare` and `run`.
#[derive(Clone, Debug, Serialize)]
pub struct CompareSection {
    /// The latency target given with `--slo-p99`, if any.
    pub slo_p99_ms: Option<f64>,
    pub placements: Vec<PlacementFigures>,
    /// CPU of every node under each placement, in the order of `placements`.
    pub nodes: Vec<PlacementNodes>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlacementNodes {
    pub placement: String,
    pub nodes: Vec<NodeFigures>,
}

/// One node's CPU over the measurement window.
#[derive(Clone, Debug, Serialize)]
pub struct NodeFigures {
    pub node: String,
    pub vcpu: f64,
    /// Busy share (0–1) of its vCPUs: every container's work plus proxies' idle CPU.
    pub cpu_utilization_share: f64,
    pub app_millicores: f64,
    pub sidecar_millicores: f64,
    pub node_proxy_millicores: f64,
    pub ztunnel_millicores: f64,
    pub waypoint_millicores: f64,
    pub proxy_idle_millicores: f64,
    /// The control plane's replicas on the node.
    pub control_plane_millicores: f64,
    /// Noisy neighbours' CPU.
    pub other_millicores: f64,
    /// Mean number of tasks waiting for a core or throttled.
    pub ready_tasks_mean: f64,
    pub throttled_ms_per_s: f64,
    /// Its memory, what its pods and proxies held on average over the window, and the most
    /// at any instant of the run, MiB; OOM kills and evictions of its containers.
    pub memory_mib: f64,
    pub mem_used_mib: f64,
    pub mem_peak_mib: f64,
    pub oom_kills: u64,
    pub evictions: u64,
}

impl NodeFigures {
    pub fn of(n: &crate::metrics::NodeSummary) -> NodeFigures {
        NodeFigures {
            node: n.name.clone(),
            vcpu: r4(n.vcpu),
            cpu_utilization_share: r6(n.cpu_utilization),
            app_millicores: r4(n.app_millicores),
            sidecar_millicores: r4(n.sidecar_millicores),
            node_proxy_millicores: r4(n.node_proxy_millicores),
            ztunnel_millicores: r4(n.ztunnel_millicores),
            waypoint_millicores: r4(n.waypoint_millicores),
            proxy_idle_millicores: r4(n.proxy_idle_millicores),
            control_plane_millicores: r4(n.control_plane_millicores),
            other_millicores: r4(n.other_millicores),
            ready_tasks_mean: r4(n.ready_tasks_mean),
            throttled_ms_per_s: r4(n.throttled_ms_per_s),
            memory_mib: r4(n.memory_mib),
            mem_used_mib: r4(n.mem_used_mib),
            mem_peak_mib: r4(n.mem_peak_mib),
            oom_kills: n.oom_kills,
            evictions: n.evictions,
        }
    }
}

/// `compare A B`: the same placements of two variants, with B − A and B ÷ A.
#[derive(Clone, Debug, Serialize)]
pub struct VariantsSection {
    pub slo_p99_ms: Option<f64>,
    /// What tells the variants apart, e.g. their topology files or model files.
    pub a_label: String,
    pub b_label: String,
    pub placements: Vec<VariantPlacement>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VariantPlacement {
    pub placement: String,
    pub a: PlacementFigures,
    pub b: PlacementFigures,
    pub differences: Vec<Difference>,
}

/// One figure of both variants. `b_over_a` is `None` when A is zero or either is missing.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Difference {
    /// The field of [`PlacementFigures`] compared, e.g. `dp_cpu_millicores`.
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub b_minus_a: Option<f64>,
    pub b_over_a: Option<f64>,
}

/// `blast`.
#[derive(Clone, Debug, Serialize)]
pub struct BlastSection {
    pub slo_p99_ms: f64,
    pub fail_at_s: f64,
    pub outage_s: f64,
    /// `None`: a failed node's pods come back with the node, after the outage.
    pub node_reschedule_s: Option<f64>,
    pub cpu_limit_millicores: f64,
    /// `None`: each cost model's own limit.
    pub memory_limit_mib: Option<f64>,
    pub noisy_tenant_mbps: f64,
    /// `None`: each edge's client-side proxy's default, else the kernel's (`placements[].resilience` says which).
    pub connect_timeout_s: Option<f64>,
    pub placements: Vec<BlastPlacement>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BlastPlacement {
    pub placement: String,
    /// Which retries applied: the mesh's defaults (with their model), the topology's or the flag's.
    pub resilience: String,
    /// Static blast radius per kind of component.
    pub components: Vec<ComponentSpread>,
    /// The baseline first, then each scenario.
    pub scenarios: Vec<ScenarioFigures>,
}

/// Minimum, mean and maximum over the components of one kind.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct MinMeanMax {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ComponentSpread {
    pub kind: String,
    pub count: usize,
    pub pods_cut: MinMeanMax,
    pub traffic_share: MinMeanMax,
    pub identities_exposed: MinMeanMax,
    pub plaintext_share: MinMeanMax,
}

/// One dynamic run. Shares are of end-user requests started in the window named.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioFigures {
    pub scenario: String,
    pub target: String,
    pub window_start_s: f64,
    pub window_end_s: f64,
    pub failed_share_outage: f64,
    pub slo_missed_share_outage: f64,
    /// p99 over the requests that succeeded; `None`: none did.
    pub latency_p99_outage_ms: Option<f64>,
    /// p99 over every request, failures at their time to fail; `None`: none was sent.
    pub latency_p99_all_outage_ms: Option<f64>,
    /// Share that succeeded but missed the SLO.
    pub slowed_share_outage: f64,
    /// Median time from a failed request's start to its error; `None`: none failed.
    pub time_to_fail_ms: Option<f64>,
    /// Seconds until requests were healthy again while the disturbance lasted (routed
    /// around it); `None`: never unhealthy, or not before it ended.
    pub time_to_route_around_s: Option<f64>,
    pub failed_share_run: f64,
    pub slo_missed_share_run: f64,
    /// Seconds from the start of the disturbance until every later second was healthy;
    /// `None`: never within the run.
    pub time_to_recover_s: Option<f64>,
    pub pods_cut: Option<usize>,
    pub traffic_share: Option<f64>,
    pub identities_exposed: Option<usize>,
    pub plaintext_share: Option<f64>,
    pub requests_sent: u64,
    pub note: String,
}

/// `sweep` (a whole sweep; shards write CSV only).
#[derive(Clone, Debug, Serialize)]
pub struct SweepSection {
    pub name: String,
    pub description: String,
    pub sweep_file: FileIdentity,
    pub seed: u64,
    /// Axis paths, in column order.
    pub axes: Vec<String>,
    /// Cases of the sweep; `cases` lists the first of them (at most 10,000, all of them
    /// when fewer), `sweep.csv` every one.
    pub cases_total: usize,
    pub cases: Vec<SweepCase>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepCase {
    pub index: usize,
    pub name: Option<String>,
    pub seed: u64,
    /// The case's value of each axis, keyed by axis path.
    pub values: BTreeMap<String, toml::Value>,
    pub placements: Vec<PlacementFigures>,
}

/// `capacity`.
#[derive(Clone, Debug, Serialize)]
pub struct CapacitySection {
    pub slo_p99_ms: f64,
    pub max_error_share: f64,
    pub headroom_share: f64,
    pub node_type: NodeType,
    /// The rate every placement was also sized for (`--rate`), if given.
    pub rate_rps: Option<f64>,
    /// The CPU utilisation share replicas were autoscaled to at `rate_rps` (`--autoscale`).
    pub autoscale_target_share: Option<f64>,
    pub placements: Vec<PlacementCapacity>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeType {
    pub name: String,
    pub vcpu: f64,
    pub memory_mib: f64,
    pub max_pods: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlacementCapacity {
    pub placement: String,
    /// Highest rate found within the SLO (0 when none was).
    pub rate_max_rps: f64,
    /// Lowest rate found to miss it; `None`: the search reached its ceiling still within it.
    pub rate_failing_rps: Option<f64>,
    pub probes: Vec<Probe>,
    /// Sizing at `rate_max_rps`; `None` when no rate met the SLO.
    pub at_max: Option<Sizing>,
    pub at_rate: Option<Sizing>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub rate_rps: f64,
    pub meets_slo: bool,
    pub latency_p99_ms: Option<f64>,
    pub error_share: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Sizing {
    pub rate_rps: f64,
    pub meets_slo: bool,
    pub figures: PlacementFigures,
    pub app_cpu_request_millicores: f64,
    pub app_mem_request_mib: f64,
    pub total_cpu_millicores: f64,
    pub total_mem_mib: f64,
    /// Nodes of the node type that carry the load: every pod packed first-fit decreasing by
    /// the larger of its requests and the CPU it used, with DaemonSets on every node and the
    /// headroom kept; `None`: a pod fits on no node.
    pub nodes_needed: Option<u32>,
    /// Nodes the pods' requests alone pack onto (what the scheduler sees).
    pub nodes_by_requests: Option<u32>,
    /// What bound `nodes_needed`: `requests` or `cpu-use`.
    pub nodes_bound: Option<&'static str>,
    /// What to know about `nodes_needed`: why it is absent (a pod fits on no node), or that
    /// autoscaling had not settled.
    pub nodes_note: Option<String>,
    /// Replicas of each service in this run (autoscaled with `--autoscale`), by service name.
    pub replicas: BTreeMap<String, u32>,
    /// Rounds of autoscaling behind `replicas` (0: the file's replicas).
    pub autoscale_rounds: u32,
}

/// `validate`.
#[derive(Clone, Debug, Serialize)]
pub struct ValidateSection {
    pub checks: Vec<Check>,
}

/// One simulated figure against a measured or published one.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// gsd (models fitted on every level), gsd-holdout (each level predicted by models
    /// fitted on the others), gsd-latency (end-to-end p50 and p99 against the load
    /// generator's), istio-published, istio-benchmark or livewyer-bookinfo (throughput as a
    /// share of no mesh).
    pub group: String,
    /// What was measured: data set and series, or component and telemetry mode.
    pub subject: String,
    pub metric: String,
    pub unit: String,
    pub rate_rps: f64,
    pub measured: f64,
    pub simulated: f64,
    /// (simulated − measured) ÷ measured; `None` when measured is 0 or missing.
    pub error_share: Option<f64>,
    /// Largest |error| counted as a match; `None`: reported without a target.
    pub target_share: Option<f64>,
    pub within_target: Option<bool>,
}

/// `results.json`: pretty-printed, keys in declaration order, a final newline.
pub fn to_json(r: &Results) -> String {
    let mut s = serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_published_test_vector() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn rounding_prints_short_decimals() {
        assert_eq!(serde_json::to_string(&r4(2_802.234_567_8)).unwrap(), "2802.2346");
        assert_eq!(serde_json::to_string(&r4(-0.000_01)).unwrap(), "0.0");
        assert_eq!(serde_json::to_string(&r6(1.0 / 3.0)).unwrap(), "0.333333");
    }
}
