//! The one way numbers get into output files (CSV, JSON, markdown, model files): fixed
//! decimals, so the same run gives the same bytes, and never NaN or infinity: a value that is
//! not finite is refused with the field it was meant for, and a value that does not exist
//! (no request succeeded, so no latency) is written empty (`—` in markdown).

/// A number that cannot be written: it is not finite.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: the value is {value}, not a finite number; meshsim writes no NaN or infinity into a file")]
pub struct NotFinite {
    pub field: String,
    pub value: f64,
}

/// `x` with `decimals` decimals; refused when not finite.
pub fn fixed(field: &str, x: f64, decimals: usize) -> Result<String, NotFinite> {
    if x.is_finite() {
        Ok(format!("{x:.decimals$}"))
    } else {
        Err(NotFinite { field: field.into(), value: x })
    }
}

/// `x` with `decimals` decimals, or an empty cell when it is not finite: for tables where a
/// missing value is an honest answer (a fit that could not be made, a share of nothing).
pub fn cell(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        String::new()
    }
}

/// `x` in the shortest form that reads back as the same number, or an empty cell when it is
/// not finite (for tables of measured data, which carry every digit).
pub fn exact(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        String::new()
    }
}

/// `x` with `decimals` decimals, or an empty cell when there is no value.
pub fn fixed_or_empty(field: &str, x: Option<f64>, decimals: usize) -> Result<String, NotFinite> {
    x.map(|v| fixed(field, v, decimals)).transpose().map(Option::unwrap_or_default)
}

/// `x` with `decimals` decimals for a markdown table, or `—` when there is no value.
pub fn markdown(field: &str, x: Option<f64>, decimals: usize) -> Result<String, NotFinite> {
    x.map(|v| fixed(field, v, decimals)).transpose().map(|c| c.unwrap_or_else(|| "—".into()))
}

/// `x` as a JSON number; refused when not finite (JSON has no NaN, and a `null` would hide it).
pub fn json(field: &str, x: f64) -> Result<serde_json::Value, NotFinite> {
    serde_json::Number::from_f64(x).map(serde_json::Value::Number).ok_or_else(|| NotFinite { field: field.into(), value: x })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_numbers_have_fixed_decimals() {
        assert_eq!(fixed("a", 1.23456, 4).unwrap(), "1.2346");
        assert_eq!(fixed_or_empty("a", None, 4).unwrap(), "");
        assert_eq!(cell(0.5, 2), "0.50");
        assert_eq!(cell(f64::NAN, 2), "");
        assert_eq!(markdown("a", None, 3).unwrap(), "—");
        assert_eq!(json("a", 2.5).unwrap(), serde_json::json!(2.5));
    }

    #[test]
    fn non_finite_numbers_are_refused_naming_the_field() {
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = fixed("latency_p99_ms", x, 3).unwrap_err();
            assert!(e.to_string().starts_with("latency_p99_ms: "), "{e}");
            assert!(fixed_or_empty("f", Some(x), 3).is_err());
            assert!(markdown("f", Some(x), 3).is_err());
            assert!(json("f", x).is_err());
        }
    }
}
