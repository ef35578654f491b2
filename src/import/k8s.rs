//! Kubernetes objects to what a topology holds: workloads (Deployments, StatefulSets,
//! DaemonSets) become services with their replicas, requests and limits; Services say which
//! workload answers a name and which protocol it speaks; Nodes give the node types;
//! HorizontalPodAutoscalers the replicas; namespace and pod labels the mesh's placement.

use std::collections::{BTreeMap, HashMap};

use super::manifests::Object;
use super::model::{Found, Namespace, NodeGroup, Service, Sourced, Work};
use super::yaml::Node;

/// Kubernetes' namespace for objects that name none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A pod's container, as far as the topology cares.
#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub cpu_request: Option<Sourced<f64>>,
    pub memory_request: Option<Sourced<u64>>,
    pub cpu_limit: Option<Sourced<f64>>,
    pub memory_limit: Option<Sourced<u64>>,
    pub env: Vec<EnvVar>,
}

/// One environment variable with its value resolved (ConfigMaps included).
#[derive(Clone, Debug)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub from: String,
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub namespace: String,
    /// `metadata.namespace` was written (else Kubernetes' default).
    pub namespace_given: bool,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    /// `None`: scaled to zero (left out).
    pub replicas: Option<Sourced<u32>>,
    pub containers: Vec<Container>,
    pub from: String,
}

#[derive(Clone, Debug)]
pub struct ServicePort {
    pub name: String,
    pub app_protocol: Option<String>,
}

#[derive(Clone, Debug)]
pub struct KService {
    pub name: String,
    pub namespace: String,
    pub selector: Vec<(String, String)>,
    pub ports: Vec<ServicePort>,
    pub exposed: bool,
    pub labels: Vec<(String, String)>,
    pub from: String,
    /// Indices into the workloads it selects.
    pub backends: Vec<usize>,
}

/// The objects of the input sorted by what they give.
#[derive(Default)]
pub struct Cluster {
    pub workloads: Vec<Workload>,
    pub services: Vec<KService>,
    /// `(namespace, service name)` of Services that Ingresses, Gateways' routes or
    /// VirtualServices send outside traffic to.
    pub routed: Vec<(String, String, String)>,
}

fn pairs(n: Option<&Node>) -> Vec<(String, String)> {
    n.map(|n| n.entries().iter().filter_map(|(k, v)| v.text().map(|t| (k.clone(), t.to_string()))).collect()).unwrap_or_default()
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A Kubernetes memory quantity (`64Mi`, `128M`, `1G`, `1e9`, `512Ki`, plain bytes) in bytes.
pub fn k8s_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E').unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let value: f64 = num.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        _ => return None,
    };
    let b = value * scale;
    (b.is_finite() && b >= 0.0 && b < (1u64 << 50) as f64).then_some(b.round() as u64)
}

/// A Kubernetes CPU quantity (`100m`, `0.5`, `2`) in millicores.
pub fn k8s_millicores(text: &str) -> Option<f64> {
    crate::units::parse_millicores(text.trim()).ok().filter(|m| m.is_finite() && *m >= 0.0 && *m <= crate::limits::MAX_MILLICORES)
}

/// Sort the objects; what no mapping uses is counted in `found.summary.unused_kinds`.
pub fn read(objects: &[Object], found: &mut Found) -> Cluster {
    let mut cluster = Cluster::default();
    let s = &mut found.summary;
    let configmaps: HashMap<(String, String), &Object> =
        objects.iter().filter(|o| o.kind == "ConfigMap").map(|o| ((namespace(o), o.name.clone()), o)).collect();
    let node_count = objects.iter().filter(|o| o.kind == "Node").count();
    for o in objects {
        match o.kind.as_str() {
            // Argo Rollouts and OpenShift DeploymentConfigs hold a pod template as a Deployment does.
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Rollout" | "DeploymentConfig" => {
                if let Some(w) = workload(o, &configmaps, node_count, s) {
                    cluster.workloads.push(w);
                }
            }
            "Service" => cluster.services.push(service(o)),
            "Ingress" => {
                for rule in o.node.at("spec.rules").map(|r| r.items()).unwrap_or_default() {
                    for p in rule.at("http.paths").map(|p| p.items()).unwrap_or_default() {
                        if let Some(n) = p.text_at("backend.service.name").or_else(|| p.text_at("backend.serviceName")) {
                            cluster.routed.push((namespace(o), n.to_string(), o.cite()));
                        }
                    }
                }
                if let Some(n) = o.node.text_at("spec.defaultBackend.service.name") {
                    cluster.routed.push((namespace(o), n.to_string(), o.cite()));
                }
            }
            "HTTPRoute" | "GRPCRoute" | "TCPRoute" => {
                for rule in o.node.at("spec.rules").map(|r| r.items()).unwrap_or_default() {
                    for b in rule.get("backendRefs").map(|b| b.items()).unwrap_or_default() {
                        if let Some(n) = b.text_at("name") {
                            let ns = b.text_at("namespace").map(str::to_string).unwrap_or_else(|| namespace(o));
                            cluster.routed.push((ns, n.to_string(), o.cite()));
                        }
                    }
                }
            }
            "VirtualService" => {
                for h in o.node.at("spec.http").map(|r| r.items()).unwrap_or_default() {
                    for r in h.get("route").map(|r| r.items()).unwrap_or_default() {
                        if let Some(host) = r.text_at("destination.host") {
                            let mut parts = host.split('.');
                            let name = parts.next().unwrap_or_default().to_string();
                            let ns = parts.next().map(str::to_string).unwrap_or_else(|| namespace(o));
                            cluster.routed.push((ns, name, o.cite()));
                        }
                    }
                }
            }
            "Namespace" | "Node" | "HorizontalPodAutoscaler" | "ConfigMap" => {}
            "Gateway" if o.node.text_at("spec.gatewayClassName") == Some("istio-waypoint") => {}
            other => *s.unused_kinds.entry(other.to_string()).or_insert(0) += 1,
        }
    }
    // Which workloads answer each Service: those in its namespace whose pod labels hold its selector.
    for svc in &mut cluster.services {
        if svc.selector.is_empty() {
            continue;
        }
        svc.backends = cluster
            .workloads
            .iter()
            .enumerate()
            .filter(|(_, w)| w.namespace == svc.namespace && svc.selector.iter().all(|(k, v)| lookup(&w.labels, k) == Some(v)))
            .map(|(i, _)| i)
            .collect();
    }
    cluster
}

/// An object's namespace, Kubernetes' default when it names none.
pub fn namespace(o: &Object) -> String {
    o.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
}

fn workload(
    o: &Object,
    configmaps: &HashMap<(String, String), &Object>,
    node_count: usize,
    s: &mut super::model::Summary,
) -> Option<Workload> {
    let ns = namespace(o);
    if o.name.is_empty() {
        s.unmapped.push(format!("{}: a workload without a name (generateName only): left out", o.cite()));
        return None;
    }
    // A ReplicaSet that a Deployment owns is that Deployment's (as `kubectl get all` lists both).
    if o.kind == "ReplicaSet" && o.node.at("metadata.ownerReferences").is_some_and(|r| !r.items().is_empty()) {
        *s.unused_kinds.entry("ReplicaSet (owned)".into()).or_insert(0) += 1;
        return None;
    }
    let template = o.node.at("spec.template");
    let labels = pairs(template.and_then(|t| t.at("metadata.labels")));
    let annotations = pairs(template.and_then(|t| t.at("metadata.annotations")));
    let replicas = if o.kind == "DaemonSet" {
        if node_count > 0 {
            Some(Sourced::new(node_count as u32, format!("{}: one pod on each of the {node_count} Nodes", o.cite())))
        } else {
            Some(Sourced::default(3, &format!("{}: a DaemonSet runs a pod on every node; one on each of 3 default nodes", o.cite())))
        }
    } else {
        match o.node.at("spec.replicas") {
            None => Some(Sourced::default(1, &format!("Kubernetes' 1 replica ({} sets no spec.replicas)", o.cite()))),
            Some(r) => match r.text().and_then(|t| t.parse::<i64>().ok()) {
                Some(0) => {
                    s.unmapped.push(format!("{}: 0 replicas (scaled to zero): left out, with the calls to it", o.cite()));
                    None
                }
                Some(n) if (1..=crate::limits::MAX_REPLICAS).contains(&n) => Some(Sourced::new(n as u32, o.cite_at(r, "spec.replicas"))),
                _ => {
                    s.unmapped.push(format!(
                        "{}: spec.replicas `{}` is not a replica count the topology takes: 1 written",
                        o.cite_at(r, ""),
                        r.text().unwrap_or("?")
                    ));
                    Some(Sourced::default(1, &format!("{} spec.replicas could not be read", o.cite())))
                }
            },
        }
    };
    let replicas = replicas?;
    let spec = template.and_then(|t| t.get("spec"));
    let containers = spec
        .and_then(|p| p.get("containers"))
        .map(|c| c.items())
        .unwrap_or_default()
        .iter()
        .map(|c| container(o, &ns, c, configmaps))
        .collect();
    Some(Workload {
        name: o.name.clone(),
        namespace: ns,
        namespace_given: o.namespace.is_some(),
        labels,
        annotations,
        replicas: Some(replicas),
        containers,
        from: o.cite(),
    })
}

fn container(o: &Object, ns: &str, c: &Node, configmaps: &HashMap<(String, String), &Object>) -> Container {
    let name = c.text_at("name").unwrap_or_default().to_string();
    let field = |path: &str| c.at(path).map(|n| (n, format!("container {name} {path}")));
    let cpu = |path: &str| field(path).and_then(|(n, f)| n.text().and_then(k8s_millicores).map(|v| Sourced::new(v, o.cite_at(n, &f))));
    let mem = |path: &str| field(path).and_then(|(n, f)| n.text().and_then(k8s_bytes).map(|v| Sourced::new(v, o.cite_at(n, &f))));
    let mut env = Vec::new();
    for e in c.get("env").map(|e| e.items()).unwrap_or_default() {
        let Some(var) = e.text_at("name") else { continue };
        if let Some(v) = e.get("value").and_then(Node::text) {
            env.push(EnvVar { name: var.to_string(), value: v.to_string(), from: o.cite_at(e, &format!("container {name} env {var}")) });
        } else if let (Some(cm), Some(key)) = (e.text_at("valueFrom.configMapKeyRef.name"), e.text_at("valueFrom.configMapKeyRef.key")) {
            if let Some(m) = configmaps.get(&(ns.to_string(), cm.to_string())) {
                if let Some(v) = m.node.at("data").and_then(|d| d.get(key)) {
                    if let Some(t) = v.text() {
                        env.push(EnvVar {
                            name: var.to_string(),
                            value: t.to_string(),
                            from: m.cite_at(v, &format!("data.{key} (env {var} of {})", o.name)),
                        });
                    }
                }
            }
        }
    }
    for f in c.get("envFrom").map(|e| e.items()).unwrap_or_default() {
        let Some(cm) = f.text_at("configMapRef.name") else { continue };
        let prefix = f.text_at("prefix").unwrap_or_default();
        if let Some(m) = configmaps.get(&(ns.to_string(), cm.to_string())) {
            for (k, v) in m.node.at("data").map(|d| d.entries()).unwrap_or_default() {
                if let Some(t) = v.text() {
                    env.push(EnvVar {
                        name: format!("{prefix}{k}"),
                        value: t.to_string(),
                        from: m.cite_at(v, &format!("data.{k} (envFrom of {})", o.name)),
                    });
                }
            }
        }
    }
    Container {
        image: c.text_at("image").unwrap_or_default().to_string(),
        cpu_request: cpu("resources.requests.cpu"),
        memory_request: mem("resources.requests.memory"),
        cpu_limit: cpu("resources.limits.cpu"),
        memory_limit: mem("resources.limits.memory"),
        env,
        name,
    }
}

fn service(o: &Object) -> KService {
    let ports = o
        .node
        .at("spec.ports")
        .map(|p| p.items())
        .unwrap_or_default()
        .iter()
        .map(|p| ServicePort {
            name: p.text_at("name").unwrap_or_default().to_string(),
            app_protocol: p.text_at("appProtocol").map(str::to_string),
        })
        .collect();
    let kind = o.node.text_at("spec.type").unwrap_or("ClusterIP");
    KService {
        name: o.name.clone(),
        namespace: namespace(o),
        selector: pairs(o.node.at("spec.selector")),
        ports,
        exposed: kind == "LoadBalancer" || kind == "NodePort",
        labels: pairs(o.node.at("metadata.labels")),
        from: o.cite(),
        backends: Vec::new(),
    }
}

/// Sidecar proxies written into a pod template (a `kubectl get` of injected pods) are the
/// mesh's, not the application's.
fn is_proxy(c: &Container) -> bool {
    matches!(c.name.as_str(), "istio-proxy" | "linkerd-proxy" | "istio-init" | "linkerd-init")
}

/// The protocol a Service port's name or `appProtocol` says (Istio's port naming).
fn port_protocol(p: &ServicePort) -> Option<&'static str> {
    let name = p.app_protocol.as_deref().unwrap_or(&p.name).to_ascii_lowercase();
    let head = name.split(['-', '/', '.']).next().unwrap_or_default();
    Some(match head {
        "grpc" | "grpc-web" => "grpc",
        "http2" | "h2c" | "h2" => "http2",
        "http" | "https" | "web" => "http1",
        "tcp" | "tls" | "redis" | "mongo" | "mongodb" | "mysql" | "postgres" | "postgresql" | "kafka" | "amqp" | "memcached"
        | "zookeeper" | "nats" | "cassandra" | "elasticsearch" => "tcp",
        _ => return None,
    })
}

/// Sum of the application containers' values (with `all`, only when every container has one:
/// a pod's CPU quota is the sum of its containers' limits, and none when one has none).
fn sum<T: Copy + std::iter::Sum<T>>(cs: &[&Container], get: impl Fn(&Container) -> Option<&Sourced<T>>, all: bool) -> Option<Sourced<T>> {
    let vals: Vec<&Sourced<T>> = cs.iter().filter_map(|c| get(c)).collect();
    if vals.is_empty() || (all && vals.len() < cs.len()) {
        return None;
    }
    let total: T = vals.iter().map(|v| v.value).sum();
    let from = if vals.len() == 1 {
        vals[0].from.clone()
    } else {
        format!("sum of {} containers: {}", vals.len(), vals.iter().map(|v| v.from.as_str()).collect::<Vec<_>>().join("; "))
    };
    Some(Sourced::new(total, from))
}

/// The topology's name of each workload: its own, or `name.namespace` where two namespaces
/// share a name.
pub fn service_names(cluster: &Cluster) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for w in &cluster.workloads {
        *count.entry(&w.name).or_insert(0) += 1;
    }
    cluster
        .workloads
        .iter()
        .map(|w| if count[w.name.as_str()] > 1 { format!("{}.{}", w.name, w.namespace) } else { w.name.clone() })
        .collect()
}

/// Services of the topology, one per workload (calls come later).
pub fn services(cluster: &Cluster, names: &[String], found: &mut Found) {
    let mut mem_limits = 0;
    for (i, w) in cluster.workloads.iter().enumerate() {
        let Some(replicas) = w.replicas.clone() else { continue };
        let app: Vec<&Container> = w.containers.iter().filter(|c| !is_proxy(c)).collect();
        let protocol = cluster
            .services
            .iter()
            .filter(|svc| svc.backends.contains(&i))
            .flat_map(|svc| {
                svc.ports.iter().filter_map(port_protocol).map(move |p| {
                    (p, format!("{} port {}", svc.from, svc.ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(",")))
                })
            })
            .next()
            .map(|(p, from)| Sourced::new(p, from))
            .unwrap_or_else(|| {
                Sourced::default(
                    "http1",
                    "no Service port of this workload names its protocol (name ports grpc-*, http-*, tcp-* or set appProtocol)",
                )
            });
        if sum(&app, |c| c.memory_limit.as_ref(), false).is_some() {
            mem_limits += 1;
        }
        found.services.push(Service {
            name: names[i].clone(),
            namespace: if w.namespace_given {
                Sourced::new(w.namespace.clone(), format!("{} metadata.namespace", w.from))
            } else {
                Sourced::default(w.namespace.clone(), "Kubernetes' namespace for objects that name none (kubectl -n chooses another)")
            },
            replicas,
            cpu_request_millicores: sum(&app, |c| c.cpu_request.as_ref(), false),
            memory_request_bytes: sum(&app, |c| c.memory_request.as_ref(), false),
            cpu_limit_millicores: sum(&app, |c| c.cpu_limit.as_ref(), true),
            protocol,
            cpu: Sourced::default(
                Work { dist: "exponential", mean_ns: 1_000_000, cv: None },
                "1ms of CPU per request (manifests give no service time; traces do)",
            ),
            request_bytes: None,
            response_bytes: None,
            calls: Vec::new(),
            from: w.from.clone(),
            is_load_generator: false,
        });
    }
    if mem_limits > 0 {
        found
            .summary
            .unmapped
            .push(format!("memory limits of {mem_limits} workloads: read, not simulated (a topology has no memory limit per service)"));
    }
}

/// HorizontalPodAutoscalers: their minimum replicas where more than the workload's.
pub fn autoscalers(objects: &[Object], cluster: &Cluster, names: &[String], found: &mut Found) {
    for o in objects.iter().filter(|o| o.kind == "HorizontalPodAutoscaler") {
        let ns = namespace(o);
        let target = o.node.text_at("spec.scaleTargetRef.name").unwrap_or_default();
        let Some(i) = cluster.workloads.iter().position(|w| w.name == target && w.namespace == ns) else {
            found.summary.unmapped.push(format!("{}: scales `{target}`, which is not a workload of the input", o.cite()));
            continue;
        };
        let min = o
            .node
            .at("spec.minReplicas")
            .and_then(|n| n.text().and_then(|t| t.parse::<u32>().ok()).map(|v| (v.min(crate::limits::MAX_REPLICAS as u32), n)))
            .unwrap_or((1, &o.node));
        let max = o.node.text_at("spec.maxReplicas").unwrap_or("?").to_string();
        let Some(svc) = found.service_mut(&names[i]) else { continue };
        if min.0 > svc.replicas.value || svc.replicas.is_default() {
            svc.replicas = Sourced::new(min.0.max(1), o.cite_at(min.1, "spec.minReplicas"));
        }
        let written = svc.replicas.value;
        found.summary.unmapped.push(format!(
            "{}: autoscaling up to {max} replicas is not simulated: {written} written; `meshsim capacity --autoscale` plans replicas",
            o.cite()
        ));
    }
}

/// Node objects as node types of one node each (allocatable CPU and memory, zone label), or
/// default nodes with room for the pods' requests.
pub fn nodes(objects: &[Object], found: &mut Found) {
    for o in objects.iter().filter(|o| o.kind == "Node") {
        let alloc = o.node.at("status.allocatable").or_else(|| o.node.at("status.capacity"));
        let cpu = alloc
            .and_then(|a| a.get("cpu"))
            .and_then(|n| n.text().and_then(k8s_millicores).map(|m| Sourced::new(m / 1000.0, o.cite_at(n, "status.allocatable.cpu"))));
        let mem = alloc
            .and_then(|a| a.get("memory"))
            .and_then(|n| n.text().and_then(k8s_bytes).map(|b| Sourced::new(b, o.cite_at(n, "status.allocatable.memory"))));
        let pods = alloc
            .and_then(|a| a.get("pods"))
            .and_then(|n| n.text().and_then(|t| t.parse::<u32>().ok()).map(|p| Sourced::new(p, o.cite_at(n, "status.allocatable.pods"))));
        let labels = o.node.at("metadata.labels");
        let zone = labels
            .and_then(|l| l.get("topology.kubernetes.io/zone").or_else(|| l.get("failure-domain.beta.kubernetes.io/zone")))
            .and_then(|n| n.text().map(|z| Sourced::new(z.to_string(), o.cite_at(n, "label topology.kubernetes.io/zone"))));
        let (Some(vcpu), Some(memory)) = (cpu.filter(|c| c.value > 0.0), mem.filter(|m| m.value > 0)) else {
            found.summary.unmapped.push(format!("{}: no allocatable CPU and memory (status.allocatable): left out", o.cite()));
            continue;
        };
        found.nodes.push(NodeGroup { name: o.name.clone(), count: 1, zone, vcpu, memory_bytes: memory, max_pods: pods, from: o.cite() });
    }
    if !found.nodes.is_empty() {
        found.summary.inferred.push(format!("{} nodes from Node objects (allocatable CPU and memory, zones)", found.nodes.len()));
        return;
    }
    // Room for every pod's requests at half of 8 cores and 32 GiB each, at least 3 nodes.
    let (mut cpu_m, mut mem, mut pods) = (0.0, 0u64, 0usize);
    for s in &found.services {
        let r = s.replicas.value as usize;
        cpu_m += s.cpu_request_millicores.as_ref().map_or(100.0, |c| c.value) * r as f64;
        mem += s.memory_request_bytes.as_ref().map_or(64 << 20, |m| m.value) * r as u64;
        pods += r;
    }
    let count =
        3usize.max((cpu_m / 4000.0).ceil() as usize).max((mem as f64 / (16u64 << 30) as f64).ceil() as usize).max(pods.div_ceil(100));
    let why = format!("no Node objects in the input: {count} nodes of 8 vCPU and 32Gi, room for the pods' requests at half full");
    found.summary.defaulted.push(why.clone());
    found.nodes.push(NodeGroup {
        name: "node".into(),
        count,
        zone: None,
        vcpu: Sourced::default(8.0, "8 vCPU a node (no Node objects in the input)"),
        memory_bytes: Sourced::default(32 << 30, "32Gi a node (no Node objects in the input)"),
        max_pods: None,
        from: format!("default: {why}"),
    });
}

/// A mesh switch's placement, from labels and annotations.
fn switch(labels: &[(String, String)], annotations: &[(String, String)], pod: bool) -> Option<(&'static str, String)> {
    let get = |k: &str| lookup(labels, k).or_else(|| lookup(annotations, k));
    if let Some(v) = get("istio.io/dataplane-mode") {
        return match v {
            "ambient" => Some(("ambient", "istio.io/dataplane-mode: ambient".into())),
            "none" => Some(("none", "istio.io/dataplane-mode: none".into())),
            _ => None,
        };
    }
    let inject = if pod { get("sidecar.istio.io/inject") } else { get("istio-injection") };
    let key = if pod { "sidecar.istio.io/inject" } else { "istio-injection" };
    match inject {
        Some("true" | "enabled") => return Some(("sidecar", format!("{key}: {}", inject.unwrap_or_default()))),
        Some("false" | "disabled") => return Some(("none", format!("{key}: {}", inject.unwrap_or_default()))),
        _ => {}
    }
    if !pod {
        if let Some(rev) = lookup(labels, "istio.io/rev") {
            return Some(("sidecar", format!("istio.io/rev: {rev}")));
        }
    }
    match get("linkerd.io/inject") {
        Some(v @ ("enabled" | "ingress")) => Some(("sidecar", format!("linkerd.io/inject: {v}"))),
        Some("disabled") => Some(("none", "linkerd.io/inject: disabled".into())),
        _ => None,
    }
}

/// A namespace, its own switch, and each workload's placement, why, and pods.
type NamespacePods = (String, Option<(&'static str, String)>, Vec<(&'static str, String, u32)>);

/// Namespaces with the placement their own switches (and their pods') give, and waypoints.
pub fn namespaces(objects: &[Object], cluster: &Cluster, found: &mut Found) {
    let mut names: Vec<String> = found.services.iter().map(|s| s.namespace.value.clone()).collect();
    names.sort();
    names.dedup();
    let ns_objects: BTreeMap<&str, &Object> = objects.iter().filter(|o| o.kind == "Namespace").map(|o| (o.name.as_str(), o)).collect();
    // Per namespace: each workload's switch (the pod's, else the namespace's).
    let mut any_switch = false;
    let mut per_ns: Vec<NamespacePods> = Vec::new();
    for ns in &names {
        let obj = ns_objects.get(ns.as_str());
        let ns_switch = obj.and_then(|o| {
            let labels = pairs(o.node.at("metadata.labels"));
            let ann = pairs(o.node.at("metadata.annotations"));
            switch(&labels, &ann, false).map(|(p, why)| (p, format!("{} label {why}", o.cite())))
        });
        any_switch |= ns_switch.is_some();
        let mut pods = Vec::new();
        for w in cluster.workloads.iter().filter(|w| &w.namespace == ns && w.replicas.is_some()) {
            let sw = switch(&w.labels, &w.annotations, true);
            any_switch |= sw.is_some();
            if let Some((p, why)) = sw {
                pods.push((p, format!("{} pod template {why}", w.from), w.replicas.as_ref().map_or(1, |r| r.value)));
            } else if let Some((p, why)) = &ns_switch {
                pods.push((*p, why.clone(), w.replicas.as_ref().map_or(1, |r| r.value)));
            } else {
                pods.push(("none", String::new(), w.replicas.as_ref().map_or(1, |r| r.value)));
            }
        }
        per_ns.push((ns.clone(), ns_switch, pods));
    }
    for (ns, ns_switch, pods) in per_ns {
        let placement = if !any_switch {
            None
        } else {
            // The placement of most pods; a namespace split between two is noted.
            let mut by: BTreeMap<&'static str, (u32, String)> = BTreeMap::new();
            for (p, why, n) in &pods {
                let e = by.entry(p).or_insert((0, why.clone()));
                e.0 += n;
                if e.1.is_empty() {
                    e.1 = why.clone();
                }
            }
            let best = by.iter().max_by_key(|(_, (n, _))| *n).map(|(p, (_, why))| (*p, why.clone()));
            if by.len() > 1 {
                found.summary.unmapped.push(format!(
                    "namespace {ns}: its pods are on {} placements ({}): a topology places whole namespaces, so all are written as {}",
                    by.len(),
                    by.iter().map(|(p, (n, _))| format!("{p}: {n} pods")).collect::<Vec<_>>().join(", "),
                    best.as_ref().map_or("none", |b| b.0)
                ));
            }
            best.map(|(p, why)| {
                if why.is_empty() {
                    Sourced::default(p, "no mesh switch on this namespace or its pods, while others have one: not meshed")
                } else {
                    Sourced::new(p, why)
                }
            })
            .or_else(|| ns_switch.map(|(p, why)| Sourced::new(p, why)))
        };
        let waypoint = ns_objects.get(ns.as_str()).and_then(|o| {
            pairs(o.node.at("metadata.labels")).iter().find(|(k, _)| k == "istio.io/use-waypoint").map(|(_, v)| {
                Sourced::new(
                    ("namespace", 1),
                    format!("{} label istio.io/use-waypoint: {v} (1 replica: the default of a waypoint)", o.cite()),
                )
            })
        });
        let waypoint = waypoint.or_else(|| {
            cluster.services.iter().find(|s| s.namespace == ns && lookup(&s.labels, "istio.io/use-waypoint").is_some()).map(|s| {
                Sourced::new(("service", 1), format!("{} label istio.io/use-waypoint (1 replica: the default of a waypoint)", s.from))
            })
        });
        found.namespaces.push(Namespace { name: ns, placement, waypoint });
    }
    if !any_switch {
        found.summary.inferred.push("no mesh switch in the inputs (istio-injection, sidecar.istio.io/inject, istio.io/dataplane-mode, linkerd.io/inject): every namespace takes the run's placement; compare shows each".into());
    }
}
