//! `[mesh]` `egress_hosts` and `discovery_namespaces`: the namespaces and services they name,
//! resolved to ids once the file's namespaces and services are read. A name no
//! `[[namespace]]` or `[[service]]` defines is an error at its place in the list.

use std::collections::HashMap;

use super::input::MeshInput;
use super::{NamespaceId, Scoping, Service, ServiceId, SidecarScope};
use crate::input_error::ErrorSink;

/// Fill `scope`'s lists from the `[mesh]` table as written.
pub fn resolve(
    sink: &mut ErrorSink,
    m: &MeshInput,
    namespaces: &HashMap<String, NamespaceId>,
    services: &HashMap<&str, ServiceId>,
    service_list: &[Service],
    scope: &mut Scoping,
) {
    if m.egress_hosts.is_none() && m.discovery_namespaces.is_none() {
        return;
    }
    // The namespaces a message lists, computed once however many names are unknown.
    let known = {
        let mut names: Vec<&str> = namespaces.keys().map(String::as_str).collect();
        names.sort_unstable();
        let shown: Vec<&str> = names.iter().copied().take(5).collect();
        let more = if names.len() > shown.len() { format!(" and {} more", names.len() - shown.len()) } else { String::new() };
        if names.is_empty() {
            "none is defined".to_string()
        } else {
            format!("defined: {}{more}", shown.join(", "))
        }
    };
    if let Some(list) = &m.egress_hosts {
        if scope.sidecar == SidecarScope::Mesh {
            sink.at(
                list.span(),
                format!(
                    "{}: egress hosts add to a scoped sidecar's hosts: set sidecar_scope to \"namespace\" or \"called\" (under \"mesh\" a sidecar already holds what the mesh sends)",
                    list.path()
                ),
            );
        }
        for h in list.get_ref() {
            let host = h.get_ref();
            let Some((ns, name)) = host.split_once('/') else {
                sink.at(h.span(), format!("{}: `{host}` is not a host: write `namespace/*` or `namespace/service`", h.path()));
                continue;
            };
            let Some(&nsid) = namespaces.get(ns) else {
                sink.at(h.span(), format!("{}: host `{host}` names namespace `{ns}`, which no [[namespace]] defines ({known})", h.path()));
                continue;
            };
            if name == "*" {
                scope.egress_namespaces.push(nsid);
                continue;
            }
            match services.get(name) {
                Some(&sid) if service_list.get(sid).is_some_and(|s| s.namespace == nsid) => scope.egress_services.push(sid),
                _ => sink.at(h.span(), format!("{}: host `{host}`: namespace `{ns}` has no service `{name}`", h.path())),
            }
        }
        scope.egress_namespaces.sort_unstable();
        scope.egress_namespaces.dedup();
        scope.egress_services.sort_unstable();
        scope.egress_services.dedup();
    }
    if let Some(list) = &m.discovery_namespaces {
        if list.get_ref().is_empty() {
            sink.at(
                list.span(),
                format!("{}: an empty list watches no namespace: name at least one, or leave the key out to watch every one", list.path()),
            );
        }
        let mut ids = Vec::with_capacity(list.get_ref().len());
        for n in list.get_ref() {
            match namespaces.get(n.get_ref()) {
                Some(&id) => ids.push(id),
                None => {
                    sink.at(n.span(), format!("{}: namespace `{}` is not defined by any [[namespace]] ({known})", n.path(), n.get_ref()))
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        scope.discovery_namespaces = Some(ids);
    }
}
