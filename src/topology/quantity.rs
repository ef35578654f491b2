//! Quantities read from a topology and checked against their range: the helper both the
//! topology's own sections and `[blast]` check durations with.

use crate::input_error::ErrorSink;
use crate::limits::describe_ns;
use crate::toml_doc::Spanned;
use crate::units;

/// A duration within `min..=max`; `None` (and an error) otherwise.
pub(super) fn duration_in(sink: &mut ErrorSink, s: &Spanned<String>, min_ns: u64, max_ns: u64) -> Option<u64> {
    match units::parse_duration_ns(s.get_ref()) {
        Err(e) => {
            sink.at(s.span(), format!("{}: {e}", s.path()));
            None
        }
        Ok(ns) if ns < min_ns => {
            sink.at(s.span(), format!("{}: `{}` is shorter than the minimum of {}", s.path(), s.get_ref(), describe_ns(min_ns)));
            None
        }
        Ok(ns) if ns > max_ns => {
            sink.at(s.span(), format!("{}: `{}` is longer than the limit of {}", s.path(), s.get_ref(), describe_ns(max_ns)));
            None
        }
        Ok(ns) => Some(ns),
    }
}
