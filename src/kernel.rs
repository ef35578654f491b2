//! What a node's kernel spends that no proxy's cost model carries, measured on this
//! project's loopback bench. Each figure names the script and the result file it comes from.

/// CPU of one TCP connection refused with a reset: the SYN in, the RST out, and the client's
/// side of both (on loopback one process's context carries all of it, so this is an upper
/// bound on the refusing node's share). A pod at its queue limit refuses this way.
///
/// Source: `calibration/bench/refused_connect.py`, median of 7 runs of 20,000 refused
/// connects to a closed port on 127.0.0.1 (`process_system_us_per_connect` in
/// `calibration/bench/results/refused-connect-loopback/result.json`).
pub const REFUSED_CONNECTION_CPU_NS: u64 = 9_295;
