//! Quantities with units, as written in input files: durations (`"250us"`), byte sizes
//! (`"512Mi"`, `"1KiB"`), rates (`"1200rps"`) and CPU (`"300m"`, `"2"` cores).
//!
//! Every quantity in a topology or model file carries its unit; this module is the only
//! place that parses them. Errors are plain strings that the caller places at a file line.

/// Every unit each kind of quantity accepts, as messages list them.
const DURATION_UNITS: &str = "ns, us (or µs), ms, s, min";
const SIZE_UNITS: &str = "B, KB, MB, GB (powers of 1000), Ki, Mi, Gi, KiB, MiB, GiB (powers of 1024)";
const BANDWIDTH_UNITS: &str = "bps, Kbps, Mbps, Gbps";

/// Parse a duration into nanoseconds. Units: `ns`, `us` (or `µs`), `ms`, `s`, `m` (minutes).
pub fn parse_duration_ns(text: &str) -> Result<u64, String> {
    let (value, unit) = split_number(text)?;
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "min" => 60e9,
        "" => return Err(format!("duration `{text}` has no unit: append one of {DURATION_UNITS} (e.g. \"{text}ms\")")),
        other => return Err(format!("unknown duration unit `{other}` in `{text}`: use one of {DURATION_UNITS}")),
    };
    to_integer(value * scale, text)
}

/// Parse a byte size into bytes. Units: `B`, `KB`/`MB`/`GB` (powers of 1000),
/// `Ki`/`KiB`, `Mi`/`MiB`, `Gi`/`GiB` (powers of 1024).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let (value, unit) = split_number(text)?;
    let scale = match unit {
        "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "Ki" | "KiB" => 1024.0,
        "Mi" | "MiB" => 1024.0 * 1024.0,
        "Gi" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "" => return Err(format!("size `{text}` has no unit: append one of {SIZE_UNITS} (e.g. \"{text}Mi\")")),
        other => return Err(format!("unknown size unit `{other}` in `{text}`: use one of {SIZE_UNITS}")),
    };
    to_integer(value * scale, text)
}

/// Parse a request rate into requests per second. Units: `rps` (or `/s`).
pub fn parse_rate_rps(text: &str) -> Result<f64, String> {
    let (value, unit) = split_number(text)?;
    match unit {
        "rps" | "/s" => Ok(value),
        "" => Err(format!("rate `{text}` has no unit: write a rate with a unit, like \"{text}rps\"")),
        other => Err(format!("unknown rate unit `{other}` in `{text}`: write a rate with a unit, like \"1000rps\" (or \"1000/s\")")),
    }
}

/// Parse a CPU quantity into millicores: `"300m"` is 300, `"2"` (cores) is 2000, as Kubernetes writes it.
pub fn parse_millicores(text: &str) -> Result<f64, String> {
    let (value, unit) = split_number(text)?;
    match unit {
        "m" => Ok(value),
        "" | "cores" => Ok(value * 1000.0),
        other => Err(format!("unknown CPU unit `{other}` in `{text}`: write millicores like \"300m\" or cores like \"2\"")),
    }
}

/// Parse a bandwidth into bits per second. Units: `bps`, `Kbps`, `Mbps`, `Gbps`.
pub fn parse_bits_per_s(text: &str) -> Result<f64, String> {
    let (value, unit) = split_number(text)?;
    let scale = match unit {
        "bps" => 1.0,
        "Kbps" => 1e3,
        "Mbps" => 1e6,
        "Gbps" => 1e9,
        "" => return Err(format!("bandwidth `{text}` has no unit: append one of {BANDWIDTH_UNITS}")),
        other => return Err(format!("unknown bandwidth unit `{other}` in `{text}`: use one of {BANDWIDTH_UNITS}")),
    };
    Ok(value * scale)
}

/// Format a byte count the way input files write sizes (whole units of 1024 where exact).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "Gi"), (1 << 20, "Mi"), (1 << 10, "Ki")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// Format nanoseconds the way input files write durations, for messages and `run.json`.
pub fn format_duration_ns(ns: u64) -> String {
    if ns == 0 {
        "0s".into()
    } else if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else if ns % 1_000 == 0 {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

fn split_number(text: &str) -> Result<(f64, &str), String> {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_digit()
                || c == '.'
                || c == '_'
                || ((c == '-' || c == '+') && i == 0)
                || ((c == 'e' || c == 'E') && i > 0 && t[i + 1..].starts_with(|d: char| d.is_ascii_digit())))
        })
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let number = t[..end].replace('_', "");
    if number.is_empty() {
        return Err(format!("`{text}` does not start with a number"));
    }
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a number with a unit"))?;
    if !value.is_finite() {
        return Err(format!("`{text}` is not finite"));
    }
    if value < 0.0 {
        return Err(format!("`{text}` is negative: quantities must be zero or more"));
    }
    Ok((value, t[end..].trim()))
}

fn to_integer(value: f64, text: &str) -> Result<u64, String> {
    if value > u64::MAX as f64 / 2.0 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(value.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("250us"), Ok(250_000));
        assert_eq!(parse_duration_ns("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration_ns("60s"), Ok(60_000_000_000));
        assert_eq!(parse_duration_ns(" 2 min"), Ok(120_000_000_000));
        assert!(parse_duration_ns("250").unwrap_err().contains("no unit"));
        assert!(parse_duration_ns("-1ms").unwrap_err().contains("negative"));
        assert!(parse_duration_ns("3 furlongs").unwrap_err().contains("unknown duration unit"));
        assert!(parse_duration_ns("1e400s").unwrap_err().contains("not finite"));
    }

    #[test]
    fn sizes_rates_cpu() {
        assert_eq!(parse_bytes("1KiB"), Ok(1024));
        assert_eq!(parse_bytes("512Mi"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("1KB"), Ok(1000));
        // A unit that is close but wrong lists every accepted one, binary units included.
        let e = parse_bytes("32G").unwrap_err();
        for unit in ["Gi", "Mi", "Ki", "GiB", "GB", "B"] {
            assert!(e.contains(unit), "{e}");
        }
        assert_eq!(format_bytes(1 << 50), "1048576Gi");
        assert_eq!(format_bytes(1500), "1500B");
        assert_eq!(parse_rate_rps("1_200rps"), Ok(1200.0));
        assert!(parse_rate_rps("-5rps").is_err());
        assert_eq!(parse_millicores("300m"), Ok(300.0));
        assert_eq!(parse_millicores("2"), Ok(2000.0));
        assert_eq!(parse_bits_per_s("10Gbps"), Ok(1e10));
        assert_eq!(format_duration_ns(1_500_000), "1500us");
        assert_eq!(format_duration_ns(60_000_000_000), "60s");
    }
}
