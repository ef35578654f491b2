//! What an import found, before it is written: the services, nodes, namespaces, calls and
//! loads of a topology, every value with where it came from, and the summary of what was
//! inferred, defaulted and could not be mapped.

use std::collections::BTreeMap;

/// A value and its source: a place in an input (`file:line Kind ns/name field`) or
/// `default: why`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub from: String,
}

impl<T> Sourced<T> {
    pub fn new(value: T, from: impl Into<String>) -> Self {
        Sourced { value, from: from.into() }
    }

    /// A default, its reason written after `default: `.
    pub fn default(value: T, why: &str) -> Self {
        Sourced { value, from: format!("default: {why}") }
    }

    pub fn is_default(&self) -> bool {
        self.from.starts_with("default: ")
    }
}

/// A distribution of time per request.
#[derive(Clone, Debug, PartialEq)]
pub struct Work {
    /// "constant", "exponential" or "lognormal".
    pub dist: &'static str,
    pub mean_ns: u64,
    pub cv: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Namespace {
    pub name: String,
    /// "none", "sidecar" or "ambient", from the mesh's own switches.
    pub placement: Option<Sourced<&'static str>>,
    /// Waypoint scope ("namespace" or "service") and replicas.
    pub waypoint: Option<Sourced<(&'static str, u32)>>,
}

#[derive(Clone, Debug)]
pub struct NodeGroup {
    pub name: String,
    pub count: usize,
    pub zone: Option<Sourced<String>>,
    pub vcpu: Sourced<f64>,
    pub memory_bytes: Sourced<u64>,
    pub max_pods: Option<Sourced<u32>>,
    /// Where the group itself came from.
    pub from: String,
}

/// How a call's mode, count and rate were found: the order of trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Evidence {
    /// An address in a container's environment names the callee's Service.
    Guessed,
    /// The mesh's request metrics between the two workloads.
    Metrics,
    /// Traces: spans of the caller's requests with a child span in the callee.
    Traces,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub to: String,
    /// Calls per request of the caller (mean; written as a count and a probability).
    pub per_request: Sourced<f64>,
    pub mode: Sourced<&'static str>,
    pub evidence: Evidence,
    /// Where the edge itself came from.
    pub from: String,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub namespace: Sourced<String>,
    pub replicas: Sourced<u32>,
    pub cpu_request_millicores: Option<Sourced<f64>>,
    pub memory_request_bytes: Option<Sourced<u64>>,
    pub cpu_limit_millicores: Option<Sourced<f64>>,
    pub protocol: Sourced<&'static str>,
    pub cpu: Sourced<Work>,
    pub request_bytes: Option<Sourced<u64>>,
    pub response_bytes: Option<Sourced<u64>>,
    pub calls: Vec<Call>,
    /// Where the workload came from (`file:line Deployment ns/name`).
    pub from: String,
    /// It sends the end-user load (a load generator), not a service others call.
    pub is_load_generator: bool,
}

#[derive(Clone, Debug)]
pub struct Load {
    pub from_service: Option<String>,
    pub to: String,
    /// Open loop at this rate, or closed loop over this many connections.
    pub kind: LoadKind,
    pub from: String,
}

#[derive(Clone, Debug)]
pub enum LoadKind {
    Open { rate_rps: Sourced<f64> },
    Closed { connections: Sourced<u32>, think: Sourced<Work> },
}

/// Everything an import found.
#[derive(Clone, Debug, Default)]
pub struct Found {
    pub name: String,
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<NodeGroup>,
    pub services: Vec<Service>,
    pub loads: Vec<Load>,
    pub summary: Summary,
}

impl Found {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn service_mut(&mut self, name: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.name == name)
    }
}

/// What the summary lists, in four parts.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Read from the inputs (counts and the call graph's source).
    pub inferred: Vec<String>,
    /// Not in the inputs: a default written, visibly.
    pub defaulted: Vec<String>,
    /// In the inputs, but not expressible in a topology (or inconsistent): left out, and why.
    pub unmapped: Vec<String>,
    /// Kinds read and not used, with how many objects of each.
    pub unused_kinds: BTreeMap<String, usize>,
}

impl Summary {
    /// The summary as the terminal shows it.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for (title, lines) in [("inferred", &self.inferred), ("defaulted", &self.defaulted), ("not mapped", &self.unmapped)] {
            let _ = writeln!(s, "{title} ({}):", lines.len());
            for l in lines {
                let _ = writeln!(s, "  - {l}");
            }
        }
        if !self.unused_kinds.is_empty() {
            let kinds: Vec<String> = self.unused_kinds.iter().map(|(k, n)| if *n == 1 { k.clone() } else { format!("{k} ×{n}") }).collect();
            let _ = writeln!(s, "kinds not used: {}", kinds.join(", "));
        }
        s
    }
}
