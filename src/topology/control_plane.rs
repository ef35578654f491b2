//! `[control_plane]`: how many replicas of each control-plane component the mesh runs, on
//! which nodes, and what each replica requests. Every key is optional; a key left out takes the
//! mesh's own default, which the component's model file gives (`[deploy]`, with its source):
//! Istio's Helm chart installs one istiod replica requesting 500m and 2048Mi, Linkerd's one
//! replica of each controller with no requests.
//!
//! ```toml
//! [control_plane]
//! replicas = 2                 # replicas of each component (1 to 100)
//! nodes = ["infra-*"]          # nodes it may run on: names, or a prefix written `prefix-*`
//! cpu_request = "500m"         # CPU request of each replica (its weight on a contended node)
//! memory_request = "2Gi"       # memory request of each replica
//! ```

use super::input::ControlPlaneInput;
use super::{Node, NodeId};
use crate::input_error::ErrorSink;
use crate::{limits, units};

/// Most replicas of one control-plane component.
pub const MAX_REPLICAS: i64 = 100;

/// Validated `[control_plane]` settings; `None` fields take the component model's default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControlPlaneConfig {
    pub replicas: Option<u32>,
    /// Nodes its replicas may run on; empty: every node.
    pub eligible_nodes: Vec<NodeId>,
    pub cpu_request_millicores: Option<f64>,
    pub memory_request_bytes: Option<u64>,
}

/// Check `[control_plane]`; problems go to `sink`, and the field keeps its default.
pub(super) fn validate(sink: &mut ErrorSink, input: Option<&ControlPlaneInput>, nodes: &[Node]) -> ControlPlaneConfig {
    let mut c = ControlPlaneConfig::default();
    let Some(i) = input else { return c };
    if let Some(r) = &i.replicas {
        let x = *r.get_ref();
        if (1..=MAX_REPLICAS).contains(&x) {
            c.replicas = Some(x as u32);
        } else {
            sink.at(r.span(), format!("{}: {x} is out of range: it must be between 1 and {MAX_REPLICAS}", r.path()));
        }
    }
    // Node names in order: an entry's matches are one range of it (n log n in all).
    let mut by_name: Vec<(&str, NodeId)> = nodes.iter().enumerate().map(|(n, node)| (node.name.as_str(), n)).collect();
    by_name.sort_unstable();
    for entry in &i.nodes {
        let name = entry.get_ref();
        let (key, prefix) = match name.strip_suffix("-*") {
            Some(p) => (p, true),
            None => (name.as_str(), false),
        };
        let from = by_name.partition_point(|&(n, _)| n < key);
        let matched: Vec<NodeId> =
            by_name[from..].iter().take_while(|&&(n, _)| if prefix { n.starts_with(key) } else { n == key }).map(|&(_, id)| id).collect();
        if matched.is_empty() {
            sink.at(
                entry.span(),
                format!("{}: node `{name}` does not exist: name a node of a [[node]] table, or a prefix like \"gke-*\"", entry.path()),
            );
        }
        c.eligible_nodes.extend(matched);
    }
    c.eligible_nodes.sort_unstable();
    c.eligible_nodes.dedup();
    if let Some(s) = &i.cpu_request {
        match units::parse_millicores(s.get_ref()) {
            Ok(m) if m <= limits::MAX_MILLICORES => c.cpu_request_millicores = Some(m),
            Ok(_) => sink.at(
                s.span(),
                format!("{}: `{}` is more than the limit of {} cores", s.path(), s.get_ref(), limits::MAX_MILLICORES / 1000.0),
            ),
            Err(e) => sink.at(s.span(), format!("{}: {e}", s.path())),
        }
    }
    if let Some(s) = &i.memory_request {
        match units::parse_bytes(s.get_ref()) {
            Ok(b) if b <= limits::MAX_MEMORY_BYTES => c.memory_request_bytes = Some(b),
            Ok(_) => sink.at(
                s.span(),
                format!("{}: `{}` is more than the limit of {}", s.path(), s.get_ref(), units::format_bytes(limits::MAX_MEMORY_BYTES)),
            ),
            Err(e) => sink.at(s.span(), format!("{}: {e}", s.path())),
        }
    }
    c
}
