//! What a dynamic run of a scenario showed, from the engine's timeline: the share of
//! end-user requests that failed or missed the SLO during the disturbance and over the run,
//! the p99 during the disturbance, and how long until requests were healthy again.
//!
//! A timeline bucket is *healthy* when both its share of failed requests and its share of
//! SLO misses (failures count as misses) are within the baseline run's: at most the
//! baseline's share over its window plus a tolerance of `max(1 percentage point, 3 standard
//! errors of that share over the bucket's requests)`; a request still unanswered when the
//! run's drain ended counts as an SLO miss. An additive tolerance keeps a baseline
//! that already misses the SLO for most requests from calling every bucket healthy (twice a
//! 72 % share is more than 100 %). Time to recover is measured from the start of the
//! disturbance to the start of the first bucket after which every bucket is healthy; 0 when
//! no bucket was unhealthy, `None` when the run ended unhealthy (not within the run).
//!
//! What a failure costs in time: *time to fail* is the median time from a failed request's
//! start to its error (short for a refused connection, a timeout's length when nothing
//! answers); *time to route around* is from the start of the disturbance to the first
//! healthy bucket after an unhealthy one while the disturbance still lasts (outlier
//! detection or retries elsewhere took over before the component came back); the p99 over
//! all requests counts failures at their time to fail, so a failure never reads as speed.
//! `None` (printed `—`) wherever there is nothing to measure.

use hdrhistogram::Histogram;

use crate::sim::output::HIST_MAX_NS;
use crate::sim::RunOutput;

/// One bucket of the timeline, ready for `timeline.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineRow {
    pub t_s: f64,
    pub sent: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub slo_missed: u64,
    /// `None` when no request of the bucket succeeded.
    pub latency_p99_ms: Option<f64>,
}

/// The figures of one scenario run.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Requests started during the disturbance (or after it started, when it lasts no time).
    pub sent_outage: u64,
    pub failed_share_outage: f64,
    pub slo_missed_share_outage: f64,
    /// `None` when no request started during the disturbance succeeded.
    pub latency_p99_outage_ms: Option<f64>,
    /// p99 over every request started during the disturbance, failures at their time to
    /// fail; `None` when none was sent.
    pub latency_p99_all_outage_ms: Option<f64>,
    /// Share of the requests started during the disturbance that succeeded but missed the SLO.
    pub slowed_share_outage: f64,
    /// Median time to fail of the requests that failed during the disturbance; `None` when
    /// none failed.
    pub time_to_fail_ms: Option<f64>,
    /// From the start of the disturbance to the first healthy bucket after an unhealthy one,
    /// while it lasts; `None` when requests were never unhealthy, or never healthy again
    /// before the disturbance ended.
    pub time_to_route_around_s: Option<f64>,
    /// Over the measurement window (after warm-up).
    pub failed_share_run: f64,
    pub slo_missed_share_run: f64,
    pub time_to_recover_s: Option<f64>,
    pub timeline: Vec<TimelineRow>,
}

/// What the baseline run showed over its measurement window: what a healthy bucket is held to.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BaselineShares {
    pub failed_share: f64,
    pub slo_missed_share: f64,
}

impl BaselineShares {
    /// Whether `count` of `sent` requests is within the baseline's `share`: at most the
    /// share plus `max(1 point, 3 standard errors over sent)`. An empty bucket is healthy.
    fn within(share: f64, count: u64, sent: u64) -> bool {
        if sent == 0 {
            return true;
        }
        let tolerance = (3.0 * (share * (1.0 - share) / sent as f64).sqrt()).max(0.01);
        count as f64 / sent as f64 <= share + tolerance
    }

    /// Whether a bucket's failures and SLO misses are both within the baseline's. A request
    /// still unanswered when the run's drain ended missed the SLO too.
    pub fn healthy(&self, b: &crate::sim::output::Bucket) -> bool {
        let unanswered = b.sent.saturating_sub(b.succeeded + b.failed);
        Self::within(self.failed_share, b.failed, b.sent) && Self::within(self.slo_missed_share, b.slo_missed + unanswered, b.sent)
    }
}

fn share(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Summarise a run. `window_ns` is the disturbance; `warmup_ns` starts the measurement
/// window; `baseline` holds the baseline run's shares over its window.
pub fn outcome(out: &RunOutput, window_ns: (u64, u64), warmup_ns: u64, baseline: BaselineShares) -> Outcome {
    let w = out.bucket_ns.max(1);
    let timeline: Vec<TimelineRow> = out
        .timeline
        .iter()
        .enumerate()
        .map(|(i, b)| TimelineRow {
            t_s: (i as u64 * w) as f64 / 1e9,
            sent: b.sent,
            succeeded: b.succeeded,
            failed: b.failed,
            slo_missed: b.slo_missed,
            latency_p99_ms: (!b.latency_ns.is_empty()).then(|| b.latency_ns.value_at_quantile(0.99) as f64 / 1e6),
        })
        .collect();
    let (start, end) = window_ns;
    let first = (start / w) as usize;
    let last = if end > start { (end.div_ceil(w) as usize).max(first + 1) } else { out.timeline.len() };
    let new = || Histogram::<u64>::new_with_bounds(1, HIST_MAX_NS, 2).expect("static bounds");
    let (mut h, mut fails) = (new(), new());
    let (mut sent, mut failed, mut missed) = (0, 0, 0);
    for b in out.timeline.iter().take(last).skip(first) {
        sent += b.sent;
        failed += b.failed;
        missed += b.slo_missed;
        h.add(&b.latency_ns).ok();
        fails.add(&b.failed_latency_ns).ok();
    }
    let mut all = h.clone();
    all.add(&fails).ok();
    let from = (warmup_ns / w) as usize;
    let (mut run_sent, mut run_failed, mut run_missed) = (0, 0, 0);
    for b in out.timeline.iter().skip(from) {
        run_sent += b.sent;
        run_failed += b.failed;
        run_missed += b.slo_missed;
    }
    let healthy = |b: &crate::sim::output::Bucket| baseline.healthy(b);
    let time_to_recover_s = {
        let buckets = &out.timeline[first.min(out.timeline.len())..];
        match buckets.iter().rposition(|b| !healthy(b)) {
            None => Some(0.0),
            Some(i) if first + i + 1 >= out.timeline.len() => None,
            Some(i) => {
                let t = ((first + i + 1) as u64 * w).saturating_sub(start);
                Some(t as f64 / 1e9)
            }
        }
    };
    // Routed around: the first healthy bucket after an unhealthy one, inside the window.
    let time_to_route_around_s = (end > start)
        .then(|| {
            let window = &out.timeline[first.min(out.timeline.len())..last.min(out.timeline.len())];
            let bad = window.iter().position(|b| !healthy(b))?;
            let good = window.iter().skip(bad).position(healthy)? + bad;
            // The bucket holding the end of the disturbance is not healthy by the component's return.
            ((first + good + 1) as u64 * w <= end).then(|| ((first + good) as u64 * w).saturating_sub(start) as f64 / 1e9)
        })
        .flatten();
    Outcome {
        sent_outage: sent,
        latency_p99_all_outage_ms: (!all.is_empty()).then(|| all.value_at_quantile(0.99) as f64 / 1e6),
        slowed_share_outage: share(missed.saturating_sub(failed), sent),
        time_to_fail_ms: (!fails.is_empty()).then(|| fails.value_at_quantile(0.5) as f64 / 1e6),
        time_to_route_around_s,
        failed_share_outage: share(failed, sent),
        slo_missed_share_outage: share(missed, sent),
        latency_p99_outage_ms: (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1e6),
        failed_share_run: share(run_failed, run_sent),
        slo_missed_share_run: share(run_missed, run_sent),
        time_to_recover_s,
        timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::output::Bucket;

    /// A run of one-second buckets of 1000 requests each, `(failed, slow)` per bucket.
    fn run(buckets: &[(u64, u64)]) -> RunOutput {
        let h = || Histogram::<u64>::new_with_bounds(1, HIST_MAX_NS, 2).unwrap();
        let timeline = buckets
            .iter()
            .map(|&(failed, slow)| {
                let mut latency_ns = h();
                latency_ns.record(10_000_000).unwrap();
                let mut failed_latency_ns = h();
                if failed > 0 {
                    failed_latency_ns.record(1_000_000).unwrap();
                }
                Bucket { sent: 1000, succeeded: 1000 - failed, failed, slo_missed: failed + slow, latency_ns, failed_latency_ns }
            })
            .collect();
        RunOutput {
            seed: 0,
            events: 0,
            end_ns: 0,
            sent: 0,
            succeeded: 0,
            failed: 0,
            in_flight: 0,
            measured_sent: 0,
            measured_succeeded: 0,
            measured_failed: 0,
            latency_ns: h(),
            stations: Vec::new(),
            containers: Vec::new(),
            hog_nodes: Vec::new(),
            periodic: Vec::new(),
            edges: Vec::new(),
            timeline,
            bucket_ns: 1_000_000_000,
            churn: None,
            retries: 0,
            retries_over_budget: 0,
            retries_in_flight_max: 0,
            node_mem_peak_bytes: Vec::new(),
        }
    }

    /// The baseline of ecommerce-3region at a 50 ms SLO: nothing fails, 72 % miss the SLO.
    const SLOW_BASELINE: BaselineShares = BaselineShares { failed_share: 0.0, slo_missed_share: 0.72 };

    /// The outcome of a 30 s run with a disturbance from 10 s to 20 s.
    fn disturbed(b: &[(u64, u64)]) -> Outcome {
        outcome(&run(b), (10_000_000_000, 20_000_000_000), 2_000_000_000, SLOW_BASELINE)
    }

    /// 99 % fail from 10 s to 20 s, then the baseline's figures return: recovered 10 s after
    /// the failure, not at once (twice a 72 % miss share once made every second healthy).
    #[test]
    fn recovery_is_measured_against_a_baseline_that_misses_the_slo() {
        let mut b = vec![(0, 720); 30];
        b[10..20].fill((990, 10));
        let o = disturbed(&b);
        assert!((o.failed_share_outage - 0.99).abs() < 1e-9);
        assert_eq!(o.time_to_recover_s, Some(10.0));
        assert_eq!(o.time_to_route_around_s, None);
    }

    /// Failures that last to the end of the run: not recovered within it (`None`), never 0.
    #[test]
    fn failures_to_the_end_of_the_run_are_not_a_recovery() {
        let mut b = vec![(0, 720); 30];
        b[10..].fill((990, 10));
        assert_eq!(disturbed(&b).time_to_recover_s, None);
    }

    /// Requests that never answered (neither succeeded nor failed by the end of the drain)
    /// are not healthy: a second of them after the failure is not a recovery.
    #[test]
    fn unanswered_requests_are_not_a_recovery() {
        let mut r = run(&[(0, 720); 30]);
        for b in &mut r.timeline[10..] {
            b.succeeded = 200;
            b.slo_missed = 144;
        }
        let o = outcome(&r, (10_000_000_000, 20_000_000_000), 2_000_000_000, SLOW_BASELINE);
        assert_eq!(o.time_to_recover_s, None);
    }

    /// Within tolerance: 0.5 % failed against a baseline of none is healthy (1 point), 2 % is
    /// not; SLO misses past the baseline's by more than 3 standard errors (72 % → 80 % over
    /// 1000 requests, 3 SE = 4.3 points) are not healthy, 76 % is.
    #[test]
    fn healthy_means_within_the_baseline_plus_tolerance() {
        for (bucket_12, recover_s) in [((5, 720), 0.0), ((20, 720), 3.0), ((0, 800), 3.0), ((0, 760), 0.0)] {
            let mut b = vec![(0, 720); 30];
            b[12] = bucket_12;
            assert_eq!(disturbed(&b).time_to_recover_s, Some(recover_s), "{bucket_12:?}");
        }
    }
}
