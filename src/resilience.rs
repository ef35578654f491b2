//! A mesh's default resilience: what its client-side proxy does on its own when a call fails
//! (how often it retries, on what, on which host; its connect timeout; outlier detection), as
//! the mesh ships it, read from the optional `[resilience]` table of a cost model file with
//! the source of every figure.
//!
//! ```toml
//! [resilience]
//! retries = 2                     # retries after the first attempt
//! retry_on = ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"]
//! retry_other_host = true         # a retry goes to another replica (Envoy's previous_hosts)
//! connect_timeout = "10s"
//! outlier_detection = false       # none unless configured
//! retry_budget = 4294967295       # retries in flight per proxy and destination service (Istio's maxRetries: 2^32-1)
//! source = "https://istio.io/latest/docs/concepts/traffic-management/#retries"
//! ```

use crate::input_error::ErrorSink;
use crate::toml_doc::{expect, Fields};
use crate::{limits, units};

/// Conditions a retry policy may name (Envoy's `retry_on` vocabulary).
pub const RETRY_ON: [&str; 9] = [
    "connect-failure",
    "refused-stream",
    "unavailable",
    "cancelled",
    "retriable-status-codes",
    "reset",
    "5xx",
    "gateway-error",
    "deadline-exceeded",
];

/// The default resilience of one proxy model.
#[derive(Clone, Debug, PartialEq)]
pub struct Resilience {
    /// Retries after the first attempt.
    pub retries: u32,
    /// When it retries. Every failure the simulator produces (a refused connection or a reset
    /// from a crashed peer, a full queue, a per-try timeout) falls under `connect-failure`,
    /// `refused-stream` or `reset`; a policy naming none of them retries nothing here.
    pub retry_on: Vec<String>,
    /// Whether a retry goes to another replica.
    pub retry_other_host: bool,
    pub connect_timeout_ns: Option<u64>,
    /// Whether the mesh ejects failing endpoints without being configured to.
    pub outlier_detection: bool,
    /// Retries in flight at once per proxy and destination service (Envoy's cluster circuit
    /// breaker `max_retries`); `None` or `u32::MAX`: no limit.
    pub retry_budget: Option<u32>,
    /// Where these defaults are documented.
    pub source: String,
}

impl Resilience {
    /// Retries that apply to the failures the simulator produces.
    pub fn effective_retries(&self) -> u32 {
        let retriable = self.retry_on.iter().any(|c| matches!(c.as_str(), "connect-failure" | "refused-stream" | "reset" | "5xx"));
        if retriable {
            self.retries
        } else {
            0
        }
    }
}

/// Read `[resilience]` from a model file's root table, if present; problems go to `sink`.
pub fn read(root: &mut Fields, sink: &mut ErrorSink) -> Option<Resilience> {
    let mut t = root.table(sink, "resilience")?;
    let mut r = Resilience {
        retries: 0,
        retry_on: Vec::new(),
        retry_other_host: true,
        connect_timeout_ns: None,
        outlier_detection: false,
        retry_budget: None,
        source: String::new(),
    };
    if let Some(v) = t.req_int(sink, "retries") {
        let x = *v.get_ref();
        if (0..=limits::MAX_RETRIES).contains(&x) {
            r.retries = x as u32;
        } else {
            sink.at(v.span(), format!("{}: {x} is out of range: it must be between 0 and {}", v.path(), limits::MAX_RETRIES));
        }
    }
    for c in t.texts(sink, "retry_on", expect::NAME) {
        if RETRY_ON.contains(&c.get_ref().as_str()) {
            r.retry_on.push(c.get_ref().clone());
        } else {
            sink.at(c.span(), format!("{}: unknown condition `{}`: write one of {}", c.path(), c.get_ref(), RETRY_ON.join(", ")));
        }
    }
    if let Some(v) = t.boolean(sink, "retry_other_host") {
        r.retry_other_host = *v.get_ref();
    }
    if let Some(v) = t.text(sink, "connect_timeout", expect::DURATION) {
        match units::parse_duration_ns(v.get_ref()) {
            Ok(ns) if (1..=limits::MAX_DURATION_NS).contains(&ns) => r.connect_timeout_ns = Some(ns),
            Ok(_) => sink
                .at(v.span(), format!("{}: must be more than zero and at most {}", v.path(), limits::describe_ns(limits::MAX_DURATION_NS))),
            Err(e) => sink.at(v.span(), format!("{}: {e}", v.path())),
        }
    }
    if let Some(v) = t.boolean(sink, "outlier_detection") {
        r.outlier_detection = *v.get_ref();
    }
    if let Some(v) = t.int(sink, "retry_budget") {
        match u32::try_from(*v.get_ref()) {
            Ok(n) => r.retry_budget = Some(n),
            Err(_) => sink.at(v.span(), format!("{}: must be between 0 and {}", v.path(), u32::MAX)),
        }
    }
    match t.req_text(sink, "source", "a URL or a citation") {
        Some(s) if !s.get_ref().trim().is_empty() => r.source = s.get_ref().clone(),
        Some(s) => sink.at(s.span(), format!("{}: say where these defaults are documented", s.path())),
        None => {}
    }
    t.finish(sink, &["retries", "retry_on", "retry_other_host", "connect_timeout", "outlier_detection", "retry_budget", "source"]);
    Some(r)
}
