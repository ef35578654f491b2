//! `meshsim import`: a topology from what a platform team already has, its Kubernetes
//! manifests and what its tracing or mesh observed. It sits above `topology` (it produces a
//! topology's TOML text and checks it with the topology's own reader); nothing below knows it.
//!
//! - `yaml.rs`: YAML text to a tree with lines; `manifests.rs`: files, folders, documents,
//!   `List`s to Kubernetes objects;
//! - `k8s.rs`: workloads, Services, Nodes, autoscalers and mesh switches to services, nodes
//!   and namespaces;
//! - `traces.rs`: OTLP, Zipkin and Jaeger JSON to calls, their order, own time and sizes;
//!   `metrics.rs`: Istio's and Linkerd's request counters to per-edge rates;
//!   `observed.rs`: both against the manifests' workloads;
//! - `env_calls.rs`: calls guessed from address variables; `callgraph.rs`: the best source
//!   of each caller's calls, no cycles;
//! - `model.rs`: what was found, each value with its source, and the summary;
//!   `write.rs`: the TOML, a comment above every value.

pub mod callgraph;
mod env_calls;
mod k8s;
mod manifests;
pub mod metrics;
pub mod model;
mod observed;
pub mod traces;
pub mod write;
mod yaml;

use std::path::{Path, PathBuf};

use crate::input_error::{InputError, InputErrors};
use callgraph::Edge;
use model::{Evidence, Found, Load, LoadKind, Sourced, Work};

pub use write::FIRST_LINE;

/// What to import and how to write it.
pub struct Options {
    /// Manifest files or folders.
    pub manifests: Vec<PathBuf>,
    /// Trace files (OTLP JSON, Zipkin v2 JSON, Jaeger JSON export).
    pub traces: Vec<PathBuf>,
    /// Metrics files (Prometheus text exposition or query-API JSON).
    pub metrics: Vec<PathBuf>,
    /// The time the counters of text metrics counted over, in seconds.
    pub metrics_window_s: Option<f64>,
    /// The topology's name (default: the first input's file name).
    pub name: Option<String>,
    /// `mesh.models_dir` as written in the file.
    pub models_dir: String,
    pub profile: String,
}

/// An import: what was found, and the topology text.
pub struct Imported {
    pub found: Found,
    pub text: String,
}

/// Name and image fragments of load generators.
const LOAD_GENERATORS: &[&str] = &[
    "loadgen",
    "load-gen",
    "loadgenerator",
    "load-generator",
    "locust",
    "k6",
    "wrk",
    "fortio",
    "vegeta",
    "jmeter",
    "gatling",
    "artillery",
    "loadtest",
    "load-test",
    "hey",
    "bot",
    "traffic-generator",
];

/// Variables that say how many users (closed-loop connections) a load generator runs.
const USER_VARS: &[&str] = &["USERS", "LOCUST_USERS", "NUM_USERS", "VUS", "K6_VUS", "CONCURRENCY", "CONNECTIONS", "CLIENTS"];

/// Variables that say a load generator's request rate.
const RATE_VARS: &[&str] = &["RPS", "QPS", "REQUESTS_PER_SECOND", "TARGET_RPS", "K6_RPS"];

/// Default rate of an entry the inputs give no rate for.
const DEFAULT_ENTRY_RPS: f64 = 100.0;

fn arg_error(path: &Path, message: String) -> InputErrors {
    InputErrors(vec![InputError { path: path.to_path_buf(), line: 0, col: 0, message }])
}

/// A topology name from a file name: letters, digits, `-`, `_`, `.`, starting with a letter or digit.
pub fn name_from(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    name = name.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(crate::limits::MAX_NAME_CHARS).collect();
    if name.is_empty() {
        "imported".into()
    } else {
        name
    }
}

/// Read every input and find the topology; the text is not yet checked.
pub fn import(o: &Options) -> Result<Imported, InputErrors> {
    let files = manifests::files(&o.manifests)?;
    if files.is_empty() {
        return Err(arg_error(
            o.manifests.first().map_or(Path::new("."), PathBuf::as_path),
            "no manifest files: give YAML files or folders holding .yaml or .yml files".into(),
        ));
    }
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for f in &files {
        match crate::input_file::read_text(f, "manifest").and_then(|text| manifests::objects(f, &text)) {
            Ok(mut objs) => objects.append(&mut objs),
            Err(e) => errors.extend(e.0),
        }
    }
    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    let mut found = Found { name: o.name.clone().unwrap_or_else(|| name_from(&files[0])), ..Found::default() };
    let cluster = k8s::read(&objects, &mut found);
    if cluster.workloads.is_empty() {
        return Err(arg_error(
            &files[0],
            format!(
                "no Deployment, StatefulSet or DaemonSet{} (a topology needs the workloads)",
                if files.len() > 1 { format!(" in any of the {} manifest files", files.len()) } else { String::new() }
            ),
        ));
    }
    let names = k8s::service_names(&cluster);
    k8s::services(&cluster, &names, &mut found);
    k8s::autoscalers(&objects, &cluster, &names, &mut found);
    for svc in &cluster.services {
        if svc.selector.is_empty() {
            found.summary.unmapped.push(format!("{}: no selector (an outside or hand-managed endpoint): no workload answers it", svc.from));
        } else if svc.backends.iter().all(|&b| cluster.workloads[b].replicas.is_none()) {
            let sel: Vec<String> = svc.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            found.summary.unmapped.push(format!(
                "{}: selects no running workload of the input ({}): calls to it are left out",
                svc.from,
                sel.join(",")
            ));
        }
    }
    let mut edges = guessed_edges(&cluster, &names, &mut found);
    let seen = observed::read(o, &cluster, &names, &mut found)?;
    edges.extend(seen.edges.iter().cloned());
    let loads = load_generators(&cluster, &names, &mut edges, &seen, &mut found);
    callgraph::assemble(&mut found, edges);
    found.loads = loads;
    entries(&cluster, &names, &seen, &mut found);
    let calls: usize = found.services.iter().map(|s| s.calls.len()).sum();
    if calls == 0 {
        found.summary.unmapped.push(
            "the call graph: no input names a callee (no address variable names a Service of the input): the topology has no calls; traces (OTLP JSON, Zipkin v2 or Jaeger JSON) or the mesh's request metrics (istio_requests_total, Linkerd's response_total) would give them"
                .into(),
        );
    } else {
        let guessed = found.services.iter().flat_map(|s| &s.calls).filter(|c| c.evidence == Evidence::Guessed).count();
        found.summary.inferred.push(format!(
            "{calls} calls between services{}",
            if guessed > 0 {
                format!(", {guessed} guessed from address variables (whom a service can reach; rates and order defaulted)")
            } else {
                String::new()
            }
        ));
    }
    k8s::nodes(&objects, &mut found);
    k8s::namespaces(&objects, &cluster, &mut found);
    summarise_defaults(&mut found);
    let inputs: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let text = write::topology_text(&found, &write::Settings { models_dir: &o.models_dir, profile: &o.profile, inputs: &inputs });
    Ok(Imported { found, text })
}

/// Calls from address variables, split among the workloads a Service selects by their replicas.
fn guessed_edges(cluster: &k8s::Cluster, names: &[String], found: &mut Found) -> Vec<Edge> {
    let (guesses, misses) = env_calls::guesses(cluster);
    for m in misses {
        found.summary.unmapped.push(format!("{} = {:?}: {}", m.var.from, m.var.value, m.why));
    }
    let mut edges = Vec::new();
    for g in guesses {
        let svc = &cluster.services[g.service];
        let backends: Vec<usize> = svc.backends.iter().copied().filter(|&b| cluster.workloads[b].replicas.is_some()).collect();
        let total: u32 = backends.iter().map(|&b| cluster.workloads[b].replicas.as_ref().map_or(0, |r| r.value)).sum();
        for &b in &backends {
            let share = cluster.workloads[b].replicas.as_ref().map_or(0, |r| r.value) as f64 / total.max(1) as f64;
            let per_request = (backends.len() > 1).then(|| {
                Sourced::default(
                    share,
                    &format!("one call per request, split by replicas among the {} workloads {} selects", backends.len(), svc.from),
                )
            });
            edges.push(Edge {
                from: names[g.from].clone(),
                to: names[b].clone(),
                per_request,
                mode: None,
                evidence: Evidence::Guessed,
                cite: format!("{} = {:?}", g.var.from, g.var.value),
            });
        }
    }
    edges
}

fn env_number<T: std::str::FromStr>(w: &k8s::Workload, vars: &[&str]) -> Option<(T, String)> {
    w.containers.iter().flat_map(|c| &c.env).find_map(|e| {
        vars.iter()
            .any(|v| e.name.eq_ignore_ascii_case(v))
            .then(|| e.value.trim().parse::<T>().ok().map(|n| (n, format!("{} = {:?}", e.from, e.value))))
            .flatten()
    })
}

/// Workloads that send the end-user load: named or built like a load generator, and called
/// by nobody. Their calls become the topology's loads, from them.
fn load_generators(
    cluster: &k8s::Cluster,
    names: &[String],
    edges: &mut Vec<Edge>,
    seen: &observed::Observed,
    found: &mut Found,
) -> Vec<Load> {
    let mut loads = Vec::new();
    for (i, w) in cluster.workloads.iter().enumerate() {
        let Some(replicas) = &w.replicas else { continue };
        let name = &names[i];
        let hint = |t: &str| {
            let t = t.to_ascii_lowercase();
            LOAD_GENERATORS.iter().any(|g| t.split(['/', ':', '-', '_', '.', '@']).any(|part| part == *g) || t.contains(g) && g.len() > 3)
        };
        let looks = hint(&w.name)
            || w.containers.iter().any(|c| hint(&c.image))
            || env_number::<u32>(w, USER_VARS).is_some()
            || env_number::<f64>(w, RATE_VARS).is_some();
        let called = edges.iter().any(|e| &e.to == name);
        let mut targets: Vec<String> = Vec::new();
        for e in edges.iter().filter(|e| &e.from == name) {
            if !targets.contains(&e.to) {
                targets.push(e.to.clone());
            }
        }
        if !looks || called || targets.is_empty() {
            continue;
        }
        edges.retain(|e| &e.from != name);
        if let Some(s) = found.service_mut(name) {
            s.is_load_generator = true;
        }
        let users = env_number::<u32>(w, USER_VARS).filter(|(n, _)| *n > 0);
        let rate = env_number::<f64>(w, RATE_VARS).filter(|(r, _)| r.is_finite() && *r > 0.0);
        for e in w
            .containers
            .iter()
            .flat_map(|c| &c.env)
            .filter(|e| e.name.eq_ignore_ascii_case("RATE") || e.name.eq_ignore_ascii_case("SPAWN_RATE"))
        {
            found
                .summary
                .unmapped
                .push(format!("{} = {:?}: not read as a request rate (Locust's RATE is users started per second)", e.from, e.value));
        }
        let n = targets.len();
        for (k, to) in targets.iter().enumerate() {
            if let Some(r) = seen.rates.get(&(name.clone(), to.clone())) {
                loads.push(Load {
                    from_service: Some(name.clone()),
                    to: to.clone(),
                    kind: LoadKind::Open { rate_rps: r.clone() },
                    from: format!("load generator {} ({}) sends to {to}", name, w.from),
                });
                continue;
            }
            let kind = match (&users, &rate) {
                (Some((u, from)), _) => {
                    let total = u * replicas.value;
                    // Users split evenly over the targets, the first ones taking the remainder.
                    let share = (total / n as u32 + u32::from((k as u32) < total % n as u32)).max(1);
                    let why = if n > 1 {
                        format!("{from}, × {} replicas, split over {n} targets", replicas.value)
                    } else {
                        format!("{from} users × {} replicas: closed loop", replicas.value)
                    };
                    LoadKind::Closed {
                        connections: Sourced::new(share, why),
                        think: Sourced::default(
                            Work { dist: "exponential", mean_ns: 1_000_000_000, cv: None },
                            "1s between a user's requests (the load generator's script sets it, not its manifest)",
                        ),
                    }
                }
                (None, Some((r, from))) => LoadKind::Open {
                    rate_rps: Sourced::new(r * replicas.value as f64 / n as f64, format!("{from} × {} replicas", replicas.value)),
                },
                (None, None) => LoadKind::Open {
                    rate_rps: Sourced::default(DEFAULT_ENTRY_RPS, "100rps (the load generator's environment gives no users or rate)"),
                },
            };
            loads.push(Load {
                from_service: Some(name.clone()),
                to: to.clone(),
                kind,
                from: format!("load generator {} ({}) sends to {to}", name, w.from),
            });
        }
        found
            .summary
            .inferred
            .push(format!("{name} is the load generator (named or built like one, called by nobody): its {n} callees are the entry"));
    }
    loads
}

/// Without a load generator: load at the Services exposed outside (LoadBalancer, NodePort,
/// routes), else at every service nobody calls.
fn entries(cluster: &k8s::Cluster, names: &[String], seen: &observed::Observed, found: &mut Found) {
    if !found.loads.is_empty() {
        return;
    }
    if !seen.entries.is_empty() {
        for (to, rate) in &seen.entries {
            found.loads.push(Load {
                from_service: None,
                to: to.clone(),
                kind: LoadKind::Open { rate_rps: rate.clone() },
                from: format!("requests into {to} from outside the mesh"),
            });
        }
        return;
    }
    let called: Vec<String> = found.services.iter().flat_map(|s| s.calls.iter().map(|c| c.to.clone())).collect();
    let mut targets: Vec<(String, String)> = Vec::new();
    let add = |name: &str, why: String, targets: &mut Vec<(String, String)>| {
        if !targets.iter().any(|(n, _)| n == name) && targets.len() < crate::limits::MAX_LOADS {
            targets.push((name.to_string(), why));
        }
    };
    for svc in &cluster.services {
        let routed = cluster.routed.iter().find(|(ns, n, _)| *ns == svc.namespace && *n == svc.name);
        if !(svc.exposed || routed.is_some()) {
            continue;
        }
        let why = match routed {
            Some((_, _, cite)) => format!("{cite} routes outside traffic to Service {}", svc.name),
            None => format!("{} is exposed outside the cluster", svc.from),
        };
        for &b in &svc.backends {
            if cluster.workloads[b].replicas.is_some() {
                add(&names[b], why.clone(), &mut targets);
            }
        }
    }
    if targets.is_empty() {
        for s in &found.services {
            if !called.contains(&s.name) {
                add(
                    &s.name,
                    format!(
                        "default: {} is called by no other service (no exposed Service or load generator says where the load enters)",
                        s.name
                    ),
                    &mut targets,
                );
            }
        }
    }
    let n = targets.len();
    for (to, why) in targets {
        found.loads.push(Load {
            from_service: None,
            to,
            kind: LoadKind::Open {
                rate_rps: Sourced::default(
                    DEFAULT_ENTRY_RPS / n as f64,
                    &format!("{DEFAULT_ENTRY_RPS}rps in all, split over {n} entries (the inputs give no rate)"),
                ),
            },
            from: why,
        });
    }
    found.summary.defaulted.push(format!(
        "the entry load: {DEFAULT_ENTRY_RPS}rps open loop over {n} entries (no load generator in the inputs; --rps on compare changes it)"
    ));
}

/// The defaults the summary lists once each, with how many values took them.
fn summarise_defaults(found: &mut Found) {
    let svcs = found.services.iter().filter(|s| !s.is_load_generator && s.cpu.is_default()).count();
    let mut d = Vec::new();
    if svcs > 0 {
        d.push(format!("CPU per request: 1ms (exponential) for {svcs} services no trace covers; the manifests give no service time"));
    }
    let no_req = found.services.iter().filter(|s| s.cpu_request_millicores.is_none()).count();
    if no_req > 0 {
        d.push(format!("CPU request: the topology's 100m for {no_req} services that set none"));
    }
    let no_mem = found.services.iter().filter(|s| s.memory_request_bytes.is_none()).count();
    if no_mem > 0 {
        d.push(format!("memory request: the topology's 64Mi for {no_mem} services that set none"));
    }
    let proto = found.services.iter().filter(|s| s.protocol.is_default()).count();
    if proto > 0 {
        d.push(format!("protocol: http1 for {proto} services whose Service ports name none"));
    }
    let calls: Vec<_> = found.services.iter().flat_map(|s| &s.calls).collect();
    let rate = calls.iter().filter(|c| c.per_request.is_default()).count();
    if rate > 0 {
        d.push(format!("calls per request: 1 for {rate} calls no source measured"));
    }
    let mode = calls.iter().filter(|c| c.mode.is_default()).count();
    if mode > 0 {
        d.push(format!("call order: sequential for {mode} calls with no span timing"));
    }
    for l in &found.loads {
        if let LoadKind::Closed { think, .. } = &l.kind {
            if think.is_default() {
                d.push(format!("think time of {}'s users: 1s (exponential)", l.from_service.as_deref().unwrap_or("the load")));
                break;
            }
        }
    }
    d.push(
        "request and response sizes: the topology's 1KiB; network latency: the topology's defaults; duration 20s, warm-up 4s, seed 1"
            .into(),
    );
    let mut rest = std::mem::take(&mut found.summary.defaulted);
    d.append(&mut rest);
    found.summary.defaulted = d;
    // The counts first.
    let pods: u32 = found.services.iter().map(|s| s.replicas.value).sum();
    let req = found.services.iter().filter(|s| s.cpu_request_millicores.is_some()).count();
    let lim = found.services.iter().filter(|s| s.cpu_limit_millicores.is_some()).count();
    found.summary.inferred.insert(
        0,
        format!(
            "{} services ({pods} pods) in {} namespaces; CPU and memory requests of {req}, CPU limits of {lim}",
            found.services.len(),
            {
                let mut ns: Vec<&str> = found.services.iter().map(|s| s.namespace.value.as_str()).collect();
                ns.sort();
                ns.dedup();
                ns.len()
            }
        ),
    );
}
