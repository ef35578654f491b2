//! The topology TOML of an import, written with `toml_edit`: every value has a comment above
//! it saying where it came from (`file:line Kind ns/name field`, or `default: why`).

use toml_edit::{value, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::model::{Found, LoadKind, Sourced, Work};
use crate::units::{format_bytes, format_duration_ns};

/// How every imported topology begins (so `import` replaces only files it wrote).
pub const FIRST_LINE: &str = "# Imported by meshsim import";

/// Where the written file's cost models are, as written in it.
pub struct Settings<'a> {
    pub models_dir: &'a str,
    pub profile: &'a str,
    pub inputs: &'a [String],
}

fn comment(from: &str) -> String {
    let one_line: String = from.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    format!("# {one_line}\n")
}

/// Insert `key = v` with its source as a comment above it.
fn put(t: &mut Table, key: &str, v: impl Into<Value>, from: &str) {
    t.insert(key, value(v));
    if let Some(mut k) = t.key_mut(key) {
        k.leaf_decor_mut().set_prefix(comment(from));
    }
}

fn sourced_put<T: Clone + Into<Value>>(t: &mut Table, key: &str, s: &Sourced<T>) {
    put(t, key, s.value.clone(), &s.from);
}

fn millicores(m: f64) -> String {
    format!("{}m", (m.round() as i64).max(1))
}

fn work(w: &Work) -> InlineTable {
    let mut t = InlineTable::new();
    t.insert("dist", w.dist.into());
    t.insert("mean", format_duration_ns(w.mean_ns.max(1)).into());
    if let Some(cv) = w.cv {
        t.insert("cv", ((cv * 1000.0).round() / 1000.0).into());
    }
    t
}

/// A mean number of calls as a whole count and a probability (3.3 → 4 calls at 0.825); a
/// mean within 2% above a whole number is that number (measured 2.01 is 2 calls, not 3 at 0.67).
pub fn count_and_probability(per_request: f64) -> (i64, f64) {
    let per_request = if per_request.is_finite() { per_request.max(0.0) } else { 0.0 };
    let count = (per_request - 0.02 * per_request.floor().max(1.0)).ceil().max(1.0).min(crate::limits::MAX_CALL_COUNT as f64);
    let p = (per_request / count).clamp(0.0, 1.0);
    (count as i64, (p * 10_000.0).round() / 10_000.0)
}

/// The TOML text of what an import found.
pub fn topology_text(f: &Found, s: &Settings) -> String {
    let mut doc = DocumentMut::new();
    doc.decor_mut().set_prefix(format!(
        "{FIRST_LINE} from {}.\n# Every value says where it came from; \"default:\" marks what the inputs did not give: check those first.\n",
        s.inputs.join(", ")
    ));
    let root = doc.as_table_mut();
    root.insert("version", value(1));
    put(root, "name", f.name.as_str(), "the first input's name (--name sets another)");
    root.insert("description", value(format!("imported from {}", s.inputs.join(", "))));

    let mut sim = Table::new();
    put(&mut sim, "duration", "20s", "default: 20s of simulated time");
    put(&mut sim, "warmup", "4s", "default: the first 4s are not measured");
    put(&mut sim, "seed", 1, "default: seed 1");
    root.insert("simulation", Item::Table(sim));

    let mut mesh = Table::new();
    put(&mut mesh, "profile", s.profile, "default: the cost models measured here in every role (--profile sets another)");
    put(&mut mesh, "models_dir", s.models_dir, "default: the models folder as seen from this file (--models sets it)");
    root.insert("mesh", Item::Table(mesh));

    let mut nodes = ArrayOfTables::new();
    for n in &f.nodes {
        let mut t = Table::new();
        t.decor_mut().set_prefix(format!("\n{}", comment(&n.from)));
        t.insert("name", value(n.name.as_str()));
        if n.count != 1 {
            put(&mut t, "count", n.count as i64, &n.from);
        }
        if let Some(z) = &n.zone {
            sourced_put(&mut t, "zone", z);
        }
        put(&mut t, "vcpu", (n.vcpu.value * 1000.0).round() / 1000.0, &n.vcpu.from);
        put(&mut t, "memory", format_bytes(n.memory_bytes.value), &n.memory_bytes.from);
        if let Some(p) = &n.max_pods {
            put(&mut t, "max_pods", p.value as i64, &p.from);
        }
        nodes.push(t);
    }
    root.insert("node", Item::ArrayOfTables(nodes));

    let mut namespaces = ArrayOfTables::new();
    for ns in &f.namespaces {
        let mut t = Table::new();
        t.decor_mut().set_prefix("\n");
        t.insert("name", value(ns.name.as_str()));
        if let Some(p) = &ns.placement {
            put(&mut t, "placement", p.value, &p.from);
        }
        if let Some(w) = &ns.waypoint {
            let mut wt = InlineTable::new();
            wt.insert("scope", w.value.0.into());
            wt.insert("replicas", (w.value.1 as i64).into());
            put(&mut t, "waypoint", wt, &w.from);
        }
        namespaces.push(t);
    }
    root.insert("namespace", Item::ArrayOfTables(namespaces));

    let mut services = ArrayOfTables::new();
    for svc in &f.services {
        let mut t = Table::new();
        t.decor_mut().set_prefix(format!("\n{}", comment(&svc.from)));
        t.insert("name", value(svc.name.as_str()));
        put(&mut t, "namespace", svc.namespace.value.as_str(), &svc.namespace.from);
        put(&mut t, "replicas", svc.replicas.value as i64, &svc.replicas.from);
        if let Some(c) = &svc.cpu_request_millicores {
            put(&mut t, "cpu_request", millicores(c.value), &c.from);
        }
        if let Some(m) = &svc.memory_request_bytes {
            put(&mut t, "memory_request", format_bytes(m.value.max(1)), &m.from);
        }
        if let Some(c) = &svc.cpu_limit_millicores {
            put(&mut t, "cpu_limit", millicores(c.value), &c.from);
        }
        if !svc.is_load_generator {
            put(&mut t, "cpu", work(&svc.cpu.value), &svc.cpu.from);
        }
        put(&mut t, "protocol", svc.protocol.value, &svc.protocol.from);
        if let Some(b) = &svc.request_bytes {
            put(&mut t, "request_size", format_bytes(b.value), &b.from);
        }
        if let Some(b) = &svc.response_bytes {
            put(&mut t, "response_size", format_bytes(b.value), &b.from);
        }
        let mut calls = ArrayOfTables::new();
        for c in &svc.calls {
            let mut ct = Table::new();
            ct.decor_mut()
                .set_prefix(format!("\n{}", comment(&format!("{} call, {}", super::callgraph::evidence_name(c.evidence), c.from))));
            ct.insert("to", value(c.to.as_str()));
            let (count, p) = count_and_probability(c.per_request.value);
            if count != 1 {
                put(&mut ct, "count", count, &c.per_request.from);
            }
            put(&mut ct, "probability", p, &c.per_request.from);
            put(&mut ct, "mode", c.mode.value, &c.mode.from);
            calls.push(ct);
        }
        if !calls.is_empty() {
            t.insert("call", Item::ArrayOfTables(calls));
        }
        services.push(t);
    }
    root.insert("service", Item::ArrayOfTables(services));

    let mut loads = ArrayOfTables::new();
    for l in &f.loads {
        let mut t = Table::new();
        t.decor_mut().set_prefix(format!("\n{}", comment(&l.from)));
        if let Some(g) = &l.from_service {
            put(&mut t, "from", g.as_str(), "the load generator's pods send the requests, through their own proxy");
        }
        t.insert("to", value(l.to.as_str()));
        match &l.kind {
            LoadKind::Open { rate_rps } => {
                put(&mut t, "rate", format!("{}rps", (rate_rps.value * 1000.0).round() / 1000.0), &rate_rps.from);
                put(&mut t, "arrival", "poisson", "default: requests arrive at random (Poisson)");
            }
            LoadKind::Closed { connections, think } => {
                put(&mut t, "arrival", "closed", &connections.from);
                put(&mut t, "connections", connections.value as i64, &connections.from);
                put(&mut t, "think_time", work(&think.value), &think.from);
            }
        }
        loads.push(t);
    }
    root.insert("load", Item::ArrayOfTables(loads));
    doc.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn means_become_a_count_and_a_probability() {
        assert_eq!(super::count_and_probability(3.3), (4, 0.825));
        assert_eq!(super::count_and_probability(2.01), (2, 1.0));
        assert_eq!(super::count_and_probability(0.5), (1, 0.5));
        assert_eq!(super::count_and_probability(1.0), (1, 1.0));
        assert_eq!(super::count_and_probability(f64::NAN), (1, 0.0));
    }
}
