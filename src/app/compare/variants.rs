//! `meshsim compare A.toml B.toml`: the same placements of two variants (two topologies, or
//! one topology under other cost models) side by side, with B − A and B ÷ A of every figure;
//! written to `variants.csv`, `differences.csv`, `summary.md`, `run-a.json`, `run-b.json`,
//! `results.json` and `report.html`. Both variants run with the same seed, so differences
//! come from the variants and not from the draw.

use std::path::{Path, PathBuf};

use super::section as res;
use super::{compare_loaded, Comparison};
use crate::app::results::ReportOptions;
use crate::app::{keyed, load_inputs, resolve_seed, run_record, AppError, Overrides};
use crate::input_error::{InputError, InputErrors};
use crate::placement::Layout;
use crate::report::digest::sha256_hex;
use crate::report::outdir::{self, Source, StagedDir};
use crate::report::results::{Body, PlacementFigures};
use crate::report::table::{num, render};
use crate::report::{csv_out, html, result_charts};
use crate::topology::ProxyKind;

/// Both variants as run.
pub struct Variants {
    pub a: Comparison,
    pub b: Comparison,
    /// What each variant is, in words (its file, and any model replaced).
    pub labels: (String, String),
    /// The models replaced in B.
    pub swaps: Vec<ModelSwap>,
    /// The output folder, checked before anything ran.
    pub out: PathBuf,
}

/// A cost model that replaces the topology's for one proxy kind in variant B (`KIND=FILE`).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSwap {
    pub kind: ProxyKind,
    pub path: PathBuf,
}

impl std::str::FromStr for ModelSwap {
    type Err = String;
    fn from_str(s: &str) -> Result<ModelSwap, String> {
        let (k, p) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: write KIND=FILE, e.g. sidecar=models/istio-1.24-published/envoy-sidecar.toml"))?;
        let kind = ProxyKind::ALL
            .into_iter()
            .find(|x| x.as_str() == k)
            .ok_or_else(|| format!("`{k}` is not a proxy kind: use sidecar, node-proxy, ztunnel or waypoint"))?;
        if p.is_empty() {
            return Err(format!("`{s}`: the model file is missing after `=`"));
        }
        Ok(ModelSwap { kind, path: PathBuf::from(p) })
    }
}

/// Run both variants: `b` is another topology file, or (`None`) `a` again; `swaps` replace
/// cost models of B. The seed is A's (or `--seed`) for both.
/// `out`: the output folder (`None`: [`default_out`] of the two names); it is checked (see
/// [`outdir::check`]) before either variant runs, so a refusal costs no simulation.
pub fn variants(
    a: &Path,
    b: Option<&Path>,
    swaps: &[ModelSwap],
    placements: &[Layout],
    o: &Overrides,
    out: Option<&Path>,
    force: bool,
) -> Result<Variants, AppError> {
    let b_path = b.unwrap_or(a);
    if b.is_none() && swaps.is_empty() {
        return Err(AppError::arg("--b-model", "one topology makes one variant: give a second topology file or --b-model KIND=FILE"));
    }
    let ia = load_inputs(a, o)?;
    let mut ib = load_inputs(b_path, o)?;
    let mut errors = Vec::new();
    for s in swaps {
        match crate::model::load(&s.path) {
            Ok(m) if m.kind != s.kind => errors.push(InputError {
                path: s.path.clone(),
                line: 0,
                col: 0,
                message: format!("--b-model {}: this file models a {}, not a {}", s.kind.as_str(), m.kind.as_str(), s.kind.as_str()),
            }),
            Ok(m) => {
                ib.models.by_kind.insert(s.kind, m);
                ib.topology.mesh.models.retain(|(k, _)| *k != s.kind);
                ib.topology.mesh.models.push((s.kind, s.path.clone()));
            }
            Err(e) => errors.extend(e.0),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Input(InputErrors(errors)));
    }
    let out = out.map_or_else(|| default_out(&ia.topology.name, &ib.topology.name), Path::to_path_buf);
    outdir::check(&out, &source(a, b, swaps), force)?;
    let (seed, picked) = resolve_seed(&ia.topology);
    let label_b = if swaps.is_empty() {
        b_path.display().to_string()
    } else {
        let list: Vec<String> = swaps.iter().map(|s| format!("{} model {}", s.kind.as_str(), s.path.display())).collect();
        format!("{} with {}", b_path.display(), list.join(", "))
    };
    let labels = (a.display().to_string(), label_b);
    // No placements given: those A's topology calls for (B runs the same ones, row by row).
    let defaults;
    let placements = if placements.is_empty() {
        defaults = Layout::defaults_for(&ia.topology);
        &defaults
    } else {
        placements
    };
    let a = compare_loaded(ia, placements, seed, picked)?;
    let b = compare_loaded(ib, placements, seed, picked)?;
    Ok(Variants { a, b, labels, swaps: swaps.to_vec(), out })
}

/// Default output folder: `outputs/<A>-vs-<B>` (`<A>-variants` when both have one name),
/// from the topologies' names.
pub fn default_out(a: &str, b: &str) -> PathBuf {
    let name = if a == b { format!("{a}-variants") } else { format!("{a}-vs-{b}") };
    Path::new("outputs").join(name)
}

/// What an output of `compare A B` comes from: the pair, so another B (a second variant file
/// with the same topology name, or other --b-model files) never silently replaces it.
pub fn source(a: &Path, b: Option<&Path>, swaps: &[ModelSwap]) -> Source {
    let mut source = Source::of_path("compare", a);
    let mut b_identity = outdir::absolute(b.unwrap_or(a)).display().to_string();
    for s in swaps {
        b_identity += &format!(" with {} model {}", s.kind.as_str(), outdir::absolute(&s.path).display());
    }
    source.variant_b = Some(b_identity);
    source
}

fn figures(c: &Comparison) -> Vec<PlacementFigures> {
    c.rows.iter().map(PlacementFigures::of).collect()
}

/// Rows of the differences: placement, figure, A, B, B − A, B ÷ A (decimals as in the tables).
fn difference_rows(v: &Variants) -> Vec<(String, String, [Option<f64>; 4])> {
    let mut rows = Vec::new();
    for (x, y) in figures(&v.a).iter().zip(figures(&v.b).iter()) {
        for d in res::differences(x, y) {
            rows.push((x.placement.clone(), d.metric, [d.a, d.b, d.b_minus_a, d.b_over_a]));
        }
    }
    rows
}

/// The differences for the terminal.
pub fn differences_table(v: &Variants) -> String {
    let body: Vec<Vec<String>> = difference_rows(v)
        .into_iter()
        .map(|(p, m, [a, b, d, r])| {
            let (k, dec) = if m == "error_share" { (100.0, 3) } else { (1.0, if m.starts_with("dp_") { 1 } else { 3 }) };
            let name = if m == "error_share" { "errors %".to_string() } else { m };
            let delta = match d {
                Some(x) if x > 0.0 => format!("+{:.dec$}", x * k),
                other => num(other.map(|x| x * k), dec),
            };
            vec![p, name, num(a.map(|x| x * k), dec), num(b.map(|x| x * k), dec), delta, num(r, 3)]
        })
        .collect();
    render(&["placement", "figure", "A", "B", "B - A", "B / A"], &body)
}

/// Write both variants' files into `out` (whole or not at all).
pub fn write(v: &Variants, out: &Path, force: bool, o: &ReportOptions) -> Result<PathBuf, AppError> {
    let io = |e: std::io::Error| AppError::Output(format!("{}: {e}", out.display()));
    let mut source = source(&v.a.inputs.topology.source, Some(&v.b.inputs.topology.source), &v.swaps);
    // The pair is the input: both topologies' bytes and how B was made.
    let pair = format!("{}\n{}\n{}\n{}", v.labels.0, v.labels.1, v.a.inputs.topology_text, v.b.inputs.topology_text);
    source.sha256 = Some(sha256_hex(pair.as_bytes()));
    let staged = StagedDir::create(out, &source, force)?;
    let namespaces = csv_out::needs_namespaces(&v.a.rows) || csv_out::needs_namespaces(&v.b.rows);
    let mut header = vec!["variant".to_string()];
    header.extend(csv_out::summary_header(namespaces).iter().map(|s| s.to_string()));
    let mut rows = Vec::new();
    for (label, c) in [("a", &v.a), ("b", &v.b)] {
        for r in &c.rows {
            let mut row = vec![label.to_string()];
            row.extend(csv_out::summary_cells(r, namespaces).map_err(AppError::Output)?);
            rows.push(row);
        }
    }
    let bytes = crate::sweep::records::to_csv(&header, &rows).map_err(AppError::Output)?;
    std::fs::write(staged.file("variants.csv"), bytes).map_err(io)?;
    let header: Vec<String> = ["placement", "metric", "a", "b", "b_minus_a", "b_over_a"].iter().map(|s| s.to_string()).collect();
    let cell = |x: Option<f64>| x.map(|x| format!("{x:.6}")).unwrap_or_default();
    let rows: Vec<Vec<String>> =
        difference_rows(v).into_iter().map(|(p, m, [a, b, d, r])| vec![p, m, cell(a), cell(b), cell(d), cell(r)]).collect();
    let bytes = crate::sweep::records::to_csv(&header, &rows).map_err(AppError::Output)?;
    std::fs::write(staged.file("differences.csv"), bytes).map_err(io)?;
    let placements: Vec<Layout> = v.a.rows.iter().map(|r| r.placement).collect();
    std::fs::write(staged.file("run-a.json"), run_record(&v.a.inputs, v.a.seed, &placements, "compare")?).map_err(io)?;
    std::fs::write(staged.file("run-b.json"), run_record(&v.b.inputs, v.b.seed, &placements, "compare")?).map_err(io)?;
    let md = format!(
        "{}\n{}\n## Differences, B against A\n\n```\n{}```\n",
        csv_out::summary_markdown(&format!("Variant A: {}", v.labels.0), &format!("Seed {}.", v.a.seed), &v.a.rows)
            .map_err(AppError::Output)?,
        csv_out::summary_markdown(&format!("Variant B: {}", v.labels.1), &format!("Seed {}.", v.b.seed), &v.b.rows)
            .map_err(AppError::Output)?,
        differences_table(v)
    );
    std::fs::write(staged.file("summary.md"), md).map_err(io)?;
    let results = res::variants(&v.a, &v.b, (&v.labels.0, &v.labels.1), o.slo_p99_ns);
    let charts = match &results.body {
        Body::Variants(s) => result_charts::variants(s, o.charts),
        _ => Vec::new(),
    };
    html::write(staged.path(), &results, &keyed(charts)).map_err(AppError::Output)?;
    Ok(staged.commit()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::compare::section::DIFFERENCE_METRICS;

    #[test]
    fn a_model_swap_reads_kind_equals_file() {
        assert_eq!(
            "sidecar=models/istio-1.24-published/envoy-sidecar.toml".parse::<ModelSwap>(),
            Ok(ModelSwap { kind: ProxyKind::Sidecar, path: PathBuf::from("models/istio-1.24-published/envoy-sidecar.toml") })
        );
        assert!("gateway=x.toml".parse::<ModelSwap>().unwrap_err().contains("not a proxy kind"));
        assert!("sidecar".parse::<ModelSwap>().unwrap_err().contains("KIND=FILE"));
    }

    #[test]
    fn every_difference_metric_is_a_figure() {
        let f = PlacementFigures::of(&crate::metrics::PlacementSummary {
            placement: crate::placement::Placement::Sidecar.into(),
            proxies: 1,
            passes_per_request: 2.0,
            l7_passes_per_request: 2.0,
            dp_cpu_millicores: 10.0,
            dp_mem_mib: 5.0,
            cp_cpu_millicores: None,
            cp_mem_mib: None,
            control_plane: Vec::new(),
            cp_unmodelled: Vec::new(),
            churn: None,
            app_cpu_millicores: 1.0,
            latency_p50_ms: Some(1.0),
            latency_p90_ms: Some(2.0),
            latency_p99_ms: Some(3.0),
            latency_mean_ms: Some(1.5),
            added_p50_ms: Some(0.1),
            added_p90_ms: Some(0.2),
            added_p99_ms: Some(0.3),
            requests_sent: 10,
            requests_succeeded: 10,
            requests_failed: 0,
            error_rate: 0.0,
            offered_rps: 1.0,
            achieved_rps: 1.0,
            node_cpu_utilization_max: 0.5,
            throttled_ms_per_s: 0.0,
            node_mem_peak_share_max: 0.1,
            oom_kills: 0,
            evictions: 0,
            events: 1,
            seed: 1,
            namespace_placements: String::new(),
        });
        for m in DIFFERENCE_METRICS {
            assert!(res::metric(&f, m).is_some(), "{m}");
        }
    }
}
