//! The latency percentiles wrk2 printed in the load-generator logs of a gsd-v1 data set
//! (`--latency`: the `Latency Distribution (HdrHistogram - Recorded Latency)` lines such as
//! ` 50.000%   30.54ms`), per load level: the mean over the level's logs (one per pod and
//! run) of each log's p50 and p99, as the Faces comparison reads them.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::CalibrationError;

/// One load level's wrk2 percentiles: the mean over its logs of each log's figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Wrk2Level {
    pub target_rps: u32,
    pub logs: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A percentile line (` 99.000%  117.18ms`) as (percent, milliseconds).
fn percentile_line(line: &str) -> Option<(f64, f64)> {
    let mut cells = line.split_whitespace();
    let percent: f64 = cells.next()?.strip_suffix('%')?.parse().ok()?;
    let value = cells.next()?;
    if cells.next().is_some() {
        return None;
    }
    // wrk2 prints each value in the unit that suits it (`format_time_us`).
    let (number, scale) = if let Some(v) = value.strip_suffix("us") {
        (v, 1e-3)
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = value.strip_suffix('m') {
        (v, 60_000.0)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1000.0)
    } else {
        return None;
    };
    Some((percent, number.parse::<f64>().ok()? * scale))
}

/// p50 and p99 of one wrk2 report, if it printed its latency distribution.
pub fn read_percentiles(text: &str) -> Option<(f64, f64)> {
    let mut p50 = None;
    let mut p99 = None;
    for (percent, ms) in text.lines().filter_map(percentile_line) {
        if percent == 50.0 {
            p50 = p50.or(Some(ms));
        } else if percent == 99.0 {
            p99 = p99.or(Some(ms));
        }
    }
    Some((p50?, p99?))
}

/// Every level of the data set in `dir` whose `{rps}-{run}-*.log` files print percentiles.
pub fn read_levels(dir: &Path) -> Result<Vec<Wrk2Level>, CalibrationError> {
    let mut by_level: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
    let entries = fs::read_dir(dir).map_err(|e| CalibrationError::io(dir, e))?;
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(stem) = name.strip_suffix(".log") else { continue };
        let Some(rps) = stem.split('-').next().and_then(|r| r.parse::<u32>().ok()) else { continue };
        let bytes = fs::read(&path).map_err(|e| CalibrationError::io(&path, e))?;
        if let Some(p) = read_percentiles(&String::from_utf8_lossy(super::strip_bom(&bytes))) {
            by_level.entry(rps).or_default().push(p);
        }
    }
    Ok(by_level
        .into_iter()
        .map(|(target_rps, ps)| {
            let n = ps.len() as f64;
            Wrk2Level {
                target_rps,
                logs: ps.len(),
                p50_ms: ps.iter().map(|p| p.0).sum::<f64>() / n,
                p99_ms: ps.iter().map(|p| p.1).sum::<f64>() / n,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_read_in_every_unit_wrk2_prints() {
        let text = "  Latency Distribution (HdrHistogram - Recorded Latency)\n 50.000%  812.00us\n 75.000%   42.62ms\n 99.000%    1.20s\n\n  Detailed Percentile spectrum:\n       5.947     0.500000            1         2.00\n";
        let (p50, p99) = read_percentiles(text).unwrap();
        assert!((p50 - 0.812).abs() < 1e-9 && (p99 - 1200.0).abs() < 1e-9, "{p50} {p99}");
        assert_eq!(read_percentiles("Requests/sec: 20.00\n"), None);
    }

    #[test]
    fn a_level_is_the_mean_of_its_logs() {
        let dir = std::env::temp_dir().join(format!("meshsim-wrk2-latency-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("60-1-wrk2-a.log"), " 50.000%   10.00ms\n 99.000%  100.00ms\n").unwrap();
        fs::write(dir.join("60-2-wrk2-b.log"), " 50.000%   30.00ms\n 99.000%  200.00ms\n").unwrap();
        fs::write(dir.join("60-1-metrics.csv"), "timestamp\n").unwrap();
        let levels = read_levels(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(levels, vec![Wrk2Level { target_rps: 60, logs: 2, p50_ms: 20.0, p99_ms: 150.0 }]);
    }
}
