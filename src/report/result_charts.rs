//! Charts drawn from a [`Results`] section (compare, variants, capacity, validate), for
//! `report.html`: what the tables say, as pictures. Blast and sweep charts come from their
//! own exporters, which also write them as files.

use super::plot::{placement_style, Chart, ChartOptions, Mark, RefLine, Scale, Series};
use super::results::*;

fn slo_line(slo_p99_ms: Option<f64>) -> Vec<RefLine> {
    slo_p99_ms.map(|y| RefLine { y, label: format!("SLO p99 {} ms", super::plot::tick_label(y)) }).into_iter().collect()
}

/// Bars of one figure, a bar per placement in its own colour.
fn placement_bars(
    title: String,
    y_label: &str,
    rows: &[PlacementFigures],
    value: fn(&PlacementFigures) -> Option<f64>,
    y_scale: Scale,
) -> Chart {
    Chart {
        title,
        x_label: "placement".into(),
        y_label: y_label.into(),
        series: rows
            .iter()
            .enumerate()
            .map(|(i, r)| Series {
                name: r.placement.clone(),
                points: value(r).map(|v| (i as f64, v)).into_iter().collect(),
                mark: Mark::Bars,
                color: placement_style(&r.placement, i),
            })
            .collect(),
        x_ticks: rows.iter().enumerate().map(|(i, r)| (i as f64, r.placement.clone())).collect(),
        y_scale,
        ..Chart::default()
    }
}

/// Latency at p50, p90 and p99, a line per placement.
fn percentile_chart(title: String, series: Vec<(String, usize, &PlacementFigures)>, slo: Option<f64>, o: ChartOptions) -> Chart {
    Chart {
        title,
        x_label: "percentile of end-to-end latency".into(),
        y_label: "latency (ms)".into(),
        series: series
            .into_iter()
            .map(|(name, style, r)| Series {
                name,
                points: [r.latency_p50_ms, r.latency_p90_ms, r.latency_p99_ms]
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
                    .collect(),
                mark: Mark::LineAndPoints,
                color: style,
            })
            .collect(),
        x_ticks: vec![(0.0, "p50".into()), (1.0, "p90".into()), (2.0, "p99".into())],
        y_scale: o.latency_scale,
        ref_lines: slo_line(slo),
        ..Chart::default()
    }
}

/// `compare` and `run`: CPU and memory per placement, latency percentiles.
pub fn compare(name: &str, c: &CompareSection, o: ChartOptions) -> Vec<Chart> {
    let rows = &c.placements;
    vec![
        percentile_chart(
            format!("{name}: end-to-end latency by percentile"),
            rows.iter().enumerate().map(|(i, r)| (r.placement.clone(), placement_style(&r.placement, i), r)).collect(),
            c.slo_p99_ms,
            o,
        ),
        placement_bars(
            format!("{name}: data-plane CPU"),
            "data-plane CPU (millicores)",
            rows,
            |r| Some(r.dp_cpu_millicores),
            Scale::Linear,
        ),
        placement_bars(format!("{name}: data-plane memory"), "data-plane memory (MiB)", rows, |r| Some(r.dp_mem_mib), Scale::Linear),
    ]
}

/// Bars of one figure for A and B, side by side per placement, in the placement's colour.
fn variant_bars(title: String, y_label: &str, v: &VariantsSection, value: fn(&PlacementFigures) -> Option<f64>, y_scale: Scale) -> Chart {
    let mut ticks = Vec::new();
    let series = v
        .placements
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (xa, xb) = (i as f64 * 2.5, i as f64 * 2.5 + 1.0);
            ticks.push((xa, format!("{} A", p.placement)));
            ticks.push((xb, format!("{} B", p.placement)));
            Series {
                name: p.placement.clone(),
                points: [(xa, value(&p.a)), (xb, value(&p.b))].into_iter().filter_map(|(x, y)| y.map(|y| (x, y))).collect(),
                mark: Mark::Bars,
                color: placement_style(&p.placement, i),
            }
        })
        .collect();
    Chart { title, x_label: "placement and variant".into(), y_label: y_label.into(), series, x_ticks: ticks, y_scale, ..Chart::default() }
}

/// `compare A B`: CPU, memory and p99 of both variants per placement.
pub fn variants(v: &VariantsSection, o: ChartOptions) -> Vec<Chart> {
    vec![
        variant_bars("Data-plane CPU, A and B".into(), "data-plane CPU (millicores)", v, |r| Some(r.dp_cpu_millicores), Scale::Linear),
        variant_bars("Data-plane memory, A and B".into(), "data-plane memory (MiB)", v, |r| Some(r.dp_mem_mib), Scale::Linear),
        {
            let mut c =
                variant_bars("End-to-end latency p99, A and B".into(), "latency p99 (ms)", v, |r| r.latency_p99_ms, o.latency_scale);
            c.ref_lines = slo_line(v.slo_p99_ms);
            // A bar's height means nothing on a log axis: mark the values instead.
            if o.latency_scale == Scale::Log {
                for s in &mut c.series {
                    s.mark = Mark::Points;
                }
            }
            c
        },
    ]
}

/// `capacity`: p99 at every probed rate, and the highest rate within the SLO.
pub fn capacity(name: &str, c: &CapacitySection, o: ChartOptions) -> Vec<Chart> {
    let probes = Chart {
        title: format!("{name}: p99 at each rate probed"),
        x_label: "request rate (rps)".into(),
        y_label: "latency p99 (ms)".into(),
        series: c
            .placements
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut points: Vec<(f64, f64)> = p.probes.iter().filter_map(|x| x.latency_p99_ms.map(|y| (x.rate_rps, y))).collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series { name: p.placement.clone(), points, mark: Mark::LineAndPoints, color: placement_style(&p.placement, i) }
            })
            .collect(),
        y_scale: o.latency_scale,
        ref_lines: slo_line(Some(c.slo_p99_ms)),
        ..Chart::default()
    };
    let rows: Vec<(String, f64)> = c.placements.iter().map(|p| (p.placement.clone(), p.rate_max_rps)).collect();
    let max = Chart {
        title: format!("{name}: highest rate within the SLO"),
        x_label: "placement".into(),
        y_label: "request rate (rps)".into(),
        series: rows
            .iter()
            .enumerate()
            .map(|(i, (p, r))| Series { name: p.clone(), points: vec![(i as f64, *r)], mark: Mark::Bars, color: placement_style(p, i) })
            .collect(),
        x_ticks: rows.iter().enumerate().map(|(i, (p, _))| (i as f64, p.clone())).collect(),
        ..Chart::default()
    };
    vec![probes, max]
}

/// `validate`: measured (points) and simulated (line) against the rate, per data set series,
/// for CPU and for memory (models fitted on every level).
pub fn validate(v: &ValidateSection) -> Vec<Chart> {
    let mut charts = Vec::new();
    for (metric, name, y_label) in [("cpu", "CPU", "CPU (millicores)"), ("mem", "memory", "memory (MiB)")] {
        let checks: Vec<&Check> = v.checks.iter().filter(|c| c.group == "gsd" && c.metric == metric).collect();
        let mut subjects: Vec<&str> = Vec::new();
        for c in &checks {
            if !subjects.contains(&c.subject.as_str()) {
                subjects.push(&c.subject);
            }
        }
        if subjects.is_empty() {
            continue;
        }
        let mut series = Vec::new();
        for (i, s) in subjects.iter().enumerate() {
            let mut pts: Vec<&&Check> = checks.iter().filter(|c| c.subject == *s).collect();
            pts.sort_by(|a, b| a.rate_rps.total_cmp(&b.rate_rps));
            series.push(Series {
                name: format!("{s}, measured"),
                points: pts.iter().map(|c| (c.rate_rps, c.measured)).collect(),
                mark: Mark::Points,
                color: i,
            });
            series.push(Series {
                name: format!("{s}, simulated"),
                points: pts.iter().map(|c| (c.rate_rps, c.simulated)).collect(),
                mark: Mark::Line,
                color: i,
            });
        }
        charts.push(Chart {
            title: format!("Data-plane {name}: measured and simulated"),
            x_label: "request rate (rps)".into(),
            y_label: y_label.into(),
            series,
            ..Chart::default()
        });
    }
    charts
}
