//! Ranges of every quantity meshsim reads: checked before any work starts, so an input
//! outside them is an error at its line (exit 2) rather than a run that exhausts memory,
//! wraps its clock or never ends. The "Resource limits" table of docs/topology.md lists them.

/// One second in nanoseconds.
const S: u64 = 1_000_000_000;

/// Largest input file (topology, cost model, sweep): 64 MiB, room for a topology of the
/// largest number of services (100,000 services as `synth` writes them are 26 MB), and small
/// enough that reading and parsing one takes seconds, not minutes.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Longest simulated duration (and warm-up): 30 days. A run keeps per-second series, so this
/// bounds their memory; and every simulated instant (at most twice this, with the drain
/// horizon) stays far inside u64 nanoseconds (584 years).
pub const MAX_DURATION_NS: u64 = 30 * 24 * 3600 * S;

/// Highest total request rate: 10 million rps, ten times what one core simulates per second
/// of wall time; a run above it would take days per simulated second.
pub const MAX_RATE_RPS: f64 = 1e7;
/// Lowest rate a load may have short of zero: one request per 11.6 days keeps the gap
/// between arrivals representable in nanoseconds for every connection count.
pub const MIN_RATE_RPS: f64 = 1e-6;

/// Node speed relative to the machine the models were fitted on: a thousand times slower to
/// a thousand times faster. Together with [`MAX_WORK_NS`] this keeps every piece of work
/// below [`MAX_DURATION_NS`] of simulated time.
pub const MIN_SPEED: f64 = 1e-3;
pub const MAX_SPEED: f64 = 1e3;

/// Longest mean service time or per-pass CPU cost at speed 1.0. Divided by the slowest speed
/// (and stretched at most a thousandfold by a CPU limit) a piece of work stays below
/// [`MAX_DURATION_NS`].
pub const MAX_WORK_NS: u64 = 3600 * S;

/// Largest coefficient of variation of a lognormal service time: 10 already puts the p99 at
/// 0.2 of the mean and the p99.99 at 30 times it.
pub const MAX_CV: f64 = 10.0;

/// Shortest timeout: 1 µs, below any real proxy's timer granularity; shorter ones only
/// produce retry storms.
pub const MIN_TIMEOUT_NS: u64 = 1_000;

/// Most retries of one call or load. gRPC's retry design (proposal A6) treats more than 5
/// attempts as 5, and Envoy's and Istio's defaults are 1 and 2 retries; 10 is generous and
/// keeps a call at 11 attempts, where unbounded retries with short timeouts fill memory.
pub const MAX_RETRIES: i64 = 10;
/// Most retries in flight a retry budget may allow per client proxy and destination service.
pub const MAX_RETRY_BUDGET: i64 = 1_000_000;

/// Longest one-way network latency between two pods: one minute (the farthest regions are
/// a few hundred milliseconds apart).
pub const MAX_LATENCY_NS: u64 = 60 * S;

/// Sizes of a topology.
pub const MAX_NODES_PER_ENTRY: i64 = 10_000;
pub const MAX_NODES: usize = 100_000;
pub const MAX_REPLICAS: i64 = 10_000;
pub const MAX_PODS: usize = 1_000_000;
pub const MAX_PODS_PER_NODE: i64 = 100_000;
pub const MAX_SERVICES: usize = 100_000;
pub const MAX_NAMESPACES: usize = 100_000;
pub const MAX_CALLS: usize = 1_000_000;
/// Calls of one call entry per request.
pub const MAX_CALL_COUNT: i64 = 1_000;
/// Sum over calls and loads of the callee's replicas: the engine keeps a counter per pair.
pub const MAX_CALL_ENDPOINTS: u64 = 10_000_000;
pub const MAX_WAYPOINT_REPLICAS: i64 = 1_000;
pub const MAX_LOADS: usize = 10_000;
/// Connections of one load: each tick sends one request per connection at once.
pub const MAX_LOAD_CONNECTIONS: i64 = 65_536;
/// Requests one pod works on at once.
pub const MAX_CONCURRENCY: i64 = 1_000_000;
/// Entries of a `nodes`, `zones` or `clusters` affinity list.
pub const MAX_AFFINITY_ENTRIES: usize = 10_000;
/// Latency overrides between places.
pub const MAX_LATENCY_OVERRIDES: usize = 10_000;

/// Node capacity.
pub const MAX_VCPU: f64 = 100_000.0;
/// 1 PiB: the largest memory figure of a node, a request or a model.
pub const MAX_MEMORY_BYTES: u64 = 1 << 50;
/// Largest request or response payload: 1 GiB.
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;
/// Largest CPU figure (requests, limits, idle CPU): 100,000 cores in millicores.
pub const MAX_MILLICORES: f64 = 1e8;
/// Smallest CPU limit: 1 millicore, the Kubernetes granularity.
pub const MIN_CPU_LIMIT_MILLICORES: f64 = 1.0;
/// Largest noisy-tenant bandwidth: 1 Tbit/s.
pub const MAX_BITS_PER_S: f64 = 1e12;

/// Simulation bounds.
pub const MAX_EVENTS: i64 = 1_000_000_000_000;
pub const DEFAULT_MAX_EVENTS: u64 = 2_000_000_000;
/// Requests waiting at one station.
pub const MAX_QUEUE_LIMIT: i64 = 10_000_000;
/// Events scheduled but not yet processed; the engine stops a run that passes it.
pub const DEFAULT_MAX_PENDING: u64 = 10_000_000;
pub const MAX_PENDING: i64 = 1_000_000_000;

/// Names: `name` of a topology or sweep names an output folder, so it is short and plain.
pub const MAX_NAME_CHARS: usize = 64;
/// Names of nodes, services, namespaces, cases: a Kubernetes DNS subdomain's length.
pub const MAX_ENTITY_NAME_CHARS: usize = 253;

/// Sweeps: cases in one grid (every case is checked before any runs).
pub const MAX_CASES: usize = 100_000;

/// Calibration: the highest degree of a fitted polynomial.
pub const MAX_DEGREE: usize = 5;

/// Capacity planning: the share of every node kept free.
pub const MAX_HEADROOM: f64 = 0.9;

/// Whether `name` may name an output folder: 1 to [`MAX_NAME_CHARS`] letters, digits, `-`,
/// `_` or `.`, starting with a letter or digit (so never `.`, `..` or a hidden folder).
pub fn check_output_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 {
        return Err("must not be empty".into());
    }
    if n > MAX_NAME_CHARS {
        return Err(format!("is {n} characters long: at most {MAX_NAME_CHARS} (it names the output folder)"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err("use letters, digits, `-`, `_` or `.` only (it names the output folder)".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit (it names the output folder)".into());
    }
    Ok(())
}

/// Whether `name` may name a node, service, namespace or case: 1 to
/// [`MAX_ENTITY_NAME_CHARS`] characters, none of them a control character.
pub fn check_entity_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 {
        return Err("must not be empty".into());
    }
    if n > MAX_ENTITY_NAME_CHARS {
        return Err(format!("is {n} characters long: at most {MAX_ENTITY_NAME_CHARS}"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not hold control characters".into());
    }
    Ok(())
}

/// A duration as the error messages write it (`30 days`, `60min`, `1us`).
pub fn describe_ns(ns: u64) -> String {
    if ns >= 24 * 3600 * S && ns % (24 * 3600 * S) == 0 {
        format!("{} days", ns / (24 * 3600 * S))
    } else if ns >= 60 * S && ns % (60 * S) == 0 {
        format!("{}min", ns / (60 * S))
    } else {
        crate::units::format_duration_ns(ns)
    }
}

/// A number as the error messages write it: plain, or in exponent form when very large or
/// very small (`1e308`, `1e-15`), so a message stays one readable line.
pub fn fmt_number(x: f64) -> String {
    if x != 0.0 && x.is_finite() && (x.abs() >= 1e9 || x.abs() < 1e-3) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_are_plain_and_short() {
        assert!(check_output_name("faces-1.2_x").is_ok());
        assert!(check_output_name("").is_err());
        assert!(check_output_name("..").is_err());
        assert!(check_output_name(".hidden").is_err());
        assert!(check_output_name("a/b").is_err());
        assert!(check_output_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(check_output_name(&"x".repeat(MAX_NAME_CHARS + 1)).unwrap_err().contains("at most 64"));
    }

    #[test]
    fn the_longest_work_stays_inside_the_duration_ceiling() {
        // Slowest node, longest work, a thousandfold CPU-limit stretch: still representable.
        let worst = MAX_WORK_NS as f64 / MIN_SPEED * 1000.0;
        assert!(worst + 2.0 * MAX_DURATION_NS as f64 <= u64::MAX as f64 / 2.0);
        assert_eq!(describe_ns(MAX_DURATION_NS), "30 days");
    }
}
