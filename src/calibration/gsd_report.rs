//! Exports of a gsd-v1 calibration: `steady-state.csv`, `fits.csv`, one chart per series and
//! metric (kept samples as points, the fitted curve as a line of the same colour), and a
//! plain-text table for the terminal.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::report::number::{cell, exact};
use crate::report::plot::{write_chart, Chart, Mark, Series};

use super::series::{GsdCalibration, SeriesMetric};
use super::CalibrationError;

/// Points drawn along a fitted curve.
const CURVE_POINTS: usize = 120;

/// Write the calibration into `out_dir` (created if missing); returns the files written, sorted.
///
/// The caller decides where `out_dir` is (for instance a staged output folder).
pub fn write_gsd_outputs(calibration: &GsdCalibration, out_dir: &Path) -> Result<Vec<PathBuf>, CalibrationError> {
    fs::create_dir_all(out_dir).map_err(|e| CalibrationError::io(out_dir, e))?;
    let mut written = Vec::new();

    let steady_path = out_dir.join("steady-state.csv");
    super::write_csv(&steady_path, &steady_state_rows(calibration))?;
    written.push(steady_path);

    let fits_path = out_dir.join("fits.csv");
    super::write_csv(&fits_path, &fit_rows(calibration))?;
    written.push(fits_path);

    if !calibration.dropped.is_empty() {
        let path = out_dir.join(super::DROPPED_FILE);
        super::write_csv(&path, &super::dropped_rows(&calibration.dropped))?;
        written.push(path);
    }

    for series in &calibration.series {
        let stem = out_dir.join(chart_stem(&calibration.dataset, series));
        let chart = series_chart(&calibration.dataset, series);
        write_chart(&stem, &chart).map_err(|message| CalibrationError::Plot { path: stem.clone(), message })?;
        written.push(stem.with_extension("png"));
        written.push(stem.with_extension("svg"));
    }
    written.sort();
    Ok(written)
}

/// `series,metric,unit,target_rps,achieved_rps,value,samples_kept`, header first.
fn steady_state_rows(calibration: &GsdCalibration) -> Vec<Vec<String>> {
    let mut rows = vec![["series", "metric", "unit", "target_rps", "achieved_rps", "value", "samples_kept"].map(String::from).to_vec()];
    for s in &calibration.series {
        for p in &s.steady {
            rows.push(vec![
                s.series.clone(),
                s.metric.name().to_string(),
                s.metric.unit().to_string(),
                p.target_rps.to_string(),
                cell(p.achieved_rps, 2),
                cell(p.value, 4),
                p.samples_kept.to_string(),
            ]);
        }
    }
    rows
}

/// `series,metric,unit,degree,c0..c<degree>,r2`; a series that could not be fitted has empty
/// coefficient cells.
fn fit_rows(calibration: &GsdCalibration) -> Vec<Vec<String>> {
    let degree = calibration.degree;
    let mut header: Vec<String> = ["series", "metric", "unit", "degree"].map(String::from).to_vec();
    header.extend((0..=degree).map(|k| format!("c{k}")));
    header.push("r2".to_string());
    let mut rows = vec![header];
    for s in &calibration.series {
        let mut row = vec![s.series.clone(), s.metric.name().to_string(), s.metric.unit().to_string(), degree.to_string()];
        match &s.fit {
            Some(fit) => {
                row.extend((0..=degree).map(|k| fit.coefficients.get(k).map_or_else(String::new, |&c| exact(c))));
                row.push(exact(fit.r2));
            }
            None => row.extend(std::iter::repeat_n(String::new(), degree + 2)),
        }
        rows.push(row);
    }
    rows
}

fn chart_stem(dataset: &str, series: &SeriesMetric) -> String {
    let raw = format!("{dataset}-{}-{}", series.series, series.metric.name());
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// Title as on the publisher's charts: "linkerd data-plane CPU (mC) vs achieved rps".
pub fn chart_title(dataset: &str, series: &SeriesMetric) -> String {
    format!("{dataset} {} {} ({}) vs achieved rps", series.series, series.metric.column_suffix(), series.metric.unit())
}

fn series_chart(dataset: &str, series: &SeriesMetric) -> Chart {
    let mut lines = vec![Series {
        name: "kept samples".to_string(),
        points: series.kept.iter().map(|p| (p.rate_rps, p.value)).collect(),
        mark: Mark::Points,
        color: 0,
    }];
    if let Some(fit) = &series.fit {
        let (lo, hi) = series.kept.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.rate_rps), hi.max(p.rate_rps)));
        let points = (0..=CURVE_POINTS)
            .map(|i| {
                let x = lo + (hi - lo) * i as f64 / CURVE_POINTS as f64;
                (x, fit.eval(x))
            })
            .collect();
        lines.push(Series { name: format!("fit, degree {}, R² {:.3}", fit.degree(), fit.r2), points, mark: Mark::Line, color: 0 });
    }
    lines.push(Series {
        name: "steady state per level".to_string(),
        points: series.steady.iter().map(|p| (p.achieved_rps, p.value)).collect(),
        mark: Mark::Points,
        color: 1,
    });
    Chart {
        title: chart_title(dataset, series),
        x_label: "achieved rate (rps)".to_string(),
        y_label: format!("{} ({})", series.metric.column_suffix(), series.metric.unit()),
        series: lines,
        ..Chart::default()
    }
}

/// A plain-text summary: per series and metric, the steady state at each level and the fit.
pub fn print_table(calibration: &GsdCalibration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} levels, {} runs; fit degree {})",
        calibration.dataset,
        calibration.levels.len(),
        calibration.levels.iter().map(|l| l.runs.len()).sum::<usize>(),
        calibration.degree
    );
    let _ = write!(out, "{:<22} {:<4} {:<4}", "series", "met", "unit");
    for level in &calibration.levels {
        let _ = write!(out, " {:>10}", format!("{} rps", level.target_rps));
    }
    let _ = writeln!(out, "  {:>7}  coefficients (c0, c1, …)", "R²");
    let _ = write!(out, "{:<32}", "  achieved rps");
    for level in &calibration.levels {
        let _ = write!(out, " {:>10.1}", level.achieved_rps_mean);
    }
    let _ = writeln!(out);
    for s in &calibration.series {
        let _ = write!(out, "{:<22} {:<4} {:<4}", s.series, s.metric.name(), s.metric.unit());
        for level in &calibration.levels {
            match s.steady.iter().find(|p| p.target_rps == level.target_rps) {
                Some(p) => {
                    let _ = write!(out, " {:>10.2}", p.value);
                }
                None => {
                    let _ = write!(out, " {:>10}", "-");
                }
            }
        }
        match (&s.fit, &s.fit_note) {
            (Some(fit), _) => {
                let coefficients: Vec<String> = fit.coefficients.iter().map(|c| format!("{c:.6e}")).collect();
                let _ = writeln!(out, "  {:>7.4}  {}", fit.r2, coefficients.join(", "));
            }
            (None, note) => {
                let _ = writeln!(out, "  {:>7}  no fit: {}", "-", note.as_deref().unwrap_or(""));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::fit::PolyFit;
    use crate::calibration::series::{KeptPoint, LoadLevel, Metric, SteadyPoint};

    fn sample() -> GsdCalibration {
        let kept = vec![
            KeptPoint { target_rps: 60, run: 1, rate_rps: 60.0, value: 10.0 },
            KeptPoint { target_rps: 120, run: 1, rate_rps: 120.0, value: 20.0 },
        ];
        GsdCalibration {
            dataset: "linkerd".to_string(),
            source_dir: PathBuf::from("linkerd"),
            degree: 1,
            levels: vec![
                LoadLevel { target_rps: 60, runs: vec![1], achieved_rps_mean: 60.2 },
                LoadLevel { target_rps: 120, runs: vec![1], achieved_rps_mean: 119.8 },
            ],
            series: vec![SeriesMetric {
                series: "data-plane".to_string(),
                metric: Metric::Cpu,
                steady: vec![
                    SteadyPoint { target_rps: 60, achieved_rps: 60.2, value: 10.0, samples_kept: 1 },
                    SteadyPoint { target_rps: 120, achieved_rps: 119.8, value: 20.0, samples_kept: 1 },
                ],
                kept,
                idle: Vec::new(),
                fit: Some(PolyFit { coefficients: vec![0.0, 1.0 / 6.0], r2: 1.0, points: 2 }),
                fit_note: None,
            }],
            dropped: Vec::new(),
        }
    }

    #[test]
    fn csv_rows_have_the_documented_columns() {
        let cal = sample();
        let steady = steady_state_rows(&cal);
        assert_eq!(steady[0].join(","), "series,metric,unit,target_rps,achieved_rps,value,samples_kept");
        assert_eq!(steady[1].join(","), "data-plane,cpu,mC,60,60.20,10.0000,1");
        let fits = fit_rows(&cal);
        assert_eq!(fits[0].join(","), "series,metric,unit,degree,c0,c1,r2");
        assert_eq!(fits[1].len(), fits[0].len());
    }

    #[test]
    fn title_and_file_stem_follow_the_publisher() {
        let cal = sample();
        assert_eq!(chart_title(&cal.dataset, &cal.series[0]), "linkerd data-plane CPU (mC) vs achieved rps");
        assert_eq!(chart_stem(&cal.dataset, &cal.series[0]), "linkerd-data-plane-cpu");
        let table = print_table(&cal);
        assert!(table.contains("data-plane"), "{table}");
    }
}
