//! The way back: a run as the files `meshsim import` reads, so the simulation can be looked at
//! in the tools a team already runs, and imported again. From the topology and one run's
//! per-edge counters and latencies (the engine keeps counters, not every request):
//!
//! - `manifests.yaml`: a Namespace, Deployment and Service per namespace and service (replicas,
//!   requests, limits, port names by protocol, mesh labels by placement), a Node per node;
//! - `metrics.prom`: `istio_requests_total` over the measured window, as the destination
//!   reports it (import it with `--metrics-window` the window written in its header);
//! - `traces.json`: a sample of request trees as OTLP JSON, drawn from the call graph: each
//!   request's server span holds its service's mean work, then its calls, each a client span
//!   as long as the run's mean latency of that call, around the callee's server span.

use std::collections::BTreeMap;
use std::fmt::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::metrics::EdgeSummary;
use crate::topology::{CallMode, Protocol, ServiceId, Topology, WaypointScope};

/// Traces in the sample at most.
pub const TRACE_SAMPLE: usize = 200;

/// Spans in the sample at most (a call graph with large fan-out stops early).
const MAX_SPANS: usize = 200_000;

/// Epoch of the traces' timestamps: simulated time 0 (2025-01-01T00:00:00Z).
const EPOCH_NS: u64 = 1_735_689_600_000_000_000;

/// The three files.
pub struct Traffic {
    pub manifests: String,
    pub metrics: String,
    pub traces: String,
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn port(p: Protocol) -> (&'static str, u32) {
    match p {
        Protocol::Grpc => ("grpc", 9000),
        Protocol::Http2 => ("http2", 8080),
        Protocol::Http1 => ("http", 8080),
        Protocol::Tcp => ("tcp", 9000),
    }
}

fn env_name(service: &str) -> String {
    let mut s: String = service.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    s.push_str("_ADDR");
    s
}

/// Kubernetes manifests of the topology.
pub fn manifests(t: &Topology) -> String {
    let mut w = String::new();
    let _ = writeln!(w, "# Kubernetes manifests of topology {} (meshsim run --export-traffic).", q(&t.name));
    for ns in &t.namespaces {
        let mut labels = Vec::new();
        match ns.placement {
            Some(crate::topology::Placement::Sidecar) => labels.push(("istio-injection", "enabled")),
            Some(crate::topology::Placement::Ambient) => labels.push(("istio.io/dataplane-mode", "ambient")),
            Some(crate::topology::Placement::None) => labels.push(("istio-injection", "disabled")),
            _ => {}
        }
        if ns.waypoint.as_ref().is_some_and(|wp| wp.scope == WaypointScope::Namespace) {
            labels.push(("istio.io/use-waypoint", "waypoint"));
        }
        let _ = writeln!(w, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}", q(&ns.name));
        if !labels.is_empty() {
            let _ = writeln!(w, "  labels:");
            for (k, v) in labels {
                let _ = writeln!(w, "    {k}: {}", q(v));
            }
        }
    }
    let generators: Vec<ServiceId> = t.loads.iter().filter_map(|l| l.from).collect();
    for (si, s) in t.services.iter().enumerate() {
        let ns = q(&t.namespaces[s.namespace].name);
        let name = q(&s.name);
        let _ = writeln!(
            w,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  replicas: {}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: app\n        image: \"meshsim/{}:simulated\"",
            s.replicas,
            s.name.to_ascii_lowercase()
        );
        let mut env: Vec<(String, String)> = Vec::new();
        for &c in &s.calls {
            let to = &t.services[t.calls[c].to];
            let v = format!("{}.{}:{}", to.name, t.namespaces[to.namespace].name, port(to.protocol).1);
            if !env.iter().any(|(_, x)| *x == v) {
                env.push((env_name(&to.name), v));
            }
        }
        for l in t.loads.iter().filter(|l| l.from == Some(si)) {
            let to = &t.services[l.to];
            env.push((env_name(&to.name), format!("{}.{}:{}", to.name, t.namespaces[to.namespace].name, port(to.protocol).1)));
            match l.closed {
                Some(c) => env.push(("USERS".into(), c.connections.to_string())),
                None => env.push(("RPS".into(), crate::report::number::cell(l.rate_rps, 3))),
            }
        }
        if !env.is_empty() {
            let _ = writeln!(w, "        env:");
            for (k, v) in env {
                let _ = writeln!(w, "        - name: {k}\n          value: {}", q(&v));
            }
        }
        let _ = writeln!(
            w,
            "        resources:\n          requests:\n            cpu: \"{}m\"\n            memory: \"{}\"",
            s.cpu_request_millicores.round().max(1.0),
            s.memory_request_bytes
        );
        if let Some(l) = s.cpu_limit_millicores {
            let _ = writeln!(w, "          limits:\n            cpu: \"{}m\"", l.round().max(1.0));
        }
        if generators.contains(&si) {
            continue;
        }
        let entry = t.loads.iter().any(|l| l.to == si && l.from.is_none());
        let (pname, pnum) = port(s.protocol);
        let _ = writeln!(
            w,
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  type: {}\n  selector:\n    app: {name}\n  ports:\n  - name: {pname}\n    port: {pnum}",
            if entry { "LoadBalancer" } else { "ClusterIP" }
        );
    }
    for n in &t.nodes {
        let _ = writeln!(
            w,
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {}\n  labels:\n    topology.kubernetes.io/zone: {}\nstatus:\n  allocatable:\n    cpu: \"{}m\"\n    memory: \"{}\"\n    pods: \"{}\"",
            q(&n.name),
            q(&n.zone),
            (n.vcpu * 1000.0).round(),
            n.memory_bytes,
            n.max_pods
        );
    }
    w
}

/// `(source, destination)` of every edge of a run's summary (loads first, then calls, as the
/// plan orders them); the source is `None` for requests from outside.
fn endpoints(t: &Topology) -> Vec<(Option<ServiceId>, ServiceId)> {
    t.loads.iter().map(|l| (l.from, l.to)).chain(t.calls.iter().map(|c| (Some(c.from), c.to))).collect()
}

/// `istio_requests_total` of a run over its measured window.
pub fn metrics(t: &Topology, edges: &[EdgeSummary]) -> String {
    let window_s = (t.simulation.duration_ns - t.simulation.warmup_ns) as f64 / 1e9;
    let mut by: BTreeMap<(String, String, String, String), (u64, u64)> = BTreeMap::new();
    for ((from, to), e) in endpoints(t).into_iter().zip(edges) {
        let (src, src_ns) = match from {
            Some(f) => (t.services[f].name.clone(), t.namespaces[t.services[f].namespace].name.clone()),
            None => ("unknown".to_string(), "unknown".to_string()),
        };
        let dst = &t.services[to];
        let v = by.entry((src, src_ns, dst.name.clone(), t.namespaces[dst.namespace].name.clone())).or_insert((0, 0));
        v.0 += e.calls - e.failed.min(e.calls);
        v.1 += e.failed.min(e.calls);
    }
    let mut w = String::new();
    let window = crate::units::format_duration_ns(t.simulation.duration_ns - t.simulation.warmup_ns);
    let _ = writeln!(
        w,
        "# HELP istio_requests_total Requests of topology {} simulated by meshsim over the measured window of {window} ({} s); import with --metrics-window {window}.",
        q(&t.name),
        crate::report::number::cell(window_s, 3)
    );
    let _ = writeln!(w, "# TYPE istio_requests_total counter");
    for ((src, src_ns, dst, dst_ns), (ok, failed)) in by {
        for (code, n) in [("200", ok), ("503", failed)] {
            if n > 0 || code == "200" {
                let _ = writeln!(
                    w,
                    "istio_requests_total{{reporter=\"destination\",source_workload={},source_workload_namespace={},destination_workload={},destination_workload_namespace={},response_code=\"{code}\"}} {n}",
                    q(&src),
                    q(&src_ns),
                    q(&dst),
                    q(&dst_ns)
                );
            }
        }
    }
    w
}

struct SpanOut {
    service: ServiceId,
    id: u64,
    parent: Option<u64>,
    /// A client span of the caller (kind 3), else the server span of a request (kind 2).
    client: bool,
    start_ns: u64,
    end_ns: u64,
}

/// Where a sample's spans go, and the next span id.
struct Sampler<'a> {
    t: &'a Topology,
    /// Mean own time of each service (its CPU work and wait).
    own: Vec<u64>,
    /// The run's mean latency of each call, as its caller saw it.
    call_latency: Vec<u64>,
    rng: ChaCha8Rng,
    spans: Vec<SpanOut>,
    next: u64,
}

impl Sampler<'_> {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The server span of one request into `s` starting at `start`, its own time first and
    /// then its calls (each a client span of `s` around the callee's request); returns its end.
    fn request(&mut self, s: ServiceId, parent: Option<u64>, start: u64) -> u64 {
        let id = self.id();
        let at = self.spans.len();
        self.spans.push(SpanOut { service: s, id, parent, client: false, start_ns: start, end_ns: start });
        let t = self.t;
        let mut group_start = start + self.own[s];
        let mut group_end = group_start;
        for &c in &t.services[s].calls {
            let call = &t.calls[c];
            if call.mode == CallMode::Sequential {
                group_start = group_end;
            }
            let mut now = group_start;
            for _ in 0..call.count {
                if self.spans.len() >= MAX_SPANS || !self.rng.gen_bool(call.probability.clamp(0.0, 1.0)) {
                    continue;
                }
                let client = self.id();
                let ci = self.spans.len();
                self.spans.push(SpanOut { service: s, id: client, parent: Some(id), client: true, start_ns: now, end_ns: now });
                // The callee's span sits in the middle of the caller's wait: the network and
                // proxies on both sides.
                let inner_start = now + 1_000;
                let inner_end = self.request(call.to, Some(client), inner_start);
                let end = (now + self.call_latency[c]).max(inner_end + 1_000);
                self.spans[ci].end_ns = end;
                group_end = group_end.max(end);
                if call.mode == CallMode::Sequential {
                    now = end;
                    group_start = end;
                }
            }
        }
        let end = group_end + 1;
        self.spans[at].end_ns = end;
        end
    }
}

/// A sample of request trees as OTLP JSON.
pub fn traces(t: &Topology, edges: &[EdgeSummary], seed: u64) -> String {
    let loads = t.loads.len();
    let call_latency: Vec<u64> = t
        .calls
        .iter()
        .enumerate()
        .map(|(c, _)| edges.get(loads + c).and_then(|e| e.latency_mean_ms).map_or(0, |ms| (ms * 1e6) as u64))
        .collect();
    let own: Vec<u64> = t.services.iter().map(|s| (s.service_time.mean_ns() + s.wait.map_or(0, |w| w.mean_ns())).max(1_000)).collect();
    let mut sm = Sampler { t, own, call_latency, rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7472_6163_6573), spans: Vec::new(), next: 0 };
    let measured: f64 = edges.iter().take(loads).map(|e| e.calls as f64).sum::<f64>().max(1.0);
    let mut traces: Vec<(usize, usize)> = Vec::new();
    let mut start = t.simulation.warmup_ns;
    for (li, l) in t.loads.iter().enumerate() {
        let share = edges.get(li).map_or(0.0, |e| e.calls as f64) / measured;
        let n = ((TRACE_SAMPLE as f64 * share).round() as usize).max(1);
        for _ in 0..n {
            if sm.spans.len() >= MAX_SPANS {
                break;
            }
            let first = sm.spans.len();
            start += 1_000_000;
            sm.request(l.to, None, start);
            traces.push((first, sm.spans.len()));
        }
    }
    // One resourceSpans entry per service.
    let mut per: BTreeMap<ServiceId, Vec<serde_json::Value>> = BTreeMap::new();
    for (trace, (first, last)) in traces.into_iter().enumerate() {
        for s in &sm.spans[first..last] {
            let svc = &t.services[s.service];
            let mut span = serde_json::json!({
                "traceId": format!("{:016x}{:016x}", seed, trace + 1),
                "spanId": format!("{:016x}", s.id),
                "name": if s.client { format!("{} call", svc.name) } else { format!("{} request", svc.name) },
                "kind": if s.client { 3 } else { 2 },
                "startTimeUnixNano": (EPOCH_NS + s.start_ns).to_string(),
                "endTimeUnixNano": (EPOCH_NS + s.end_ns).to_string(),
            });
            if !s.client {
                span["attributes"] = serde_json::json!([
                    {"key": "http.request_content_length", "value": {"intValue": svc.request_bytes.to_string()}},
                    {"key": "http.response_content_length", "value": {"intValue": svc.response_bytes.to_string()}}
                ]);
            }
            if let Some(p) = s.parent {
                span["parentSpanId"] = serde_json::Value::String(format!("{p:016x}"));
            }
            per.entry(s.service).or_default().push(span);
        }
    }
    let resource_spans: Vec<serde_json::Value> = per
        .into_iter()
        .map(|(s, spans)| {
            serde_json::json!({
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": t.services[s].name}},
                    {"key": "k8s.namespace.name", "value": {"stringValue": t.namespaces[t.services[s].namespace].name}}
                ]},
                "scopeSpans": [{"scope": {"name": "meshsim"}, "spans": spans}]
            })
        })
        .collect();
    serde_json::json!({ "resourceSpans": resource_spans }).to_string()
}

/// The three files of one run.
pub fn export(t: &Topology, edges: &[EdgeSummary], seed: u64) -> Traffic {
    Traffic { manifests: manifests(t), metrics: metrics(t, edges), traces: traces(t, edges, seed) }
}
