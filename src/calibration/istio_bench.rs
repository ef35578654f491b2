//! Istio's own sidecar benchmark results (istio/tools `perf/benchmark`, `benchmark.csv`):
//! rows parsed from the harness's labels, per-sidecar CPU and memory fitted against the rate
//! for each telemetry mode (a line `a + b·rps` by default), and the latency the sidecars add
//! (`both` minus `baseline`, matched on rate, connections and payload).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::fit::{fit_polynomial, PolyFit};
use super::gsd::Dropped;
use super::series::Metric;
use super::CalibrationError;

/// Degree of the per-sidecar fits unless asked otherwise: `a + b·rps`.
pub const DEFAULT_ISTIO_DEGREE: usize = 1;

/// Which pods carry a sidecar in a test (last token of the label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SidecarMode {
    /// Sidecars on client and server.
    Both,
    /// No sidecars: the same pods without the mesh.
    Baseline,
    ServerOnly,
    ClientOnly,
}

impl SidecarMode {
    pub fn parse(token: &str) -> Option<SidecarMode> {
        match token {
            "both" => Some(SidecarMode::Both),
            "baseline" => Some(SidecarMode::Baseline),
            "serveronly" => Some(SidecarMode::ServerOnly),
            "clientonly" => Some(SidecarMode::ClientOnly),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SidecarMode::Both => "both",
            SidecarMode::Baseline => "baseline",
            SidecarMode::ServerOnly => "serveronly",
            SidecarMode::ClientOnly => "clientonly",
        }
    }

    /// Sidecars on the request path in this mode.
    pub fn proxies(self) -> &'static [SidecarProxy] {
        match self {
            SidecarMode::Both => &[SidecarProxy::Client, SidecarProxy::Server, SidecarProxy::PerSidecar],
            SidecarMode::Baseline => &[],
            SidecarMode::ServerOnly => &[SidecarProxy::Server],
            SidecarMode::ClientOnly => &[SidecarProxy::Client],
        }
    }
}

/// Which sidecar a fit is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SidecarProxy {
    Client,
    Server,
    /// Mean of client and server: the cost of one sidecar.
    PerSidecar,
}

impl SidecarProxy {
    pub fn name(self) -> &'static str {
        match self {
            SidecarProxy::Client => "client",
            SidecarProxy::Server => "server",
            SidecarProxy::PerSidecar => "per-sidecar",
        }
    }
}

/// One test of the harness.
#[derive(Clone, Debug, PartialEq)]
pub struct IstioRow {
    /// Line in the CSV file (header is line 1).
    pub line: u64,
    pub run_id: String,
    /// Target rate from the label.
    pub qps_target: u32,
    /// Rate achieved (`ActualQPS`).
    pub rate_rps: f64,
    pub conns: u32,
    pub payload_bytes: u32,
    /// e.g. `none_mtls`, `v2-stats-nullvm`, `v2-sd-full-nullvm`.
    pub telemetry_mode: String,
    pub sidecar_mode: SidecarMode,
    pub latency_p50_us: f64,
    pub latency_p90_us: f64,
    pub latency_p99_us: f64,
    pub cpu_client_millicores: f64,
    pub cpu_server_millicores: f64,
    pub mem_client_mib: f64,
    pub mem_server_mib: f64,
}

impl IstioRow {
    /// The sample of `proxy` for `metric` (mC or MiB).
    pub fn value(&self, proxy: SidecarProxy, metric: Metric) -> f64 {
        let (client, server) = match metric {
            Metric::Cpu => (self.cpu_client_millicores, self.cpu_server_millicores),
            Metric::Mem => (self.mem_client_mib, self.mem_server_mib),
        };
        match proxy {
            SidecarProxy::Client => client,
            SidecarProxy::Server => server,
            SidecarProxy::PerSidecar => (client + server) / 2.0,
        }
    }
}

/// A fit of one sidecar's CPU or memory against the achieved rate, for one telemetry mode.
#[derive(Clone, Debug, PartialEq)]
pub struct IstioFit {
    pub telemetry_mode: String,
    pub sidecar_mode: SidecarMode,
    pub proxy: SidecarProxy,
    pub metric: Metric,
    /// (achieved rps, value) of every row fitted.
    pub points: Vec<(f64, f64)>,
    pub fit: PolyFit,
}

/// Added latency of the sidecars at one (telemetry mode, rate, connections, payload).
#[derive(Clone, Debug, PartialEq)]
pub struct AddedLatency {
    pub telemetry_mode: String,
    pub qps_target: u32,
    pub conns: u32,
    pub payload_bytes: u32,
    /// Rows with sidecars on both sides (their percentiles are averaged).
    pub rows_both: usize,
    /// Baseline rows with the same rate, connections and payload, any telemetry mode
    /// (no sidecar runs, so telemetry does not apply; their percentiles are averaged).
    pub rows_baseline: usize,
    pub added_p50_us: f64,
    pub added_p90_us: f64,
    pub added_p99_us: f64,
}

/// Everything derived from one benchmark file.
#[derive(Clone, Debug, PartialEq)]
pub struct IstioCalibration {
    pub source: PathBuf,
    pub degree: usize,
    /// Rows sorted by (telemetry mode, sidecar mode, qps, conns, payload, run id).
    pub rows: Vec<IstioRow>,
    /// Sorted by (telemetry mode, sidecar mode, proxy, metric).
    pub fits: Vec<IstioFit>,
    /// Sorted by (telemetry mode, qps, conns, payload).
    pub added_latency: Vec<AddedLatency>,
    /// Fits that could not be made (too few distinct rates), one line each.
    pub notes: Vec<String>,
    /// Rows left out (only when fitting incomplete data was asked for).
    pub dropped: Vec<Dropped>,
}

/// Parse a label `<run id>_qps_<qps>_c_<conns>_<payload>_<telemetry mode>_<sidecar mode>`.
pub fn parse_label(label: &str) -> Result<(String, u32, u32, u32, String, SidecarMode), String> {
    let tokens: Vec<&str> = label.split('_').collect();
    let shape = "expected `<run id>_qps_<qps>_c_<conns>_<payload>_<telemetry mode>_<sidecar mode>`";
    if tokens.len() < 8 || tokens[1] != "qps" || tokens[3] != "c" {
        return Err(format!("label `{label}`: {shape}"));
    }
    let number =
        |text: &str, what: &str| text.parse::<u32>().map_err(|_| format!("label `{label}`: {what} `{text}` is not a whole number"));
    let qps = number(tokens[2], "qps")?;
    let conns = number(tokens[4], "connections")?;
    let payload = number(tokens[5], "payload")?;
    let last = tokens[tokens.len() - 1];
    let mode = SidecarMode::parse(last)
        .ok_or_else(|| format!("label `{label}`: unknown sidecar mode `{last}` (use both, baseline, serveronly or clientonly)"))?;
    let telemetry = tokens[6..tokens.len() - 1].join("_");
    Ok((tokens[0].to_string(), qps, conns, payload, telemetry, mode))
}

/// Read and parse every row of a benchmark CSV; any bad row is an error listing them all.
pub fn read_istio_benchmark(path: &Path) -> Result<Vec<IstioRow>, CalibrationError> {
    let (rows, dropped) = read_istio_benchmark_lenient(path)?;
    if dropped.is_empty() {
        Ok(rows)
    } else {
        Err(CalibrationError::Incomplete(dropped))
    }
}

/// Read a benchmark CSV, leaving out rows that cannot be parsed and listing each. Errors when
/// the file cannot be read, lacks a column, or has no usable row.
pub fn read_istio_benchmark_lenient(path: &Path) -> Result<(Vec<IstioRow>, Vec<Dropped>), CalibrationError> {
    let bytes = fs::read(path).map_err(|e| CalibrationError::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(super::strip_bom(&bytes));
    let headers = reader.headers().map_err(|e| CalibrationError::csv(path, e))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| CalibrationError::parse(path, 1, format!("missing column `{name}`")))
    };
    let labels = column("Labels")?;
    let actual_qps = column("ActualQPS")?;
    let p50 = column("p50")?;
    let p90 = column("p90")?;
    let p99 = column("p99")?;
    let cpu_client = column("cpu_mili_avg_istio_proxy_fortioclient")?;
    let cpu_server = column("cpu_mili_avg_istio_proxy_fortioserver")?;
    let mem_client = column("mem_Mi_avg_istio_proxy_fortioclient")?;
    let mem_server = column("mem_Mi_avg_istio_proxy_fortioserver")?;

    let mut rows = Vec::new();
    let mut dropped = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                dropped.push(Dropped::from_error(CalibrationError::csv(path, e), None));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        match parse_row(path, &headers, &record, line, [labels, actual_qps, p50, p90, p99, cpu_client, cpu_server, mem_client, mem_server])
        {
            Ok(row) => rows.push(row),
            Err(e) => dropped.push(Dropped::from_error(e, None)),
        }
    }
    if rows.is_empty() {
        if !dropped.is_empty() {
            return Err(CalibrationError::Incomplete(dropped));
        }
        return Err(CalibrationError::invalid(path, "no rows after the header"));
    }
    rows.sort_by(|a, b| {
        (&a.telemetry_mode, a.sidecar_mode, a.qps_target, a.conns, a.payload_bytes, &a.run_id, a.line).cmp(&(
            &b.telemetry_mode,
            b.sidecar_mode,
            b.qps_target,
            b.conns,
            b.payload_bytes,
            &b.run_id,
            b.line,
        ))
    });
    Ok((rows, dropped))
}

/// One row of the benchmark CSV; `cols` are the positions of Labels, ActualQPS, p50, p90,
/// p99, client and server CPU, client and server memory.
fn parse_row(
    path: &Path,
    headers: &csv::StringRecord,
    record: &csv::StringRecord,
    line: u64,
    cols: [usize; 9],
) -> Result<IstioRow, CalibrationError> {
    let [labels, actual_qps, p50, p90, p99, cpu_client, cpu_server, mem_client, mem_server] = cols;
    let cell = |index: usize| record.get(index).unwrap_or("").trim();
    let number = |index: usize| -> Result<f64, CalibrationError> {
        let text = cell(index);
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(CalibrationError::parse(path, line, format!("column `{}`: `{text}` is not a finite number", &headers[index]))),
        }
    };
    let (run_id, qps_target, conns, payload_bytes, telemetry_mode, sidecar_mode) =
        parse_label(cell(labels)).map_err(|m| CalibrationError::parse(path, line, m))?;
    Ok(IstioRow {
        line,
        run_id,
        qps_target,
        rate_rps: number(actual_qps)?,
        conns,
        payload_bytes,
        telemetry_mode,
        sidecar_mode,
        latency_p50_us: number(p50)?,
        latency_p90_us: number(p90)?,
        latency_p99_us: number(p99)?,
        cpu_client_millicores: number(cpu_client)?,
        cpu_server_millicores: number(cpu_server)?,
        mem_client_mib: number(mem_client)?,
        mem_server_mib: number(mem_server)?,
    })
}

/// Read a benchmark CSV, fit per-sidecar CPU and memory against the rate for every telemetry
/// and sidecar mode with sidecars (polynomial of `degree`), and compute added latency.
/// Any bad row is an error listing them all.
pub fn calibrate_istio_benchmark(path: &Path, degree: usize) -> Result<IstioCalibration, CalibrationError> {
    calibrate_istio_rows(path, read_istio_benchmark(path)?, Vec::new(), degree)
}

/// [`calibrate_istio_benchmark`], leaving out rows that cannot be parsed; they are listed in
/// the result's `dropped`.
pub fn calibrate_istio_benchmark_incomplete(path: &Path, degree: usize) -> Result<IstioCalibration, CalibrationError> {
    let (rows, dropped) = read_istio_benchmark_lenient(path)?;
    calibrate_istio_rows(path, rows, dropped, degree)
}

fn calibrate_istio_rows(
    path: &Path,
    rows: Vec<IstioRow>,
    dropped: Vec<Dropped>,
    degree: usize,
) -> Result<IstioCalibration, CalibrationError> {
    let mut groups: BTreeMap<(String, SidecarMode), Vec<&IstioRow>> = BTreeMap::new();
    for row in &rows {
        groups.entry((row.telemetry_mode.clone(), row.sidecar_mode)).or_default().push(row);
    }
    let mut fits = Vec::new();
    let mut notes = Vec::new();
    for ((telemetry_mode, sidecar_mode), group) in &groups {
        for &proxy in sidecar_mode.proxies() {
            for metric in Metric::ALL {
                let points: Vec<(f64, f64)> = group.iter().map(|r| (r.rate_rps, r.value(proxy, metric))).collect();
                match fit_polynomial(&points, degree) {
                    Ok(fit) => fits.push(IstioFit {
                        telemetry_mode: telemetry_mode.clone(),
                        sidecar_mode: *sidecar_mode,
                        proxy,
                        metric,
                        points,
                        fit,
                    }),
                    Err(err) => notes.push(format!("{telemetry_mode} {} {} {}: {err}", sidecar_mode.name(), proxy.name(), metric.name())),
                }
            }
        }
    }
    let added_latency = added_latency(&rows);
    Ok(IstioCalibration { source: path.to_path_buf(), degree, rows, fits, added_latency, notes, dropped })
}

/// `both` minus `baseline`, matched on (qps, conns, payload); means over repeated rows.
fn added_latency(rows: &[IstioRow]) -> Vec<AddedLatency> {
    type Key = (u32, u32, u32);
    let mut baseline: BTreeMap<Key, Vec<&IstioRow>> = BTreeMap::new();
    let mut both: BTreeMap<(String, Key), Vec<&IstioRow>> = BTreeMap::new();
    for row in rows {
        let key = (row.qps_target, row.conns, row.payload_bytes);
        match row.sidecar_mode {
            SidecarMode::Baseline => baseline.entry(key).or_default().push(row),
            SidecarMode::Both => both.entry((row.telemetry_mode.clone(), key)).or_default().push(row),
            SidecarMode::ServerOnly | SidecarMode::ClientOnly => {}
        }
    }
    let mean = |rows: &[&IstioRow], f: fn(&IstioRow) -> f64| rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64;
    let mut out = Vec::new();
    for ((telemetry_mode, key), with) in both {
        let Some(without) = baseline.get(&key) else {
            continue;
        };
        let added = |f: fn(&IstioRow) -> f64| mean(&with, f) - mean(without, f);
        out.push(AddedLatency {
            telemetry_mode,
            qps_target: key.0,
            conns: key.1,
            payload_bytes: key.2,
            rows_both: with.len(),
            rows_baseline: without.len(),
            added_p50_us: added(|r| r.latency_p50_us),
            added_p90_us: added(|r| r.latency_p90_us),
            added_p99_us: added(|r| r.latency_p99_us),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_underscores_and_dashes_in_the_telemetry_mode() {
        let check = |label: &str, telemetry: &str, mode: SidecarMode, qps: u32, conns: u32| {
            let (run, q, c, payload, t, m) = parse_label(label).unwrap();
            assert_eq!((q, c, payload, t.as_str(), m), (qps, conns, 1024, telemetry, mode), "{label}");
            assert_eq!(run.len(), 8);
        };
        check("ff93ac4f_qps_10_c_16_1024_none_mtls_baseline", "none_mtls", SidecarMode::Baseline, 10, 16);
        check("ecbc1c65_qps_1000_c_8_1024_v2-stats-nullvm_both", "v2-stats-nullvm", SidecarMode::Both, 1000, 8);
        check("c980fd71_qps_3000_c_16_1024_v2-sd-full-nullvm_serveronly", "v2-sd-full-nullvm", SidecarMode::ServerOnly, 3000, 16);
        assert!(parse_label("x_qps_10_c_16_1024_none_mtls_sideways").is_err());
        assert!(parse_label("x_qps_ten_c_16_1024_none_both").is_err());
        assert!(parse_label("garbage").is_err());
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("meshsim-istio-{name}-{}.csv", std::process::id()));
        fs::write(&path, text).unwrap();
        path
    }

    const HEADER: &str = "StartTime,ActualDuration,Labels,NumThreads,ActualQPS,p50,p90,p99,cpu_mili_avg_istio_proxy_fortioclient,cpu_mili_avg_istio_proxy_fortioserver,mem_Mi_avg_istio_proxy_fortioclient,mem_Mi_avg_istio_proxy_fortioserver\n";

    #[test]
    fn fits_and_added_latency_from_a_small_file() {
        let text = format!(
            "{HEADER}\
             t,240,a_qps_100_c_16_1024_none_mtls_both,16,100,1000,2000,3000,30,50,60,70\n\
             t,240,a_qps_1000_c_16_1024_none_mtls_both,16,1000,1200,2300,3500,210,230,62,72\n\
             t,240,b_qps_1000_c_16_1024_none_mtls_baseline,16,1000,300,400,500,3,3,60,60\n\
             t,240,c_qps_1000_c_16_1024_v2-sd-full-nullvm_baseline,16,1000,340,500,700,3,3,60,60\n"
        );
        let path = temp_file("small", &text);
        let cal = calibrate_istio_benchmark(&path, 1).unwrap();
        let _ = fs::remove_file(&path);
        assert_eq!(cal.rows.len(), 4);
        let per_sidecar_cpu = cal.fits.iter().find(|f| f.proxy == SidecarProxy::PerSidecar && f.metric == Metric::Cpu).unwrap();
        // per sidecar: 40 mC at 100 rps, 220 mC at 1000 rps: 20 + 0.2·rps
        approx::assert_relative_eq!(per_sidecar_cpu.fit.coefficients[0], 20.0, max_relative = 1e-9);
        approx::assert_relative_eq!(per_sidecar_cpu.fit.coefficients[1], 0.2, max_relative = 1e-9);
        assert_eq!(cal.fits.len(), 6);
        // one match: 1000 rps; baseline p50 mean (300 + 340) / 2 = 320 → added 880
        assert_eq!(cal.added_latency.len(), 1);
        let added = &cal.added_latency[0];
        assert_eq!((added.rows_both, added.rows_baseline), (1, 2));
        assert_eq!(added.added_p50_us, 880.0);
        assert_eq!(added.added_p90_us, 1850.0);
        assert_eq!(added.added_p99_us, 2900.0);
    }

    #[test]
    fn bad_row_names_file_and_line() {
        let text = format!("{HEADER}t,240,a_qps_100_c_16_1024_none_mtls_both,16,100,x,2,3,4,5,6,7\n");
        let path = temp_file("bad", &text);
        let err = read_istio_benchmark(&path).unwrap_err().to_string();
        let _ = fs::remove_file(&path);
        assert!(err.contains(":2:") && err.contains("`p50`"), "{err}");
    }
}
