//! Per-pass cost-model parameters derived from a calibrated series, given what the placement
//! says about the measured system: how many proxies the series sums over, how many times an
//! end-user request passes through them, and how many new connections each request opens.
//!
//! CPU: a line `a + b·rps` through the steady-state points (mC vs achieved rps). Idle CPU per
//! proxy is `a / instances`; `b` mC per rps is `b·1e-3` core-seconds per request, i.e.
//! `b·1000` µs of CPU per request, shared by `passes_per_request` passes. Memory: a line
//! through the steady-state points; base per proxy is `intercept / instances`, the slope is
//! reported as is (MiB per rps for the whole series).

use super::fit::{fit_polynomial, PolyFit};
use super::series::{GsdCalibration, Metric, SeriesMetric};
use super::CalibrationError;

/// What the caller computed from the placement of the measured system.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlacementInputs {
    /// Proxy instances summed in the series (e.g. 27 Linkerd sidecars, 3 ztunnels).
    pub instances: u32,
    /// Passes through those proxies per end-user request.
    pub passes_per_request: f64,
    /// New (mTLS) connections those proxies open or accept per end-user request.
    pub new_connections_per_request: f64,
}

/// Cost-model parameters of one series, at the machine it was measured on.
#[derive(Clone, Debug, PartialEq)]
pub struct PassCosts {
    pub dataset: String,
    pub series: String,
    pub inputs: PlacementInputs,
    /// Idle CPU of one proxy: intercept of the CPU line / instances.
    pub cpu_idle_millicores_per_instance: f64,
    /// CPU of one pass in µs at the measured machine; includes this pass's share of TLS
    /// handshakes (`new_connections_per_pass`), which a single fit cannot separate.
    pub cpu_per_pass_us: f64,
    /// CPU per end-user request over all passes, µs (the slope in core-µs).
    pub cpu_per_request_us: f64,
    /// New connections per pass: `new_connections_per_request / passes_per_request`.
    pub new_connections_per_pass: f64,
    /// Line `a + b·rps` through the CPU steady-state points (mC).
    pub cpu_fit: PolyFit,
    /// Base memory of one proxy: intercept of the memory line / instances.
    pub mem_base_mib_per_instance: f64,
    /// Slope of the memory line for the whole series, MiB per rps.
    pub mem_slope_mib_per_rps: f64,
    /// Line through the memory steady-state points (MiB).
    pub mem_fit: PolyFit,
}

impl PassCosts {
    /// CPU per pass once a known handshake cost (µs per new connection) is taken out.
    pub fn cpu_per_pass_without_handshakes_us(&self, handshake_cpu_us: f64) -> f64 {
        self.cpu_per_pass_us - self.new_connections_per_pass * handshake_cpu_us
    }
}

/// Derive per-pass parameters for `series` (e.g. `data-plane`) of a gsd calibration.
pub fn derive_pass_costs(calibration: &GsdCalibration, series: &str, inputs: PlacementInputs) -> Result<PassCosts, CalibrationError> {
    if inputs.instances == 0 {
        return Err(CalibrationError::Input("instances must be at least 1".to_string()));
    }
    if !(inputs.passes_per_request.is_finite() && inputs.passes_per_request > 0.0) {
        return Err(CalibrationError::Input(format!("passes_per_request must be a positive number, got {}", inputs.passes_per_request)));
    }
    if !(inputs.new_connections_per_request.is_finite() && inputs.new_connections_per_request >= 0.0) {
        return Err(CalibrationError::Input(format!(
            "new_connections_per_request must be zero or more, got {}",
            inputs.new_connections_per_request
        )));
    }
    let lookup = |metric: Metric| {
        calibration
            .get(series, metric)
            .ok_or_else(|| CalibrationError::Input(format!("series `{series}` has no {} data in {}", metric.name(), calibration.dataset)))
    };
    let cpu_fit = steady_line(lookup(Metric::Cpu)?)?;
    let mem_fit = steady_line(lookup(Metric::Mem)?)?;
    let instances = f64::from(inputs.instances);
    // b mC per rps = b·1e-3 cores per (request/s) = b·1e-3 core-s per request = b·1e3 µs.
    let cpu_per_request_us = cpu_fit.coefficients[1] * 1e3;
    Ok(PassCosts {
        dataset: calibration.dataset.clone(),
        series: series.to_string(),
        inputs,
        cpu_idle_millicores_per_instance: cpu_fit.coefficients[0] / instances,
        cpu_per_pass_us: cpu_per_request_us / inputs.passes_per_request,
        cpu_per_request_us,
        new_connections_per_pass: inputs.new_connections_per_request / inputs.passes_per_request,
        mem_base_mib_per_instance: mem_fit.coefficients[0] / instances,
        mem_slope_mib_per_rps: mem_fit.coefficients[1],
        cpu_fit,
        mem_fit,
    })
}

/// A line through the steady-state points (mean achieved rate of each level, value).
fn steady_line(series: &SeriesMetric) -> Result<PolyFit, CalibrationError> {
    let points: Vec<(f64, f64)> = series.steady.iter().map(|p| (p.achieved_rps, p.value)).collect();
    fit_polynomial(&points, 1).map_err(|e| CalibrationError::Fit(format!("{} {}: {e}", series.series, series.metric.name())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::series::{LoadLevel, SteadyPoint};
    use approx::assert_relative_eq;
    use std::path::PathBuf;

    fn series(metric: Metric, line: (f64, f64)) -> SeriesMetric {
        let steady = [60.0, 120.0, 600.0]
            .iter()
            .map(|&x| SteadyPoint { target_rps: x as u32, achieved_rps: x, value: line.0 + line.1 * x, samples_kept: 10 })
            .collect();
        SeriesMetric { series: "data-plane".to_string(), metric, steady, kept: Vec::new(), idle: Vec::new(), fit: None, fit_note: None }
    }

    fn calibration() -> GsdCalibration {
        GsdCalibration {
            dataset: "linkerd".to_string(),
            source_dir: PathBuf::from("linkerd"),
            degree: 2,
            levels: vec![LoadLevel { target_rps: 60, runs: vec![1], achieved_rps_mean: 60.0 }],
            series: vec![
                // 27 proxies idling at 1 mC each; 0.6 mC per rps.
                series(Metric::Cpu, (27.0, 0.6)),
                // 27 proxies of 10 MiB; 0.01 MiB per rps.
                series(Metric::Mem, (270.0, 0.01)),
            ],
            dropped: Vec::new(),
        }
    }

    #[test]
    fn per_pass_costs_from_lines_through_steady_state() {
        let inputs = PlacementInputs { instances: 27, passes_per_request: 6.0, new_connections_per_request: 2.0 };
        let costs = derive_pass_costs(&calibration(), "data-plane", inputs).unwrap();
        assert_relative_eq!(costs.cpu_idle_millicores_per_instance, 1.0, max_relative = 1e-9);
        // 0.6 mC per rps = 600 µs per request, over 6 passes = 100 µs per pass
        assert_relative_eq!(costs.cpu_per_request_us, 600.0, max_relative = 1e-9);
        assert_relative_eq!(costs.cpu_per_pass_us, 100.0, max_relative = 1e-9);
        assert_relative_eq!(costs.new_connections_per_pass, 1.0 / 3.0, max_relative = 1e-12);
        assert_relative_eq!(costs.cpu_per_pass_without_handshakes_us(30.0), 90.0, max_relative = 1e-9);
        assert_relative_eq!(costs.mem_base_mib_per_instance, 10.0, max_relative = 1e-9);
        assert_relative_eq!(costs.mem_slope_mib_per_rps, 0.01, max_relative = 1e-9);
        assert_relative_eq!(costs.cpu_fit.r2, 1.0, max_relative = 1e-12);
    }

    #[test]
    fn bad_inputs_and_unknown_series_are_errors() {
        let ok = PlacementInputs { instances: 3, passes_per_request: 2.0, new_connections_per_request: 0.0 };
        let cal = calibration();
        assert!(derive_pass_costs(&cal, "ztunnel mesh", ok).is_err());
        assert!(derive_pass_costs(&cal, "data-plane", PlacementInputs { instances: 0, ..ok }).is_err());
        assert!(derive_pass_costs(&cal, "data-plane", PlacementInputs { passes_per_request: 0.0, ..ok }).is_err());
        assert!(derive_pass_costs(&cal, "data-plane", PlacementInputs { new_connections_per_request: f64::NAN, ..ok }).is_err());
    }
}
