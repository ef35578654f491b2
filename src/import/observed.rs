//! Traces and metrics against the manifests: their service and workload names resolved to
//! the topology's services, their calls as edges (traces before metrics), their entry rates,
//! and from traces each service's own time and payload sizes.

use std::collections::{BTreeMap, BTreeSet};

use super::callgraph::Edge;
use super::k8s::Cluster;
use super::metrics::OUTSIDE;
use super::model::{Evidence, Found, Sourced, Work};
use super::Options;
use crate::input_error::InputErrors;

/// What the traffic sources give, in the topology's names.
#[derive(Default)]
pub struct Observed {
    pub edges: Vec<Edge>,
    /// Measured requests per second between two services (for loads from a load generator).
    pub rates: BTreeMap<(String, String), Sourced<f64>>,
    /// Requests per second from outside the mesh into a service.
    pub entries: Vec<(String, Sourced<f64>)>,
}

/// The topology's service a trace's service name or a metric's workload names: a workload,
/// a Service in front of one, or `name.namespace`.
fn resolve(cluster: &Cluster, names: &[String], n: &str) -> Option<String> {
    let running = |i: usize| cluster.workloads[i].replicas.is_some();
    if let Some(i) = names.iter().position(|x| x == n).filter(|&i| running(i)) {
        return Some(names[i].clone());
    }
    let (base, ns) = match n.split_once('.') {
        Some((b, ns)) => (b, Some(ns)),
        None => (n, None),
    };
    if let Some(i) = cluster.workloads.iter().position(|w| w.name == base && ns.is_none_or(|ns| w.namespace == ns)).filter(|&i| running(i))
    {
        return Some(names[i].clone());
    }
    cluster
        .services
        .iter()
        .filter(|s| s.name == base && ns.is_none_or(|ns| s.namespace == ns))
        .flat_map(|s| s.backends.iter().copied())
        .find(|&b| running(b))
        .map(|b| names[b].clone())
}

fn files(paths: &[std::path::PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Read the trace and metric files of `o`.
pub fn read(o: &Options, cluster: &Cluster, names: &[String], found: &mut Found) -> Result<Observed, InputErrors> {
    let mut seen = Observed::default();
    let mut errors = Vec::new();
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    if !o.traces.is_empty() {
        let mut spans = Vec::new();
        for p in &o.traces {
            match crate::input_file::read_text(p, "trace")
                .and_then(|t| super::traces::json(p, &t))
                .and_then(|v| super::traces::spans(p, &v))
            {
                Ok(mut s) => spans.append(&mut s),
                Err(e) => errors.extend(e.0),
            }
        }
        if !errors.is_empty() {
            return Err(InputErrors(errors));
        }
        let t = super::traces::analyse(&o.traces[0], &spans)?;
        let src = files(&o.traces);
        let mut name = |n: &str| {
            let r = resolve(cluster, names, n);
            if r.is_none() {
                unknown.insert(format!("traces name service `{n}`"));
            }
            r
        };
        for e in &t.edges {
            let (Some(from), Some(to)) = (name(&e.from), name(&e.to)) else { continue };
            let requests = t.requests.get(&e.from).copied().unwrap_or(0);
            seen.edges.push(Edge {
                from,
                to,
                per_request: Some(Sourced::new(
                    e.per_request,
                    format!("traces ({src}): {:.3} calls per request of {} over {requests} requests", e.per_request, e.from),
                )),
                mode: Some(Sourced::new(
                    if e.parallel { "parallel" } else { "sequential" },
                    if e.parallel {
                        format!("traces ({src}): overlaps another call of the request in most traces")
                    } else {
                        format!("traces ({src}): overlaps no other call of the request in most traces")
                    },
                )),
                evidence: Evidence::Traces,
                cite: format!("traces ({src}) {} → {}", e.from, e.to),
            });
        }
        let mut traced = 0;
        for (svc, (mean, cv)) in &t.own {
            let Some(n) = name(svc) else { continue };
            let Some(s) = found.service_mut(&n) else { continue };
            let requests = t.requests.get(svc).copied().unwrap_or(0);
            let cv = (*cv).clamp(0.0, crate::limits::MAX_CV);
            // Whole microseconds above 100 us: the spans' last digits are noise.
            let mean = if *mean >= 100_000.0 { (mean / 1_000.0).round() * 1_000.0 } else { *mean };
            let work = if cv < 0.05 {
                Work { dist: "constant", mean_ns: mean.round().max(1.0) as u64, cv: None }
            } else {
                Work { dist: "lognormal", mean_ns: mean.round().max(1.0) as u64, cv: Some(cv) }
            };
            s.cpu =
                Sourced::new(work, format!("traces ({src}): own time of {requests} request spans less their calls, all counted as CPU"));
            traced += 1;
            if let Some(b) = t.request_bytes.get(svc) {
                s.request_bytes = Some(Sourced::new(b.round() as u64, format!("traces ({src}): mean request size attribute")));
            }
            if let Some(b) = t.response_bytes.get(svc) {
                s.response_bytes = Some(Sourced::new(b.round() as u64, format!("traces ({src}): mean response size attribute")));
            }
        }
        let window_s = t.window_ns as f64 / 1e9;
        for (svc, n) in &t.roots {
            let Some(to) = name(svc) else { continue };
            if window_s > 0.0 {
                let r = *n as f64 / window_s;
                seen.entries.push((to, Sourced::new(r, format!("traces ({src}): {n} traces began here in {window_s:.1}s (a sample of traces under-counts the rate: --rps sets it)"))));
            }
        }
        found.summary.inferred.push(format!(
            "{} traces, {} spans: {} calls, own time of {traced} services",
            t.traces,
            spans.len(),
            t.edges.len()
        ));
    }
    if !o.metrics.is_empty() {
        let mut total: BTreeMap<(String, String), (f64, String)> = BTreeMap::new();
        let mut all_rates = true;
        for p in &o.metrics {
            match crate::input_file::read_text(p, "metrics").and_then(|t| super::metrics::read(p, &t, o.metrics_window_s)) {
                Ok((r, is_rate)) => {
                    all_rates &= is_rate;
                    for (k, v) in r.edges {
                        let cite = r.cite.get(&k).cloned().unwrap_or_default();
                        let e = total.entry(k).or_insert((0.0, cite));
                        e.0 += v;
                    }
                }
                Err(e) => errors.extend(e.0),
            }
        }
        if !errors.is_empty() {
            return Err(InputErrors(errors));
        }
        let unit = if all_rates { "rps" } else { "requests counted (no --metrics-window: no rate)" };
        // Into each service, from anywhere: what its calls are per request of.
        let mut into: BTreeMap<String, f64> = BTreeMap::new();
        let mut resolved: Vec<(Option<String>, String, f64, String)> = Vec::new();
        for ((from, to), (v, cite)) in &total {
            let Some(t) = resolve(cluster, names, to) else {
                unknown.insert(format!("metrics name workload `{to}` ({cite})"));
                continue;
            };
            let f = if from == OUTSIDE {
                None
            } else {
                let r = resolve(cluster, names, from);
                if r.is_none() {
                    found.summary.inferred.push(format!(
                        "metrics: `{from}` ({cite}) is no workload of the manifests: its requests to {t} are counted as load from outside"
                    ));
                }
                r
            };
            *into.entry(t.clone()).or_insert(0.0) += v;
            resolved.push((f, t, *v, cite.clone()));
        }
        let mut outside: BTreeMap<String, (f64, String)> = BTreeMap::new();
        for (f, t, v, cite) in resolved {
            match f {
                None => {
                    let e = outside.entry(t).or_insert((0.0, cite));
                    e.0 += v;
                }
                Some(f) => {
                    if all_rates {
                        seen.rates.insert((f.clone(), t.clone()), Sourced::new(v, format!("metrics {cite}: {v:.3} rps from {f} to {t}")));
                    }
                    let per_request = into
                        .get(&f)
                        .copied()
                        .filter(|&n| n > 0.0)
                        .map(|n| Sourced::new(v / n, format!("metrics {cite}: {v:.3} {unit} from {f} to {t} over {n:.3} into {f}")));
                    seen.edges.push(Edge {
                        from: f,
                        to: t,
                        per_request,
                        mode: None,
                        evidence: Evidence::Metrics,
                        cite: format!("metrics {cite}"),
                    });
                }
            }
        }
        if all_rates {
            // Metrics' entry rates are measured, not sampled: they replace the traces'.
            let measured: Vec<(String, Sourced<f64>)> = outside
                .into_iter()
                .map(|(t, (v, cite))| (t.clone(), Sourced::new(v, format!("metrics {cite}: {v:.3} rps into {t} from outside the mesh"))))
                .collect();
            if !measured.is_empty() {
                seen.entries = measured;
            }
        }
        found.summary.inferred.push(format!(
            "mesh metrics ({}): {} edges{}",
            files(&o.metrics),
            total.len(),
            if all_rates { " with rates" } else { ", counts only: give --metrics-window for rates" }
        ));
    }
    for u in unknown {
        found.summary.unmapped.push(format!("{u}, not a workload of the manifests: left out, with its calls"));
    }
    Ok(seen)
}
