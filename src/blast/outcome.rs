//! What a dynamic run of a scenario showed, from the engine's timeline: the share of
//! end-user requests that failed or missed the SLO during the disturbance and over the run,
//! the p99 during the disturbance, and how long until requests were healthy again.
//!
//! A timeline bucket is *healthy* when its share of SLO misses (failures count as misses) is
//! at most `max(1 %, 2 × the baseline run's share)`. Time to recover is measured from the
//! start of the disturbance to the start of the first bucket after which every bucket is
//! healthy; 0 when no bucket was unhealthy, `None` when the run ended unhealthy.
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

fn share(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Summarise a run. `window_ns` is the disturbance; `warmup_ns` starts the measurement
/// window; `baseline_miss_share` is the baseline run's SLO-miss share over its window.
pub fn outcome(out: &RunOutput, window_ns: (u64, u64), warmup_ns: u64, baseline_miss_share: f64) -> Outcome {
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
    let threshold = (2.0 * baseline_miss_share).max(0.01);
    let healthy = |b: &crate::sim::output::Bucket| share(b.slo_missed, b.sent) <= threshold;
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
