//! Cost models of proxies, read from `models/*.toml`, and the maths of one pass.
//!
//! A proxy is a queueing station with `workers` threads. One pass costs CPU (per layer, per
//! KiB of payload, per new connection and mTLS handshake where the edge opens one per
//! request), a delay that holds no worker (fixed, or drawn from a distribution fitted to
//! measured latency percentiles), and memory (base, per endpoint of config, per open
//! connection, per request in flight). CPU figures are at node speed 1.0: the speed of the
//! machine the model was fitted on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config_scope::{DefaultScope, DefaultScopes};
use crate::input_error::{line_col, ErrorSink, InputError, InputErrors};
use crate::placement::Layer;
use crate::toml_doc::{self, expect, Fields, Spanned};
use crate::topology::ProxyKind;
use crate::{limits, units};

const SUPPORTED_VERSION: i64 = 1;

/// CPU request of a proxy container when its model names none: 100m, the default of Istio's
/// sidecar injector (`global.proxy.resources.requests.cpu`) and of its waypoints.
pub const DEFAULT_PROXY_CPU_REQUEST_MILLICORES: f64 = 100.0;

/// A validated cost model of one proxy kind.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    pub name: String,
    pub kind: ProxyKind,
    pub source: PathBuf,
    /// Line and column of `kind` in the file, for messages about the kind.
    pub kind_at: (usize, usize),
    pub workers: u32,
    pub cpu_l7_pass_ns: u64,
    pub cpu_l4_pass_ns: u64,
    pub cpu_per_kib_ns: u64,
    pub cpu_new_connection_ns: u64,
    pub cpu_tls_handshake_ns: u64,
    /// CPU of waking the proxy's worker threads, charged to a pass that finds the proxy idle
    /// (no pass started or ended) for longer than `wake_up_after_idle_ns`: an idle event loop
    /// sleeps in the kernel and comes back with cold caches, so per-request CPU falls as load
    /// keeps the workers busy. 0: no such cost.
    pub cpu_wake_up_ns: u64,
    pub wake_up_after_idle_ns: u64,
    /// CPU a pass spends after it has passed its request on (stats, access logs, buffer
    /// bookkeeping): its worker stays busy, the request does not wait for it.
    pub cpu_after_response_ns: u64,
    /// Whether a new downstream connection also costs a new mTLS handshake on this pass
    /// (false where the proxy multiplexes onto pooled mTLS connections, as ztunnel's HBONE does).
    pub tls_per_new_connection: bool,
    pub cpu_idle_millicores: f64,
    /// CPU request of each instance's container: its weight when the node's cores are
    /// contended (CFS shares).
    pub cpu_request_millicores: f64,
    /// A CPU limit (CFS quota) on each instance's container.
    pub cpu_limit_millicores: Option<f64>,
    /// Delay added after each pass that holds no worker (0 when `latency_percentiles` is set).
    pub latency_fixed_ns: u64,
    /// The pass's added latency as measured percentiles, when the file gives them instead
    /// of `fixed`; each pass then draws its delay from the distribution fitted to them.
    pub latency_percentiles: Option<LatencyPercentiles>,
    /// What the percentiles were measured at (rate, connections, payload), as the file says.
    pub latency_measured_at: Option<String>,
    pub mem_base_bytes: u64,
    pub mem_per_endpoint_bytes: u64,
    pub mem_per_connection_bytes: u64,
    pub mem_per_inflight_bytes: u64,
    pub mem_limit_bytes: Option<u64>,
    /// Where the numbers came from, as the file gives it.
    pub provenance: BTreeMap<String, String>,
    /// What the proxy does on its own when a call fails (`[resilience]`), if the file says.
    pub resilience: Option<crate::resilience::Resilience>,
    /// What its mesh sends a proxy of this kind (`[config] scope`; by default Istio's for the kind).
    pub config_scope: DefaultScope,
    /// The CPU of applying a push (`[config] apply`); `None`: not measured, not charged.
    pub config_apply: Option<ConfigApply>,
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

/// Normal score of the 90th percentile: Φ⁻¹(0.90).
pub const Z_P90: f64 = 1.281_551_565_544_600_4;
/// Normal score of the 99th percentile: Φ⁻¹(0.99).
pub const Z_P99: f64 = 2.326_347_874_040_840_8;

/// A pass's added latency as measured percentiles (`[latency] p50`, `p90`, `p99`), and the
/// distribution meshsim fits to them.
///
/// The fit is a piecewise lognormal: ln(latency) is linear in the normal score z between
/// the measured points (p50 at z = 0, p90 at [`Z_P90`], p99 at [`Z_P99`]) and keeps the slope
/// of the nearest segment beyond them. A plain lognormal has two parameters and hits three
/// percentiles only when ln(p99/p50) = 1.815·ln(p90/p50); the measured tails are heavier
/// than that (2.0-2.4 on the loopback bench), and a least-squares lognormal misses one of
/// them by 5-14%. The piecewise form passes through every measured point, is exactly
/// lognormal when the points are, and needs no more than the three figures.
///
/// The measured figures include the pass's own CPU time (`includes_cpu`), which meshsim
/// charges itself (with its queueing); a pass is then held for the rest, `max(0, L − cpu)`
/// with L drawn from the fitted distribution. At low load a pass so takes `max(cpu, L)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyPercentiles {
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    /// CPU time of the pass within the measured figures, at the conditions they were measured at.
    pub includes_cpu_ns: u64,
}

impl LatencyPercentiles {
    /// The fitted added latency of a pass, in ns, at normal score `z` (z = Φ⁻¹(p) for the
    /// p-quantile; a standard normal draw for a sample).
    pub fn latency_at_score_ns(&self, z: f64) -> f64 {
        let (l50, l90, l99) = ((self.p50_ns as f64).ln(), (self.p90_ns as f64).ln(), (self.p99_ns as f64).ln());
        let ln = if z < Z_P90 { l50 + z * (l90 - l50) / Z_P90 } else { l90 + (z - Z_P90) * (l99 - l90) / (Z_P99 - Z_P90) };
        ln.exp().min(limits::MAX_WORK_NS as f64)
    }

    /// The delay a pass holds beyond its CPU at normal score `z`, in ns (never negative).
    pub fn delay_at_score_ns(&self, z: f64) -> f64 {
        (self.latency_at_score_ns(z) - self.includes_cpu_ns as f64).max(0.0)
    }
}

/// Read a cost model file.
pub fn load(path: &Path) -> Result<CostModel, InputErrors> {
    let text = crate::input_file::read_text(path, "cost model")?;
    parse(path, &text)
}

/// A `[provenance]` table: free-form keys, each value as text.
pub fn read_provenance(mut p: Fields) -> BTreeMap<String, String> {
    p.rest()
        .into_iter()
        .map(|e| {
            let v = match &e.node.value {
                toml_doc::Value::String(s) => s.clone(),
                _ => e.node.to_toml().to_string(),
            };
            (e.key.clone(), v)
        })
        .collect()
}

/// Ranges of a model's figures (see `crate::limits`).
const MAX_WORKERS: i64 = 4096;

/// Parse cost model text read from `path`. Every problem in the file is reported at once.
pub fn parse(path: &Path, text: &str) -> Result<CostModel, InputErrors> {
    let doc = toml_doc::parse(path, text)?;
    let mut sink = ErrorSink::new(path, text);
    let mut root = Fields::root(&doc);
    root.req_version(&mut sink, SUPPORTED_VERSION, None);
    let name = root.req_text(&mut sink, "name", expect::NAME).map(Spanned::into_inner).unwrap_or_default();
    let kind_field = root.req_text(&mut sink, "kind", "write one of \"sidecar\", \"node-proxy\", \"ztunnel\", \"waypoint\"");
    let kind = match kind_field.as_ref().map(|k| k.get_ref().as_str()) {
        Some("sidecar") | None => ProxyKind::Sidecar,
        Some("node-proxy") => ProxyKind::NodeProxy,
        Some("ztunnel") => ProxyKind::Ztunnel,
        Some("waypoint") => ProxyKind::Waypoint,
        Some(other) => {
            let k = kind_field.as_ref().expect("present");
            sink.at(k.span(), format!("kind: unknown proxy kind `{other}`: write one of sidecar, node-proxy, ztunnel, waypoint"));
            ProxyKind::Sidecar
        }
    };
    let workers = root.req_int(&mut sink, "workers").map(|w| {
        let x = *w.get_ref();
        if !(1..=MAX_WORKERS).contains(&x) {
            sink.at(w.span(), format!("workers: {x} is out of range: it must be between 1 and {MAX_WORKERS}"));
        }
        x.clamp(1, MAX_WORKERS)
    });
    let mut cpu = root.req_table(&mut sink, "cpu");
    let mut latency = root.req_table(&mut sink, "latency");
    let mut memory = root.req_table(&mut sink, "memory");
    let provenance = root.table(&mut sink, "provenance").map(read_provenance).unwrap_or_default();
    let resilience = crate::resilience::read(&mut root, &mut sink);
    let (config_scope, config_apply) = read_config(&mut root, &mut sink);
    let config_scope = config_scope.unwrap_or(DefaultScope::of_kind(kind));
    root.finish(&mut sink, &["version", "name", "kind", "workers", "cpu", "latency", "memory", "provenance", "resilience", "config"]);

    // A duration figure of one pass, at most `limits::MAX_WORK_NS`.
    let dur = |sink: &mut ErrorSink, t: &mut Option<Fields>, key: &str, max_ns: u64| -> u64 {
        let Some(t) = t else { return 0 };
        t.req_text(sink, key, expect::DURATION).and_then(|s| duration_at_most(sink, &s, max_ns)).unwrap_or(0)
    };
    let max_work = limits::MAX_WORK_NS;
    let cpu_l7_pass_ns = dur(&mut sink, &mut cpu, "l7_pass", max_work);
    let cpu_l4_pass_ns = dur(&mut sink, &mut cpu, "l4_pass", max_work);
    // Per KiB of payload: at the largest payload (2 GiB with the response) still below the ceiling.
    let cpu_per_kib_ns = dur(&mut sink, &mut cpu, "per_kib", max_work / (2 * limits::MAX_PAYLOAD_BYTES / 1024));
    let cpu_new_connection_ns = dur(&mut sink, &mut cpu, "new_connection", max_work);
    let cpu_tls_handshake_ns = dur(&mut sink, &mut cpu, "tls_handshake", max_work);
    let (latency_fixed_ns, latency_percentiles, latency_measured_at) = read_latency(&mut sink, &mut latency);
    let optional = |sink: &mut ErrorSink, t: &mut Option<Fields>, key: &str| -> Option<u64> {
        let s = t.as_mut()?.text(sink, key, expect::DURATION)?;
        work_duration(sink, &s)
    };
    let cpu_wake_up_ns = optional(&mut sink, &mut cpu, "wake_up").unwrap_or(0);
    let wake_up_after_idle_ns = optional(&mut sink, &mut cpu, "wake_up_after_idle").unwrap_or(0);
    if cpu_wake_up_ns > 0 && wake_up_after_idle_ns == 0 {
        if let Some(c) = &cpu {
            sink.at(
                c.span(),
                "cpu.wake_up: a wake-up cost needs cpu.wake_up_after_idle, the idle time after which it is charged (like \"3ms\")",
            );
        }
    }
    let cpu_after_response_ns = optional(&mut sink, &mut cpu, "after_response").unwrap_or(0);
    let milli = |sink: &mut ErrorSink, s: Option<Spanned<String>>, min: f64| -> Option<f64> {
        let s = s?;
        match units::parse_millicores(s.get_ref()) {
            Ok(m) if (min..=limits::MAX_MILLICORES).contains(&m) => Some(m),
            Ok(_) => {
                sink.at(
                    s.span(),
                    format!(
                        "{}: `{}` is out of range: it must be between {min}m and {} cores",
                        s.path(),
                        s.get_ref(),
                        limits::MAX_MILLICORES / 1000.0
                    ),
                );
                None
            }
            Err(e) => {
                sink.at(s.span(), format!("{}: {e}", s.path()));
                None
            }
        }
    };
    let (mut cpu_idle_millicores, mut cpu_limit_millicores, mut tls_per_new_connection) = (0.0, None, true);
    let mut cpu_request_millicores = DEFAULT_PROXY_CPU_REQUEST_MILLICORES;
    if let Some(c) = &mut cpu {
        let idle = c.req_text(&mut sink, "idle", expect::CPU);
        cpu_idle_millicores = milli(&mut sink, idle, 0.0).unwrap_or(0.0);
        let limit = c.text(&mut sink, "limit", expect::CPU);
        cpu_limit_millicores = milli(&mut sink, limit, limits::MIN_CPU_LIMIT_MILLICORES);
        let request = c.text(&mut sink, "request", expect::CPU);
        cpu_request_millicores =
            milli(&mut sink, request, limits::MIN_CPU_LIMIT_MILLICORES).unwrap_or(DEFAULT_PROXY_CPU_REQUEST_MILLICORES);
        tls_per_new_connection = c.boolean(&mut sink, "tls_per_new_connection").map(Spanned::into_inner).unwrap_or(true);
    }
    let size = |sink: &mut ErrorSink, s: Option<Spanned<String>>| -> Option<u64> { memory_bytes(sink, &s?) };
    let (mut mem_base_bytes, mut mem_per_endpoint_bytes, mut mem_per_connection_bytes, mut mem_per_inflight_bytes, mut mem_limit_bytes) =
        (0, 0, 0, 0, None);
    if let Some(m) = &mut memory {
        for (key, slot) in [
            ("base", &mut mem_base_bytes),
            ("per_endpoint", &mut mem_per_endpoint_bytes),
            ("per_connection", &mut mem_per_connection_bytes),
            ("per_inflight", &mut mem_per_inflight_bytes),
        ] {
            let v = m.req_text(&mut sink, key, expect::SIZE);
            *slot = size(&mut sink, v).unwrap_or(0);
        }
        let limit = m.text(&mut sink, "limit", expect::SIZE);
        if let Some(l) = &limit {
            if units::parse_bytes(l.get_ref()) == Ok(0) {
                sink.at(l.span(), format!("{}: must be more than zero", l.path()));
            }
        }
        mem_limit_bytes = size(&mut sink, limit).filter(|&b| b > 0);
    }
    if let Some(c) = cpu {
        c.finish(
            &mut sink,
            &[
                "l7_pass",
                "l4_pass",
                "per_kib",
                "new_connection",
                "tls_handshake",
                "tls_per_new_connection",
                "wake_up",
                "wake_up_after_idle",
                "after_response",
                "idle",
                "request",
                "limit",
            ],
        );
    }
    if let Some(l) = latency {
        l.finish(&mut sink, &["fixed", "p50", "p90", "p99", "includes_cpu", "measured_at"]);
    }
    if let Some(m) = memory {
        m.finish(&mut sink, &["base", "per_endpoint", "per_connection", "per_inflight", "limit"]);
    }
    sink.finish()?;
    let (line, col) = kind_field.as_ref().map(|k| line_col(text, k.span().start)).unwrap_or((0, 0));
    Ok(CostModel {
        name,
        kind,
        source: path.to_path_buf(),
        kind_at: (line, col),
        workers: workers.unwrap_or(1) as u32,
        cpu_l7_pass_ns,
        cpu_l4_pass_ns,
        cpu_per_kib_ns,
        cpu_new_connection_ns,
        cpu_tls_handshake_ns,
        cpu_wake_up_ns,
        wake_up_after_idle_ns,
        cpu_after_response_ns,
        tls_per_new_connection,
        cpu_idle_millicores,
        cpu_request_millicores,
        cpu_limit_millicores,
        latency_fixed_ns,
        latency_percentiles,
        latency_measured_at,
        mem_base_bytes,
        mem_per_endpoint_bytes,
        mem_per_connection_bytes,
        mem_per_inflight_bytes,
        mem_limit_bytes,
        provenance,
        resilience,
        config_scope,
        config_apply,
    })
}

/// What a proxy's configuration costs it to take in: the CPU of applying one push (an xDS
/// update), and per endpoint the push carries (`[config] apply`, `apply_per_endpoint`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ConfigApply {
    pub base_ns: f64,
    pub per_endpoint_ns: f64,
}

/// `[config]`: `scope`, the endpoints the mesh sends a proxy of this kind ("mesh" or "called"),
/// and, when measured, the CPU of applying a push (`apply`, `apply_per_endpoint`, with
/// `apply_source`); without them a push costs the proxy nothing and the churn figures say so.
fn read_config(root: &mut Fields, sink: &mut ErrorSink) -> (Option<DefaultScope>, Option<ConfigApply>) {
    let Some(mut c) = root.table(sink, "config") else { return (None, None) };
    let expect = "write \"mesh\" (every endpoint of the mesh) or \"called\" (the services it sends calls to)";
    let scope = c.req_text(sink, "scope", expect).and_then(|s| match DefaultScope::parse(s.get_ref()) {
        Some(x) => Some(x),
        None => {
            sink.at(s.span(), format!("{}: unknown scope `{}`: {expect}", s.path(), s.get_ref()));
            None
        }
    });
    let base = c.text(sink, "apply", expect::DURATION);
    let per = c.text(sink, "apply_per_endpoint", expect::DURATION);
    let source = c.text(sink, "apply_source", expect::TEXT);
    let apply = match (&base, &per) {
        (None, None) => None,
        (Some(b), Some(p)) => {
            if source.is_none() {
                sink.at(b.span(), format!("{}: give `apply_source`: where the CPU of applying a push was measured", b.path()));
            }
            let ns = |sink: &mut ErrorSink, s: &Spanned<String>| work_duration(sink, s).map(|x| x as f64);
            match (ns(sink, b), ns(sink, p)) {
                (Some(base_ns), Some(per_endpoint_ns)) => Some(ConfigApply { base_ns, per_endpoint_ns }),
                _ => None,
            }
        }
        (Some(x), None) | (None, Some(x)) => {
            sink.at(x.span(), format!("{}: give both `apply` and `apply_per_endpoint`, or neither", x.path()));
            None
        }
    };
    c.finish(sink, &["scope", "apply", "apply_per_endpoint", "apply_source"]);
    (scope, apply)
}

/// A duration of at most `limits::MAX_WORK_NS`; `None` (with the problem reported) otherwise.
fn work_duration(sink: &mut ErrorSink, s: &Spanned<String>) -> Option<u64> {
    duration_at_most(sink, s, limits::MAX_WORK_NS)
}

/// A duration of at most `max_ns`; `None` (with the problem reported) otherwise.
fn duration_at_most(sink: &mut ErrorSink, s: &Spanned<String>, max_ns: u64) -> Option<u64> {
    match units::parse_duration_ns(s.get_ref()) {
        Ok(ns) if ns <= max_ns => Some(ns),
        Ok(_) => {
            sink.at(s.span(), format!("{}: `{}` is more than the limit of {}", s.path(), s.get_ref(), limits::describe_ns(max_ns)));
            None
        }
        Err(e) => {
            sink.at(s.span(), format!("{}: {e}", s.path()));
            None
        }
    }
}

/// `[latency]`: either `fixed` (one figure), or the measured `p50`, `p90`, `p99` with
/// `measured_at` and optionally `includes_cpu`. Returns (fixed ns, percentiles, measured at).
fn read_latency(sink: &mut ErrorSink, latency: &mut Option<Fields>) -> (u64, Option<LatencyPercentiles>, Option<String>) {
    let Some(l) = latency else { return (0, None, None) };
    const FORM: &str = "give either `fixed` (one figure) or the measured `p50`, `p90`, `p99` with `measured_at`";
    let keys = ["p50", "p90", "p99", "includes_cpu", "measured_at"];
    if !keys.iter().any(|k| l.entry(k).is_some()) {
        let fixed = l.req_text(sink, "fixed", expect::DURATION);
        return (fixed.and_then(|f| work_duration(sink, &f)).unwrap_or(0), None, None);
    }
    if let Some(f) = l.text(sink, "fixed", expect::DURATION) {
        sink.at(f.span(), format!("{}: both a fixed delay and percentiles are given: {FORM}", f.path()));
    }
    let mut p = [0u64; 3];
    let mut complete = true;
    for (slot, key) in p.iter_mut().zip(["p50", "p90", "p99"]) {
        match l.req_text(sink, key, expect::DURATION) {
            Some(s) => match work_duration(sink, &s) {
                Some(0) => {
                    sink.at(s.span(), format!("{}: must be more than zero", s.path()));
                    complete = false;
                }
                Some(ns) => *slot = ns,
                None => complete = false,
            },
            None => complete = false,
        }
    }
    let measured_at =
        l.req_text(sink, "measured_at", "text saying what the percentiles were measured at, like \"100 rps, pooled connections\"");
    let includes_cpu = l.text(sink, "includes_cpu", expect::DURATION).and_then(|s| work_duration(sink, &s)).unwrap_or(0);
    if complete && !(p[0] < p[1] && p[1] < p[2]) {
        sink.at(
            l.span(),
            format!("{}: the percentiles must rise: p50 < p90 < p99 (found {} ns, {} ns, {} ns)", l.path(), p[0], p[1], p[2]),
        );
        complete = false;
    }
    let pct = complete.then_some(LatencyPercentiles { p50_ns: p[0], p90_ns: p[1], p99_ns: p[2], includes_cpu_ns: includes_cpu });
    (0, pct, measured_at.map(Spanned::into_inner))
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
                    line: m.kind_at.0,
                    col: m.kind_at.1,
                    message: format!(
                        "kind: this model is for `{}` proxies but the topology names it as its {} model ([mesh] {}): give it a {} model",
                        m.kind.as_str(),
                        kind.as_str(),
                        mesh_field(*kind),
                        kind.as_str()
                    ),
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

    /// What the mesh sends each kind of proxy: each model's `[config] scope`, and the kind's
    /// default where no model is loaded.
    pub fn scopes(&self) -> DefaultScopes {
        let mut s = DefaultScopes::default();
        for (&kind, m) in &self.by_kind {
            s.set(kind, m.config_scope);
        }
        s
    }

    /// Refuse models whose longest pass, on the topology's slowest node and stretched by the
    /// model's own CPU limit, would take longer than `limits::MAX_DURATION_NS` of simulated
    /// time: such a run could not represent its own clock.
    pub fn check_work(&self, t: &crate::topology::Topology) -> Result<(), InputErrors> {
        let Some(slowest) = t.nodes.iter().min_by(|a, b| a.speed.total_cmp(&b.speed)) else { return Ok(()) };
        let payload = t.services.iter().map(|s| s.request_bytes + s.response_bytes).max().unwrap_or(0);
        let mut errors = Vec::new();
        for m in self.by_kind.values() {
            let pass_ns = m.pass_cpu_ns(Layer::L7, payload, true).max(m.pass_cpu_ns(Layer::L4, payload, true)) as f64;
            let pass_ns = pass_ns + (m.cpu_wake_up_ns + m.cpu_after_response_ns) as f64;
            let stretched = pass_ns * m.effective_workers().1 / slowest.speed;
            if stretched > limits::MAX_DURATION_NS as f64 {
                errors.push(InputError {
                    path: m.source.clone(),
                    line: 0,
                    col: 0,
                    message: format!(
                        "cpu: one pass costs up to {:.3} s of CPU; on node `{}` (speed {}){} that is {:.0} s of simulated time, more than the limit of {}: lower the costs or raise the node's speed",
                        pass_ns / 1e9,
                        slowest.name,
                        slowest.speed,
                        if m.cpu_limit_millicores.is_some() { " under the model's cpu.limit" } else { "" },
                        stretched / 1e9,
                        limits::describe_ns(limits::MAX_DURATION_NS)
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(InputErrors(errors))
        }
    }
}

/// The `[mesh]` key that names the model of a proxy kind.
pub fn mesh_field(kind: ProxyKind) -> &'static str {
    match kind {
        ProxyKind::Sidecar => "sidecar_model",
        ProxyKind::NodeProxy => "node_proxy_model",
        ProxyKind::Ztunnel => "ztunnel_model",
        ProxyKind::Waypoint => "waypoint_model",
    }
}

/// A memory size from a model file, within [`limits::MAX_MEMORY_BYTES`]; an error at its span
/// otherwise. Shared by the proxy and control-plane model readers.
pub(crate) fn memory_bytes(sink: &mut ErrorSink, s: &Spanned<String>) -> Option<u64> {
    match units::parse_bytes(s.get_ref()) {
        Ok(b) if b <= limits::MAX_MEMORY_BYTES => Some(b),
        Ok(_) => {
            sink.at(
                s.span(),
                format!("{}: `{}` is more than the limit of {}", s.path(), s.get_ref(), units::format_bytes(limits::MAX_MEMORY_BYTES)),
            );
            None
        }
        Err(e) => {
            sink.at(s.span(), format!("{}: {e}", s.path()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn model(latency: &str) -> String {
        format!(
            "version = 1\nname = \"m\"\nkind = \"sidecar\"\nworkers = 2\n[cpu]\nl7_pass = \"100us\"\nl4_pass = \"50us\"\n\
             per_kib = \"0us\"\nnew_connection = \"0us\"\ntls_handshake = \"0us\"\nidle = \"0m\"\n[latency]\n{latency}\n\
             [memory]\nbase = \"1MiB\"\nper_endpoint = \"0KiB\"\nper_connection = \"0KiB\"\nper_inflight = \"0KiB\"\n"
        )
    }

    fn parse_text(text: &str) -> Result<CostModel, String> {
        parse(Path::new("m.toml"), text).map_err(|e| e.to_string())
    }

    const PERCENTILES: &str = "p50 = \"400us\"\np90 = \"900us\"\np99 = \"2.5ms\"\nincludes_cpu = \"100us\"\nmeasured_at = \"100 rps\"";

    #[test]
    fn percentiles_are_read_and_the_fixed_form_still_works() {
        let m = parse_text(&model(PERCENTILES)).unwrap();
        assert_eq!(
            m.latency_percentiles,
            Some(LatencyPercentiles { p50_ns: 400_000, p90_ns: 900_000, p99_ns: 2_500_000, includes_cpu_ns: 100_000 })
        );
        assert_eq!((m.latency_fixed_ns, m.latency_measured_at.as_deref()), (0, Some("100 rps")));
        let m = parse_text(&model("fixed = \"60us\"")).unwrap();
        assert_eq!((m.latency_fixed_ns, m.latency_percentiles, m.latency_measured_at), (60_000, None, None));
    }

    #[test]
    fn bad_percentiles_are_refused_naming_line_and_field() {
        for (latency, want) in [
            (format!("fixed = \"60us\"\n{PERCENTILES}"), "m.toml:13:9: latency.fixed: both a fixed delay and percentiles are given"),
            ("p50 = \"400us\"\np90 = \"900us\"\nmeasured_at = \"x\"".to_string(), "latency.p99: missing from [latency]"),
            (
                "p50 = \"400us\"\np90 = \"300us\"\np99 = \"1ms\"\nmeasured_at = \"x\"".to_string(),
                "latency: the percentiles must rise: p50 < p90 < p99",
            ),
            (
                "p50 = \"0us\"\np90 = \"300us\"\np99 = \"1ms\"\nmeasured_at = \"x\"".to_string(),
                "m.toml:13:7: latency.p50: must be more than zero",
            ),
            ("p50 = \"4\"\np90 = \"300us\"\np99 = \"1ms\"\nmeasured_at = \"x\"".to_string(), "m.toml:13:7: latency.p50:"),
            ("p50 = \"400us\"\np90 = \"900us\"\np99 = \"2ms\"".to_string(), "latency.measured_at: missing from [latency]"),
            (
                "p50 = \"400us\"\np90 = \"900us\"\np99 = \"4000s\"\nmeasured_at = \"x\"".to_string(),
                "latency.p99: `4000s` is more than the limit",
            ),
            (String::new(), "latency.fixed: missing from [latency]"),
        ] {
            let err = parse_text(&model(&latency)).expect_err(&latency);
            assert!(err.contains(want), "{latency}: {err}");
        }
    }

    #[test]
    fn the_fitted_distribution_passes_through_every_measured_percentile() {
        let l = LatencyPercentiles { p50_ns: 400_000, p90_ns: 900_000, p99_ns: 2_500_000, includes_cpu_ns: 100_000 };
        for (z, want) in [(0.0, 400_000.0), (Z_P90, 900_000.0), (Z_P99, 2_500_000.0)] {
            assert!((l.latency_at_score_ns(z) - want).abs() < 1e-6 * want, "z {z}: {}", l.latency_at_score_ns(z));
            assert!((l.delay_at_score_ns(z) - (want - 100_000.0)).abs() < 1e-6 * want);
        }
        // Where the points lie on a lognormal, the fit is that lognormal, beyond them too.
        let (mu, sigma) = ((300_000f64).ln(), 0.6);
        let q = |z: f64| (mu + sigma * z).exp();
        let l = LatencyPercentiles { p50_ns: q(0.0) as u64, p90_ns: q(Z_P90) as u64, p99_ns: q(Z_P99) as u64, includes_cpu_ns: 0 };
        for z in [-2.0, -0.5, 0.7, 1.8, 3.09] {
            assert!((l.latency_at_score_ns(z) / q(z) - 1.0).abs() < 1e-5, "z {z}");
        }
        // Below the pass's own CPU there is nothing left to hold.
        assert_eq!(LatencyPercentiles { includes_cpu_ns: 10_000_000, ..l }.delay_at_score_ns(1.0), 0.0);
    }

    #[test]
    fn sampled_latencies_have_the_fitted_percentiles() {
        let l = LatencyPercentiles { p50_ns: 683_700, p90_ns: 1_166_500, p99_ns: 2_517_100, includes_cpu_ns: 0 };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut xs: Vec<f64> = (0..200_000).map(|_| l.latency_at_score_ns(StandardNormal.sample(&mut rng))).collect();
        xs.sort_by(f64::total_cmp);
        let at = |q: f64| xs[(q * xs.len() as f64) as usize];
        for (q, want, tol) in [(0.5, 683_700.0, 0.01), (0.9, 1_166_500.0, 0.01), (0.99, 2_517_100.0, 0.03)] {
            assert!((at(q) / want - 1.0).abs() < tol, "p{}: {:.0} ns against {want}", q * 100.0, at(q));
        }
    }
}
