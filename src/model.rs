//! Cost models of proxies, read from `models/*.toml`, and the maths of one pass.
//!
//! A proxy is a queueing station with `workers` threads. One pass costs CPU (per layer, per
//! KiB of payload, per new connection and mTLS handshake where the edge opens one per
//! request), a fixed delay that holds no worker, and memory (base, per endpoint of config,
//! per open connection, per request in flight). CPU figures are at node speed 1.0: the
//! speed of the machine the model was fitted on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::input_error::{from_toml, ErrorSink, InputError, InputErrors};
use crate::placement::Layer;
use crate::topology::ProxyKind;
use crate::units;

const SUPPORTED_VERSION: u32 = 1;

/// CPU request of a proxy container when its model names none: 100m, the default of Istio's
/// sidecar injector (`global.proxy.resources.requests.cpu`) and of its waypoints.
pub const DEFAULT_PROXY_CPU_REQUEST_MILLICORES: f64 = 100.0;

/// A validated cost model of one proxy kind.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    pub name: String,
    pub kind: ProxyKind,
    pub source: PathBuf,
    pub workers: u32,
    pub cpu_l7_pass_ns: u64,
    pub cpu_l4_pass_ns: u64,
    pub cpu_per_kib_ns: u64,
    pub cpu_new_connection_ns: u64,
    pub cpu_tls_handshake_ns: u64,
    /// Whether a new downstream connection also costs a new mTLS handshake on this pass
    /// (false where the proxy multiplexes onto pooled mTLS connections, as ztunnel's HBONE does).
    pub tls_per_new_connection: bool,
    pub cpu_idle_millicores: f64,
    /// CPU request of each instance's container: its weight when the node's cores are
    /// contended (CFS shares).
    pub cpu_request_millicores: f64,
    /// A CPU limit (CFS quota) on each instance's container.
    pub cpu_limit_millicores: Option<f64>,
    pub latency_fixed_ns: u64,
    pub mem_base_bytes: u64,
    pub mem_per_endpoint_bytes: u64,
    pub mem_per_connection_bytes: u64,
    pub mem_per_inflight_bytes: u64,
    pub mem_limit_bytes: Option<u64>,
    /// Where the numbers came from, as the file gives it.
    pub provenance: BTreeMap<String, String>,
}

impl CostModel {
    /// CPU time of one pass at speed 1.0, in ns.
    pub fn pass_cpu_ns(&self, layer: Layer, payload_bytes: u64, new_connection: bool) -> u64 {
        let base = match layer {
            Layer::L7 => self.cpu_l7_pass_ns,
            Layer::L4 => self.cpu_l4_pass_ns,
        };
        let per_kib = self.cpu_per_kib_ns as u128 * payload_bytes as u128 / 1024;
        let conn = if new_connection {
            self.cpu_new_connection_ns + if self.tls_per_new_connection { self.cpu_tls_handshake_ns } else { 0 }
        } else {
            0
        };
        base + per_kib as u64 + conn
    }

    /// Memory of an instance, in bytes, for the given state.
    pub fn memory_bytes(&self, endpoints: f64, connections: f64, inflight: f64) -> f64 {
        self.mem_base_bytes as f64
            + self.mem_per_endpoint_bytes as f64 * endpoints
            + self.mem_per_connection_bytes as f64 * connections
            + self.mem_per_inflight_bytes as f64 * inflight
    }

    /// Worker threads that can run at once under the CPU limit, and how much slower each
    /// runs: a limit below the worker count caps the concurrency at ceil(limit) and stretches
    /// each pass so that the total throughput is the limit.
    pub fn effective_workers(&self) -> (u32, f64) {
        match self.cpu_limit_millicores {
            Some(limit) if limit / 1000.0 < self.workers as f64 => {
                let cores = (limit / 1000.0).max(1e-3);
                let servers = cores.ceil().max(1.0);
                (servers as u32, servers / cores)
            }
            _ => (self.workers, 1.0),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    version: Spanned<u32>,
    name: String,
    kind: Spanned<String>,
    workers: Spanned<i64>,
    cpu: CpuInput,
    latency: LatencyInput,
    memory: MemoryInput,
    #[serde(default)]
    provenance: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CpuInput {
    l7_pass: Spanned<String>,
    l4_pass: Spanned<String>,
    per_kib: Spanned<String>,
    new_connection: Spanned<String>,
    tls_handshake: Spanned<String>,
    #[serde(default)]
    tls_per_new_connection: Option<bool>,
    idle: Spanned<String>,
    #[serde(default)]
    request: Option<Spanned<String>>,
    #[serde(default)]
    limit: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyInput {
    fixed: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryInput {
    base: Spanned<String>,
    per_endpoint: Spanned<String>,
    per_connection: Spanned<String>,
    per_inflight: Spanned<String>,
    #[serde(default)]
    limit: Option<Spanned<String>>,
}

/// Read a cost model file.
pub fn load(path: &Path) -> Result<CostModel, InputErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputErrors(vec![InputError { path: path.to_path_buf(), line: 0, col: 0, message: format!("cannot read cost model file: {e}") }])
    })?;
    parse(path, &text)
}

/// Parse cost model text read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<CostModel, InputErrors> {
    let f: ModelFile = toml::from_str(text).map_err(|e| InputErrors(vec![from_toml(path, text, &e)]))?;
    let mut sink = ErrorSink::new(path, text);
    if *f.version.get_ref() != SUPPORTED_VERSION {
        sink.at(
            f.version.span(),
            format!("version: {} is not supported: this meshsim reads version {SUPPORTED_VERSION}", f.version.get_ref()),
        );
    }
    let kind = match f.kind.get_ref().as_str() {
        "sidecar" => ProxyKind::Sidecar,
        "node-proxy" => ProxyKind::NodeProxy,
        "ztunnel" => ProxyKind::Ztunnel,
        "waypoint" => ProxyKind::Waypoint,
        other => {
            sink.at(f.kind.span(), format!("kind: unknown proxy kind `{other}`: expected sidecar, node-proxy, ztunnel or waypoint"));
            ProxyKind::Sidecar
        }
    };
    let workers = *f.workers.get_ref();
    if !(1..=4096).contains(&workers) {
        sink.at(f.workers.span(), format!("workers: {workers} must be between 1 and 4096"));
    }
    let mut dur = |field: &str, s: &Spanned<String>| {
        units::parse_duration_ns(s.get_ref()).unwrap_or_else(|e| {
            sink.at(s.span(), format!("{field}: {e}"));
            0
        })
    };
    let cpu_l7_pass_ns = dur("cpu.l7_pass", &f.cpu.l7_pass);
    let cpu_l4_pass_ns = dur("cpu.l4_pass", &f.cpu.l4_pass);
    let cpu_per_kib_ns = dur("cpu.per_kib", &f.cpu.per_kib);
    let cpu_new_connection_ns = dur("cpu.new_connection", &f.cpu.new_connection);
    let cpu_tls_handshake_ns = dur("cpu.tls_handshake", &f.cpu.tls_handshake);
    let latency_fixed_ns = dur("latency.fixed", &f.latency.fixed);
    let mut milli = |field: &str, s: &Spanned<String>| {
        units::parse_millicores(s.get_ref()).unwrap_or_else(|e| {
            sink.at(s.span(), format!("{field}: {e}"));
            0.0
        })
    };
    let cpu_idle_millicores = milli("cpu.idle", &f.cpu.idle);
    let cpu_limit_millicores = f.cpu.limit.as_ref().map(|l| milli("cpu.limit", l));
    let cpu_request_millicores = f.cpu.request.as_ref().map(|r| milli("cpu.request", r)).unwrap_or(DEFAULT_PROXY_CPU_REQUEST_MILLICORES);
    let mut size = |field: &str, s: &Spanned<String>| {
        units::parse_bytes(s.get_ref()).unwrap_or_else(|e| {
            sink.at(s.span(), format!("{field}: {e}"));
            0
        })
    };
    let mem_base_bytes = size("memory.base", &f.memory.base);
    let mem_per_endpoint_bytes = size("memory.per_endpoint", &f.memory.per_endpoint);
    let mem_per_connection_bytes = size("memory.per_connection", &f.memory.per_connection);
    let mem_per_inflight_bytes = size("memory.per_inflight", &f.memory.per_inflight);
    let mem_limit_bytes = f.memory.limit.as_ref().map(|l| size("memory.limit", l));
    if let (Some(0.0), Some(l)) = (cpu_limit_millicores, &f.cpu.limit) {
        sink.at(l.span(), "cpu.limit: must be more than zero");
    }
    sink.finish()?;
    let provenance = f.provenance.into_iter().map(|(k, v)| (k, v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect();
    Ok(CostModel {
        name: f.name,
        kind,
        source: path.to_path_buf(),
        workers: workers as u32,
        cpu_l7_pass_ns,
        cpu_l4_pass_ns,
        cpu_per_kib_ns,
        cpu_new_connection_ns,
        cpu_tls_handshake_ns,
        tls_per_new_connection: f.cpu.tls_per_new_connection.unwrap_or(true),
        cpu_idle_millicores,
        cpu_request_millicores,
        cpu_limit_millicores,
        latency_fixed_ns,
        mem_base_bytes,
        mem_per_endpoint_bytes,
        mem_per_connection_bytes,
        mem_per_inflight_bytes,
        mem_limit_bytes,
        provenance,
    })
}

/// The cost model of each proxy kind a topology names.
#[derive(Clone, Debug, Default)]
pub struct CostModels {
    pub by_kind: BTreeMap<ProxyKind, CostModel>,
}

impl CostModels {
    /// Load every model a topology names; all problems in all files are reported together.
    pub fn load(models: &[(ProxyKind, PathBuf)]) -> Result<CostModels, InputErrors> {
        let mut by_kind = BTreeMap::new();
        let mut errors = Vec::new();
        for (kind, path) in models {
            match load(path) {
                Ok(m) if m.kind != *kind => errors.push(InputError {
                    path: path.clone(),
                    line: 0,
                    col: 0,
                    message: format!("kind: this model is for `{}` but the topology uses it for `{}`", m.kind.as_str(), kind.as_str()),
                }),
                Ok(m) => {
                    by_kind.insert(*kind, m);
                }
                Err(e) => errors.extend(e.0),
            }
        }
        if errors.is_empty() {
            Ok(CostModels { by_kind })
        } else {
            Err(InputErrors(errors))
        }
    }

    pub fn get(&self, kind: ProxyKind) -> Option<&CostModel> {
        self.by_kind.get(&kind)
    }
}
