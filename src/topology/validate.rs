//! From the file's serde structs to the validated [`Topology`]: resolve names to ids, parse
//! units, schedule pods onto nodes, reject cycles. Every problem is collected, none stops
//! the others from being found.

use std::collections::BTreeMap;
use std::path::Path;

use petgraph::graph::DiGraph;
use toml::Spanned;

use super::input::*;
use super::*;
use crate::input_error::{from_toml, ErrorSink};
use crate::units;

const SUPPORTED_VERSION: u32 = 1;

/// Parse topology text read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Topology, InputErrors> {
    let file: TopologyFile = toml::from_str(text).map_err(|e| InputErrors(vec![from_toml(path, text, &e)]))?;
    let mut sink = ErrorSink::new(path, text);
    let topology = build(path, &file, &mut sink);
    sink.finish()?;
    Ok(topology)
}

fn span<T>(s: &Spanned<T>) -> std::ops::Range<usize> {
    s.span()
}

fn duration(sink: &mut ErrorSink, field: &str, s: &Spanned<String>) -> u64 {
    units::parse_duration_ns(s.get_ref()).unwrap_or_else(|e| {
        sink.at(span(s), format!("{field}: {e}"));
        0
    })
}

fn opt_duration(sink: &mut ErrorSink, field: &str, s: &Option<Spanned<String>>, default_ns: u64) -> u64 {
    s.as_ref().map(|s| duration(sink, field, s)).unwrap_or(default_ns)
}

fn bytes(sink: &mut ErrorSink, field: &str, s: &Option<Spanned<String>>, default: u64) -> u64 {
    match s {
        None => default,
        Some(s) => units::parse_bytes(s.get_ref()).unwrap_or_else(|e| {
            sink.at(span(s), format!("{field}: {e}"));
            default
        }),
    }
}

fn positive_int(sink: &mut ErrorSink, field: &str, s: &Option<Spanned<i64>>, default: u32, min: i64) -> u32 {
    int_in(sink, field, s, default, min, u32::MAX as i64)
}

/// An integer within `min..=max`: every count in a topology has a ceiling, so a typo such as
/// `count = 100000000` is an error at its line rather than a run that exhausts memory.
fn int_in(sink: &mut ErrorSink, field: &str, s: &Option<Spanned<i64>>, default: u32, min: i64, max: i64) -> u32 {
    match s {
        None => default,
        Some(v) => {
            let x = *v.get_ref();
            if x < min {
                sink.at(span(v), format!("{field}: {x} is out of range: it must be at least {min}"));
                default
            } else if x > max {
                sink.at(span(v), format!("{field}: {x} is out of range: it must be at most {max}"));
                default
            } else {
                x as u32
            }
        }
    }
}

/// Ceilings on the size of a topology (see [`int_in`]).
pub const MAX_NODES_PER_ENTRY: i64 = 10_000;
pub const MAX_REPLICAS: i64 = 10_000;
pub const MAX_WAYPOINT_REPLICAS: i64 = 1_000;
pub const MAX_CALL_COUNT: i64 = 1_000;
pub const MAX_SERVICES: usize = 100_000;

/// Most connections one load may name: each tick sends one request per connection at once.
const MAX_LOAD_CONNECTIONS: u32 = 65_536;

fn load_connections(sink: &mut ErrorSink, s: &Option<Spanned<i64>>) -> u32 {
    let n = positive_int(sink, "load.connections", s, 1, 1);
    if n > MAX_LOAD_CONNECTIONS {
        if let Some(v) = s {
            sink.at(span(v), format!("load.connections: {n} is more than {MAX_LOAD_CONNECTIONS}: lower it"));
        }
        return 1;
    }
    n
}

fn choice<T: Copy>(sink: &mut ErrorSink, field: &str, s: &Option<Spanned<String>>, default: T, options: &[(&str, T)]) -> T {
    match s {
        None => default,
        Some(v) => match options.iter().find(|(name, _)| *name == v.get_ref().as_str()) {
            Some((_, t)) => *t,
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                sink.at(span(v), format!("{field}: unknown value `{}`: expected one of {}", v.get_ref(), names.join(", ")));
                default
            }
        },
    }
}

fn build(path: &Path, f: &TopologyFile, sink: &mut ErrorSink) -> Topology {
    if *f.version.get_ref() != SUPPORTED_VERSION {
        sink.at(
            span(&f.version),
            format!("version: {} is not supported: this meshsim reads version {SUPPORTED_VERSION}", f.version.get_ref()),
        );
    }
    let name = f.name.get_ref().clone();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        sink.at(span(&f.name), "name: use letters, digits, `-`, `_` or `.` only (it names the output folder)");
    }

    // Simulation settings.
    let s = &f.simulation;
    let duration_ns = duration(sink, "simulation.duration", &s.duration);
    if duration_ns == 0 {
        sink.at(span(&s.duration), "simulation.duration: must be more than zero");
    }
    let warmup_ns = opt_duration(sink, "simulation.warmup", &s.warmup, 0);
    if let Some(w) = &s.warmup {
        if warmup_ns >= duration_ns && duration_ns > 0 {
            sink.at(span(w), "simulation.warmup: must be shorter than simulation.duration");
        }
    }
    let seed = s.seed.as_ref().and_then(|v| {
        if *v.get_ref() < 0 {
            sink.at(span(v), "simulation.seed: must be zero or more");
            None
        } else {
            Some(*v.get_ref() as u64)
        }
    });
    let max_events = match &s.max_events {
        None => 2_000_000_000,
        Some(v) if *v.get_ref() > 0 => *v.get_ref() as u64,
        Some(v) => {
            sink.at(span(v), "simulation.max_events: must be more than zero");
            1
        }
    };
    let queue_limit = positive_int(sink, "simulation.queue_limit", &s.queue_limit, 10_000, 1);
    let simulation = SimulationConfig { duration_ns, warmup_ns, seed, max_events, queue_limit };

    // Mesh: cost model files and options.
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let mut models = Vec::new();
    for (kind, field, value) in [
        (ProxyKind::Sidecar, "mesh.sidecar_model", &f.mesh.sidecar_model),
        (ProxyKind::NodeProxy, "mesh.node_proxy_model", &f.mesh.node_proxy_model),
        (ProxyKind::Ztunnel, "mesh.ztunnel_model", &f.mesh.ztunnel_model),
        (ProxyKind::Waypoint, "mesh.waypoint_model", &f.mesh.waypoint_model),
    ] {
        if let Some(v) = value {
            let p = base_dir.join(v.get_ref());
            if !p.is_file() {
                sink.at(
                    span(v),
                    format!("{field}: model file `{}` not found (paths are relative to the topology file's folder)", p.display()),
                );
            }
            models.push((kind, p));
        }
    }
    let per_node_l7 = choice(
        sink,
        "mesh.per_node_l7",
        &f.mesh.per_node_l7,
        PerNodeL7::Destination,
        &[("source", PerNodeL7::Source), ("destination", PerNodeL7::Destination), ("both", PerNodeL7::Both), ("none", PerNodeL7::None)],
    );
    let sidecar_scope = choice(
        sink,
        "mesh.sidecar_scope",
        &f.mesh.sidecar_scope,
        SidecarScope::Mesh,
        &[("mesh", SidecarScope::Mesh), ("namespace", SidecarScope::Namespace)],
    );
    let outlier_detection = f.mesh.outlier_detection.as_ref().map(|o| OutlierDetection {
        consecutive_errors: int_in(sink, "mesh.outlier_detection.consecutive_errors", &o.consecutive_errors, 5, 1, 1_000_000),
        ejection_ns: opt_duration(sink, "mesh.outlier_detection.ejection", &o.ejection, 30_000_000_000),
        max_ejection_percent: int_in(sink, "mesh.outlier_detection.max_ejection_percent", &o.max_ejection_percent, 10, 0, 100),
    });
    let mesh = MeshConfig { models, per_node_l7, sidecar_scope, outlier_detection };

    // Nodes.
    let mut nodes: Vec<Node> = Vec::new();
    for n in &f.nodes {
        let count = int_in(sink, "node.count", &n.count, 1, 1, MAX_NODES_PER_ENTRY);
        let vcpu = *n.vcpu.get_ref();
        if !(vcpu > 0.0 && vcpu.is_finite()) {
            sink.at(span(&n.vcpu), format!("node.vcpu: {vcpu} must be more than zero"));
        }
        let memory_bytes = units::parse_bytes(n.memory.get_ref()).unwrap_or_else(|e| {
            sink.at(span(&n.memory), format!("node.memory: {e}"));
            0
        });
        let speed = n.speed.as_ref().map(|v| *v.get_ref()).unwrap_or(1.0);
        if !(speed > 0.0 && speed.is_finite()) {
            sink.at(span(n.speed.as_ref().unwrap()), format!("node.speed: {speed} must be more than zero"));
        }
        let max_pods = positive_int(sink, "node.max_pods", &n.max_pods, 110, 1);
        let cluster = n.cluster.as_ref().map(|c| c.get_ref().clone()).unwrap_or_else(|| "cluster".into());
        let zone = n.zone.as_ref().map(|c| c.get_ref().clone()).unwrap_or_else(|| format!("{cluster}-zone"));
        for i in 0..count {
            let name = if count == 1 { n.name.get_ref().clone() } else { format!("{}-{}", n.name.get_ref(), i + 1) };
            if nodes.iter().any(|x| x.name == name) {
                sink.at(span(&n.name), format!("node.name: node `{name}` is defined twice"));
            }
            nodes.push(Node {
                name,
                cluster: cluster.clone(),
                zone: zone.clone(),
                vcpu,
                memory_bytes,
                speed,
                max_pods,
                cpu_period_ns: super::DEFAULT_CPU_PERIOD_NS,
            });
        }
    }
    if nodes.is_empty() {
        sink.at(0..0, "no [[node]] given: a topology needs at least one node");
    }

    // Network.
    let net = &f.network;
    let mut overrides = Vec::new();
    for o in &net.overrides {
        let place = |sink: &mut ErrorSink, s: &Spanned<String>| -> Option<Place> {
            let x = s.get_ref();
            if nodes.iter().any(|n| n.name == *x) {
                Some(Place::Node(x.clone()))
            } else if nodes.iter().any(|n| n.zone == *x) {
                Some(Place::Zone(x.clone()))
            } else if nodes.iter().any(|n| n.cluster == *x) {
                Some(Place::Cluster(x.clone()))
            } else {
                sink.at(span(s), format!("network.between: `{x}` is not a node, zone or cluster of this topology"));
                None
            }
        };
        let a = place(sink, &o.a);
        let b = place(sink, &o.b);
        let latency_ns = duration(sink, "network.between.latency", &o.latency);
        if let (Some(a), Some(b)) = (a, b) {
            overrides.push(LatencyOverride { a, b, latency_ns });
        }
    }
    let network = Network {
        same_node_ns: opt_duration(sink, "network.same_node", &net.same_node, 25_000),
        same_zone_ns: opt_duration(sink, "network.same_zone", &net.same_zone, 250_000),
        cross_zone_ns: opt_duration(sink, "network.cross_zone", &net.cross_zone, 500_000),
        cross_cluster_ns: opt_duration(sink, "network.cross_cluster", &net.cross_cluster, 5_000_000),
        overrides,
    };

    // Namespaces.
    let mut namespaces: Vec<Namespace> = Vec::new();
    for ns in &f.namespaces {
        if namespaces.iter().any(|x| x.name == *ns.name.get_ref()) {
            sink.at(span(&ns.name), format!("namespace.name: namespace `{}` is defined twice", ns.name.get_ref()));
        }
        let placement = match &ns.placement {
            None => None,
            Some(p) if p.get_ref() == "inherit" => None,
            Some(p) => match p.get_ref().parse::<Placement>() {
                Ok(pl) => Some(pl),
                Err(e) => {
                    sink.at(span(p), format!("namespace.placement: {e}, or inherit"));
                    None
                }
            },
        };
        let waypoint = ns.waypoint.as_ref().map(|w| WaypointSpec {
            scope: choice(
                sink,
                "namespace.waypoint.scope",
                &w.scope,
                WaypointScope::Namespace,
                &[("namespace", WaypointScope::Namespace), ("service", WaypointScope::Service)],
            ),
            replicas: int_in(sink, "namespace.waypoint.replicas", &Some(w.replicas.clone()), 1, 1, MAX_WAYPOINT_REPLICAS),
        });
        namespaces.push(Namespace { name: ns.name.get_ref().clone(), placement, waypoint });
    }

    if f.services.len() > MAX_SERVICES {
        sink.at(0..0, format!("{} services: at most {MAX_SERVICES} are supported", f.services.len()));
    }
    // Services (first pass: names, so calls can point forward).
    let mut service_index: BTreeMap<&str, ServiceId> = BTreeMap::new();
    for (i, s) in f.services.iter().enumerate() {
        if service_index.insert(s.name.get_ref().as_str(), i).is_some() {
            sink.at(span(&s.name), format!("service.name: service `{}` is defined twice", s.name.get_ref()));
        }
    }
    let mut services = Vec::new();
    let mut calls = Vec::new();
    for (sid, s) in f.services.iter().enumerate() {
        let namespace = match namespaces.iter().position(|n| n.name == *s.namespace.get_ref()) {
            Some(i) => i,
            None => {
                sink.at(
                    span(&s.namespace),
                    format!(
                        "service.namespace: service `{}` names namespace `{}`, which no [[namespace]] defines",
                        s.name.get_ref(),
                        s.namespace.get_ref()
                    ),
                );
                0
            }
        };
        let replicas = int_in(sink, "service.replicas", &Some(s.replicas.clone()), 1, 1, MAX_REPLICAS);
        let service_time = match &s.service_time {
            None => ServiceTime::Constant { mean_ns: 0 },
            Some(st) => {
                let mean_ns = duration(sink, "service.service_time.mean", &st.mean);
                match st.dist.get_ref().as_str() {
                    "constant" => ServiceTime::Constant { mean_ns },
                    "exponential" => ServiceTime::Exponential { mean_ns },
                    "lognormal" => {
                        let cv = match &st.cv {
                            Some(cv) if *cv.get_ref() > 0.0 && cv.get_ref().is_finite() => *cv.get_ref(),
                            Some(cv) => {
                                sink.at(span(cv), "service.service_time.cv: must be more than zero");
                                1.0
                            }
                            None => {
                                sink.at(
                                    span(&st.dist),
                                    "service.service_time: a lognormal needs `cv` (coefficient of variation, e.g. 0.5)",
                                );
                                1.0
                            }
                        };
                        ServiceTime::LogNormal { mean_ns, cv }
                    }
                    other => {
                        sink.at(
                            span(&st.dist),
                            format!(
                                "service.service_time.dist: unknown distribution `{other}`: expected constant, exponential or lognormal"
                            ),
                        );
                        ServiceTime::Constant { mean_ns }
                    }
                }
            }
        };
        let concurrency = positive_int(sink, "service.concurrency", &s.concurrency, 1024, 1);
        let protocol = choice(
            sink,
            "service.protocol",
            &s.protocol,
            Protocol::Http1,
            &[("http1", Protocol::Http1), ("http2", Protocol::Http2), ("grpc", Protocol::Grpc), ("tcp", Protocol::Tcp)],
        );
        let request_bytes = bytes(sink, "service.request_size", &s.request_size, 1024);
        let response_bytes = bytes(sink, "service.response_size", &s.response_size, 1024);
        let cpu_request_millicores = match &s.cpu_request {
            None => 100.0,
            Some(v) => units::parse_millicores(v.get_ref()).unwrap_or_else(|e| {
                sink.at(span(v), format!("service.cpu_request: {e}"));
                0.0
            }),
        };
        let memory_request_bytes = bytes(sink, "service.memory_request", &s.memory_request, 64 * 1024 * 1024);
        let mut call_ids = Vec::new();
        for c in &s.calls {
            let to = match service_index.get(c.to.get_ref().as_str()) {
                Some(&t) => t,
                None => {
                    sink.at(
                        span(&c.to),
                        format!("service.call.to: service `{}` calls `{}`, which does not exist", s.name.get_ref(), c.to.get_ref()),
                    );
                    continue;
                }
            };
            let probability = match &c.probability {
                None => 1.0,
                Some(p) if (0.0..=1.0).contains(p.get_ref()) => *p.get_ref(),
                Some(p) => {
                    sink.at(span(p), format!("service.call.probability: {} must be between 0 and 1", p.get_ref()));
                    1.0
                }
            };
            let call = Call {
                from: sid,
                to,
                count: int_in(sink, "service.call.count", &c.count, 1, 1, MAX_CALL_COUNT),
                probability,
                mode: choice(
                    sink,
                    "service.call.mode",
                    &c.mode,
                    CallMode::Parallel,
                    &[("parallel", CallMode::Parallel), ("sequential", CallMode::Sequential)],
                ),
                connection: choice(
                    sink,
                    "service.call.connection",
                    &c.connection,
                    ConnectionReuse::Pooled,
                    &[("pooled", ConnectionReuse::Pooled), ("per-request", ConnectionReuse::PerRequest)],
                ),
                timeout_ns: c.timeout.as_ref().map(|t| duration(sink, "service.call.timeout", t)),
                retries: positive_int(sink, "service.call.retries", &c.retries, 0, 0),
            };
            call_ids.push(calls.len());
            calls.push((call, span(&c.to)));
        }
        services.push(Service {
            name: s.name.get_ref().clone(),
            namespace,
            replicas,
            service_time,
            wait: None,
            cpu_limit_millicores: None,
            concurrency,
            protocol,
            request_bytes,
            response_bytes,
            cpu_request_millicores,
            memory_request_bytes,
            calls: call_ids,
            pods: Vec::new(),
        });
    }

    // The call graph must be acyclic: a cycle would make one request spawn calls forever.
    let mut call_graph = DiGraph::new();
    let graph_nodes: Vec<_> = (0..services.len()).map(|i| call_graph.add_node(i)).collect();
    for (cid, (c, _)) in calls.iter().enumerate() {
        call_graph.add_edge(graph_nodes[c.from], graph_nodes[c.to], cid);
    }
    if let Err(cycle) = petgraph::algo::toposort(&call_graph, None) {
        let sid = call_graph[cycle.node_id()];
        if let Some((c, sp)) = calls.iter().find(|(c, _)| c.from == sid && reaches(&call_graph, graph_nodes[c.to], graph_nodes[sid])) {
            let _ = c;
            sink.at(
                sp.clone(),
                format!("service.call.to: calls form a cycle through service `{}`: a call graph must be acyclic", services[sid].name),
            );
        } else {
            sink.at(0..0, format!("calls form a cycle through service `{}`: a call graph must be acyclic", services[sid].name));
        }
    }
    let calls: Vec<Call> = calls.into_iter().map(|(c, _)| c).collect();

    // Schedule pods: each service's replicas spread over its eligible nodes, fewest pods first.
    let mut pods = Vec::new();
    let mut used_millicores = vec![0.0f64; nodes.len()];
    let mut used_bytes = vec![0u64; nodes.len()];
    let mut pod_count = vec![0u32; nodes.len()];
    for (sid, s) in f.services.iter().enumerate() {
        let eligible: Vec<NodeId> = (0..nodes.len())
            .filter(|&n| {
                (s.nodes.is_empty()
                    || s.nodes.iter().any(|x| {
                        *x.get_ref() == nodes[n].name || x.get_ref().strip_suffix("-*").is_some_and(|p| nodes[n].name.starts_with(p))
                    }))
                    && (s.zones.is_empty() || s.zones.iter().any(|x| *x.get_ref() == nodes[n].zone))
                    && (s.clusters.is_empty() || s.clusters.iter().any(|x| *x.get_ref() == nodes[n].cluster))
            })
            .collect();
        for (field, list, pred) in [
            (
                "service.nodes",
                &s.nodes,
                &(|n: &Node, x: &str| n.name == x || x.strip_suffix("-*").is_some_and(|p| n.name.starts_with(p)))
                    as &dyn Fn(&Node, &str) -> bool,
            ),
            ("service.zones", &s.zones, &|n: &Node, x: &str| n.zone == x),
            ("service.clusters", &s.clusters, &|n: &Node, x: &str| n.cluster == x),
        ] {
            for x in list {
                if !nodes.iter().any(|n| pred(n, x.get_ref())) {
                    sink.at(span(x), format!("{field}: `{}` matches no node", x.get_ref()));
                }
            }
        }
        if eligible.is_empty() {
            continue;
        }
        let svc = &mut services[sid];
        let mut per_node = vec![0u32; nodes.len()];
        for r in 0..svc.replicas {
            let fits = |n: NodeId| {
                used_millicores[n] + svc.cpu_request_millicores <= nodes[n].vcpu * 1000.0 + 1e-9
                    && used_bytes[n] + svc.memory_request_bytes <= nodes[n].memory_bytes
                    && pod_count[n] < nodes[n].max_pods
            };
            let chosen = eligible.iter().copied().filter(|&n| fits(n)).min_by_key(|&n| (per_node[n], pod_count[n], n));
            match chosen {
                Some(n) => {
                    per_node[n] += 1;
                    pod_count[n] += 1;
                    used_millicores[n] += svc.cpu_request_millicores;
                    used_bytes[n] += svc.memory_request_bytes;
                    svc.pods.push(pods.len());
                    pods.push(Pod { name: format!("{}-{}", svc.name, r + 1), service: sid, node: n });
                }
                None => {
                    sink.at(
                        span(&s.replicas),
                        format!(
                            "service.replicas: replica {} of `{}` does not fit on any eligible node (requests {}m CPU, {} MiB; nodes full or at max_pods): add nodes or lower the requests",
                            r + 1,
                            svc.name,
                            svc.cpu_request_millicores,
                            svc.memory_request_bytes / (1024 * 1024)
                        ),
                    );
                    break;
                }
            }
        }
    }

    // Load.
    let mut loads = Vec::new();
    for l in &f.loads {
        let to = service_index.get(l.to.get_ref().as_str()).copied();
        if to.is_none() {
            sink.at(span(&l.to), format!("load.to: service `{}` does not exist", l.to.get_ref()));
        }
        let from = l.from.as_ref().and_then(|fr| {
            let x = service_index.get(fr.get_ref().as_str()).copied();
            if x.is_none() {
                sink.at(span(fr), format!("load.from: service `{}` does not exist", fr.get_ref()));
            }
            x
        });
        let rate_rps = units::parse_rate_rps(l.rate.get_ref()).unwrap_or_else(|e| {
            sink.at(span(&l.rate), format!("load.rate: {e}"));
            0.0
        });
        let load = Load {
            to: to.unwrap_or(0),
            rate_rps,
            from,
            arrival: choice(
                sink,
                "load.arrival",
                &l.arrival,
                Arrival::Poisson,
                &[("poisson", Arrival::Poisson), ("constant", Arrival::Constant)],
            ),
            connections: load_connections(sink, &l.connections),
            connection: choice(
                sink,
                "load.connection",
                &l.connection,
                ConnectionReuse::Pooled,
                &[("pooled", ConnectionReuse::Pooled), ("per-request", ConnectionReuse::PerRequest)],
            ),
            timeout_ns: l.timeout.as_ref().map(|t| duration(sink, "load.timeout", t)),
            retries: positive_int(sink, "load.retries", &l.retries, 0, 0),
            closed: None,
        };
        loads.push(load);
    }
    if f.loads.is_empty() {
        sink.at(0..0, "no [[load]] given: name at least one entry service and its rate");
    }

    Topology {
        name,
        description: f.description.clone().unwrap_or_default(),
        source: path.to_path_buf(),
        simulation,
        mesh,
        network,
        nodes,
        namespaces,
        services,
        calls,
        loads,
        pods,
        call_graph,
        blast: super::blast::validate(sink, f.blast.as_ref(), duration_ns),
    }
}

fn reaches(g: &DiGraph<ServiceId, CallId>, from: petgraph::graph::NodeIndex, to: petgraph::graph::NodeIndex) -> bool {
    petgraph::algo::has_path_connecting(g, from, to, None)
}
