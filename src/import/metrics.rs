//! The mesh's request metrics to per-edge rates: Istio's `istio_requests_total` by
//! `source_workload` and `destination_workload`, Linkerd's `response_total` (outbound, by
//! `deployment` and `dst_deployment`; inbound for the requests from outside). Read from the
//! Prometheus text exposition (counters over `--metrics-window`) or from the query API's JSON
//! (`/api/v1/query` of a `rate(...)`, already per second).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::input_error::{InputError, InputErrors};

/// The metrics read, by name.
const READ: &[&str] = &["istio_requests_total", "response_total"];

/// A source outside the mesh's workloads (Istio writes `unknown`).
pub const OUTSIDE: &str = "";

/// Requests per second between workloads; `from` is [`OUTSIDE`] for requests from outside.
#[derive(Clone, Debug, Default)]
pub struct Rates {
    pub edges: BTreeMap<(String, String), f64>,
    /// Where each rate was read (file and line).
    pub cite: BTreeMap<(String, String), String>,
}

fn error(path: &Path, line: usize, message: String) -> InputErrors {
    InputErrors(vec![InputError { path: path.to_path_buf(), line, col: 1, message }])
}

/// One sample: metric name, labels, value.
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
    line: usize,
}

fn parse_labels(path: &Path, line: usize, s: &str) -> Result<BTreeMap<String, String>, InputErrors> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| error(path, line, format!("a label without `=` in {{{s}}}")))?;
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let Some(body) = after.strip_prefix('"') else { return Err(error(path, line, format!("label {key}: its value is not quoted"))) };
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => {}
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let Some(end) = end else { return Err(error(path, line, format!("label {key}: its value has no closing quote"))) };
        out.insert(key, value);
        rest = body[end + 1..].trim_start().trim_start_matches(',').trim_start();
    }
    Ok(out)
}

fn text_samples(path: &Path, text: &str) -> Result<Vec<Sample>, InputErrors> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Only the request counters are read; a scrape's other metrics (NaN quantiles and all)
        // are none of import's business.
        let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(line.len());
        if !READ.contains(&&line[..name_end]) {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').filter(|&c| c > open).ok_or_else(|| error(path, n + 1, "a `{` without its `}`".into()))?;
                (line[..open].trim().to_string(), parse_labels(path, n + 1, &line[open + 1..close])?, &line[close + 1..])
            }
            None => {
                let mut it = line.splitn(2, char::is_whitespace);
                (it.next().unwrap_or_default().to_string(), BTreeMap::new(), it.next().unwrap_or_default())
            }
        };
        let value = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0);
        let Some(value) = value else { return Err(error(path, n + 1, format!("{name}: no sample value a counter can have"))) };
        out.push(Sample { name, labels, value, line: n + 1 });
    }
    Ok(out)
}

fn json_samples(path: &Path, v: &Value) -> Result<Vec<Sample>, InputErrors> {
    let result =
        v.get("data").and_then(|d| d.get("result")).and_then(Value::as_array).ok_or_else(|| {
            error(path, 1, "not a Prometheus query answer: it has no data.result (query /api/v1/query for a vector)".into())
        })?;
    let mut out = Vec::new();
    for r in result {
        let labels: BTreeMap<String, String> = r
            .get("metric")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let value =
            r.get("value").and_then(Value::as_array).and_then(|a| a.get(1)).and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok());
        let Some(value) = value.filter(|v| v.is_finite() && *v >= 0.0) else { continue };
        let name = labels.get("__name__").cloned().unwrap_or_default();
        out.push(Sample { name, labels, value, line: 1 });
    }
    Ok(out)
}

/// The rates of one file. Text exposition holds counters: `window_s` (the time they counted
/// over) turns them into rates; without it they are kept as counts, which give the calls per
/// request but no rate.
pub fn read(path: &Path, text: &str, window_s: Option<f64>) -> Result<(Rates, bool), InputErrors> {
    let trimmed = text.trim_start();
    let (samples, per_second) = if trimmed.starts_with('{') {
        (json_samples(path, &super::traces::json(path, text)?)?, true)
    } else {
        (text_samples(path, text)?, false)
    };
    let scale = if per_second { 1.0 } else { window_s.map_or(1.0, |w| 1.0 / w) };
    let is_rate = per_second || window_s.is_some();
    let istio: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name.is_empty() || s.name == "istio_requests_total")
        .filter(|s| s.labels.contains_key("destination_workload"))
        .collect();
    // Both ends report each request: count it once, at the destination when it reports.
    let by_dest = istio.iter().any(|s| s.labels.get("reporter").map(String::as_str) == Some("destination"));
    let mut rates = Rates::default();
    let file = path.display().to_string();
    let add = |from: &str, to: &str, v: f64, line: usize, rates: &mut Rates| {
        let key = (from.to_string(), to.to_string());
        *rates.edges.entry(key.clone()).or_insert(0.0) += v * scale;
        rates.cite.entry(key).or_insert_with(|| format!("{file}:{line}"));
    };
    for s in istio {
        let reporter = s.labels.get("reporter").map(String::as_str);
        if by_dest && reporter == Some("source") {
            continue;
        }
        let src = s.labels.get("source_workload").map(String::as_str).filter(|w| !w.is_empty() && *w != "unknown").unwrap_or(OUTSIDE);
        add(src, &s.labels["destination_workload"], s.value, s.line, &mut rates);
    }
    // Linkerd: outbound responses name both ends; inbound ones less the outbound to the
    // same workload are the requests from outside.
    let linkerd: Vec<&Sample> =
        samples.iter().filter(|s| s.name.is_empty() || s.name == "response_total").filter(|s| s.labels.contains_key("direction")).collect();
    let mut inbound: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for s in &linkerd {
        let Some(me) = s.labels.get("deployment") else { continue };
        match s.labels.get("direction").map(String::as_str) {
            Some("outbound") => {
                if let Some(dst) = s.labels.get("dst_deployment") {
                    add(me, dst, s.value, s.line, &mut rates);
                }
            }
            Some("inbound") => {
                let e = inbound.entry(me.clone()).or_insert((0.0, s.line));
                e.0 += s.value;
            }
            _ => {}
        }
    }
    for (to, (n, line)) in inbound {
        let inner: f64 = rates.edges.iter().filter(|((f, t), _)| t == &to && !f.is_empty()).map(|(_, v)| v / scale).sum();
        if n - inner > 0.5 {
            add(OUTSIDE, &to, n - inner, line, &mut rates);
        }
    }
    Ok((rates, is_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_counters_once_per_request_and_outside_callers() {
        let text = "# TYPE istio_requests_total counter\n\
            istio_requests_total{reporter=\"destination\",source_workload=\"unknown\",destination_workload=\"web\",response_code=\"200\"} 100\n\
            istio_requests_total{reporter=\"destination\",source_workload=\"web\",destination_workload=\"api\",response_code=\"200\"} 180\n\
            istio_requests_total{reporter=\"destination\",source_workload=\"web\",destination_workload=\"api\",response_code=\"503\"} 20\n\
            istio_requests_total{reporter=\"source\",source_workload=\"web\",destination_workload=\"api\",response_code=\"200\"} 200\n";
        let (r, is_rate) = read(Path::new("m.prom"), text, Some(10.0)).unwrap();
        assert!(is_rate);
        assert_eq!(r.edges[&("web".to_string(), "api".to_string())], 20.0);
        assert_eq!(r.edges[&(OUTSIDE.to_string(), "web".to_string())], 10.0);
    }

    #[test]
    fn linkerd_and_query_json() {
        let text = "response_total{direction=\"inbound\",deployment=\"web\"} 50\nresponse_total{direction=\"outbound\",deployment=\"web\",dst_deployment=\"api\"} 75\nresponse_total{direction=\"inbound\",deployment=\"api\"} 75\n";
        let (r, _) = read(Path::new("m.prom"), text, None).unwrap();
        assert_eq!(r.edges[&("web".to_string(), "api".to_string())], 75.0);
        assert_eq!(r.edges[&(OUTSIDE.to_string(), "web".to_string())], 50.0);
        assert!(!r.edges.contains_key(&(OUTSIDE.to_string(), "api".to_string())));
        let json = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"source_workload":"web","destination_workload":"api"},"value":[1,"12.5"]}]}}"#;
        let (r, is_rate) = read(Path::new("q.json"), json, None).unwrap();
        assert!(is_rate);
        assert_eq!(r.edges[&("web".to_string(), "api".to_string())], 12.5);
    }

    #[test]
    fn a_broken_line_names_itself() {
        let e =
            read(Path::new("m.prom"), "go_gc_duration_seconds{quantile=\"0.5\"} NaN\nistio_requests_total{a=\"b\" 1\n", None).unwrap_err();
        assert_eq!(e.0[0].line, 2);
    }
}
