//! The publisher's steady-state method for the gsd-v1 data, exactly as its README states it.
//!
//! Per run and per column: (1) keep the samples strictly above the run's mean (this drops
//! ramp-up and drain), unless that keeps fewer than half of them, in which case keep all;
//! (2) of those, keep the samples within one population standard deviation of their mean.
//! The steady-state value of a load level is the mean of the kept samples pooled over its runs
//! (a mean of samples, not a mean of per-run means).

/// Samples of one run and one column kept as steady state, in their original order.
///
/// "Within one standard deviation" is inclusive; a relative tolerance of 1e-12 absorbs the
/// rounding of the mean so that a run of identical samples keeps all of them.
pub fn steady_samples(samples: &[f64]) -> Vec<f64> {
    if samples.is_empty() {
        return Vec::new();
    }
    let run_mean = mean(samples);
    let above: Vec<f64> = samples.iter().copied().filter(|&v| v > run_mean).collect();
    // "fewer than half": kept * 2 < total.
    let stage1 = if above.len() * 2 < samples.len() { samples.to_vec() } else { above };
    let stage1_mean = mean(&stage1);
    let std_dev = population_std_dev(&stage1, stage1_mean);
    let tolerance = 1e-12 * stage1_mean.abs().max(std_dev).max(f64::MIN_POSITIVE);
    stage1.into_iter().filter(|&v| (v - stage1_mean).abs() <= std_dev + tolerance).collect()
}

/// The mean of kept samples pooled over runs, and how many samples went into it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PooledMean {
    pub value: f64,
    pub samples_kept: usize,
}

/// Pool kept samples of several runs; `None` when no run kept anything.
pub fn pooled_mean(kept_per_run: &[Vec<f64>]) -> Option<PooledMean> {
    let samples_kept: usize = kept_per_run.iter().map(Vec::len).sum();
    if samples_kept == 0 {
        return None;
    }
    let sum: f64 = kept_per_run.iter().flatten().sum();
    Some(PooledMean { value: sum / samples_kept as f64, samples_kept })
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn population_std_dev(values: &[f64], mean: f64) -> f64 {
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    var.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn check(samples: &[f64], expected_kept: &[f64]) {
        assert_eq!(steady_samples(samples), expected_kept, "samples {samples:?}");
    }

    #[test]
    fn ramp_and_drain_are_dropped_by_the_above_mean_rule() {
        // mean 40/6 = 6.67; above: the four 10s (4 of 6, not fewer than half); sd 0 keeps all.
        check(&[0.0, 10.0, 10.0, 10.0, 10.0, 0.0], &[10.0, 10.0, 10.0, 10.0]);
    }

    #[test]
    fn above_mean_then_one_std_dev() {
        // mean 70/6 = 11.67; above: 12, 14, 30 (3 of 6: exactly half, so kept);
        // their mean 18.67, population sd sqrt(194.67/3) = 8.06: 12 and 14 are within, 30 is not.
        check(&[2.0, 10.0, 12.0, 14.0, 30.0, 2.0], &[12.0, 14.0]);
    }

    #[test]
    fn fewer_than_half_above_mean_keeps_all_before_the_std_dev_rule() {
        // mean 70/7 = 10; above: 12, 30 (2 of 7 < half) so all 7 stay;
        // sd = sqrt(608/7) = 9.32 around 10: 0, 0 (10 away) and 30 (20 away) are dropped.
        check(&[0.0, 8.0, 10.0, 12.0, 30.0, 10.0, 0.0], &[8.0, 10.0, 12.0, 10.0]);
    }

    #[test]
    fn samples_equal_to_the_mean_are_not_above_it() {
        // nothing strictly above 5: fewer than half, keep all; sd 0 keeps all.
        check(&[5.0, 5.0, 5.0, 5.0], &[5.0, 5.0, 5.0, 5.0]);
        // identical values whose computed mean is not exactly the value still all stay.
        check(&[0.1, 0.1, 0.1], &[0.1, 0.1, 0.1]);
    }

    #[test]
    fn edge_of_one_std_dev_is_kept() {
        // above-mean rule: mean 2.5, above: 3, 4 (2 of 4, half): keep [3, 4];
        // mean 3.5, sd 0.5: both exactly one sd away, both kept.
        check(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0]);
    }

    #[test]
    fn empty_run_keeps_nothing() {
        check(&[], &[]);
    }

    #[test]
    fn level_value_pools_samples_not_run_means() {
        let run_a = steady_samples(&[2.0, 10.0, 12.0, 14.0, 30.0, 2.0]); // [12, 14]
        let run_b = steady_samples(&[0.0, 10.0, 10.0, 10.0, 10.0, 0.0]); // [10; 4]
        let pooled = pooled_mean(&[run_a, run_b]).unwrap();
        // (12 + 14 + 40) / 6 = 11, not (13 + 10) / 2 = 11.5
        assert_relative_eq!(pooled.value, 11.0, max_relative = 1e-12);
        assert_eq!(pooled.samples_kept, 6);
        assert_eq!(pooled_mean(&[vec![], vec![]]), None);
    }
}
