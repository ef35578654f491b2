//! The call graph from every source given, the best one per caller: traces, then mesh
//! metrics, then addresses in the manifests (guessed). Edges that would close a cycle are
//! left out (a topology's call graph is acyclic), and so are edges to services the inputs do
//! not deploy.

use std::collections::{BTreeMap, HashMap};

use super::model::{Call, Evidence, Found, Sourced};

/// One caller-callee pair a source saw.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// Calls per request of the caller, when the source measured it.
    pub per_request: Option<Sourced<f64>>,
    pub mode: Option<Sourced<&'static str>>,
    pub evidence: Evidence,
    /// Where the edge itself was seen.
    pub cite: String,
}

/// Put each caller's calls from its best source into `found`.
pub fn assemble(found: &mut Found, edges: Vec<Edge>) {
    let mut best: HashMap<String, Evidence> = HashMap::new();
    for e in &edges {
        let b = best.entry(e.from.clone()).or_insert(e.evidence);
        *b = (*b).max(e.evidence);
    }
    // Metrics count every request, traces a sample: where both see an edge, the metrics'
    // calls per request go with the traces' order.
    let counted: HashMap<(String, String), Sourced<f64>> = edges
        .iter()
        .filter(|e| e.evidence == Evidence::Metrics)
        .filter_map(|e| Some(((e.from.clone(), e.to.clone()), e.per_request.clone()?)))
        .collect();
    let traced: std::collections::HashSet<(String, String)> =
        edges.iter().filter(|e| e.evidence == Evidence::Traces).map(|e| (e.from.clone(), e.to.clone())).collect();
    let traced: std::collections::HashSet<(&str, &str)> = traced.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut dropped: BTreeMap<Evidence, (usize, Vec<String>)> = BTreeMap::new();
    let mut seen: HashMap<(String, String), ()> = HashMap::new();
    for e in edges {
        if found.service(&e.from).is_none() || found.service(&e.to).is_none() {
            continue;
        }
        if e.from == e.to {
            found.summary.unmapped.push(format!("{}: {} calls itself: left out (a call graph has no loops)", e.cite, e.from));
            continue;
        }
        if best[&e.from] > e.evidence {
            if e.evidence == Evidence::Metrics && traced.contains(&(e.from.as_str(), e.to.as_str())) {
                continue;
            }
            let d = dropped.entry(e.evidence).or_default();
            d.0 += 1;
            if !d.1.contains(&e.from) {
                d.1.push(e.from.clone());
            }
            continue;
        }
        if seen.insert((e.from.clone(), e.to.clone()), ()).is_some() {
            continue;
        }
        let measured = if e.evidence == Evidence::Traces { counted.get(&(e.from.clone(), e.to.clone())).cloned() } else { None };
        let per_request = measured
            .or(e.per_request)
            .unwrap_or_else(|| Sourced::default(1.0, "one call per request (the inputs give no rate for this call)"));
        let mode = e.mode.unwrap_or_else(|| Sourced::default("sequential", "one call after another (no span timing for this caller)"));
        let call = Call { to: e.to.clone(), per_request, mode, evidence: e.evidence, from: e.cite };
        if let Some(s) = found.service_mut(&e.from) {
            s.calls.push(call);
        }
    }
    for (ev, (n, callers)) in dropped {
        found.summary.inferred.push(format!(
            "{n} {} calls set aside for a better source of the same caller's calls ({})",
            evidence_name(ev),
            callers.join(", ")
        ));
    }
    break_cycles(found);
}

pub fn evidence_name(e: Evidence) -> &'static str {
    match e {
        Evidence::Guessed => "guessed",
        Evidence::Metrics => "metrics",
        Evidence::Traces => "traces",
    }
}

/// Leave out the calls that close a cycle, found by depth-first search in service order.
fn break_cycles(found: &mut Found) {
    let index: HashMap<String, usize> = found.services.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
    let n = found.services.len();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; n];
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        // Iterative: (service, next call to look at).
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(top) = stack.last_mut() {
            let (s, ci) = *top;
            if ci >= found.services[s].calls.len() {
                state[s] = 2;
                stack.pop();
                continue;
            }
            top.1 += 1;
            let Some(&t) = index.get(&found.services[s].calls[ci].to) else { continue };
            match state[t] {
                0 => {
                    state[t] = 1;
                    stack.push((t, 0));
                }
                1 => cut.push((s, ci)),
                _ => {}
            }
        }
    }
    cut.sort_unstable_by(|a, b| b.cmp(a));
    for (s, ci) in cut {
        let call = found.services[s].calls.remove(ci);
        let from = found.services[s].name.clone();
        found
            .summary
            .unmapped
            .push(format!("{}: the call {from} → {} closes a cycle: left out (a topology's call graph is acyclic)", call.from, call.to));
    }
}
