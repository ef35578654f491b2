//! The topology file as written: structs that mirror the TOML one to one, read by hand from
//! the spanned document so that every wrong type, missing key and unknown key is reported at
//! once with its dotted path. Every value keeps its byte span and path so later checks can
//! name its line. Nothing outside `topology` sees these types.

use crate::input_error::ErrorSink;
use crate::toml_doc::{expect, Fields, Spanned};

type S<T> = Spanned<T>;

/// The topology format this meshsim reads.
const SUPPORTED_VERSION: i64 = 1;

pub struct TopologyFile {
    pub name: Option<S<String>>,
    pub description: Option<S<String>>,
    pub simulation: Option<SimulationInput>,
    pub mesh: Option<MeshInput>,
    pub network: NetworkInput,
    pub nodes: Vec<NodeInput>,
    pub namespaces: Vec<NamespaceInput>,
    pub services: Vec<ServiceInput>,
    pub loads: Vec<LoadInput>,
    pub blast: Option<BlastInput>,
    pub control_plane: Option<ControlPlaneInput>,
    pub churn: Vec<ChurnInput>,
}

pub struct SimulationInput {
    pub duration: Option<S<String>>,
    pub warmup: Option<S<String>>,
    pub seed: Option<S<i64>>,
    pub max_events: Option<S<i64>>,
    pub max_pending: Option<S<i64>>,
    pub queue_limit: Option<S<i64>>,
}

pub struct MeshInput {
    /// The model profile (a folder of the models folder) the per-kind models come from.
    pub profile: Option<S<String>>,
    /// Where profiles are looked up, relative to the topology's folder (default `../models`).
    pub models_dir: Option<S<String>>,
    pub sidecar_model: Option<S<String>>,
    pub ztunnel_model: Option<S<String>>,
    pub waypoint_model: Option<S<String>>,
    pub node_proxy_model: Option<S<String>>,
    /// Where a per-node proxy does L7 work: "source", "destination", "both" or "none".
    pub per_node_l7: Option<S<String>>,
    /// What a sidecar's `Sidecar` resource lets it hold: "mesh" (what the mesh sends),
    /// "namespace" (its namespace and its callees) or "called" (its callees).
    pub sidecar_scope: Option<S<String>>,
    /// More hosts a scoped sidecar holds, as a `Sidecar` resource's egress hosts (`ns/*`, `ns/svc`).
    pub egress_hosts: Option<S<Vec<S<String>>>>,
    /// The namespaces the control plane watches (discovery selectors); absent: every one.
    pub discovery_namespaces: Option<S<Vec<S<String>>>>,
    /// Callers stop sending to a replica after consecutive errors, for a while.
    pub outlier_detection: Option<OutlierInput>,
}

pub struct OutlierInput {
    pub consecutive_errors: Option<S<i64>>,
    pub ejection: Option<S<String>>,
    pub max_ejection_percent: Option<S<i64>>,
}

#[derive(Default)]
pub struct NetworkInput {
    pub same_node: Option<S<String>>,
    pub same_zone: Option<S<String>>,
    pub cross_zone: Option<S<String>>,
    pub cross_cluster: Option<S<String>>,
    pub overrides: Vec<LatencyOverrideInput>,
}

pub struct LatencyOverrideInput {
    /// A cluster, zone or node name.
    pub a: Option<S<String>>,
    pub b: Option<S<String>>,
    pub latency: Option<S<String>>,
}

pub struct NodeInput {
    pub name: Option<S<String>>,
    pub count: Option<S<i64>>,
    pub cluster: Option<S<String>>,
    pub zone: Option<S<String>>,
    pub vcpu: Option<S<f64>>,
    pub memory: Option<S<String>>,
    pub speed: Option<S<f64>>,
    pub max_pods: Option<S<i64>>,
    /// CFS bandwidth period of the node's containers.
    pub cpu_period: Option<S<String>>,
}

pub struct NamespaceInput {
    pub name: Option<S<String>>,
    /// "inherit" (the run's placement), "none", "sidecar", "per-node" or "ambient".
    pub placement: Option<S<String>>,
    pub waypoint: Option<WaypointInput>,
}

pub struct WaypointInput {
    /// "namespace" (one waypoint for the namespace) or "service" (one per service).
    pub scope: Option<S<String>>,
    pub replicas: Option<S<i64>>,
}

pub struct ServiceInput {
    pub path: String,
    pub span: std::ops::Range<usize>,
    pub name: Option<S<String>>,
    pub namespace: Option<S<String>>,
    pub replicas: Option<S<i64>>,
    pub nodes: Vec<S<String>>,
    pub zones: Vec<S<String>>,
    pub clusters: Vec<S<String>>,
    /// Topology spread: most replicas one zone may hold over the emptiest (default 1).
    pub max_skew: Option<S<i64>>,
    pub service_time: Option<ServiceTimeInput>,
    /// CPU work of one request (the same as `service_time`, which is all CPU work).
    pub cpu: Option<ServiceTimeInput>,
    /// Off-CPU time of one request (I/O, sleep), after its CPU work.
    pub wait: Option<ServiceTimeInput>,
    pub cpu_limit: Option<S<String>>,
    pub concurrency: Option<S<i64>>,
    pub protocol: Option<S<String>>,
    pub request_size: Option<S<String>>,
    pub response_size: Option<S<String>>,
    pub cpu_request: Option<S<String>>,
    pub memory_request: Option<S<String>>,
    pub calls: Vec<CallInput>,
}

pub struct ServiceTimeInput {
    pub path: String,
    /// "constant", "exponential" or "lognormal".
    pub dist: Option<S<String>>,
    pub mean: Option<S<String>>,
    /// Coefficient of variation, for lognormal.
    pub cv: Option<S<f64>>,
}

pub struct CallInput {
    pub to: Option<S<String>>,
    pub count: Option<S<i64>>,
    pub probability: Option<S<f64>>,
    /// "parallel" or "sequential".
    pub mode: Option<S<String>>,
    /// "pooled" or "per-request".
    pub connection: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub retries: Option<S<i64>>,
}

pub struct LoadInput {
    /// Dotted path of the entry (`load[0]`).
    pub path: String,
    pub to: Option<S<String>>,
    pub rate: Option<S<String>>,
    /// `rate` is in the file (when `rate` is `None`, it was of the wrong type).
    pub rate_given: bool,
    /// A service acting as the load generator (its pods send the requests, through its proxy).
    pub from: Option<S<String>>,
    /// "poisson" (default), "constant", "closed" or "wrk2".
    pub arrival: Option<S<String>>,
    /// Closed loop: pause between an answer and the next request of a connection.
    pub think_time: Option<ServiceTimeInput>,
    /// Connections the load generator sends over, with aligned phases (default 1).
    pub connections: Option<S<i64>>,
    /// wrk2 pacing: event-loop threads per load-generator pod (`wrk -t`).
    pub threads: Option<S<i64>>,
    pub connection: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub retries: Option<S<i64>>,
}

/// `[blast]`: settings of `meshsim blast` (see `topology::blast` for units and defaults).
#[derive(Default)]
pub struct BlastInput {
    pub slo_p99: Option<S<String>>,
    pub fail_at: Option<S<String>>,
    pub outage: Option<S<String>>,
    pub node_reschedule: Option<S<String>>,
    pub upgrade_restart: Option<S<String>>,
    pub cpu_limit: Option<S<String>>,
    pub memory_limit: Option<S<String>>,
    pub noisy_tenant: Option<S<String>>,
    pub connect_timeout: Option<S<String>>,
    pub not_ready_after: Option<S<String>>,
    pub reschedule_after: Option<S<String>>,
    pub pod_startup: Option<S<String>>,
    pub retry_budget: Option<S<i64>>,
}

/// One `[[churn]]` entry: a change over time (see `topology::churn` for units and defaults).
pub struct ChurnInput {
    pub path: String,
    pub span: std::ops::Range<usize>,
    pub kind: Option<S<String>>,
    pub service: Option<S<String>>,
    pub node: Option<S<String>>,
    pub at: Option<S<String>>,
    pub max_surge: Option<S<i64>>,
    pub max_unavailable: Option<S<i64>>,
    pub to: Option<S<i64>>,
    pub every: Option<S<String>>,
    pub until: Option<S<String>>,
    pub down: Option<S<String>>,
    pub startup: Option<S<String>>,
    pub terminate_after: Option<S<String>>,
    pub outage: Option<S<String>>,
}

impl ChurnInput {
    /// The kind-specific keys given, with their spans.
    pub fn given(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut v = Vec::new();
        let texts = [
            ("service", &self.service),
            ("node", &self.node),
            ("every", &self.every),
            ("until", &self.until),
            ("down", &self.down),
            ("startup", &self.startup),
            ("terminate_after", &self.terminate_after),
            ("outage", &self.outage),
        ];
        for (k, x) in texts {
            if let Some(x) = x {
                v.push((k, x.span()));
            }
        }
        for (k, x) in [("max_surge", &self.max_surge), ("max_unavailable", &self.max_unavailable), ("to", &self.to)] {
            if let Some(x) = x {
                v.push((k, x.span()));
            }
        }
        v
    }
}

/// `[control_plane]`: replicas, nodes and requests of the mesh's control-plane pods (see
/// `topology::control_plane` for units and defaults).
#[derive(Default)]
pub struct ControlPlaneInput {
    pub replicas: Option<S<i64>>,
    pub nodes: Vec<S<String>>,
    pub cpu_request: Option<S<String>>,
    pub memory_request: Option<S<String>>,
}

fn choice(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
    format!("write one of {}", quoted.join(", "))
}

/// Every table of a topology file with the keys it accepts, as the reader checks them (a
/// distribution is any of the tables `dist`, `mean`, `cv` is read from).
pub const ACCEPTED_KEYS: &[(&str, &[&str])] = &[
    ("simulation", SIMULATION_KEYS),
    ("mesh.outlier_detection", OUTLIER_DETECTION_KEYS),
    ("mesh", MESH_KEYS),
    ("network.between", BETWEEN_KEYS),
    ("network", NETWORK_KEYS),
    ("node", NODE_KEYS),
    ("namespace.waypoint", WAYPOINT_KEYS),
    ("namespace", NAMESPACE_KEYS),
    ("load", LOAD_KEYS),
    ("blast", BLAST_KEYS),
    ("control_plane", CONTROL_PLANE_KEYS),
    ("churn", CHURN_KEYS),
    ("", ROOT_KEYS),
    ("service.call", CALL_KEYS),
    ("service", SERVICE_KEYS),
    ("distribution", DISTRIBUTION_KEYS),
];

const SIMULATION_KEYS: &[&str] = &["duration", "warmup", "seed", "max_events", "max_pending", "queue_limit"];
const OUTLIER_DETECTION_KEYS: &[&str] = &["consecutive_errors", "ejection", "max_ejection_percent"];
const MESH_KEYS: &[&str] = &[
    "profile",
    "models_dir",
    "sidecar_model",
    "ztunnel_model",
    "waypoint_model",
    "node_proxy_model",
    "per_node_l7",
    "sidecar_scope",
    "egress_hosts",
    "discovery_namespaces",
    "outlier_detection",
];
const BETWEEN_KEYS: &[&str] = &["a", "b", "latency"];
const NETWORK_KEYS: &[&str] = &["same_node", "same_zone", "cross_zone", "cross_cluster", "between"];
const NODE_KEYS: &[&str] = &["name", "count", "cluster", "zone", "vcpu", "memory", "speed", "max_pods", "cpu_period"];
const WAYPOINT_KEYS: &[&str] = &["scope", "replicas"];
const NAMESPACE_KEYS: &[&str] = &["name", "placement", "waypoint"];
const LOAD_KEYS: &[&str] = &["to", "rate", "from", "arrival", "think_time", "connections", "threads", "connection", "timeout", "retries"];
const BLAST_KEYS: &[&str] = &[
    "slo_p99",
    "fail_at",
    "outage",
    "node_reschedule",
    "cpu_limit",
    "memory_limit",
    "noisy_tenant",
    "upgrade_restart",
    "connect_timeout",
    "not_ready_after",
    "reschedule_after",
    "pod_startup",
    "retry_budget",
];
const CONTROL_PLANE_KEYS: &[&str] = &["replicas", "nodes", "cpu_request", "memory_request"];
/// The kinds of `[[churn]]` entry, in `topology::churn::ChurnKind` order.
pub const CHURN_KINDS: [&str; 5] = ["rollout", "scale", "restart", "drain", "control-plane-outage"];
const CHURN_KEYS: &[&str] = &[
    "kind",
    "service",
    "node",
    "at",
    "max_surge",
    "max_unavailable",
    "to",
    "every",
    "until",
    "down",
    "startup",
    "terminate_after",
    "outage",
];
const ROOT_KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "simulation",
    "mesh",
    "network",
    "node",
    "namespace",
    "service",
    "load",
    "blast",
    "control_plane",
    "churn",
];
const CALL_KEYS: &[&str] = &["to", "count", "probability", "mode", "connection", "timeout", "retries"];
const SERVICE_KEYS: &[&str] = &[
    "name",
    "namespace",
    "replicas",
    "nodes",
    "zones",
    "clusters",
    "max_skew",
    "service_time",
    "cpu",
    "wait",
    "cpu_limit",
    "concurrency",
    "protocol",
    "request_size",
    "response_size",
    "cpu_request",
    "memory_request",
    "call",
];
const DISTRIBUTION_KEYS: &[&str] = &["dist", "mean", "cv"];

/// Read the document's fields; every problem goes to `sink`.
pub fn read(root: &mut Fields, sink: &mut ErrorSink) -> TopologyFile {
    root.req_version(sink, SUPPORTED_VERSION, None);
    let name = root.req_text(sink, "name", expect::NAME);
    let description = root.text(sink, "description", expect::TEXT);
    let simulation = root.req_table(sink, "simulation").map(|mut f| {
        let s = SimulationInput {
            duration: f.req_text(sink, "duration", expect::DURATION),
            warmup: f.text(sink, "warmup", expect::DURATION),
            seed: f.int(sink, "seed"),
            max_events: f.int(sink, "max_events"),
            max_pending: f.int(sink, "max_pending"),
            queue_limit: f.int(sink, "queue_limit"),
        };
        f.finish(sink, SIMULATION_KEYS);
        s
    });
    let mesh = root.req_table(sink, "mesh").map(|mut f| {
        let m = MeshInput {
            profile: f.text(sink, "profile", expect::NAME),
            models_dir: f.text(sink, "models_dir", "write a folder path in quotes, like \"../models\""),
            sidecar_model: f.text(sink, "sidecar_model", expect::FILE),
            ztunnel_model: f.text(sink, "ztunnel_model", expect::FILE),
            waypoint_model: f.text(sink, "waypoint_model", expect::FILE),
            node_proxy_model: f.text(sink, "node_proxy_model", expect::FILE),
            per_node_l7: f.text(sink, "per_node_l7", &choice(&["source", "destination", "both", "none"])),
            sidecar_scope: f.text(sink, "sidecar_scope", &choice(&["mesh", "namespace", "called"])),
            egress_hosts: text_list(&mut f, sink, "egress_hosts", "a host, like \"shared/*\" or \"shared/auth\""),
            discovery_namespaces: text_list(&mut f, sink, "discovery_namespaces", expect::NAME),
            outlier_detection: f.table(sink, "outlier_detection").map(|mut o| {
                let x = OutlierInput {
                    consecutive_errors: o.int(sink, "consecutive_errors"),
                    ejection: o.text(sink, "ejection", expect::DURATION),
                    max_ejection_percent: o.int(sink, "max_ejection_percent"),
                };
                o.finish(sink, OUTLIER_DETECTION_KEYS);
                x
            }),
        };
        f.finish(sink, MESH_KEYS);
        m
    });
    let network = root
        .table(sink, "network")
        .map(|mut f| {
            let n = NetworkInput {
                same_node: f.text(sink, "same_node", expect::DURATION),
                same_zone: f.text(sink, "same_zone", expect::DURATION),
                cross_zone: f.text(sink, "cross_zone", expect::DURATION),
                cross_cluster: f.text(sink, "cross_cluster", expect::DURATION),
                overrides: f
                    .tables(sink, "between")
                    .into_iter()
                    .map(|mut o| {
                        let x = LatencyOverrideInput {
                            a: o.req_text(sink, "a", expect::NAME),
                            b: o.req_text(sink, "b", expect::NAME),
                            latency: o.req_text(sink, "latency", expect::DURATION),
                        };
                        o.finish(sink, BETWEEN_KEYS);
                        x
                    })
                    .collect(),
            };
            f.finish(sink, NETWORK_KEYS);
            n
        })
        .unwrap_or_default();
    let nodes = root
        .tables(sink, "node")
        .into_iter()
        .map(|mut f| {
            let n = NodeInput {
                name: f.req_text(sink, "name", expect::NAME),
                count: f.int(sink, "count"),
                cluster: f.text(sink, "cluster", expect::NAME),
                zone: f.text(sink, "zone", expect::NAME),
                vcpu: f.req_number(sink, "vcpu"),
                memory: f.req_text(sink, "memory", expect::SIZE),
                speed: f.number(sink, "speed"),
                max_pods: f.int(sink, "max_pods"),
                cpu_period: f.text(sink, "cpu_period", expect::DURATION),
            };
            f.finish(sink, NODE_KEYS);
            n
        })
        .collect();
    let namespaces = root
        .tables(sink, "namespace")
        .into_iter()
        .map(|mut f| {
            let n = NamespaceInput {
                name: f.req_text(sink, "name", expect::NAME),
                placement: f.text(sink, "placement", &choice(&["inherit", "none", "sidecar", "per-node", "ambient"])),
                waypoint: f.table(sink, "waypoint").map(|mut w| {
                    let x = WaypointInput {
                        scope: w.text(sink, "scope", &choice(&["namespace", "service"])),
                        replicas: w.req_int(sink, "replicas"),
                    };
                    w.finish(sink, WAYPOINT_KEYS);
                    x
                }),
            };
            f.finish(sink, NAMESPACE_KEYS);
            n
        })
        .collect();
    let services = root.tables(sink, "service").into_iter().map(|f| read_service(f, sink)).collect();
    let loads = root
        .tables(sink, "load")
        .into_iter()
        .map(|mut f| {
            let l = LoadInput {
                path: f.path().to_string(),
                to: f.req_text(sink, "to", expect::NAME),
                rate_given: f.entry("rate").is_some(),
                rate: f.text(sink, "rate", expect::RATE),
                from: f.text(sink, "from", expect::NAME),
                arrival: f.text(sink, "arrival", &choice(&["poisson", "constant", "closed", "wrk2"])),
                think_time: distribution(&mut f, sink, "think_time"),
                connections: f.int(sink, "connections"),
                threads: f.int(sink, "threads"),
                connection: f.text(sink, "connection", &choice(&["pooled", "per-request"])),
                timeout: f.text(sink, "timeout", expect::DURATION),
                retries: f.int(sink, "retries"),
            };
            f.finish(sink, LOAD_KEYS);
            l
        })
        .collect();
    let blast = root.table(sink, "blast").map(|mut f| {
        let b = BlastInput {
            slo_p99: f.text(sink, "slo_p99", expect::DURATION),
            fail_at: f.text(sink, "fail_at", expect::DURATION),
            outage: f.text(sink, "outage", expect::DURATION),
            node_reschedule: f.text(sink, "node_reschedule", expect::DURATION),
            not_ready_after: f.text(sink, "not_ready_after", expect::DURATION),
            reschedule_after: f.text(sink, "reschedule_after", expect::DURATION),
            pod_startup: f.text(sink, "pod_startup", expect::DURATION),
            retry_budget: f.int(sink, "retry_budget"),
            upgrade_restart: f.text(sink, "upgrade_restart", expect::DURATION),
            cpu_limit: f.text(sink, "cpu_limit", expect::CPU),
            memory_limit: f.text(sink, "memory_limit", expect::SIZE),
            noisy_tenant: f.text(sink, "noisy_tenant", expect::BANDWIDTH),
            connect_timeout: f.text(sink, "connect_timeout", expect::DURATION),
        };
        f.finish(sink, BLAST_KEYS);
        b
    });
    let control_plane = root.table(sink, "control_plane").map(|mut f| {
        let c = ControlPlaneInput {
            replicas: f.int(sink, "replicas"),
            nodes: f.texts(sink, "nodes", expect::NAME),
            cpu_request: f.text(sink, "cpu_request", expect::CPU),
            memory_request: f.text(sink, "memory_request", expect::SIZE),
        };
        f.finish(sink, CONTROL_PLANE_KEYS);
        c
    });
    let churn = root
        .tables(sink, "churn")
        .into_iter()
        .map(|mut f| {
            let c = ChurnInput {
                path: f.path().to_string(),
                span: f.span(),
                kind: f.req_text(sink, "kind", &choice(&CHURN_KINDS)),
                service: f.text(sink, "service", expect::NAME),
                node: f.text(sink, "node", expect::NAME),
                at: f.req_text(sink, "at", expect::DURATION),
                max_surge: f.int(sink, "max_surge"),
                max_unavailable: f.int(sink, "max_unavailable"),
                to: f.int(sink, "to"),
                every: f.text(sink, "every", expect::DURATION),
                until: f.text(sink, "until", expect::DURATION),
                down: f.text(sink, "down", expect::DURATION),
                startup: f.text(sink, "startup", expect::DURATION),
                terminate_after: f.text(sink, "terminate_after", expect::DURATION),
                outage: f.text(sink, "outage", expect::DURATION),
            };
            f.finish(sink, CHURN_KEYS);
            c
        })
        .collect();
    root.finish(sink, ROOT_KEYS);
    TopologyFile { name, description, simulation, mesh, network, nodes, namespaces, services, loads, blast, control_plane, churn }
}

fn read_service(mut f: Fields, sink: &mut ErrorSink) -> ServiceInput {
    let s = ServiceInput {
        path: f.path().to_string(),
        span: f.span(),
        name: f.req_text(sink, "name", expect::NAME),
        namespace: f.req_text(sink, "namespace", expect::NAME),
        replicas: f.req_int(sink, "replicas"),
        nodes: f.texts(sink, "nodes", expect::NAME),
        zones: f.texts(sink, "zones", expect::NAME),
        clusters: f.texts(sink, "clusters", expect::NAME),
        max_skew: f.int(sink, "max_skew"),
        service_time: distribution(&mut f, sink, "service_time"),
        cpu: distribution(&mut f, sink, "cpu"),
        wait: distribution(&mut f, sink, "wait"),
        cpu_limit: f.text(sink, "cpu_limit", expect::CPU),
        concurrency: f.int(sink, "concurrency"),
        protocol: f.text(sink, "protocol", &choice(&["http1", "http2", "grpc", "tcp"])),
        request_size: f.text(sink, "request_size", expect::SIZE),
        response_size: f.text(sink, "response_size", expect::SIZE),
        cpu_request: f.text(sink, "cpu_request", expect::CPU),
        memory_request: f.text(sink, "memory_request", expect::SIZE),
        calls: f
            .tables(sink, "call")
            .into_iter()
            .map(|mut c| {
                let x = CallInput {
                    to: c.req_text(sink, "to", expect::NAME),
                    count: c.int(sink, "count"),
                    probability: c.number(sink, "probability"),
                    mode: c.text(sink, "mode", &choice(&["parallel", "sequential"])),
                    connection: c.text(sink, "connection", &choice(&["pooled", "per-request"])),
                    timeout: c.text(sink, "timeout", expect::DURATION),
                    retries: c.int(sink, "retries"),
                };
                c.finish(sink, CALL_KEYS);
                x
            })
            .collect(),
    };
    f.finish(sink, SERVICE_KEYS);
    s
}

/// A list of text values under `key`, with the list's own span (`None` when the key is absent).
fn text_list(f: &mut Fields, sink: &mut ErrorSink, key: &str, expect: &str) -> Option<S<Vec<S<String>>>> {
    let span = f.entry(key)?.node.span.clone();
    let path = f.key_path(key);
    Some(Spanned::new(f.texts(sink, key, expect), span, path))
}

/// A distribution table (`{ dist, mean, cv }`) under `key`, as `service_time`, `cpu`, `wait`
/// and `think_time` take it.
fn distribution(f: &mut Fields, sink: &mut ErrorSink, key: &str) -> Option<ServiceTimeInput> {
    match f.entry(key) {
        // A bare duration is the most common slip: say what the table looks like.
        Some(e) if !matches!(e.node.value, crate::toml_doc::Value::Table(_)) => {
            sink.at(
                e.node.span.clone(),
                format!(
                    "{}: write a table, like {{ dist = \"exponential\", mean = \"1ms\" }} (found {})",
                    f.key_path(key),
                    e.node.value.describe()
                ),
            );
            None
        }
        Some(_) => f.table(sink, key).map(|mut t| {
            let x = ServiceTimeInput {
                path: t.path().to_string(),
                dist: t.req_text(sink, "dist", &choice(&["constant", "exponential", "lognormal"])),
                mean: t.req_text(sink, "mean", expect::DURATION),
                cv: t.number(sink, "cv"),
            };
            t.finish(sink, DISTRIBUTION_KEYS);
            x
        }),
        None => None,
    }
}
