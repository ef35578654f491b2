//! Capacity planning maths, free of simulation: the highest rate that meets an SLO by
//! bisection over any monotone test, and the node type plans are made for (how many of
//! them a set of pods needs is [`crate::packing`]'s job).

/// Where a bisection stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct MaxRate {
    /// Highest rate found to meet the target (0 when none of the probed rates did).
    pub rate_rps: f64,
    /// Lowest rate found to miss it (`None`: it still met the target at the search cap).
    pub failing_rps: Option<f64>,
    /// Rates probed, in order.
    pub probes: Vec<(f64, bool)>,
}

/// Limits of the search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Search {
    /// First rate probed (usually the topology's).
    pub start_rps: f64,
    /// Stop when (hi - lo) / hi is below this.
    pub tolerance: f64,
    /// Never probe above this rate.
    pub max_rps: f64,
    /// Never probe below this rate.
    pub min_rps: f64,
}

/// Find the highest rate for which `meets` holds, assuming it holds below some threshold and
/// fails above it. Brackets by doubling up (or halving down) from `start_rps`, then bisects
/// until `(hi - lo) / hi < tolerance`. Errors from `meets` stop the search.
pub fn max_rate<E>(search: Search, mut meets: impl FnMut(f64) -> Result<bool, E>) -> Result<MaxRate, E> {
    let mut probes = Vec::new();
    let mut probe = |r: f64, probes: &mut Vec<(f64, bool)>| -> Result<bool, E> {
        let ok = meets(r)?;
        probes.push((r, ok));
        Ok(ok)
    };
    // A ceiling below the floor is searched down to the ceiling, not past it.
    let search = Search { min_rps: search.min_rps.min(search.max_rps), ..search };
    let start = search.start_rps.clamp(search.min_rps, search.max_rps);
    let (mut lo, mut hi);
    if probe(start, &mut probes)? {
        lo = start;
        loop {
            if lo >= search.max_rps {
                return Ok(MaxRate { rate_rps: lo, failing_rps: None, probes });
            }
            let next = (lo * 2.0).min(search.max_rps);
            if probe(next, &mut probes)? {
                lo = next;
            } else {
                hi = next;
                break;
            }
        }
    } else {
        hi = start;
        loop {
            if hi <= search.min_rps {
                return Ok(MaxRate { rate_rps: 0.0, failing_rps: Some(hi), probes });
            }
            let next = (hi / 2.0).max(search.min_rps);
            if probe(next, &mut probes)? {
                lo = next;
                break;
            }
            hi = next;
        }
    }
    while (hi - lo) / hi >= search.tolerance {
        let mid = (lo + hi) / 2.0;
        if probe(mid, &mut probes)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(MaxRate { rate_rps: lo, failing_rps: Some(hi), probes })
}

/// A node type: what one node offers.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeType {
    pub name: String,
    pub vcpu: f64,
    pub memory_mib: f64,
    pub max_pods: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(start: f64) -> Search {
        Search { start_rps: start, tolerance: 0.01, max_rps: 1e7, min_rps: 1.0 }
    }

    #[test]
    fn bisection_finds_a_known_threshold_within_one_percent() {
        for threshold in [7.0, 333.3, 1200.0, 98_765.0] {
            for start in [1.0, 100.0, 5000.0] {
                let r = max_rate(search(start), |x| Ok::<_, ()>(x <= threshold)).unwrap();
                assert!(r.rate_rps <= threshold, "{threshold} from {start}: {r:?}");
                assert!(r.rate_rps >= threshold * 0.99, "{threshold} from {start}: {r:?}");
                assert!(r.failing_rps.unwrap() > threshold);
                assert!(r.probes.len() < 40);
            }
        }
    }

    #[test]
    fn bisection_reports_the_ends_of_the_search() {
        let r = max_rate(search(10.0), |_| Ok::<_, ()>(true)).unwrap();
        assert_eq!((r.rate_rps, r.failing_rps), (1e7, None));
        let r = max_rate(search(10.0), |_| Ok::<_, ()>(false)).unwrap();
        assert_eq!(r.rate_rps, 0.0);
        let low = Search { max_rps: 0.5, ..search(10.0) };
        let r = max_rate(low, |_| Ok::<_, ()>(true)).unwrap();
        assert_eq!((r.rate_rps, r.failing_rps, r.probes.len()), (0.5, None, 1));
        let r = max_rate(low, |_| Ok::<_, ()>(false)).unwrap();
        assert_eq!((r.rate_rps, r.failing_rps), (0.0, Some(0.5)));
        let e = max_rate(search(10.0), |x| if x > 50.0 { Err("boom") } else { Ok(true) });
        assert_eq!(e, Err("boom"));
    }
}
