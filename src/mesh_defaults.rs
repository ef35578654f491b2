//! The retries, retry budgets and connect timeouts a placement's mesh ships: where the
//! topology says nothing, the `[resilience]` defaults of each call's client-side proxy model.
//! `blast` and runs with churn (stale endpoints fail or are retried as the mesh would) use them.

use crate::placement::Deployment;
use crate::units;

/// The retries of every call and load as this placement's mesh ships them: where the file
/// (or `--retries`) says nothing, the `[resilience]` default of the call's client-side proxy
/// (the first L7 proxy on its path, else the first proxy; none under `none`). Returns the
/// topology to simulate, the connect timeout of every edge (loads first, then calls: the
/// `[blast]` table's, else the client-side proxy's default, else the kernel's) and a line
/// saying which applied.
pub fn mesh_defaults(
    t: &crate::topology::Topology,
    d: &Deployment,
    models: &crate::model::CostModels,
) -> (crate::topology::Topology, Vec<u64>, String) {
    use crate::topology::blast::KERNEL_CONNECT_TIMEOUT_NS;
    let mut out = t.clone();
    let client = |from: Option<usize>, to: usize| client_model(t, d, models, from, to);
    // (what applied, edges) in order of first appearance, for retries and connect timeouts.
    let mut applied: Vec<(String, usize)> = Vec::new();
    let mut timeouts: Vec<(String, usize)> = Vec::new();
    let note = |list: &mut Vec<(String, usize)>, what: String| match list.iter_mut().find(|(w, _)| *w == what) {
        Some(e) => e.1 += 1,
        None => list.push((what, 1)),
    };
    let mut connect_timeout_ns = Vec::with_capacity(t.loads.len() + t.calls.len());
    let mut resolve = |written: bool, retries: &mut u32, from: Option<usize>, to: usize| {
        let model = client(from, to);
        let stated = model.and_then(|m| m.resilience.as_ref()).and_then(|r| r.connect_timeout_ns);
        let (ns, why) = match (t.blast.connect_timeout_ns, stated, model) {
            (Some(ns), _, _) => (ns, "as written in [blast]".to_string()),
            (None, Some(ns), Some(m)) => (ns, format!("by default of {}", m.name)),
            (None, _, Some(m)) => (KERNEL_CONNECT_TIMEOUT_NS, format!("the kernel's: {} states none", m.name)),
            (None, _, None) => (KERNEL_CONNECT_TIMEOUT_NS, "the kernel's: no proxy".to_string()),
        };
        connect_timeout_ns.push(ns);
        note(&mut timeouts, format!("{} {why}", units::format_duration_ns(ns)));
        if written {
            note(&mut applied, format!("{retries} as written"));
            return;
        }
        match model {
            Some(m) => match &m.resilience {
                Some(r) => {
                    *retries = r.effective_retries();
                    let host = if r.retry_other_host && *retries > 0 { " on another host" } else { "" };
                    note(&mut applied, format!("{}{host} by default of {}", retries, m.name));
                }
                None => note(&mut applied, format!("0 ({} states no default)", m.name)),
            },
            None => note(&mut applied, "0 (no proxy retries)".to_string()),
        }
    };
    for l in &mut out.loads {
        resolve(l.retries_written, &mut l.retries, l.from, l.to);
    }
    for c in &mut out.calls {
        resolve(c.retries_written, &mut c.retries, Some(c.from), c.to);
    }
    let join = |list: Vec<(String, usize)>| -> String {
        let parts: Vec<String> = list.into_iter().map(|(w, n)| format!("{w} on {n} edge{}", if n == 1 { "" } else { "s" })).collect();
        parts.join("; ")
    };
    let line = format!("retries: {}; connect timeout: {}", join(applied), join(timeouts));
    (out, connect_timeout_ns, line)
}

/// The retry budget of every load and call (loads first, as the plan orders edges): the
/// topology's `retry_budget` when it sets one, else the `[resilience]` default of the call's
/// client-side proxy model (`u32::MAX`, no limit, when it states none); and a line saying
/// which applied.
pub fn retry_budgets(
    t: &crate::topology::Topology,
    d: &Deployment,
    models: &crate::model::CostModels,
    written: Option<u32>,
) -> (Vec<u32>, String) {
    let edges = t.loads.iter().map(|l| (l.from, l.to)).chain(t.calls.iter().map(|c| (Some(c.from), c.to)));
    if let Some(n) = written {
        return (edges.map(|_| n).collect(), format!("retry budget: {n} retries in flight per proxy and service, as written"));
    }
    let mut seen: Vec<String> = Vec::new();
    let budgets = edges
        .map(|(from, to)| {
            let m = client_model(t, d, models, from, to);
            let b = m.and_then(|m| m.resilience.as_ref()).and_then(|r| r.retry_budget).unwrap_or(u32::MAX);
            let what = match (m, b) {
                (None, _) => None,
                (Some(m), u32::MAX) => Some(format!("no limit ({})", m.name)),
                (Some(m), b) => Some(format!("{b} retries in flight ({})", m.name)),
            };
            if let Some(w) = what.filter(|w| !seen.contains(w)) {
                seen.push(w);
            }
            b
        })
        .collect();
    let note = if seen.is_empty() { "retry budget: —".to_string() } else { format!("retry budget: {}", seen.join(", ")) };
    (budgets, note)
}

/// The client-side proxy model of calls from `from` (outside when `None`) to `to`: the first
/// L7 proxy on the path, else the first proxy; `None` when no proxy is on it.
fn client_model<'m>(
    t: &crate::topology::Topology,
    d: &Deployment,
    models: &'m crate::model::CostModels,
    from: Option<usize>,
    to: usize,
) -> Option<&'m crate::model::CostModel> {
    use crate::placement::{Layer, Stop};
    let src = from.and_then(|s| t.services[s].pods.first().copied());
    let dst = *t.services[to].pods.first()?;
    let path = d.path(t, src, dst, 0);
    let proxies = || {
        path.steps.iter().filter_map(|s| match s.stop {
            Stop::Proxy { proxy, layer } => Some((proxy, layer)),
            Stop::Pod(_) => None,
        })
    };
    let (x, _) = proxies().find(|&(_, l)| l == Layer::L7).or_else(|| proxies().next())?;
    models.get(d.proxies[x].kind)
}
