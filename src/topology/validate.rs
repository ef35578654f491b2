//! From the file's input structs to the validated [`Topology`]: resolve names to ids, parse
//! units, check every quantity against its range (`crate::limits`), schedule pods onto
//! nodes, reject cycles. Every problem is collected, none stops the others from being found,
//! and each names its field by dotted path (`service[2].call[0].timeout`). Every check is
//! linear in the file's size or n log n (names are looked up in hash maps).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use petgraph::graph::DiGraph;

use super::input::*;
use super::profile::{self, Profile, DEFAULT_MODELS_DIR};
use super::quantity::duration_in;
use super::*;
use crate::input_error::ErrorSink;
use crate::limits::{self, describe_ns};
use crate::toml_doc::{Fields, Spanned};
use crate::units;

/// Parse topology text read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Topology, InputErrors> {
    let doc = crate::toml_doc::parse(path, text)?;
    let mut sink = ErrorSink::new(path, text);
    let file = read(&mut Fields::root(&doc), &mut sink);
    let topology = build(path, &file, &mut sink);
    sink.finish()?;
    Ok(topology)
}

fn opt_duration(sink: &mut ErrorSink, s: &Option<Spanned<String>>, default_ns: u64, min_ns: u64, max_ns: u64) -> u64 {
    s.as_ref().and_then(|s| duration_in(sink, s, min_ns, max_ns)).unwrap_or(default_ns)
}

fn bytes_in(sink: &mut ErrorSink, s: &Option<Spanned<String>>, default: u64, max: u64) -> u64 {
    let Some(s) = s else { return default };
    match units::parse_bytes(s.get_ref()) {
        Ok(b) if b <= max => b,
        Ok(_) => {
            sink.at(s.span(), format!("{}: `{}` is more than the limit of {}", s.path(), s.get_ref(), units::format_bytes(max)));
            default
        }
        Err(e) => {
            sink.at(s.span(), format!("{}: {e}", s.path()));
            default
        }
    }
}

fn millicores_in(sink: &mut ErrorSink, s: &Option<Spanned<String>>, default: f64, max: f64) -> f64 {
    let Some(s) = s else { return default };
    match units::parse_millicores(s.get_ref()) {
        Ok(m) if m <= max => m,
        Ok(_) => {
            sink.at(s.span(), format!("{}: `{}` is more than the limit of {} cores", s.path(), s.get_ref(), max / 1000.0));
            default
        }
        Err(e) => {
            sink.at(s.span(), format!("{}: {e}", s.path()));
            default
        }
    }
}

/// An integer within `min..=max`: every count in a topology has a ceiling, so a typo such as
/// `count = 100000000` is an error at its line rather than a run that exhausts memory.
fn int_in(sink: &mut ErrorSink, s: &Option<Spanned<i64>>, default: i64, min: i64, max: i64) -> i64 {
    match s {
        None => default,
        Some(v) => {
            let x = *v.get_ref();
            if x < min || x > max {
                sink.at(v.span(), format!("{}: {x} is out of range: it must be between {min} and {max}", v.path()));
                default
            } else {
                x
            }
        }
    }
}

/// A number within `min..=max` (finite: the reader refuses nan and inf).
fn number_in(sink: &mut ErrorSink, s: &Spanned<f64>, min: f64, max: f64, min_exclusive: bool) -> Option<f64> {
    let x = *s.get_ref();
    let low = if min_exclusive { x <= min } else { x < min };
    if low || x > max {
        let (x, min, max) = (limits::fmt_number(x), limits::fmt_number(min), limits::fmt_number(max));
        let lower = if min_exclusive { format!("more than {min}") } else { format!("at least {min}") };
        sink.at(s.span(), format!("{}: {x} is out of range: it must be {lower} and at most {max}", s.path()));
        None
    } else {
        Some(x)
    }
}

fn choice<T: Copy>(sink: &mut ErrorSink, s: &Option<Spanned<String>>, default: T, options: &[(&str, T)]) -> T {
    match s {
        None => default,
        Some(v) => match options.iter().find(|(name, _)| *name == v.get_ref().as_str()) {
            Some((_, t)) => *t,
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                sink.at(v.span(), format!("{}: unknown value `{}`: write one of {}", v.path(), v.get_ref(), names.join(", ")));
                default
            }
        },
    }
}

/// A name of a node, zone, cluster, namespace or service (empty when absent or bad).
fn entity_name(sink: &mut ErrorSink, s: &Option<Spanned<String>>) -> String {
    let Some(s) = s else { return String::new() };
    if let Err(e) = limits::check_entity_name(s.get_ref()) {
        sink.at(s.span(), format!("{}: {e}", s.path()));
    }
    s.get_ref().clone()
}

fn build(path: &Path, f: &TopologyFile, sink: &mut ErrorSink) -> Topology {
    let name = match &f.name {
        Some(n) => {
            if let Err(e) = limits::check_output_name(n.get_ref()) {
                sink.at(n.span(), format!("name: {e}"));
            }
            n.get_ref().clone()
        }
        None => String::new(),
    };

    let simulation = simulation(sink, f.simulation.as_ref());
    let mut mesh = mesh(path, sink, f.mesh.as_ref());
    let problems_before_nodes = sink.errors.len();
    let nodes = nodes(sink, &f.nodes);
    // Scheduling on nodes with a missing or bad figure would only add false complaints.
    let nodes_ok = sink.errors.len() == problems_before_nodes
        && !sink.is_full()
        && f.nodes.iter().all(|n| n.name.is_some() && n.vcpu.is_some() && n.memory.is_some());
    let network = network(sink, &f.network, &nodes);

    // Namespaces.
    if f.namespaces.len() > limits::MAX_NAMESPACES {
        sink.at(0..0, format!("{} namespaces: at most {} are supported", f.namespaces.len(), limits::MAX_NAMESPACES));
    }
    let mut namespaces: Vec<Namespace> = Vec::new();
    let mut namespace_index: HashMap<String, NamespaceId> = HashMap::new();
    for ns in &f.namespaces {
        let ns_name = entity_name(sink, &ns.name);
        if let Some(n) = &ns.name {
            if namespace_index.insert(ns_name.clone(), namespaces.len()).is_some() {
                sink.at(n.span(), format!("{}: namespace `{ns_name}` is defined twice", n.path()));
            }
        }
        let placement = match &ns.placement {
            None => None,
            Some(p) if p.get_ref() == "inherit" => None,
            Some(p) => match p.get_ref().parse::<Placement>() {
                Ok(pl) => Some(pl),
                Err(e) => {
                    sink.at(p.span(), format!("{}: {e}, or inherit", p.path()));
                    None
                }
            },
        };
        let waypoint = ns.waypoint.as_ref().map(|w| WaypointSpec {
            scope: choice(
                sink,
                &w.scope,
                WaypointScope::Namespace,
                &[("namespace", WaypointScope::Namespace), ("service", WaypointScope::Service)],
            ),
            replicas: int_in(sink, &w.replicas, 1, 1, limits::MAX_WAYPOINT_REPLICAS) as u32,
        });
        namespaces.push(Namespace { name: ns_name, placement, waypoint });
    }

    if f.services.len() > limits::MAX_SERVICES {
        sink.at(0..0, format!("{} services: at most {} are supported", f.services.len(), limits::MAX_SERVICES));
    }
    // Services (first pass: names, so calls can point forward).
    let mut service_index: HashMap<&str, ServiceId> = HashMap::new();
    for (i, s) in f.services.iter().enumerate() {
        if let Some(n) = &s.name {
            if service_index.insert(n.get_ref().as_str(), i).is_some() {
                sink.at(n.span(), format!("{}: service `{}` is defined twice", n.path(), n.get_ref()));
            }
        }
    }
    let slowest = nodes.iter().enumerate().min_by(|a, b| a.1.speed.total_cmp(&b.1.speed)).map(|(i, n)| (i, n.speed));
    let mut services = Vec::new();
    let mut calls = Vec::new();
    for (sid, s) in f.services.iter().enumerate() {
        let svc_name = entity_name(sink, &s.name);
        let namespace = match &s.namespace {
            None => 0,
            Some(ns) => match namespace_index.get(ns.get_ref()) {
                Some(&i) => i,
                None => {
                    sink.at(
                        ns.span(),
                        format!("{}: service `{svc_name}` names namespace `{}`, which no [[namespace]] defines", ns.path(), ns.get_ref()),
                    );
                    0
                }
            },
        };
        let replicas = int_in(sink, &s.replicas, 1, 1, limits::MAX_REPLICAS) as u32;
        let slowest_node = slowest.map(|(i, speed)| (nodes[i].name.as_str(), speed));
        // `service_time` is all CPU work (its meaning before CPU and waiting were split);
        // `cpu` says the same explicitly, so a service gives one of the two.
        if let (Some(old), Some(_)) = (&s.service_time, &s.cpu) {
            sink.at(
                s.span.clone(),
                format!("{}: give `cpu` (and `wait`) or the older `service_time`, not both: `service_time` is all CPU work", old.path),
            );
        }
        let service_time = service_time(sink, s.cpu.as_ref().or(s.service_time.as_ref()), slowest_node);
        let wait = s.wait.as_ref().map(|w| service_time_of(sink, w, None));
        let cpu_limit_millicores = s.cpu_limit.as_ref().map(|l| {
            let m = millicores_in(sink, &s.cpu_limit, limits::MIN_CPU_LIMIT_MILLICORES, limits::MAX_MILLICORES);
            if m < limits::MIN_CPU_LIMIT_MILLICORES {
                sink.at(l.span(), format!("{}: must be at least {}m", l.path(), limits::MIN_CPU_LIMIT_MILLICORES));
            }
            m
        });
        let concurrency = int_in(sink, &s.concurrency, 1024, 1, limits::MAX_CONCURRENCY) as u32;
        let protocol = choice(
            sink,
            &s.protocol,
            Protocol::Http1,
            &[("http1", Protocol::Http1), ("http2", Protocol::Http2), ("grpc", Protocol::Grpc), ("tcp", Protocol::Tcp)],
        );
        let request_bytes = bytes_in(sink, &s.request_size, 1024, limits::MAX_PAYLOAD_BYTES);
        let response_bytes = bytes_in(sink, &s.response_size, 1024, limits::MAX_PAYLOAD_BYTES);
        let cpu_request_millicores = millicores_in(sink, &s.cpu_request, 100.0, limits::MAX_MILLICORES);
        let memory_request_bytes = bytes_in(sink, &s.memory_request, 64 * 1024 * 1024, limits::MAX_MEMORY_BYTES);
        let mut call_ids = Vec::new();
        for c in &s.calls {
            let Some(to_name) = &c.to else { continue };
            let to = match service_index.get(to_name.get_ref().as_str()) {
                Some(&t) => t,
                None => {
                    sink.at(
                        to_name.span(),
                        format!("{}: service `{svc_name}` calls `{}`, which does not exist", to_name.path(), to_name.get_ref()),
                    );
                    continue;
                }
            };
            let probability = c.probability.as_ref().and_then(|p| number_in(sink, p, 0.0, 1.0, false)).unwrap_or(1.0);
            let call = Call {
                from: sid,
                to,
                count: int_in(sink, &c.count, 1, 1, limits::MAX_CALL_COUNT) as u32,
                probability,
                mode: choice(sink, &c.mode, CallMode::Parallel, &[("parallel", CallMode::Parallel), ("sequential", CallMode::Sequential)]),
                connection: choice(
                    sink,
                    &c.connection,
                    ConnectionReuse::Pooled,
                    &[("pooled", ConnectionReuse::Pooled), ("per-request", ConnectionReuse::PerRequest)],
                ),
                timeout_ns: c.timeout.as_ref().and_then(|t| duration_in(sink, t, limits::MIN_TIMEOUT_NS, limits::MAX_DURATION_NS)),
                retries: int_in(sink, &c.retries, 0, 0, limits::MAX_RETRIES) as u32,
                retries_written: c.retries.is_some(),
            };
            call_ids.push(calls.len());
            calls.push((call, to_name.span()));
        }
        services.push(Service {
            name: svc_name,
            namespace,
            replicas,
            service_time,
            wait,
            cpu_limit_millicores,
            concurrency,
            protocol,
            request_bytes,
            response_bytes,
            cpu_request_millicores,
            memory_request_bytes,
            calls: call_ids,
            pods: Vec::new(),
            eligible_nodes: Vec::new(),
            max_skew: 1,
        });
    }
    if calls.len() > limits::MAX_CALLS {
        sink.at(0..0, format!("{} calls: at most {} are supported", calls.len(), limits::MAX_CALLS));
    }

    // The call graph must be acyclic: a cycle would make one request spawn calls forever.
    let mut call_graph = DiGraph::new();
    let graph_nodes: Vec<_> = (0..services.len()).map(|i| call_graph.add_node(i)).collect();
    for (cid, (c, _)) in calls.iter().enumerate() {
        call_graph.add_edge(graph_nodes[c.from], graph_nodes[c.to], cid);
    }
    if let Err(cycle) = petgraph::algo::toposort(&call_graph, None) {
        let sid = call_graph[cycle.node_id()];
        let culprit = calls.iter().find(|(c, _)| c.from == sid && reaches(&call_graph, graph_nodes[c.to], graph_nodes[sid]));
        let message = format!("calls form a cycle through service `{}`: a call graph must be acyclic", services[sid].name);
        match culprit {
            Some((c, sp)) => {
                let path = f.services[sid].calls.iter().filter_map(|ci| ci.to.as_ref()).find(|t| t.span() == *sp).map(|t| t.path());
                let _ = c;
                sink.at(sp.clone(), format!("{}: {message}", path.unwrap_or("service.call.to")));
            }
            None => sink.at(0..0, message),
        }
    }
    let calls: Vec<Call> = calls.into_iter().map(|(c, _)| c).collect();
    if let Some(m) = &f.mesh {
        super::scope::resolve(sink, m, &namespace_index, &service_index, &services, &mut mesh.scoping);
    }

    let total_pods: u64 = services.iter().map(|s| u64::from(s.replicas)).sum();
    let pods = if total_pods > limits::MAX_PODS as u64 {
        sink.at(0..0, format!("{total_pods} pods (the sum of replicas): at most {} are supported", limits::MAX_PODS));
        Vec::new()
    } else if !nodes_ok {
        Vec::new()
    } else {
        super::schedule::schedule(sink, &nodes, &f.services, &mut services)
    };

    // Load.
    if f.loads.len() > limits::MAX_LOADS {
        sink.at(0..0, format!("{} loads: at most {} are supported", f.loads.len(), limits::MAX_LOADS));
    }
    let mut loads = Vec::new();
    let mut total_rate = 0.0;
    for l in &f.loads {
        let to = l.to.as_ref().and_then(|t| {
            let x = service_index.get(t.get_ref().as_str()).copied();
            if x.is_none() {
                sink.at(t.span(), format!("{}: service `{}` does not exist", t.path(), t.get_ref()));
            }
            x
        });
        let from = l.from.as_ref().and_then(|fr| {
            let x = service_index.get(fr.get_ref().as_str()).copied();
            if x.is_none() {
                sink.at(fr.span(), format!("{}: service `{}` does not exist", fr.path(), fr.get_ref()));
            }
            x
        });
        let is_closed = l.arrival.as_ref().is_some_and(|a| a.get_ref() == "closed");
        let rate_rps = l.rate.as_ref().map(|r| rate(sink, r)).unwrap_or(0.0);
        if !l.rate_given && !is_closed {
            sink.at(
                l.to.as_ref().map(|t| t.span()).unwrap_or(0..0),
                format!(
                    "{}.rate: missing: an open-loop load needs a rate, like \"1000rps\" (or arrival = \"closed\" with connections)",
                    l.path
                ),
            );
        }
        if l.think_time.is_some() && !is_closed {
            let t = l.think_time.as_ref().map(|t| t.path.clone()).unwrap_or_default();
            sink.at(
                l.to.as_ref().map(|t| t.span()).unwrap_or(0..0),
                format!("{t}: think time applies to closed-loop load (arrival = \"closed\") only"),
            );
        }
        total_rate += rate_rps;
        let connections = int_in(sink, &l.connections, 1, 1, limits::MAX_LOAD_CONNECTIONS) as u32;
        // Closed loop: each connection sends its next request when the answer arrives; a rate,
        // if given, caps each connection at its share (fortio `-qps` with `-c`).
        let closed = is_closed.then(|| ClosedLoop {
            connections,
            think: l.think_time.as_ref().map(|t| service_time_of(sink, t, None)),
            min_gap_ns: (rate_rps > 0.0).then(|| (connections as f64 / rate_rps * 1e9).round().min(limits::MAX_DURATION_NS as f64) as u64),
        });
        let arrival = choice(
            sink,
            &l.arrival,
            Arrival::Poisson,
            &[
                ("poisson", Arrival::Poisson),
                ("constant", Arrival::Constant),
                ("closed", Arrival::Poisson),
                ("wrk2", Arrival::Wrk2 { threads: 0 }),
            ],
        );
        let wrk2_threads = wrk2_threads(sink, l, arrival, connections);
        let load = Load {
            to: to.unwrap_or(0),
            rate_rps,
            from,
            arrival: wrk2_threads.map_or(arrival, |threads| Arrival::Wrk2 { threads }),
            connections,
            connection: choice(
                sink,
                &l.connection,
                ConnectionReuse::Pooled,
                &[("pooled", ConnectionReuse::Pooled), ("per-request", ConnectionReuse::PerRequest)],
            ),
            timeout_ns: l.timeout.as_ref().and_then(|t| duration_in(sink, t, limits::MIN_TIMEOUT_NS, limits::MAX_DURATION_NS)),
            retries: int_in(sink, &l.retries, 0, 0, limits::MAX_RETRIES) as u32,
            retries_written: l.retries.is_some(),
            closed,
        };
        loads.push(load);
    }
    if f.loads.is_empty() {
        sink.at(0..0, "no [[load]] given: name at least one entry service and its rate");
    }
    if let Err(e) = check_total_rate(total_rate) {
        let span = f.loads.first().and_then(|l| l.rate.as_ref()).map(|r| r.span()).unwrap_or(0..0);
        sink.at(span, format!("load.rate: {e}"));
    }
    // The engine keeps a counter per caller and callee replica of every call and load.
    let endpoints: u64 = calls.iter().map(|c| u64::from(services[c.to].replicas)).sum::<u64>()
        + loads.iter().filter_map(|l| services.get(l.to)).map(|s| u64::from(s.replicas)).sum::<u64>();
    if endpoints > limits::MAX_CALL_ENDPOINTS {
        sink.at(
            0..0,
            format!(
                "calls and loads reach {endpoints} callee replicas in all, more than the limit of {}: fewer calls or replicas",
                limits::MAX_CALL_ENDPOINTS
            ),
        );
    }

    let control_plane = super::control_plane::validate(sink, f.control_plane.as_ref(), &nodes);
    let blast = super::blast::validate(sink, f.blast.as_ref(), simulation.duration_ns);
    let mut pods = pods;
    let churn = if pods.is_empty() {
        Default::default()
    } else {
        super::churn::validate(sink, &f.churn, &nodes, &mut services, &mut pods, simulation.duration_ns, blast.pod_startup_ns)
    };
    Topology {
        name,
        description: f.description.as_ref().map(|d| d.get_ref().clone()).unwrap_or_default(),
        source: path.to_path_buf(),
        simulation: simulation.clone(),
        mesh,
        network,
        nodes,
        namespaces,
        services,
        calls,
        loads,
        pods,
        call_graph,
        blast,
        control_plane,
        churn,
    }
}

/// A load's rate: 0, or between [`limits::MIN_RATE_RPS`] and [`limits::MAX_RATE_RPS`].
fn rate(sink: &mut ErrorSink, r: &Spanned<String>) -> f64 {
    match units::parse_rate_rps(r.get_ref()) {
        Err(e) => {
            sink.at(r.span(), format!("{}: {e}", r.path()));
            0.0
        }
        Ok(x) => match check_rate(x) {
            Ok(()) => x,
            Err(e) => {
                sink.at(r.span(), format!("{}: {e}", r.path()));
                0.0
            }
        },
    }
}

/// Whether one load's rate is in range.
pub fn check_rate(rps: f64) -> Result<(), String> {
    let (x, min, max) = (limits::fmt_number(rps), limits::fmt_number(limits::MIN_RATE_RPS), limits::fmt_number(limits::MAX_RATE_RPS));
    if !rps.is_finite() || rps < 0.0 {
        Err(format!("{x} rps is not a rate: write zero or more, like \"1000rps\""))
    } else if rps > 0.0 && rps < limits::MIN_RATE_RPS {
        Err(format!("{x} rps is below the lowest rate of {min} rps (or 0)"))
    } else if rps > limits::MAX_RATE_RPS {
        Err(format!("{x} rps is above the limit of {max} rps"))
    } else {
        Ok(())
    }
}

/// Whether the sum of the loads' rates is in range.
pub fn check_total_rate(rps: f64) -> Result<(), String> {
    if rps > limits::MAX_RATE_RPS {
        Err(format!(
            "the loads add up to {} rps, above the limit of {} rps",
            limits::fmt_number(rps),
            limits::fmt_number(limits::MAX_RATE_RPS)
        ))
    } else {
        Ok(())
    }
}

fn simulation(sink: &mut ErrorSink, s: Option<&SimulationInput>) -> SimulationConfig {
    let mut c = SimulationConfig {
        duration_ns: 0,
        warmup_ns: 0,
        seed: None,
        max_events: limits::DEFAULT_MAX_EVENTS,
        max_pending: limits::DEFAULT_MAX_PENDING,
        queue_limit: 10_000,
    };
    let Some(s) = s else { return c };
    if let Some(d) = &s.duration {
        c.duration_ns = duration_in(sink, d, 0, limits::MAX_DURATION_NS).unwrap_or(0);
        if units::parse_duration_ns(d.get_ref()) == Ok(0) {
            sink.at(d.span(), format!("{}: must be more than zero", d.path()));
        }
    }
    c.warmup_ns = opt_duration(sink, &s.warmup, 0, 0, limits::MAX_DURATION_NS);
    if let Some(w) = &s.warmup {
        if c.warmup_ns >= c.duration_ns && c.duration_ns > 0 {
            sink.at(w.span(), format!("{}: must be shorter than simulation.duration", w.path()));
        }
    }
    c.seed = s.seed.as_ref().and_then(|v| {
        if *v.get_ref() < 0 {
            sink.at(v.span(), format!("{}: must be zero or more", v.path()));
            None
        } else {
            Some(*v.get_ref() as u64)
        }
    });
    c.max_events = int_in(sink, &s.max_events, limits::DEFAULT_MAX_EVENTS as i64, 1, limits::MAX_EVENTS) as u64;
    c.max_pending = int_in(sink, &s.max_pending, limits::DEFAULT_MAX_PENDING as i64, 1, limits::MAX_PENDING) as u64;
    c.queue_limit = int_in(sink, &s.queue_limit, 10_000, 1, limits::MAX_QUEUE_LIMIT) as u32;
    c
}

fn mesh(path: &Path, sink: &mut ErrorSink, m: Option<&MeshInput>) -> MeshConfig {
    let mut models = Vec::new();
    let Some(m) = m else {
        return MeshConfig {
            models,
            profile: None,
            per_node_l7: PerNodeL7::Destination,
            scoping: Scoping::default(),
            outlier_detection: None,
        };
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let profile = m.profile.as_ref().and_then(|p| mesh_profile(sink, base_dir, p, m.models_dir.as_ref()));
    if let Some(p) = &profile {
        models.extend(p.models.iter().cloned());
    }
    // A per-kind key replaces the profile's model of that kind.
    for (kind, value) in [
        (ProxyKind::Sidecar, &m.sidecar_model),
        (ProxyKind::NodeProxy, &m.node_proxy_model),
        (ProxyKind::Ztunnel, &m.ztunnel_model),
        (ProxyKind::Waypoint, &m.waypoint_model),
    ] {
        if let Some(v) = value {
            let p = base_dir.join(v.get_ref());
            if !p.is_file() {
                sink.at(
                    v.span(),
                    format!("{}: model file `{}` not found (paths are relative to the topology file's folder)", v.path(), p.display()),
                );
            }
            models.retain(|(k, _)| *k != kind);
            models.push((kind, p));
        }
    }
    let per_node_l7 = choice(
        sink,
        &m.per_node_l7,
        PerNodeL7::Destination,
        &[("source", PerNodeL7::Source), ("destination", PerNodeL7::Destination), ("both", PerNodeL7::Both), ("none", PerNodeL7::None)],
    );
    let sidecar = choice(
        sink,
        &m.sidecar_scope,
        SidecarScope::Mesh,
        &[("mesh", SidecarScope::Mesh), ("namespace", SidecarScope::Namespace), ("called", SidecarScope::Called)],
    );
    let outlier_detection = m.outlier_detection.as_ref().map(|o| OutlierDetection {
        consecutive_errors: int_in(sink, &o.consecutive_errors, 5, 1, 1_000_000) as u32,
        ejection_ns: opt_duration(sink, &o.ejection, 30_000_000_000, 1, limits::MAX_DURATION_NS),
        max_ejection_percent: int_in(sink, &o.max_ejection_percent, 10, 0, 100) as u32,
    });
    // The lists name namespaces and services: `build` resolves them once those are read.
    let scoping = Scoping { sidecar, ..Scoping::default() };
    MeshConfig { models, profile, per_node_l7, scoping, outlier_detection }
}

/// The profile `mesh.profile` names, looked up in `mesh.models_dir` (relative to the
/// topology's folder), by default the `models` folder beside the topology's folder.
fn mesh_profile(sink: &mut ErrorSink, base_dir: &Path, name: &Spanned<String>, models_dir: Option<&Spanned<String>>) -> Option<Profile> {
    let dir = base_dir.join(models_dir.map(|d| d.get_ref().as_str()).unwrap_or(DEFAULT_MODELS_DIR));
    if let Some(d) = models_dir {
        if !dir.is_dir() {
            sink.at(d.span(), format!("{}: folder `{}` not found (relative to the topology file's folder)", d.path(), dir.display()));
            return None;
        }
    }
    let n = name.get_ref();
    if let Err(e) = profile::check_name(n) {
        sink.at(name.span(), format!("{}: `{n}` {e}", name.path()));
        return None;
    }
    if !dir.join(n).join(profile::PROFILE_FILE).is_file() {
        let known = profile::known(&dir);
        let listed = if known.is_empty() { "there are none".to_string() } else { format!("known profiles: {}", known.join(", ")) };
        sink.at(
            name.span(),
            format!(
                "{}: unknown profile `{n}` in `{}` ({listed}); a profile is a folder there holding a {}, set mesh.models_dir to look elsewhere",
                name.path(),
                dir.display(),
                profile::PROFILE_FILE
            ),
        );
        return None;
    }
    match profile::load(&dir, n) {
        Ok(p) => Some(p),
        Err(e) => {
            sink.errors.extend(e.0);
            None
        }
    }
}

fn nodes(sink: &mut ErrorSink, entries: &[NodeInput]) -> Vec<Node> {
    // Count first: a topology of more than MAX_NODES nodes is refused before any is built.
    let counts: Vec<i64> = entries.iter().map(|n| int_in(sink, &n.count, 1, 1, limits::MAX_NODES_PER_ENTRY)).collect();
    let total: i64 = counts.iter().sum();
    if total as usize > limits::MAX_NODES {
        sink.at(0..0, format!("{total} nodes in all: at most {} are supported", limits::MAX_NODES));
        return Vec::new();
    }
    let mut nodes: Vec<Node> = Vec::with_capacity(total as usize);
    // Name → the entry that defined it, to report a clash once per entry.
    let mut defined: HashMap<String, usize> = HashMap::with_capacity(total as usize);
    for (entry, (n, &count)) in entries.iter().zip(&counts).enumerate() {
        let base = entity_name(sink, &n.name);
        let vcpu = n.vcpu.as_ref().and_then(|v| number_in(sink, v, 0.0, limits::MAX_VCPU, true)).unwrap_or(1.0);
        let memory_bytes = match &n.memory {
            Some(m) => {
                let b = bytes_in(sink, &n.memory, 0, limits::MAX_MEMORY_BYTES);
                if b == 0 && units::parse_bytes(m.get_ref()) == Ok(0) {
                    sink.at(m.span(), format!("{}: must be more than zero", m.path()));
                }
                b
            }
            None => 0,
        };
        let speed = n.speed.as_ref().and_then(|v| number_in(sink, v, limits::MIN_SPEED, limits::MAX_SPEED, false)).unwrap_or(1.0);
        let max_pods = int_in(sink, &n.max_pods, 110, 1, limits::MAX_PODS_PER_NODE) as u32;
        // The kubelet accepts CFS periods from 1 ms to 1 s (`--cpu-cfs-quota-period`).
        let cpu_period_ns = opt_duration(sink, &n.cpu_period, super::DEFAULT_CPU_PERIOD_NS, 1_000_000, 1_000_000_000);
        let cluster = n.cluster.as_ref().map(|_| entity_name(sink, &n.cluster)).unwrap_or_else(|| "cluster".into());
        let zone = n.zone.as_ref().map(|_| entity_name(sink, &n.zone)).unwrap_or_else(|| format!("{cluster}-zone"));
        let mut clashes: Vec<(String, usize)> = Vec::new();
        for i in 0..count {
            let name = if count == 1 { base.clone() } else { format!("{base}-{}", i + 1) };
            if let Some(&other) = defined.get(&name) {
                clashes.push((name.clone(), other));
            } else {
                defined.insert(name.clone(), entry);
            }
            nodes.push(Node { name, cluster: cluster.clone(), zone: zone.clone(), vcpu, memory_bytes, speed, max_pods, cpu_period_ns });
        }
        if let (Some((first, other)), Some(name)) = (clashes.first(), &n.name) {
            let more = if clashes.len() > 1 { format!(" (and {} more names)", clashes.len() - 1) } else { String::new() };
            let by = if *other == entry { "this entry".to_string() } else { format!("node[{other}]") };
            sink.at(name.span(), format!("{}: node `{first}` is defined twice, here and by {by}{more}", name.path()));
        }
    }
    if entries.is_empty() {
        sink.at(0..0, "no [[node]] given: a topology needs at least one node");
    }
    nodes
}

fn network(sink: &mut ErrorSink, net: &NetworkInput, nodes: &[Node]) -> Network {
    if net.overrides.len() > limits::MAX_LATENCY_OVERRIDES {
        sink.at(
            0..0,
            format!("{} [[network.between]] entries: at most {} are supported", net.overrides.len(), limits::MAX_LATENCY_OVERRIDES),
        );
    }
    let names: HashSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let zones: HashSet<&str> = nodes.iter().map(|n| n.zone.as_str()).collect();
    let clusters: HashSet<&str> = nodes.iter().map(|n| n.cluster.as_str()).collect();
    let place = |sink: &mut ErrorSink, s: &Spanned<String>| -> Option<Place> {
        let x = s.get_ref();
        if names.contains(x.as_str()) {
            Some(Place::Node(x.clone()))
        } else if zones.contains(x.as_str()) {
            Some(Place::Zone(x.clone()))
        } else if clusters.contains(x.as_str()) {
            Some(Place::Cluster(x.clone()))
        } else {
            sink.at(s.span(), format!("{}: `{x}` is not a node, zone or cluster of this topology", s.path()));
            None
        }
    };
    let mut overrides = Vec::new();
    for o in &net.overrides {
        let a = o.a.as_ref().and_then(|a| place(sink, a));
        let b = o.b.as_ref().and_then(|b| place(sink, b));
        let latency_ns = o.latency.as_ref().and_then(|l| duration_in(sink, l, 0, limits::MAX_LATENCY_NS));
        if let (Some(a), Some(b), Some(latency_ns)) = (a, b, latency_ns) {
            overrides.push(LatencyOverride { a, b, latency_ns });
        }
    }
    let max = limits::MAX_LATENCY_NS;
    Network {
        same_node_ns: opt_duration(sink, &net.same_node, 25_000, 0, max),
        same_zone_ns: opt_duration(sink, &net.same_zone, 250_000, 0, max),
        cross_zone_ns: opt_duration(sink, &net.cross_zone, 500_000, 0, max),
        cross_cluster_ns: opt_duration(sink, &net.cross_cluster, 5_000_000, 0, max),
        overrides,
    }
}

/// A service time; its mean, stretched by the slowest node, must stay within the duration
/// ceiling (so every simulated time is representable).
fn service_time(sink: &mut ErrorSink, st: Option<&ServiceTimeInput>, slowest: Option<(&str, f64)>) -> ServiceTime {
    match st {
        Some(st) => service_time_of(sink, st, slowest),
        None => ServiceTime::Constant { mean_ns: 0 },
    }
}

/// A distribution of durations; with `slowest`, CPU work that the slowest node stretches.
fn service_time_of(sink: &mut ErrorSink, st: &ServiceTimeInput, slowest: Option<(&str, f64)>) -> ServiceTime {
    let mean_ns = st.mean.as_ref().and_then(|m| duration_in(sink, m, 0, limits::MAX_WORK_NS)).unwrap_or(0);
    if let (Some(m), Some((node, speed))) = (&st.mean, slowest) {
        let stretched = mean_ns as f64 / speed;
        if stretched > limits::MAX_DURATION_NS as f64 {
            sink.at(
                m.span(),
                format!(
                    "{}: `{}` on node `{node}` (speed {speed}) takes {:.0} s of simulated time, more than the limit of {}: shorten it or speed up the node",
                    m.path(),
                    m.get_ref(),
                    stretched / 1e9,
                    describe_ns(limits::MAX_DURATION_NS)
                ),
            );
        }
    }
    let Some(dist) = &st.dist else { return ServiceTime::Constant { mean_ns } };
    match dist.get_ref().as_str() {
        "constant" => ServiceTime::Constant { mean_ns },
        "exponential" => ServiceTime::Exponential { mean_ns },
        "lognormal" => {
            let cv = match &st.cv {
                Some(cv) => number_in(sink, cv, 0.0, limits::MAX_CV, true).unwrap_or(1.0),
                None => {
                    sink.at(dist.span(), format!("{}: a lognormal needs `cv` (coefficient of variation, e.g. 0.5)", st.path));
                    1.0
                }
            };
            ServiceTime::LogNormal { mean_ns, cv }
        }
        other => {
            sink.at(dist.span(), format!("{}: unknown distribution `{other}`: write one of constant, exponential, lognormal", dist.path()));
            ServiceTime::Constant { mean_ns }
        }
    }
}

fn reaches(g: &DiGraph<ServiceId, CallId>, from: petgraph::graph::NodeIndex, to: petgraph::graph::NodeIndex) -> bool {
    petgraph::algo::has_path_connecting(g, from, to, None)
}

/// Threads of a wrk2-paced load (`wrk -t`, default 2 as wrk2's own), at most its connections
/// per pod as wrk2 requires ("number of connections must be >= threads"); `threads` on any
/// other load is an error.
fn wrk2_threads(sink: &mut ErrorSink, l: &LoadInput, arrival: Arrival, connections: u32) -> Option<u32> {
    let span = l.to.as_ref().map(|t| t.span()).unwrap_or(0..0);
    if !matches!(arrival, Arrival::Wrk2 { .. }) {
        if let Some(t) = &l.threads {
            sink.at(t.span(), format!("{}: threads applies to wrk2-paced load (arrival = \"wrk2\") only", t.path()));
        }
        return None;
    }
    let threads = int_in(sink, &l.threads, 2, 1, limits::MAX_LOAD_CONNECTIONS) as u32;
    if threads > connections {
        sink.at(
            span,
            format!(
                "{}.connections: {connections} is fewer than its {threads} threads; wrk2 needs at least one connection per thread",
                l.path
            ),
        );
    }
    Some(threads.min(connections))
}
