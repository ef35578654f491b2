//! wrk2's pacing (giltene/wrk2 src/wrk.c). In each load-generator pod, `threads` event loops
//! hold `connections / threads` connections each. `thread_main` opens connection `i` of a
//! thread `i * 5` ms after the thread starts and `usec_to_next_send` sends its `k`-th request
//! at `thread_start + k / throughput`, throughput being the pod's rate split over its
//! threads and then their connections. So every connection sends once per period (a pod's
//! connections over its rate), the connections of a thread 5 ms apart, and the threads,
//! started back to back, together: the pod sends `threads` requests at once every 5 ms for
//! `connections / threads × 5` ms of each period, and nothing the rest of it. wrk2 records
//! each latency from that scheduled instant (`expected_latency_start`), which is where the
//! engine starts the request's clock. Pods start independently (a Job's pods), so each gets
//! its own phase, drawn once per run.

use crate::topology::WRK2_STAGGER_NS;

/// The fixed schedule of one wrk2-paced load: instants within a period, each sending
/// `threads` requests from one source pod.
#[derive(Clone, Debug)]
pub(super) struct Wrk2Schedule {
    period_ns: f64,
    /// (offset within the period, source pod index), in time order.
    pub slots: Vec<(u64, u32)>,
    pub threads: u32,
    /// Ticks sent so far: tick `k` is slot `k % slots` of period `k / slots`.
    pub next: u64,
}

impl Wrk2Schedule {
    /// The schedule of `sources` pods, each running `threads` threads over `connections`
    /// connections at `rate_rps / sources`; `phase` draws a pod's start within the period.
    pub(super) fn new(rate_rps: f64, sources: u32, threads: u32, connections: u32, mut phase: impl FnMut() -> f64) -> Wrk2Schedule {
        let threads = threads.max(1);
        let per_thread = (connections / threads).max(1);
        let pod_rps = rate_rps / f64::from(sources.max(1));
        // Every connection sends once per period: per_thread × threads of them at pod_rps.
        let period_ns = 1e9 * f64::from(per_thread * threads) / pod_rps;
        let mut slots = Vec::with_capacity((sources * per_thread) as usize);
        for src in 0..sources.max(1) {
            let start = phase() * period_ns;
            for i in 0..per_thread {
                let at = (start + (u64::from(i) * WRK2_STAGGER_NS) as f64) % period_ns;
                slots.push((at as u64, src));
            }
        }
        slots.sort_unstable();
        Wrk2Schedule { period_ns, slots, threads, next: 0 }
    }

    /// When tick `k` is due.
    pub fn at(&self, k: u64) -> u64 {
        let n = self.slots.len() as u64;
        ((k / n) as f64 * self.period_ns) as u64 + self.slots[(k % n) as usize].0
    }
}

#[cfg(test)]
mod tests {
    use super::Wrk2Schedule;

    #[test]
    fn a_pod_sends_its_threads_together_every_stagger_for_its_connections() {
        // 1 pod, 2 threads of 2 connections at 100 rps: a period of 40 ms with two instants
        // 5 ms apart, each sending 2 requests; 4 requests per period is 100 rps.
        let s = Wrk2Schedule::new(100.0, 1, 2, 4, || 0.25);
        assert_eq!(s.period_ns, 40e6);
        assert_eq!(s.slots, vec![(10_000_000, 0), (15_000_000, 0)]);
        assert_eq!(s.threads, 2);
        assert_eq!((0..5).map(|k| s.at(k)).collect::<Vec<_>>(), vec![10_000_000, 15_000_000, 50_000_000, 55_000_000, 90_000_000]);
    }

    #[test]
    fn staggered_connections_past_the_period_wrap_into_it() {
        // 5 connections on one thread at 500 rps: a 10 ms period, connections at 0, 5, 10,
        // 15 and 20 ms from the start, i.e. at 0 and 5 ms of every period (3 and 2 of them).
        let s = Wrk2Schedule::new(500.0, 1, 1, 5, || 0.0);
        assert_eq!(s.slots.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 0, 0, 5_000_000, 5_000_000]);
    }
}
